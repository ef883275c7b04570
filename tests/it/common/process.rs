//! `tidings serve` as a real child process (tests of crashes, signals and process limits).

use std::{
    io::{BufRead, BufReader},
    ops::{Deref, DerefMut},
    path::Path,
    process::{Child, Command, Stdio},
};

/// A started `tidings serve`, killed (SIGKILL) and reaped when dropped, so a test that fails
/// half-way never leaves a server running: an orphan would keep the test's output pipe open
/// and keep logging into it after the test binary is gone.
pub struct Served(Child);

impl Deref for Served {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Served {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// `tidings serve` on a free port of 127.0.0.1 against `db_url`, without sources, with mail
/// files under `outbox` and JSON logs on stdout; callers add their own settings.
pub fn serve_command(db_url: &str, outbox: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidings"));
    command
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "TIDINGS_CONFIG",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/no-sources.toml"),
        )
        .env("TIDINGS_LOG", "json")
        .env("RUST_LOG", "info")
        .env("TIDINGS_SERVER__BIND", "127.0.0.1:0")
        .env("TIDINGS_DATABASE__URL", db_url)
        .env("TIDINGS_MAIL__OUTBOX_DIR", outbox)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// [`serve_command`] for a process that mails through the SMTP server at `smtp_url` and
/// answers the admin API to [`super::ADMIN_TOKEN`].
pub fn serve_smtp_command(db_url: &str, outbox: &Path, smtp_url: &str) -> Command {
    let mut command = serve_command(db_url, outbox);
    command
        .env("TIDINGS_AUTH__ADMIN_TOKEN", super::ADMIN_TOKEN)
        .env("TIDINGS_MAIL__TRANSPORT", "smtp")
        .env("TIDINGS_MAIL__SMTP_URL", smtp_url);
    command
}

/// Starts `command` (from [`serve_command`]) and reads its log until it listens. Returns the
/// child, its base URL and the log lines before "tidings listening"; the rest of its stdout
/// is drained so the child never blocks on a full pipe.
pub fn start(mut command: Command) -> (Served, String, Vec<String>) {
    let mut child = Served(command.spawn().expect("start tidings"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut early = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("tidings exited before listening")
            .unwrap();
        if line.contains("tidings listening") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            break v["fields"]["addr"].as_str().unwrap().to_owned();
        }
        early.push(line);
    };
    // TIDINGS_TEST_ECHO=1 copies the rest of the log to stderr (to see why a test failed).
    let echo = std::env::var_os("TIDINGS_TEST_ECHO").is_some();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if echo {
                eprintln!("[tidings] {line}");
            }
        }
    });
    (child, format!("http://{addr}"), early)
}
