//! Directory source: the fixture articles at start, then files created, edited, renamed and
//! deleted in a temp folder followed live; a bad file reported with its line and skipped.

use crate::common;

use std::{
    future::Future,
    path::Path,
    time::{Duration, Instant},
};

use serde_json::Value;
use tidings::{config::SourceConfig, events::Change};

on_both!(
    the_initial_scan_brings_in_the_fixture_articles,
    created_edited_renamed_and_deleted_files_are_followed,
    a_bad_file_is_reported_with_path_and_line_and_the_others_still_arrive,
    a_renamed_file_that_keeps_its_id_is_not_retracted,
    a_link_to_a_file_outside_the_folder_is_refused_by_the_scan_and_the_watcher,
);

async fn app_on(backend: common::Backend, content: &Path) -> common::TestApp {
    let source = SourceConfig::Directory {
        name: Some("content".into()),
        path: content.to_path_buf(),
    };
    common::spawn_app_with(backend, |c| c.sources = vec![source])
        .await
        .expect("app")
}

/// Waits until `check` holds, failing after a few seconds; returns how long it took.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn title_of(app: &common::TestApp, id: &str) -> Option<String> {
    app.state
        .store
        .get_article(id)
        .await
        .unwrap()
        .map(|a| a.title)
}

async fn health(app: &common::TestApp) -> Value {
    let body: Value = app
        .client
        .get(app.url("/api/v1/sources"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["items"][0].clone()
}

fn article_md(title: &str) -> String {
    format!(
        "+++\ntitle = \"{title}\"\nurl = \"https://www.example.org/news/x.html\"\n\
         published_at = \"2025-02-21T09:00:00+08:00\"\n+++\n\n职工之家建设取得新进展。\n"
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

async fn the_initial_scan_brings_in_the_fixture_articles(backend: common::Backend) {
    let content = tempfile::tempdir().unwrap();
    copy_dir(&common::fixture_dir(), content.path());

    let app = app_on(backend, content.path()).await;

    eventually("both fixtures stored", || async {
        app.state.store.count_articles().await.unwrap() == 2
    })
    .await;
    let resp = app.get_article("news/qinghai-green-compute").await;
    assert_eq!(resp.status(), 200);
    let got: Value = resp.json().await.unwrap();
    let fixture = common::fixture_article();
    assert_eq!(got["title"], fixture["title"]);
    assert_eq!(got["image"]["caption"], fixture["image"]["caption"]);
    assert_eq!(got["source"], "content");
    assert!(title_of(&app, "about/federation-intro").await.is_some());
    eventually("health recorded", || async {
        health(&app).await["items_found"] == 2
    })
    .await;
    let h = health(&app).await;
    assert_eq!(
        (h["status"].as_str(), h["kind"].as_str()),
        (Some("ok"), Some("directory"))
    );
}

async fn created_edited_renamed_and_deleted_files_are_followed(backend: common::Backend) {
    let content = tempfile::tempdir().unwrap();
    let news = content.path().join("news");
    std::fs::create_dir(&news).unwrap();
    let app = app_on(backend, content.path()).await;
    eventually("initial scan recorded", || async {
        health(&app).await["status"] == "ok"
    })
    .await;
    let mut events = app.state.events.subscribe();

    std::fs::write(news.join("a.md"), article_md("职工之家")).unwrap();
    let took = eventually("created", || async {
        title_of(&app, "news/a").await.is_some()
    })
    .await;
    eprintln!("create reached the store after {took:?}");
    assert_eq!(
        events.recv().await.unwrap(),
        Change::Sections(vec!["news".into()])
    );

    std::fs::write(news.join("a.md"), article_md("职工之家（更新）")).unwrap();
    eventually("edited", || async {
        title_of(&app, "news/a").await.as_deref() == Some("职工之家（更新）")
    })
    .await;

    std::fs::rename(news.join("a.md"), news.join("b.md")).unwrap();
    eventually("renamed", || async {
        title_of(&app, "news/a").await.is_none() && title_of(&app, "news/b").await.is_some()
    })
    .await;

    std::fs::remove_file(news.join("b.md")).unwrap();
    eventually("deleted", || async {
        title_of(&app, "news/b").await.is_none()
    })
    .await;

    // A new section folder with an HTML file in YAML front matter.
    let notices = content.path().join("notices");
    std::fs::create_dir(&notices).unwrap();
    let yaml = "---\ntitle: 停电通知\nurl: https://www.example.org/n/1.html\npublished_at: 2025-02-21 09:00\n---\n<p>办公楼周六停电。</p>\n";
    std::fs::write(notices.join("power.html"), yaml).unwrap();
    eventually("new folder followed", || async {
        title_of(&app, "notices/power").await.as_deref() == Some("停电通知")
    })
    .await;
    let a = app
        .state
        .store
        .get_article("notices/power")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.published_at.to_rfc3339(),
        "2025-02-21T01:00:00+00:00",
        "local date in site zone"
    );
    assert_eq!(app.state.store.count_articles().await.unwrap(), 1);
}

async fn a_bad_file_is_reported_with_path_and_line_and_the_others_still_arrive(
    backend: common::Backend,
) {
    let content = tempfile::tempdir().unwrap();
    let news = content.path().join("news");
    std::fs::create_dir(&news).unwrap();
    let bad = "+++\ntitle = \"坏文件\"\npublished_at = 2025-02-31\n+++\n正文\n";
    std::fs::write(news.join("bad.md"), bad).unwrap();
    std::fs::write(news.join("good.md"), article_md("好文件")).unwrap();

    let app = app_on(backend, content.path()).await;

    eventually("good file stored", || async {
        title_of(&app, "news/good").await.is_some()
    })
    .await;
    eventually("bad file reported", || async {
        health(&app).await["status"] == "error"
    })
    .await;
    let h = health(&app).await;
    let err = h["last_error"].as_str().unwrap();
    let expected = content.path().join("news/bad.md");
    assert!(
        err.starts_with(&format!("{}:3: ", expected.display())),
        "{err}"
    );
    assert!(title_of(&app, "news/bad").await.is_none());

    // The watcher keeps going: a new file arrives, and the fixed file too.
    std::fs::write(news.join("later.md"), article_md("后来的文件")).unwrap();
    eventually("later file stored", || async {
        title_of(&app, "news/later").await.is_some()
    })
    .await;
    eventually("later file counted", || async {
        health(&app).await["items_found"] == 2
    })
    .await;
    assert_eq!(health(&app).await["status"], "error", "bad.md is still bad");
    std::fs::write(news.join("bad.md"), article_md("修好的文件")).unwrap();
    eventually("fixed file stored", || async {
        title_of(&app, "news/bad").await.is_some()
    })
    .await;
    eventually("health ok again", || async {
        let h = health(&app).await;
        h["status"] == "ok" && h["items_found"] == 3
    })
    .await;
}

async fn a_link_to_a_file_outside_the_folder_is_refused_by_the_scan_and_the_watcher(
    backend: common::Backend,
) {
    // Files outside the source folder that would make valid articles if they were read.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.md"),
        article_md("机密：不应发布"),
    )
    .unwrap();
    std::fs::write(
        outside.path().join("later.md"),
        article_md("机密二：不应发布"),
    )
    .unwrap();
    let content = tempfile::tempdir().unwrap();
    let news = content.path().join("news");
    std::fs::create_dir(&news).unwrap();
    std::fs::write(news.join("real.md"), article_md("真文章")).unwrap();
    std::fs::write(news.join("inside-target.txt"), article_md("链接到内部")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), news.join("leak.md")).unwrap();
    // A link that stays inside the folder is fine.
    std::os::unix::fs::symlink(news.join("inside-target.txt"), news.join("inside.md")).unwrap();

    let app = app_on(backend, content.path()).await;
    eventually("the real file and the inside link stored", || async {
        title_of(&app, "news/real").await.is_some() && title_of(&app, "news/inside").await.is_some()
    })
    .await;
    eventually("the link reported", || async {
        health(&app).await["status"] == "error"
    })
    .await;
    assert!(
        title_of(&app, "news/leak").await.is_none(),
        "the scan published a file outside the folder"
    );
    let err = health(&app).await["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        err.contains("leak.md") && err.contains("outside the source folder"),
        "{err}"
    );

    // The watcher refuses a new link the same way.
    std::os::unix::fs::symlink(outside.path().join("later.md"), news.join("leak2.md")).unwrap();
    std::fs::write(news.join("after.md"), article_md("之后的文章")).unwrap();
    eventually("a later file stored", || async {
        title_of(&app, "news/after").await.is_some()
    })
    .await;
    eventually("the new link reported", || async {
        health(&app).await["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("leak2.md"))
    })
    .await;
    assert!(
        title_of(&app, "news/leak2").await.is_none(),
        "the watcher published a file outside the folder"
    );
}

async fn a_renamed_file_that_keeps_its_id_is_not_retracted(backend: common::Backend) {
    let content = tempfile::tempdir().unwrap();
    let news = content.path().join("news");
    std::fs::create_dir(&news).unwrap();
    let text = article_md("固定编号").replacen("+++\n", "+++\nid = \"keep-1\"\n", 1);
    std::fs::write(news.join("old-name.md"), &text).unwrap();
    let app = app_on(backend, content.path()).await;
    eventually("stored", || async {
        title_of(&app, "keep-1").await.is_some()
    })
    .await;

    std::fs::rename(news.join("old-name.md"), news.join("new-name.md")).unwrap();

    let store = &app.state.store;
    eventually("rename handled", || async {
        store
            .source_item("content", "news/old-name.md")
            .await
            .unwrap()
            .is_none()
            && store
                .source_item("content", "news/new-name.md")
                .await
                .unwrap()
                .is_some()
    })
    .await;
    assert_eq!(title_of(&app, "keep-1").await.as_deref(), Some("固定编号"));
    assert_eq!(
        app.state
            .metrics
            .articles_retracted
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
