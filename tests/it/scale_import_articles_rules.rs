//! The bulk path of `tidings import` (issue 15) keeps every rule of storing one article at a
//! time: the same answer per article (created, updated, unchanged; a retracted one sent again
//! is created), the same stored rows (`visible_at`, `created_at`, `modified_at`, source,
//! tombstones cleared) and the same feed marks, on both backends.

use crate::common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use tidings::{
    domain::NewArticle,
    store::{PutResult, Store},
};

on_both!(
    a_bulk_batch_stores_and_answers_exactly_what_one_article_at_a_time_would,
    two_files_with_one_id_import_as_they_would_one_at_a_time,
);

/// A fresh, migrated database with the default sections, and its URL.
pub(crate) async fn fresh_store(
    backend: common::Backend,
    dir: &std::path::Path,
    name: &str,
) -> (Store, String, Option<common::PgDatabase>) {
    let (url, guard) = match backend {
        common::Backend::Sqlite => (format!("sqlite://{}/{name}.db", dir.display()), None),
        common::Backend::Postgres => {
            let (url, guard) = common::create_pg_database().await;
            (url, Some(guard))
        }
    };
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let seeds = common::test_config(dir, &url).section_seeds();
    store
        .ensure_sections(&seeds, common::test_start().timestamp_millis())
        .await
        .unwrap();
    (store, url, guard)
}

fn article(id: &str, section: &str, title: &str, published: &str) -> NewArticle {
    NewArticle {
        id: id.into(),
        section: section.into(),
        title: title.into(),
        url: format!("https://www.example.org/{id}.html"),
        content_html: format!("<p>{title}：正文</p>"),
        summary: format!("{title}…"),
        author: Some("张鹏".into()),
        image: None,
        tags: vec!["工会".into()],
        published_at: published.parse().unwrap(),
        updated_at: None,
        source: "import".into(),
    }
}

const PAST: &str = "2025-02-21T01:00:00Z";
const FUTURE: &str = "2027-01-01T00:00:00Z";

/// What both databases hold before the import, written one at a time at `t0`; then the
/// retracted ones are retracted.
async fn arrange(store: &Store, t0: DateTime<Utc>) {
    for a in [
        article("same", "news", "不变", PAST),
        article("edited", "news", "旧", PAST),
        article("moved", "notices", "迁移", PAST),
        article("revived", "news", "撤回", PAST),
        article("revived-same", "about", "撤回后原样", PAST),
    ] {
        store.put_article(&a, t0).await.unwrap();
    }
    for id in ["revived", "revived-same"] {
        store.retract_article(id, t0).await.unwrap().unwrap();
    }
}

/// The import: one of each case, in file order.
fn batch() -> Vec<NewArticle> {
    vec![
        article("same", "news", "不变", PAST),
        article("edited", "news", "新", PAST),
        article("moved", "news", "迁移", PAST),
        article("revived", "news", "撤回又发", PAST),
        article("revived-same", "about", "撤回后原样", PAST),
        article("new-past", "grassroots", "新的", PAST),
        article("new-future", "grassroots", "定时", FUTURE),
    ]
}

async fn a_bulk_batch_stores_and_answers_exactly_what_one_article_at_a_time_would(
    backend: common::Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let (one, _, _g1) = fresh_store(backend, dir.path(), "one").await;
    let (bulk, _, _g2) = fresh_store(backend, dir.path(), "bulk").await;
    let t0 = common::test_start();
    let t1 = t0 + Duration::hours(1);
    arrange(&one, t0).await;
    arrange(&bulk, t0).await;

    let mut one_results = Vec::new();
    let mut one_sections = BTreeSet::new();
    for a in batch() {
        let o = one.put_article(&a, t1).await.unwrap();
        one_results.push(o.result);
        one_sections.extend(o.changed_sections);
    }
    let outcome = bulk.put_articles_bulk(&batch(), t1).await.unwrap();

    use PutResult::*;
    let expected = [
        Unchanged, Updated, Updated, Created, Created, Created, Created,
    ];
    assert_eq!(one_results, expected);
    assert_eq!(outcome.results, expected);
    assert_eq!(outcome.changed_sections, Vec::from_iter(one_sections));
    assert_eq!(
        outcome.changed_sections,
        ["about", "grassroots", "news", "notices"]
    );
    for a in batch() {
        let (x, y) = (
            one.console_article(&a.id).await.unwrap().unwrap(),
            bulk.console_article(&a.id).await.unwrap().unwrap(),
        );
        assert_eq!(x.article, y.article, "{}", a.id);
        assert_eq!((x.retracted_at, y.retracted_at), (None, None), "{}", a.id);
    }
    let get = |id: &'static str| {
        let bulk = bulk.clone();
        async move { bulk.console_article(id).await.unwrap().unwrap().article }
    };
    let same = get("same").await;
    assert_eq!(
        (same.created_at, same.modified_at, same.visible_at),
        (t0, t0, t0)
    );
    let edited = get("edited").await;
    assert_eq!(
        (edited.created_at, edited.modified_at, edited.visible_at),
        (t0, t1, t0)
    );
    assert_eq!(edited.title, "新");
    let revived = get("revived").await;
    assert_eq!((revived.created_at, revived.visible_at), (t1, t1));
    assert_eq!(get("new-past").await.visible_at, t1);
    let future = get("new-future").await;
    assert_eq!(future.visible_at, FUTURE.parse::<DateTime<Utc>>().unwrap());
    assert_eq!(future.source, "import");
    let marks = bulk.feed_marks().await.unwrap();
    assert_eq!(marks, one.feed_marks().await.unwrap());
    assert_eq!(
        marks["notices"],
        t1.timestamp_millis(),
        "the section moved out of"
    );
}

async fn two_files_with_one_id_import_as_they_would_one_at_a_time(backend: common::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, url, _guard) = fresh_store(backend, dir.path(), "t").await;
    let content = tempfile::tempdir().unwrap();
    std::fs::create_dir(content.path().join("news")).unwrap();
    for (file, title) in [("a.md", "先"), ("b.md", "后")] {
        let text = format!(
            "+++\nid = \"shared\"\ntitle = \"{title}\"\nurl = \"https://www.example.org/s.html\"\n\
             published_at = \"2025-02-21T09:00:00+08:00\"\n+++\n\n正文\n"
        );
        std::fs::write(content.path().join("news").join(file), text).unwrap();
    }

    let stdout = super::scale_import_articles::run_import(&url, content.path(), None);
    assert!(
        stdout.contains("imported 2 files: 1 created, 1 updated, 0 unchanged; 0 skipped"),
        "{stdout}"
    );
    let stored = store.get_article("shared").await.unwrap().unwrap();
    assert_eq!(stored.title, "后", "the later file wins");
}
