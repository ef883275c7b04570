//! `tidings import DIR` again over the same folder (issue 15): files whose bytes and articles
//! did not change since the last import are recognised by their digest and not parsed again;
//! every other file (edited, or whose article was edited through the API or retracted since,
//! or which shares its article with another file) is read and stored as it would be one at a
//! time. On both backends, through the real command.

use super::scale_import_articles_rules::fresh_store;
use crate::common;

use std::path::Path;

use chrono::Utc;
use tidings::{domain::NewArticle, store::Store};

on_both!(
    a_second_import_recognises_the_untouched_files_and_reads_every_other,
    files_sharing_an_article_keep_the_last_word_when_imported_again,
);

/// `tidings import content` into `url`: its standard output.
fn import(url: &str, content: &Path) -> String {
    super::scale_import_articles::run_import(url, content, None)
}

/// Writes `<section>/<slug>.md` with `id` and `title`.
fn write(content: &Path, section: &str, slug: &str, id: &str, title: &str) {
    let dir = content.join(section);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "+++\nid = \"{id}\"\ntitle = \"{title}\"\nurl = \"https://www.example.org/{id}.html\"\n\
         published_at = \"2025-02-21T09:00:00+08:00\"\n+++\n\n{title}的正文。\n"
    );
    std::fs::write(dir.join(format!("{slug}.md")), text).unwrap();
}

async fn title(store: &Store, id: &str) -> Option<String> {
    store.get_article(id).await.unwrap().map(|a| a.title)
}

async fn a_second_import_recognises_the_untouched_files_and_reads_every_other(
    backend: common::Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let (store, url, _guard) = fresh_store(backend, dir.path(), "t").await;
    let content = tempfile::tempdir().unwrap();
    let c = content.path();
    write(c, "news", "a", "a", "甲");
    write(c, "news", "b", "b", "乙");
    write(c, "notices", "c", "c", "丙");
    write(c, "news", "d", "d", "丁");

    let first = import(&url, c);
    assert!(
        first.contains("imported 4 files: 4 created, 0 updated, 0 unchanged; 0 skipped"),
        "{first}"
    );
    assert!(!first.contains("recognised"), "{first}");

    // Nothing changed: every file is recognised.
    let again = import(&url, c);
    assert!(
        again.contains("imported 4 files: 0 created, 0 updated, 4 unchanged; 0 skipped"),
        "{again}"
    );
    assert!(
        again.contains("4 unchanged files recognised from an earlier import"),
        "{again}"
    );

    // A file edited; an article edited through the API; one retracted.
    write(c, "news", "b", "b", "乙改");
    let edited = NewArticle {
        id: "c".into(),
        section: "notices".into(),
        title: "网上改过".into(),
        url: "https://www.example.org/c.html".into(),
        content_html: "<p>网上改过的正文。</p>".into(),
        summary: "网上改过的正文。".into(),
        author: None,
        image: None,
        tags: vec![],
        published_at: "2025-02-21T01:00:00Z".parse().unwrap(),
        updated_at: None,
        source: "api".into(),
    };
    store.put_article(&edited, Utc::now()).await.unwrap();
    store
        .retract_article("d", Utc::now())
        .await
        .unwrap()
        .unwrap();

    let third = import(&url, c);
    assert!(
        third.contains("imported 4 files: 1 created, 2 updated, 1 unchanged; 0 skipped"),
        "only a is untouched: {third}"
    );
    assert!(
        third.contains("1 unchanged files recognised from an earlier import"),
        "{third}"
    );
    assert_eq!(title(&store, "a").await.as_deref(), Some("甲"));
    assert_eq!(title(&store, "b").await.as_deref(), Some("乙改"));
    assert_eq!(
        title(&store, "c").await.as_deref(),
        Some("丙"),
        "the file's version is back, as a full import would store it"
    );
    assert_eq!(title(&store, "d").await.as_deref(), Some("丁"), "revived");
}

async fn files_sharing_an_article_keep_the_last_word_when_imported_again(backend: common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, url, _guard) = fresh_store(backend, dir.path(), "t").await;
    let content = tempfile::tempdir().unwrap();
    let c = content.path();
    write(c, "news", "a", "shared", "先");
    write(c, "news", "b", "shared", "后");

    let first = import(&url, c);
    assert!(
        first.contains("imported 2 files: 1 created, 1 updated, 0 unchanged; 0 skipped"),
        "{first}"
    );
    assert_eq!(title(&store, "shared").await.as_deref(), Some("后"));

    // a no longer matches the article (b wrote it last), so it is read and stored; b is then
    // read again rather than recognised, and has the last word as one at a time.
    let again = import(&url, c);
    assert!(
        again.contains("imported 2 files: 0 created, 2 updated, 0 unchanged; 0 skipped"),
        "{again}"
    );
    assert_eq!(
        title(&store, "shared").await.as_deref(),
        Some("后"),
        "the later file wins"
    );
}
