//! The PostgreSQL path of a subscriber import: a batch goes to the server in one `COPY` into a
//! staging table, then a handful of set-based statements merge it, all in one transaction.
//! Row by row, a batch cost 3–5 round trips a row (~1,000 rows/s, issue 15); this way it costs
//! the same few statements whatever its size.
//!
//! The outcome of each row is what the row-by-row import gives (see `subscriber_import`): rows
//! are taken in file order, so for one address given several times in a batch the first row
//! creates (or updates) the person, the later ones update them, and the last row's choices are
//! what stays.

use anyhow::Context;
use sqlx::{PgConnection, PgPool};

use super::{
    Store,
    subscriber_bulk_rows::People,
    subscriber_import::{ImportOutcome, ImportRow},
};

/// One line per address of the batch (`person`: its number in [`People`]) with its last row's
/// choices; `id`, `status` (as found, before the import) and `created` are filled in by the
/// merge. Dropped at commit, so that a connection back in the pool carries nothing of it.
const CREATE_PEOPLE: &str = "CREATE TEMP TABLE import_people (
        person       INT NOT NULL,
        email        TEXT NOT NULL,
        all_sections BOOLEAN NOT NULL,
        schedule     TEXT NOT NULL,
        locale       TEXT NOT NULL,
        sections     TEXT,
        id           BIGINT,
        status       TEXT,
        created      BOOLEAN NOT NULL DEFAULT FALSE
    ) ON COMMIT DROP";

const COPY_PEOPLE: &str = "COPY import_people (person, email, all_sections, schedule, locale,
    sections) FROM STDIN";

/// New addresses become active subscribers, numbered in the order of the file.
const INSERT_NEW: &str = "WITH ins AS (
        INSERT INTO subscribers (email, status, all_sections, schedule, locale, generation,
            created_at, confirmed_at, source)
        SELECT email, 'active', all_sections, schedule, locale, 1, $1, $1, 'import'
        FROM import_people ORDER BY person
        ON CONFLICT (email) DO NOTHING
        RETURNING id, email)
    UPDATE import_people p SET id = ins.id, created = TRUE FROM ins WHERE p.email = ins.email";

/// The people who were there already, locked (in id order, as every other writer of many
/// subscribers locks them) so that their status cannot change between reading and writing it.
const LOCK_EXISTING: &str = "WITH old AS (
        SELECT s.id, s.email, s.status FROM subscribers s
        JOIN import_people p ON p.email = s.email
        WHERE NOT p.created
        ORDER BY s.id FOR UPDATE OF s)
    UPDATE import_people p SET id = old.id, status = old.status FROM old
    WHERE p.email = old.email";

/// Pending and active people become active with the choices of their last row; rows that
/// would not change (a file imported twice) are not written again.
const ACTIVATE_EXISTING: &str = "UPDATE subscribers s SET status = 'active',
        confirmed_at = COALESCE(s.confirmed_at, $1),
        all_sections = p.all_sections, schedule = p.schedule, locale = p.locale
    FROM import_people p
    WHERE s.id = p.id AND NOT p.created AND p.status IN ('pending', 'active')
      AND (s.status <> 'active' OR s.confirmed_at IS NULL OR s.all_sections <> p.all_sections
           OR s.schedule <> p.schedule OR s.locale <> p.locale)";

/// Sections an existing person had and their last row does not name (all of them when it
/// names none: every section).
const DELETE_OLD_SECTIONS: &str = "DELETE FROM subscriber_sections ss USING import_people p
    WHERE ss.subscriber_id = p.id AND NOT p.created AND p.status IN ('pending', 'active')
      AND (p.sections IS NULL OR ss.section <> ALL (string_to_array(p.sections, ' ')))";

/// Sections named by the last row and not held yet.
const INSERT_SECTIONS: &str = "INSERT INTO subscriber_sections (subscriber_id, section)
    SELECT p.id, unnest(string_to_array(p.sections, ' ')) FROM import_people p
    WHERE p.sections IS NOT NULL AND (p.created OR p.status IN ('pending', 'active'))
    ON CONFLICT DO NOTHING";

/// The addresses whose rows were not all simply updated: the new people, and those left
/// alone (or gone: erased while the batch was on its way).
const OUTCOMES: &str = "SELECT person, created, status FROM import_people
    WHERE created OR status IS NULL OR status NOT IN ('pending', 'active')";

impl Store {
    /// Imports `rows` on PostgreSQL by `COPY` and set-based merges, in one transaction; one
    /// outcome per row, as the row-by-row import gives them.
    #[tracing::instrument(skip_all, fields(rows = rows.len()))]
    pub(super) async fn import_by_copy(
        &self,
        pool: &PgPool,
        rows: &[ImportRow],
        now_ms: i64,
    ) -> anyhow::Result<Vec<ImportOutcome>> {
        let people = People::group(rows);
        let mut tx = pool.begin().await.context("begin import")?;
        stage(&mut tx, &people).await?;
        let now = Some(now_ms);
        let created = run(&mut tx, INSERT_NEW, now, "insert new subscribers").await?;
        // A batch of new addresses only (the common case of a first import) has nobody to
        // lock, activate or take sections from.
        if created < people.len() as u64 {
            run(&mut tx, LOCK_EXISTING, None, "lock existing subscribers").await?;
            run(&mut tx, ACTIVATE_EXISTING, now, "activate subscribers").await?;
            run(&mut tx, DELETE_OLD_SECTIONS, None, "clear sections").await?;
        }
        run(&mut tx, INSERT_SECTIONS, None, "insert sections").await?;
        let marked: Vec<(i32, bool, Option<String>)> = sqlx::query_as(OUTCOMES)
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .context("read import outcomes")?;
        let outcomes = people.outcomes(marked)?;
        tx.commit().await.context("commit import")?;
        Ok(outcomes)
    }
}

/// Fills the staging table with one line per address.
async fn stage(conn: &mut PgConnection, people: &People<'_>) -> anyhow::Result<()> {
    // The temporary table is created and dropped in each transaction: statements about it
    // are not kept prepared (`persistent(false)`), since each batch's table is a new one.
    sqlx::query(CREATE_PEOPLE)
        .persistent(false)
        .execute(&mut *conn)
        .await
        .context("create import staging table")?;
    let mut copy = conn
        .copy_in_raw(COPY_PEOPLE)
        .await
        .context("start import COPY")?;
    if let Err(e) = copy.send(people.copy_text()).await {
        copy.abort("import batch not sent").await.ok();
        return Err(e).context("send import batch");
    }
    copy.finish().await.context("finish import COPY")?;
    Ok(())
}

/// Runs one merge statement (whose only parameter, if any, is the import's time); how many
/// rows it changed.
async fn run(
    conn: &mut PgConnection,
    sql: &str,
    now_ms: Option<i64>,
    what: &str,
) -> anyhow::Result<u64> {
    let mut query = sqlx::query(sql).persistent(false);
    if let Some(now) = now_ms {
        query = query.bind(now);
    }
    let done = query.execute(conn).await.with_context(|| what.to_owned())?;
    Ok(done.rows_affected())
}
