//! `tidings import DIR` next to a running server (issue 15): what the CLI changes reaches
//! the server's feeds within seconds, through NOTIFY on PostgreSQL and the recorded-changes
//! table on SQLite, without waiting for any schedule.

use crate::common;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;

on_both!(
    import_creating_one_article_and_updating_another_reaches_a_running_servers_feed,
    an_article_the_import_moves_leaves_one_sections_feed_and_enters_the_others,
);

/// Runs the real `tidings import` against the app's database.
fn import(app: &common::TestApp, content: &Path) -> String {
    run_import(
        &app.database_url,
        content,
        Some(&app.dir.path().join("outbox")),
    )
}

/// Runs the real `tidings import content` against the database at `url`: its standard output
/// (the command must succeed).
pub(crate) fn run_import(url: &str, content: &Path, outbox: Option<&Path>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidings"));
    command
        .arg("import")
        .arg(content)
        .env(
            "TIDINGS_CONFIG",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/no-sources.toml"),
        )
        .env("TIDINGS_DATABASE__URL", url)
        .env("RUST_LOG", "warn");
    if let Some(outbox) = outbox {
        command.env("TIDINGS_MAIL__OUTBOX_DIR", outbox);
    }
    let out = command.output().expect("run tidings import");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A Markdown article file with TOML front matter.
fn write_article(dir: &Path, section: &str, slug: &str, title: &str) {
    let folder = dir.join(section);
    std::fs::create_dir_all(&folder).unwrap();
    let text = format!(
        "+++\ntitle = \"{title}\"\nurl = \"https://www.example.org/{section}/{slug}.html\"\n\
         published_at = \"2025-02-21T09:00:00+08:00\"\n+++\n\n职工之家建设取得新进展。{title}\n"
    );
    std::fs::write(folder.join(format!("{slug}.md")), text).unwrap();
}

/// Titles in the section's JSON feed, newest first.
async fn feed_titles(app: &common::TestApp, section: &str) -> Vec<String> {
    let feed: Value = app
        .client
        .get(app.url(&format!("/feeds/{section}.json")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls the feed until `done` holds of its titles; panics with what it last saw after
/// `limit`. Returns how long it took.
async fn wait_for_feed(
    app: &common::TestApp,
    section: &str,
    limit: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let titles = feed_titles(app, section).await;
        if done(&titles) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "feed of {section} after {limit:?}: {titles:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn import_creating_one_article_and_updating_another_reaches_a_running_servers_feed(
    backend: common::Backend,
) {
    let app = common::try_spawn_app(backend).await.unwrap();
    let mut old = common::article("news", "旧标题：职工之家");
    old["url"] = "https://www.example.org/news/home.html".into();
    assert_eq!(app.put_article("news/home", &old).await.status(), 201);
    wait_for_feed(&app, "news", Duration::from_secs(5), |t| {
        t == ["旧标题：职工之家"]
    })
    .await;
    let content = tempfile::tempdir().unwrap();
    write_article(content.path(), "news", "home", "新标题：职工之家");
    write_article(content.path(), "news", "fresh", "新文章：绿色算力");

    let out = import(&app, content.path());
    let took = wait_for_feed(&app, "news", Duration::from_secs(5), |t| {
        t.len() == 2
            && t.iter().any(|t| t == "新标题：职工之家")
            && t.contains(&"新文章：绿色算力".into())
    })
    .await;

    assert!(
        out.contains("imported 2 files: 1 created, 1 updated, 0 unchanged; 0 skipped"),
        "{out}"
    );
    eprintln!("{backend:?}: the feed showed the import {took:?} after the CLI ended");
}

async fn an_article_the_import_moves_leaves_one_sections_feed_and_enters_the_others(
    backend: common::Backend,
) {
    let app = common::try_spawn_app(backend).await.unwrap();
    let content = tempfile::tempdir().unwrap();
    let text = |section: &str| {
        format!(
            "+++\nid = \"meeting\"\ntitle = \"职代会召开\"\nurl = \"https://www.example.org/m.html\"\n\
             published_at = \"2025-02-21T09:00:00+08:00\"\nsection = \"{section}\"\n+++\n\n正文\n"
        )
    };
    std::fs::create_dir_all(content.path().join("notices")).unwrap();
    std::fs::write(content.path().join("notices/meeting.md"), text("notices")).unwrap();
    import(&app, content.path());
    wait_for_feed(&app, "notices", Duration::from_secs(5), |t| {
        t == ["职代会召开"]
    })
    .await;
    assert!(feed_titles(&app, "news").await.is_empty());
    std::fs::remove_dir_all(content.path().join("notices")).unwrap();
    std::fs::create_dir_all(content.path().join("news")).unwrap();
    std::fs::write(content.path().join("news/meeting.md"), text("news")).unwrap();

    let out = import(&app, content.path());

    assert!(out.contains("1 updated"), "{out}");
    wait_for_feed(&app, "news", Duration::from_secs(5), |t| {
        t == ["职代会召开"]
    })
    .await;
    wait_for_feed(&app, "notices", Duration::from_secs(5), |t| t.is_empty()).await;
}
