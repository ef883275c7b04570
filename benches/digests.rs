//! Digest throughput benchmark driver; `benches/digests.sh` runs it against Postfix's
//! `smtp-sink` and compares it with `smtp-source` (issue 5).
//!
//! - `digests prepare DB N`: a fresh SQLite database with N active subscribers of the daily
//!   schedule spread over three sections, and 20 new articles; prints the mean size of their
//!   digest mails (`digest_bytes=`).
//! - `digests run DB HOST:PORT CONCURRENCY`: plans a run of the daily schedule and lets the
//!   delivery worker send it over SMTP until the run is `done`; prints the planning time,
//!   messages/s and the peak RSS, and fails unless every delivery is recorded as sent.
//!
//! The two phases are separate processes so that the peak RSS is the service's alone.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, Utc};
use tidings::{
    App, AppState,
    clock::{Clock, to_ms},
    config::Config,
    digests::selection::{self, Decision, Moment, Reader},
    store::RunInfo,
    subscriptions::import::{ImportRules, import_csv},
};

const SECTIONS: [&str; 3] = ["news", "notices", "grassroots"];
const ARTICLES: usize = 20;
const SCHEDULE: &str = "daily";
/// Subscribers whose digests are measured for the mean mail size (a whole number of cycles of
/// the section and locale mix below).
const SIZE_SAMPLE: i64 = 200;

/// 10:00 in Shanghai: the daily 08:00 schedule has no fire instant during the benchmark, so
/// the only run is the one the driver starts.
fn start() -> DateTime<Utc> {
    "2026-03-02T02:00:00Z".parse().expect("start instant")
}

fn config(db: &str, smtp: Option<(&str, u32)>) -> anyhow::Result<Config> {
    let mail = match smtp {
        // A rate far above what any transport reaches: the throttle must not be what is measured.
        Some((addr, concurrency)) => format!(
            "transport = \"smtp\"\nsmtp_url = \"smtp://{addr}\"\n\
             rate_per_second = 1000000\nconcurrency = {concurrency}"
        ),
        None => "transport = \"log\"".to_owned(),
    };
    Config::from_toml_str(&format!(
        "[site]\nbase_url = \"https://news.example.org\"\n\
         [server]\nbind = \"127.0.0.1:0\"\n\
         [database]\nurl = \"sqlite://{db}\"\n\
         [mail]\nfrom = \"青海省总工会 <news@example.org>\"\n{mail}\n"
    ))
}

/// One subscriber row: every choice of the three sections (the empty one meaning all of
/// them) in turn, and one reader in five in English.
fn subscriber_row(i: usize, csv: &mut String) {
    let mask = i % 8;
    let sections: Vec<&str> = SECTIONS
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask >> bit & 1 == 1)
        .map(|(_, s)| *s)
        .collect();
    let locale = if i % 5 == 0 { "en" } else { "zh-CN" };
    let _ = writeln!(
        csv,
        "reader{i}@example.org,{},{SCHEDULE},{locale}",
        sections.join(" ")
    );
}

fn article(i: usize, published: DateTime<Utc>) -> anyhow::Result<tidings::articles::ArticleInput> {
    let summary = "省总工会召开专题会议，研究部署职工服务阵地建设、困难职工帮扶和劳动技能竞赛等重点工作，\
        要求各级工会组织聚焦职工急难愁盼问题，推动各项惠企利民政策落地见效。";
    Ok(serde_json::from_value(serde_json::json!({
        "section": SECTIONS[i % SECTIONS.len()],
        "title": format!("全省工会系统推进职工服务工作综述（第{}期）", i + 1),
        "url": format!("https://www.example.org/news/2026/{i:04}.html"),
        "content_html": format!("<p>{summary}</p><p>{summary}</p>"),
        "summary": summary,
        "author": "省总工会宣传部",
        "published_at": (published - chrono::Duration::seconds(i as i64)).to_rfc3339(),
    }))?)
}

async fn prepare(db: &str, n: usize) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db}{suffix}"));
    }
    let clock = Clock::manual(start());
    let app = App::build_with_clock(config(db, None)?, clock.clone()).await?;
    let state = app.state();

    let t = Instant::now();
    let mut csv = String::from("email,sections,schedule,locale\n");
    for i in 0..n {
        subscriber_row(i, &mut csv);
    }
    let rules = ImportRules::load(&state.store, &state.config).await?;
    let report = import_csv(
        &state.store,
        &rules,
        csv.as_bytes(),
        to_ms(clock.now()),
        |_, _| {},
    )
    .await?
    .map_err(anyhow::Error::msg)?;
    ensure!(report.created == n as u64, "import: {report:?}");
    println!(
        "prepared {n} subscribers in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    clock.advance(chrono::Duration::minutes(1));
    for i in 0..ARTICLES {
        let input = article(i, clock.now())?;
        state
            .ingest
            .put(&format!("bench-{i}"), input, "api")
            .await
            .map_err(|e| anyhow::anyhow!("put article: {e:?}"))?;
    }
    println!("digest_bytes={}", mean_mail_size(&state).await?);
    state.store.close().await;
    Ok(())
}

