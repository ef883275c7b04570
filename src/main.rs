//! The `tidings` binary: parse the command line, load config, start logging, run a command.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tidings::{App, config::Config, domain::Role, store::Store};

#[derive(Parser)]
#[command(
    name = "tidings",
    version,
    about = "Article feeds and email digests for publishers"
)]
struct Cli {
    /// Configuration file (default: config/default.toml when present).
    #[arg(long, global = true, env = "TIDINGS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration and exit non-zero with a readable message if it is wrong.
    Check,
    /// Import DIR/<section>/<slug>.md|.html once, with a progress bar.
    Import {
        /// Folder laid out like a directory source.
        dir: PathBuf,
    },
    /// Digest schedules.
    Schedules {
        #[command(subcommand)]
        command: SchedulesCommand,
    },
    /// Digests.
    Digest {
        #[command(subcommand)]
        command: DigestCommand,
    },
    /// Accounts of the admin console.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Subscriber administration.
    Subscribers {
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// DKIM signing.
    Dkim {
        #[command(subcommand)]
        command: DkimCommand,
    },
}

#[derive(Subcommand)]
enum DkimCommand {
    /// Print the DNS TXT record that publishes the public key of mail.dkim_key_file.
    Record,
}

#[derive(Subcommand)]
enum DigestCommand {
    /// Run SCHEDULE now, as if it fired, and deliver it in the foreground.
    Run {
        schedule: String,
        /// Only count who would get a mail; send and record nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add a person; prints a one-time link (24 hours) to set their password.
    Add {
        email: String,
        /// `admin` (everything) or `editor` (articles and sections).
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: Role,
    },
    /// Print a new link to set the password; the old password and every session end now.
    Reset { email: String },
    /// List the people with their role and last login.
    List,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).map_err(|_| format!("{s:?} is not a role; roles: admin, editor"))
}

#[derive(Subcommand)]
enum SchedulesCommand {
    /// List schedules with their next fire instant.
    List,
}

#[derive(Subcommand)]
enum SubscribersCommand {
    /// Import consenting subscribers from CSV (`email,sections,schedule`) with a progress bar;
    /// exits non-zero when some rows were refused (the others are kept).
    Import { file: PathBuf },
}

fn init_tracing() {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn"));
    if std::env::var("TIDINGS_LOG").is_ok_and(|v| v.eq_ignore_ascii_case("json")) {
        fmt().json().with_env_filter(filter).init();
    } else {
        fmt().with_env_filter(filter).init();
    }
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(&p),
        None => {
            let default = PathBuf::from(tidings::config::DEFAULT_CONFIG_PATH);
            if default.exists() {
                Config::load(&default)
            } else {
                tracing::warn!("no config/default.toml here; using built-in defaults");
                Config::from_env_only().context("invalid configuration")
            }
        }
    }
}

async fn shutdown_signal(token: tokio_util::sync::CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; finishing open work");
    token.cancel();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(cli.config)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Check => check(&config),
        Command::Migrate => {
            let store = Store::connect(&config.database.url).await?;
            store.migrate().await?;
            store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Schedules {
            command: SchedulesCommand::List,
        } => schedules_list(&config).await,
        Command::Import { dir } => {
            use std::io::IsTerminal;
            let progress = std::io::stderr().is_terminal();
            let s = tidings::articles::sources::import::run(&config, &dir, progress).await?;
            println!(
                "imported {} files: {} created, {} updated, {} unchanged; {} skipped",
                s.created + s.updated + s.unchanged,
                s.created,
                s.updated,
                s.unchanged,
                s.failed.len()
            );
            if s.recognised > 0 {
                println!(
                    "{} unchanged files recognised from an earlier import (not parsed again)",
                    s.recognised
                );
            }
            if s.failed.is_empty() {
                Ok(())
            } else {
                anyhow::bail!(
                    "{} files could not be imported (listed above)",
                    s.failed.len()
                )
            }
        }
        Command::Digest {
            command: DigestCommand::Run { schedule, dry_run },
        } => {
            let state = App::build_state(config, tidings::clock::Clock::System).await?;
            if dry_run {
                let r = tidings::digests::cli::dry_run(&state, &schedule, |_, _| {}).await?;
                println!(
                    "{schedule}: {} active subscribers; {} would get a digest, {} would be skipped",
                    r.subscribers, r.would_send, r.would_skip
                );
            } else {
                let id = tidings::digests::cli::run(&state, &schedule).await?;
                let v = state.store.get_run(id).await?.expect("run exists");
                println!(
                    "run {id} done: {} sent, {} skipped, {} failed",
                    v.sent, v.skipped, v.failed
                );
            }
            state.mailer.close().await;
            state.store.close().await;
            Ok(())
        }
        Command::Admin { command } => admin_command(&config, command).await,
        Command::Subscribers {
            command: SubscribersCommand::Import { file },
        } => {
            let report = tidings::subscriptions::import_cli::import_file(&config, &file).await?;
            if report.errors_total > 0 {
                anyhow::bail!("{} rows were not imported", report.errors_total);
            }
            Ok(())
        }
        Command::Dkim {
            command: DkimCommand::Record,
        } => {
            let dkim = tidings::mail::dkim::load(&config.mail)?.context(
                "DKIM is not configured: set mail.dkim_domain, mail.dkim_selector and \
                 mail.dkim_key_file (README, \"DKIM\")",
            )?;
            for warning in dkim.warnings() {
                eprintln!("warning: {warning}");
            }
            print!("{}", dkim.record());
            Ok(())
        }
        Command::Serve => {
            let open_files = tidings::os::raise_open_files_limit();
            tracing::info!(open_files, "limit on open files");
            let app = App::build(config).await?;
            tracing::info!(addr = %app.local_addr(), "tidings listening");
            tokio::spawn(shutdown_signal(app.state().shutdown.clone()));
            app.run().await
        }
    }
}

/// Validates the configuration and reads the DKIM key the way `serve` does, so that a key
/// `serve` would refuse fails here with the same message.
fn check(config: &Config) -> anyhow::Result<()> {
    if let Some(dkim) = tidings::mail::dkim::load(&config.mail)? {
        for warning in dkim.warnings() {
            eprintln!("warning: {warning}");
        }
        println!("{}", dkim.describe());
    }
    println!("configuration is valid");
    Ok(())
}

async fn admin_command(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    use tidings::admin::cli;
    let store = Store::connect(&config.database.url).await?;
    store.migrate().await?;
    let now = chrono::Utc::now();
    let result = match command {
        AdminCommand::Add { email, role } => cli::add(&store, config, &email, role, now).await.map(
            |link| {
                format!(
                    "Added {email} ({role}). To set the password, open this link within 24 hours \
                     (it works once):\n{link}\n"
                )
            },
        ),
        AdminCommand::Reset { email } => {
            cli::reset(&store, config, &email, now).await.map(|link| {
                format!(
                    "{email}: the old password and every session have ended. To set a new \
                     password, open this link within 24 hours (it works once):\n{link}\n"
                )
            })
        }
        AdminCommand::List => cli::list(&store, config).await,
    };
    store.close().await;
    print!("{}", result?);
    Ok(())
}

async fn schedules_list(config: &Config) -> anyhow::Result<()> {
    let store = Store::connect(&config.database.url).await?;
    store.migrate().await?;
    let now = chrono::Utc::now();
    store
        .ensure_schedules(&config.schedule_seeds(), tidings::clock::to_ms(now))
        .await?;
    let table = tidings::digests::cli::schedules_table(&store, now).await;
    store.close().await;
    print!("{}", table?);
    Ok(())
}
