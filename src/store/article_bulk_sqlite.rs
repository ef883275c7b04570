//! A batch of articles on SQLite: one write transaction reading the batch's existing rows
//! with a few `IN (…)` lists, inserting the new ones with multi-row statements and updating
//! the changed ones. SQLite keeps its per-row feed-mark triggers (it has no other kind); in
//! process they cost no round trip.

use anyhow::Context;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::{
    MAX_BATCH,
    article_bulk_plan::{Plan, Previous, Staged},
    articles::{UPDATE_ARTICLE, bind_article},
};

/// Rows per multi-row INSERT: 17 parameters each stays far below SQLite's 32,766.
const INSERT_ROWS: usize = 100;

/// Stores `staged` in one transaction; what was decided for each.
pub(super) async fn merge(
    writer: &SqlitePool,
    staged: &[Staged<'_>],
    now: i64,
) -> anyhow::Result<Plan> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .context("begin article batch")?;
    let mut previous: Vec<Previous> = Vec::new();
    for chunk in staged.chunks(MAX_BATCH) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT id, section, content_hash, retracted_at, created_at FROM articles WHERE id IN (",
        );
        let mut ids = q.separated(", ");
        for s in chunk {
            ids.push_bind(s.a.id.as_str());
        }
        q.push(")");
        previous.extend(
            q.build_query_as::<Previous>()
                .fetch_all(&mut *tx)
                .await
                .context("read the batch's existing articles")?,
        );
    }
    let plan = Plan::new(staged, &previous, now);
    for chunk in plan.inserts.chunks(INSERT_ROWS) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO articles (id, section, title, url, content_html, summary, author,
                image_url, image_caption, tags, published_at, updated_at, visible_at,
                content_hash, source, created_at, modified_at) ",
        );
        q.push_values(chunk, |mut row, &i| {
            let s = &staged[i];
            let a = s.a;
            row.push_bind(a.id.as_str())
                .push_bind(a.section.as_str())
                .push_bind(a.title.as_str())
                .push_bind(a.url.as_str())
                .push_bind(a.content_html.as_str())
                .push_bind(a.summary.as_str())
                .push_bind(a.author.as_deref())
                .push_bind(a.image.as_ref().map(|i| i.url.as_str()))
                .push_bind(a.image.as_ref().and_then(|i| i.caption.as_deref()))
                .push_bind(s.tags.as_str())
                .push_bind(s.published_at)
                .push_bind(s.updated_at)
                .push_bind(s.published_at.max(now))
                .push_bind(s.hash.as_str())
                .push_bind(a.source.as_str())
                .push_bind(now)
                .push_bind(now);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("insert new articles")?;
    }
    for &(i, first_seen) in &plan.updates {
        let s = &staged[i];
        let a = s.a;
        bind_article!(
            sqlx::query(UPDATE_ARTICLE),
            a,
            s.tags,
            s.hash,
            first_seen,
            now
        )
        .execute(&mut *tx)
        .await
        .context("update changed article")?;
    }
    tx.commit().await.context("commit article batch")?;
    Ok(plan)
}