/// The mean size of the digest mails of the first subscribers, as the mailer formats them.
async fn mean_mail_size(state: &AppState) -> anyhow::Result<usize> {
    let store = &state.store;
    let schedule = store.get_schedule(SCHEDULE).await?.context("schedule")?;
    let sections = store.list_sections().await?;
    let names = store.display_names(&state.config.site.language).await?;
    let now = to_ms(state.clock.now());
    let run = RunInfo {
        id: 1,
        schedule: SCHEDULE.into(),
        cutoff: now,
        fire_at: None,
    };
    let ids: Vec<i64> = (1..=SIZE_SAMPLE).collect();
    let (mut total, mut count) = (0, 0);
    let at = Moment { cutoff: now, now };
    for r in store.recipients(&ids).await? {
        // No run yet, so no watermark: each digest starts at confirmation, as the run's will.
        let reader = Reader::of(&r, None);
        let window = selection::window(&reader, &schedule, at).context("not active")?;
        let candidates = window.candidates(store).await?;
        let Decision::Send(picked) =
            selection::decide(&reader, &schedule, at, &sections, &candidates)
        else {
            bail!("subscriber {} would get no digest", r.id);
        };
        ensure!(!picked.is_empty(), "subscriber {} has no articles", r.id);
        let c = state
            .digests
            .composer
            .compose(&tidings::digests::compose::Request {
                sections: &sections,
                names: &names,
                recipient: &r,
                run: &run,
                schedule: &schedule,
                picked: &picked,
                when: state.clock.now(),
                delivery: Some(r.id),
            })?;
        let (m, _) =
            tidings::mail::message::build(state.mailer.from_mailbox(), "example.org", &c.email)?;
        total += m.formatted().len();
        count += 1;
    }
    ensure!(count > 0, "no subscribers to measure");
    Ok(total / count)
}

async fn run(db: &str, smtp: &str, concurrency: u32) -> anyhow::Result<()> {
    let clock = Clock::manual(start() + chrono::Duration::minutes(2));
    let app = App::build_with_clock(config(db, Some((smtp, concurrency)))?, clock).await?;
    let state = app.state();
    let service = tokio::spawn(app.run());
    // A connection of the benchmark's own, so that watching the run costs one cheap query.
    let watch = sqlx::SqlitePool::connect(&format!("sqlite://{db}?mode=ro")).await?;
    let expected: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscribers WHERE status = 'active' AND schedule = $1",
    )
    .bind(SCHEDULE)
    .fetch_one(&watch)
    .await?;

    let t0 = Instant::now();
    let id = state.digests.scheduler.run_now(SCHEDULE).await?;
    let planning = t0.elapsed();
    state.digests.wakeup.notify_waiters();
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM runs WHERE id = $1")
            .bind(id)
            .fetch_one(&watch)
            .await?;
        if status != "running" {
            break;
        }
        if t0.elapsed() > Duration::from_secs(1800) {
            bail!("run {id} not done after 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = t0.elapsed();
    let view = state.store.get_run(id).await?.context("run vanished")?;
    state.shutdown.cancel();
    service.await??;
    let rss_mb = peak_rss_kib()? as f64 * 1024.0 / 1e6;

    let secs = elapsed.as_secs_f64();
    println!("planning_seconds={:.3}", planning.as_secs_f64());
    println!("delivery_seconds={secs:.3}");
    println!("messages_per_second={:.0}", view.sent as f64 / secs);
    println!("peak_rss_mb={rss_mb:.1}");
    println!(
        "run={} total={} sent={} skipped={} failed={} pending={}",
        view.status, view.total, view.sent, view.skipped, view.failed, view.pending
    );
    ensure!(
        view.sent == expected && view.total == expected && view.pending == 0,
        "expected {expected} sent deliveries"
    );
    Ok(())
}

/// VmHWM: the most resident memory this process has had.
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM value")?
        .parse()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The filter `tidings serve` starts with: its spans and events cost what they cost there.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // `cargo bench` appends `--bench`; everything else is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["prepare", db, n] => prepare(db, n.parse().context("N")?).await,
        ["run", db, smtp, concurrency] => {
            run(db, smtp, concurrency.parse().context("CONCURRENCY")?).await
        }
        _ => bail!("usage: digests prepare DB N | digests run DB HOST:PORT CONCURRENCY"),
    }
}
