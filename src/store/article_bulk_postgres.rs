//! A batch of articles on PostgreSQL: lock and read the rows the batch names, COPY the new
//! ones straight into `articles`, and stage only the changed ones for one UPDATE, in one
//! transaction. Per batch that is a handful of statements whatever its size; the feed marks
//! are kept by statement-level triggers (migration 0215, which COPY fires as INSERT does),
//! once per statement rather than once per row.
//!
//! New rows used to go through the staging table too (COPY, then INSERT … SELECT): every
//! body was written, compressed and read back twice. With straight COPY (and LZ4, migration
//! 0219) storing 200,000 new articles in `benches/import_articles.sh` took 19–21 s instead of
//! 24 s (issue 15).

use std::io::Write;

use anyhow::Context;
use sqlx::{PgPool, Postgres, Transaction};

use super::article_bulk_plan::{Plan, Previous, Staged};

/// The columns both COPYs carry, in the order [`encode_fields`] writes them.
macro_rules! fields {
    () => {
        "id, section, title, url, content_html, summary, author, image_url, image_caption, \
         tags, published_at, updated_at, content_hash, source"
    };
}

/// Locks the batch's existing rows in id order (the order every writer locks in, so that two
/// batches cannot deadlock) and reads what the rules compare.
const LOCK: &str = "SELECT id, section, content_hash, retracted_at, created_at FROM articles
    WHERE id = ANY($1::TEXT[]) ORDER BY id FOR UPDATE";

/// New ids, in id order, with what a new article starts with. Another writer inserting one of
/// them meanwhile makes this fail, and the caller falls back to one article at a time.
const INSERT: &str = concat!(
    "COPY articles (",
    fields!(),
    ", visible_at, created_at, modified_at) FROM STDIN"
);

/// The changed rows, private to the transaction's connection and gone at its end.
const STAGE: &str = "CREATE TEMP TABLE article_stage (
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
        source        TEXT NOT NULL,
        first_seen    BIGINT NOT NULL
    ) ON COMMIT DROP";

const STAGE_COPY: &str = concat!(
    "COPY article_stage (",
    fields!(),
    ", first_seen) FROM STDIN"
);

/// Changed (or revived) ids, each with the `created_at` it keeps.
const UPDATE: &str = "UPDATE articles a SET section = s.section, title = s.title, url = s.url,
        content_html = s.content_html, summary = s.summary, author = s.author,
        image_url = s.image_url, image_caption = s.image_caption, tags = s.tags,
        published_at = s.published_at, updated_at = s.updated_at,
        visible_at = GREATEST(s.published_at, s.first_seen), content_hash = s.content_hash,
        source = s.source, created_at = s.first_seen, modified_at = $1, retracted_at = NULL
    FROM article_stage s
    WHERE a.id = s.id";

/// Bytes sent to COPY per message.
const COPY_CHUNK: usize = 1 << 20;

/// Stores `staged` in one transaction; what was decided for each.
pub(super) async fn merge(pool: &PgPool, staged: &[Staged<'_>], now: i64) -> anyhow::Result<Plan> {
    let mut tx = pool.begin().await.context("begin article batch")?;
    // The feed-mark triggers see the statement's rows as a transition table, whole bodies
    // included: at the default 4 MB of work_mem, a batch's table went to a temporary file and
    // was read back. 64 MB holds a batch of 5,000 (≈ 25 MB with their bodies) in memory.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *tx)
        .await
        .context("set work_mem for the batch")?;
    let ids: Vec<&str> = staged.iter().map(|s| s.a.id.as_str()).collect();
    let previous: Vec<Previous> = sqlx::query_as(LOCK)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .context("lock the batch's existing articles")?;
    let plan = Plan::new(staged, &previous, now);
    if !plan.inserts.is_empty() {
        let mut new: Vec<&Staged> = plan.inserts.iter().map(|&i| &staged[i]).collect();
        new.sort_unstable_by(|x, y| x.a.id.cmp(&y.a.id));
        copy(&mut tx, INSERT, &new, |buf, s| {
            let visible = s.published_at.max(now);
            let _ = writeln!(buf, "\t{visible}\t{now}\t{now}");
        })
        .await
        .context("insert new articles")?;
    }
    if !plan.updates.is_empty() {
        sqlx::query(STAGE)
            .execute(&mut *tx)
            .await
            .context("create the article staging table")?;
        let changed: Vec<(&Staged, i64)> =
            plan.updates.iter().map(|&(i, f)| (&staged[i], f)).collect();
        let rows: Vec<&Staged> = changed.iter().map(|&(s, _)| s).collect();
        let mut first_seen = changed.iter().map(|&(_, f)| f);
        copy(&mut tx, STAGE_COPY, &rows, |buf, _| {
            let f = first_seen.next().unwrap_or(now);
            let _ = writeln!(buf, "\t{f}");
        })
        .await
        .context("stage changed articles")?;
        sqlx::query(UPDATE)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("update changed articles")?;
    }
    tx.commit().await.context("commit article batch")?;
    Ok(plan)
}

/// COPYs `rows` with `statement`: each row's fields, then what `tail` adds (the rest of its
/// columns and the newline).
async fn copy(
    tx: &mut Transaction<'_, Postgres>,
    statement: &str,
    rows: &[&Staged<'_>],
    mut tail: impl FnMut(&mut Vec<u8>, &Staged<'_>),
) -> anyhow::Result<()> {
    let mut copy = tx.copy_in_raw(statement).await.context("start COPY")?;
    let mut buf = Vec::with_capacity(COPY_CHUNK + 64 * 1024);
    for s in rows {
        encode_fields(&mut buf, s);
        tail(&mut buf, s);
        if buf.len() >= COPY_CHUNK {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(COPY_CHUNK + 64 * 1024));
            copy.send(full).await.context("COPY")?;
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await.context("COPY")?;
    }
    copy.finish().await.context("finish COPY")?;
    Ok(())
}

/// The columns of `fields!()` in COPY's text format: tab-separated, `\N` for NULL.
fn encode_fields(buf: &mut Vec<u8>, s: &Staged<'_>) {
    let a = s.a;
    text(buf, Some(&a.id));
    for t in [&a.section, &a.title, &a.url, &a.content_html, &a.summary] {
        field(buf, Some(t));
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
}

/// A tab, then `value` escaped for COPY's text format.
fn field(buf: &mut Vec<u8>, value: Option<&str>) {
    buf.push(b'\t');
    text(buf, value);
}

/// `value` escaped for COPY's text format, copied in runs between the bytes that need it
/// (pushed byte by byte, it took 4 % of an import's CPU samples).
fn text(buf: &mut Vec<u8>, value: Option<&str>) {
    let Some(v) = value else {
        buf.extend_from_slice(b"\\N");
        return;
    };
    let bytes = v.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escaped);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_row() {
        let mut buf = Vec::new();
        field(&mut buf, Some("a\tb\nc\\d\re"));
        field(&mut buf, None);
        field(&mut buf, Some("工会\n"));
        field(&mut buf, Some(""));
        assert_eq!(buf, "\ta\\tb\\nc\\\\d\\re\t\\N\t工会\\n\t".as_bytes());
    }
}
