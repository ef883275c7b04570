//! Planner statistics after bulk changes (issue 15), on both backends: an import of more than
//! 10,000 subscribers analyzes the subscribers and their sections, a run that plans more than
//! 10,000 deliveries analyzes the deliveries, and small changes analyze nothing. (PostgreSQL
//! counts every ANALYZE in pg_stat_user_tables; SQLite keeps what it found in sqlite_stat1.)

use crate::common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use tidings::clock::to_ms;

/// How many times `table` was analyzed (PostgreSQL), or whether it has statistics (SQLite: 0
/// or 1).
async fn analyzed(app: &common::TestApp, table: &str) -> i64 {
    // The statistics collector reports with a short delay; a fresh connection asks anew.
    if app.database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        let has_stats: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
                .fetch_optional(&pool)
                .await
                .unwrap();
        let n = if has_stats.is_some() {
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = $1")
                .bind(table)
                .fetch_one(&pool)
                .await
                .unwrap()
        } else {
            0
        };
        pool.close().await;
        i64::from(n > 0)
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let n: i64 =
            sqlx::query_scalar("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = $1")
                .bind(table)
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        n
    }
}

/// Waits until the app's background ANALYZE is over and `table` shows it (PostgreSQL's
/// statistics views lag their counters by a moment).
async fn wait_analyzed(app: &common::TestApp, table: &str, at_least: i64) -> i64 {
    assert!(
        app.state
            .store
            .statistics_settled(StdDuration::from_secs(60))
            .await
    );
    settle_analyzed(app, table, at_least).await
}

async fn import(app: &common::TestApp, from: usize, n: usize) {
    let mut csv = String::from("email,sections,schedule\n");
    for i in from..from + n {
        csv.push_str(&format!("s{i}@example.com,news,daily\n"));
    }
    app.import_ok(&csv).await;
}

on_both_backends! {
    async fn bulk_imports_and_big_plans_are_analyzed_and_small_changes_are_not(app) {
        // A small import and a small run: nothing analyzed (nothing was even started).
        import(&app, 0, 50).await;
        let t = to_ms(app.clock.now() + Duration::days(1));
        let store = &app.state.store;
        store.plan_run("daily", None, t, t).await.unwrap().unwrap();
        assert!(store.statistics_settled(StdDuration::ZERO).await, "an ANALYZE started after a small change");
        for table in ["subscribers", "subscriber_sections", "deliveries"] {
            assert_eq!(analyzed(&app, table).await, 0, "{table} analyzed after a small change");
        }

        // An import of 10,000 more: the subscribers and their sections are analyzed.
        import(&app, 50, 10_000).await;
        assert!(wait_analyzed(&app, "subscribers", 1).await >= 1, "subscribers not analyzed");
        assert!(wait_analyzed(&app, "subscriber_sections", 1).await >= 1, "sections not analyzed");
        assert_eq!(analyzed(&app, "deliveries").await, 0, "deliveries analyzed without a bulk change");

        // A run planning 10,050 deliveries: the deliveries are analyzed.
        store.plan_run("daily", None, t + 1, t + 1).await.unwrap().unwrap();
        assert!(wait_analyzed(&app, "deliveries", 1).await >= 1, "deliveries not analyzed after a big plan");
    }
}

/// How many times `table` was vacuumed by hand (the service's VACUUM; autovacuum counts
/// apart), on PostgreSQL.
async fn vacuumed(url: &str, table: &str) -> i64 {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let n = sqlx::query_scalar("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = $1")
        .bind(table)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

/// PostgreSQL only (SQLite's triggers update the runs directly and leave no deltas): folding
/// away 10,000 figure deltas vacuums their table, folding fewer does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folded_figure_deltas_are_vacuumed_after_ten_thousand() {
    let Some(app) = common::try_spawn_app(common::Backend::Postgres).await else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL unset: PostgreSQL variant not run");
        return;
    };
    import(&app, 0, 10).await;
    let t = to_ms(app.clock.now() + Duration::days(1));
    let store = &app.state.store;
    let run = store.plan_run("daily", None, t, t).await.unwrap().unwrap();
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    // Deltas of zero: the run's figures stay as they are, only the rows come and go.
    let add = |n: i64| {
        sqlx::query("INSERT INTO run_figure_deltas (run_id) SELECT $1 FROM generate_series(1, $2)")
            .bind(run)
            .bind(n)
            .execute(&pool)
    };
    add(6_000).await.unwrap();
    store.fold_run_figures().await.unwrap();
    assert!(store.statistics_settled(StdDuration::from_secs(60)).await);
    assert_eq!(
        vacuumed(&app.database_url, "run_figure_deltas").await,
        0,
        "vacuumed after 6,000"
    );

    add(6_000).await.unwrap();
    store.fold_run_figures().await.unwrap();
    assert!(store.statistics_settled(StdDuration::from_secs(60)).await);
    let mut n = 0;
    for _ in 0..100 {
        n = vacuumed(&app.database_url, "run_figure_deltas").await;
        if n > 0 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert!(
        n >= 1,
        "run_figure_deltas not vacuumed after 12,000 folded deltas"
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM run_figure_deltas")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
}

/// `n` small article files under `dir`, numbered from `from`, in one section.
fn write_articles(dir: &std::path::Path, from: usize, n: usize) {
    let folder = dir.join("news");
    std::fs::create_dir_all(&folder).unwrap();
    for i in from..from + n {
        let text = format!(
            "+++\ntitle = \"第{i}号通知\"\nurl = \"https://www.example.org/news/a{i}.html\"\n\
             published_at = \"2026-03-01T08:00:00+08:00\"\n+++\n\n全省各级工会组织深入学习。\n"
        );
        std::fs::write(folder.join(format!("a{i:06}.md")), text).unwrap();
    }
}

/// Polls `analyzed` for a moment (PostgreSQL's statistics views lag their counters).
async fn settle_analyzed(app: &common::TestApp, table: &str, at_least: i64) -> i64 {
    for _ in 0..100 {
        let n = analyzed(app, table).await;
        if n >= at_least {
            return n;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    analyzed(app, table).await
}

on_both_backends! {
    async fn an_article_import_analyzes_the_articles_once_at_its_end_and_a_small_one_not_at_all(app) {
        let content = app.dir.path().join("content");
        // A small import: the articles are not analyzed.
        write_articles(&content, 0, 50);
        crate::scale_import_articles::run_import(&app.database_url, &content, None);
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        assert_eq!(analyzed(&app, "articles").await, 0, "articles analyzed after 50 files");

        // 25,000 more files (several batches on either backend, past 10,000 twice): analyzed
        // by the time the command has returned, and on PostgreSQL exactly once, not batch by
        // batch as the rows came.
        write_articles(&content, 50, 25_000);
        let out = crate::scale_import_articles::run_import(&app.database_url, &content, None);
        assert!(out.contains("25000 created"), "{out}");
        let n = settle_analyzed(&app, "articles", 1).await;
        assert_eq!(n, 1, "articles analyzed {n} times by one import");
    }
}
