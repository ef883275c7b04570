//! `tidings import DIR`, run as the real binary against a fresh database.

use crate::common;

use std::{path::Path, process::Command};

use tidings::store::Store;

on_both!(
    import_brings_in_the_fixture_articles_and_repeating_it_changes_nothing,
    import_skips_a_bad_file_names_it_and_exits_non_zero,
);

/// A config file on a fresh database; returns its path, the database URL and the guards.
async fn setup(
    backend: common::Backend,
) -> (tempfile::TempDir, String, Option<common::PgDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let (url, guard) = match backend {
        common::Backend::Sqlite => (
            format!("sqlite://{}", dir.path().join("t.db").display()),
            None,
        ),
        common::Backend::Postgres => {
            let (url, guard) = common::create_pg_database().await;
            (url, Some(guard))
        }
    };
    let config = format!(
        "[database]\nurl = \"{url}\"\n[mail]\noutbox_dir = \"{}\"\n",
        dir.path().join("outbox").display()
    );
    std::fs::write(dir.path().join("tidings.toml"), config).unwrap();
    (dir, url, guard)
}

fn import(config_dir: &Path, content: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tidings"))
        .arg("--config")
        .arg(config_dir.join("tidings.toml"))
        .arg("import")
        .arg(content)
        .env("RUST_LOG", "warn")
        .env_remove("TIDINGS_CONFIG")
        .output()
        .expect("run tidings import")
}

async fn count(url: &str) -> i64 {
    let store = Store::connect(url).await.unwrap();
    let n = store.count_articles().await.unwrap();
    store.close().await;
    n
}

async fn import_brings_in_the_fixture_articles_and_repeating_it_changes_nothing(
    backend: common::Backend,
) {
    let (dir, url, _guard) = setup(backend).await;

    let first = import(dir.path(), &common::fixture_dir());
    let second = import(dir.path(), &common::fixture_dir());

    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        out.contains("imported 2 files: 2 created, 0 updated, 0 unchanged; 0 skipped"),
        "{out}"
    );
    let again = String::from_utf8_lossy(&second.stdout);
    assert!(again.contains("2 unchanged"), "{again}");
    assert_eq!(count(&url).await, 2);
    let store = Store::connect(&url).await.unwrap();
    let a = store
        .get_article("news/qinghai-green-compute")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.source, "import");
    assert_eq!(a.author.as_deref(), Some("张鹏"));
    store.close().await;
}

async fn import_skips_a_bad_file_names_it_and_exits_non_zero(backend: common::Backend) {
    let (dir, url, _guard) = setup(backend).await;
    let content = tempfile::tempdir().unwrap();
    let news = content.path().join("news");
    std::fs::create_dir(&news).unwrap();
    std::fs::copy(
        common::fixture_dir().join("news/qinghai-green-compute.md"),
        news.join("ok.md"),
    )
    .unwrap();
    std::fs::write(
        news.join("bad.md"),
        "+++\ntitle = \"缺少网址\"\npublished_at = \"2025-02-21T09:00:00+08:00\"\n+++\n正文\n",
    )
    .unwrap();

    let out = import(dir.path(), content.path());

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let bad = news.join("bad.md");
    assert!(
        stderr.contains(&format!("skipped {}: url is required", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("1 files could not be imported"), "{stderr}");
    assert_eq!(count(&url).await, 1);
}
