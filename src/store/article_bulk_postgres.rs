//! A batch of articles on PostgreSQL: COPY into a staging table, lock and read the rows the
//! batch names, then one INSERT of the new and one UPDATE of the changed, in one transaction.
//! Per batch that is a handful of statements whatever its size; the feed marks are kept by
//! statement-level triggers (migration 0215), once per statement rather than once per row.

use std::io::Write;

use anyhow::Context;
use sqlx::PgPool;

use super::article_bulk_plan::{Plan, Previous, Staged};

/// The staging table, private to the transaction's connection and gone at its end.
const STAGE: &str = "CREATE TEMP TABLE article_stage (
        ord           INTEGER PRIMARY KEY,
        id            TEXT NOT NULL,
        section       TEXT NOT NULL,
        title         TEXT NOT NULL,
        url           TEXT NOT NULL,
        content_html  TEXT NOT NULL,
        summary       TEXT NOT NULL,
        author        TEXT,
        image_url     TEXT,
        image_caption TEXT,
        tags          TEXT NOT NULL,
        published_at  BIGINT NOT NULL,
        updated_at    BIGINT,
        content_hash  TEXT NOT NULL,
        source        TEXT NOT NULL
    ) ON COMMIT DROP";

const COPY: &str = "COPY article_stage (ord, id, section, title, url, content_html, summary, \
    author, image_url, image_caption, tags, published_at, updated_at, content_hash, source) \
    FROM STDIN";

/// Locks the batch's existing rows in id order (the order every writer locks in, so that two
/// batches cannot deadlock) and reads what the rules compare.
const LOCK: &str = "SELECT id, section, content_hash, retracted_at, created_at FROM articles
    WHERE id IN (SELECT id FROM article_stage) ORDER BY id FOR UPDATE";

/// New ids. Another writer inserting one of them meanwhile makes this fail, and the caller
/// falls back to one article at a time.
const INSERT: &str = "INSERT INTO articles (id, section, title, url, content_html, summary,
        author, image_url, image_caption, tags, published_at, updated_at, visible_at,
        content_hash, source, created_at, modified_at)
    SELECT s.id, s.section, s.title, s.url, s.content_html, s.summary, s.author, s.image_url,
        s.image_caption, s.tags, s.published_at, s.updated_at, GREATEST(s.published_at, $1),
        s.content_hash, s.source, $1, $1
    FROM article_stage s JOIN unnest($2::INTEGER[]) AS n(ord) ON n.ord = s.ord
    ORDER BY s.id";

/// Changed (or revived) ids, each with the `created_at` it keeps.
const UPDATE: &str = "UPDATE articles a SET section = s.section, title = s.title, url = s.url,
        content_html = s.content_html, summary = s.summary, author = s.author,
        image_url = s.image_url, image_caption = s.image_caption, tags = s.tags,
        published_at = s.published_at, updated_at = s.updated_at,
        visible_at = GREATEST(s.published_at, f.first_seen), content_hash = s.content_hash,
        source = s.source, created_at = f.first_seen, modified_at = $1, retracted_at = NULL
    FROM article_stage s
        JOIN unnest($2::INTEGER[], $3::BIGINT[]) AS f(ord, first_seen) ON f.ord = s.ord
    WHERE a.id = s.id";

/// Bytes sent to COPY per message.
const COPY_CHUNK: usize = 1 << 20;

/// Stores `staged` in one transaction; what was decided for each.
pub(super) async fn merge(pool: &PgPool, staged: &[Staged<'_>], now: i64) -> anyhow::Result<Plan> {
    let mut tx = pool.begin().await.context("begin article batch")?;
    sqlx::query(STAGE)
        .execute(&mut *tx)
        .await
        .context("create the article staging table")?;
    let mut copy = tx
        .copy_in_raw(COPY)
        .await
        .context("start COPY of articles")?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    for (ord, s) in staged.iter().enumerate() {
        encode_row(&mut buf, ord, s);
        if buf.len() >= COPY_CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(COPY_CHUNK + 64 * 1024));
            copy.send(full).await.context("COPY articles")?;
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await.context("COPY articles")?;
    }
    copy.finish().await.context("finish COPY of articles")?;
    let previous: Vec<Previous> = sqlx::query_as(LOCK)
        .fetch_all(&mut *tx)
        .await
        .context("lock the batch's existing articles")?;
    let plan = Plan::new(staged, &previous, now);
    if !plan.inserts.is_empty() {
        let ords: Vec<i32> = plan.inserts.iter().map(|&i| i as i32).collect();
        sqlx::query(INSERT)
            .bind(now)
            .bind(ords)
            .execute(&mut *tx)
            .await
            .context("insert new articles")?;
    }
    if !plan.updates.is_empty() {
        let (ords, first_seen): (Vec<i32>, Vec<i64>) =
            plan.updates.iter().map(|&(i, f)| (i as i32, f)).unzip();
        sqlx::query(UPDATE)
            .bind(now)
            .bind(ords)
            .bind(first_seen)
            .execute(&mut *tx)
            .await
            .context("update changed articles")?;
    }
    tx.commit().await.context("commit article batch")?;
    Ok(plan)
}

/// One line of COPY's text format: tab-separated, `\N` for NULL.
fn encode_row(buf: &mut Vec<u8>, ord: usize, s: &Staged<'_>) {
    let a = s.a;
    let _ = write!(buf, "{ord}");
    for text in [
        &a.id,
        &a.section,
        &a.title,
        &a.url,
        &a.content_html,
        &a.summary,
    ] {
        field(buf, Some(text));
    }
    field(buf, a.author.as_deref());
    field(buf, a.image.as_ref().map(|i| i.url.as_str()));
    field(buf, a.image.as_ref().and_then(|i| i.caption.as_deref()));
    field(buf, Some(&s.tags));
    let _ = write!(buf, "\t{}", s.published_at);
    match s.updated_at {
        Some(u) => {
            let _ = write!(buf, "\t{u}");
        }
        None => buf.extend_from_slice(b"\t\\N"),
    }
    field(buf, Some(&s.hash));
    field(buf, Some(&a.source));
    buf.push(b'\n');
}

/// A tab, then `value` escaped for COPY's text format.
fn field(buf: &mut Vec<u8>, value: Option<&str>) {
    buf.push(b'\t');
    let Some(v) = value else {
        buf.extend_from_slice(b"\\N");
        return;
    };
    for b in v.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_row() {
        let mut buf = Vec::new();
        field(&mut buf, Some("a\tb\nc\\d\re"));
        field(&mut buf, None);
        assert_eq!(buf, b"\ta\\tb\\nc\\\\d\\re\t\\N");
    }
}
