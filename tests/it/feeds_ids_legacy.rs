//! A database that served ids before they were stored (migration 0160) keeps exactly those
//! ids: `tag:<host of site.base_url>,2026:…`, as the release before rendered them, whatever
//! `site.base_url` and `feeds.id_authority` say afterwards.

use crate::common;

use std::path::Path;

use chrono::Duration as Span;
use tidings::{clock::Clock, store::Store};

use crate::feeds_ids::{Db, REAL, Running, on_both_databases};

on_both_databases! {
    async fn a_database_that_served_ids_before_keeps_them_exactly(db) {
        // A database of the release before fixed ids, holding an article.
        migrate_as_before_fixed_ids(&db).await;
        let config = common::test_config(db.dir.path(), &db.url);
        let store = Store::connect(&db.url).await.unwrap();
        let now = common::test_start();
        store.ensure_sections(&config.section_seeds(), now.timestamp_millis()).await.unwrap();
        store.put_article(&old_article(), now).await.unwrap();
        store.close().await;

        let clock = Clock::manual(now + Span::days(200));
        // Even a feeds.id_authority set at the upgrade would change every id: it is ignored.
        let upgraded = Running::start(&db, &clock, |c| {
            c.feeds.id_authority = Some("qhgh.example.org".into());
        })
        .await;
        // `tag:<host of base_url>,2026:`, exactly as the release before rendered them.
        let ids = upgraded.ids("/feeds/news.atom").await;
        assert_eq!(ids, ["tag:feeds.example.test,2026:article/legacy%2F1"]);
        assert_eq!(upgraded.atom_feed_id("news").await, "tag:feeds.example.test,2026:feed/news");
        upgraded.stop().await;

        // From then on they are stored: a new base_url does not move them either.
        let moved = Running::start(&db, &clock, |c| c.site.base_url = REAL.into()).await;
        assert_eq!(moved.ids("/feeds/news.atom").await, ids);
        assert_eq!(moved.ids("/feeds/news.rss").await, ids);
        assert_eq!(moved.ids("/feeds/news.json").await, ids);
        moved.stop().await;
    }
}

/// Applies only the migrations that existed before `feed_identity` (0160).
async fn migrate_as_before_fixed_ids(db: &Db) {
    let dialect = match db.backend {
        common::Backend::Sqlite => "sqlite",
        common::Backend::Postgres => "postgres",
    };
    let all = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect);
    let older = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&all).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0160" {
            std::fs::copy(&path, older.path().join(name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(older.path()).await.unwrap();
    match db.backend {
        common::Backend::Sqlite => {
            use std::str::FromStr;
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        common::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

fn old_article() -> tidings::articles::NewArticle {
    tidings::articles::NewArticle {
        id: "legacy/1".into(),
        section: "news".into(),
        title: "升级前发布的文章".into(),
        url: "https://www.example.org/news/legacy.html".into(),
        content_html: "<p>正文</p>".into(),
        summary: "摘要".into(),
        author: None,
        image: None,
        tags: vec![],
        published_at: "2025-03-01T01:00:00Z".parse().unwrap(),
        updated_at: None,
        source: "api".into(),
    }
}
