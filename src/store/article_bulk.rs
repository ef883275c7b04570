//! Many articles stored at once (`tidings import`, issue 15): the rules of
//! [`Store::put_article`], decided here once per batch and applied by set-based statements
//! (PostgreSQL: COPY into a staging table, then one INSERT and one UPDATE; SQLite: multi-row
//! statements in one transaction). One article at a time costs a round trip and a commit each,
//! which made 200,000 articles take nine minutes.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{
    Db, PutResult, Store, article_bulk_plan::Staged, article_bulk_postgres, article_bulk_sqlite,
};
use crate::{clock::to_ms, domain::NewArticle};

/// Articles per batch on PostgreSQL: large enough that a round trip and a commit cost
/// nothing per row, small enough to keep a batch's memory and lock time modest.
const POSTGRES_BATCH: usize = 5_000;
/// Articles per batch on SQLite, whose one writer also serves the running server: its own
/// writes wait for at most one such transaction.
const SQLITE_BATCH: usize = 500;

/// What [`Store::put_articles_bulk`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    /// One per article of the batch, in its order.
    pub results: Vec<PutResult>,
    /// Sections whose feeds changed (entered and left ones alike), sorted.
    pub changed_sections: Vec<String>,
    /// The content hash of each article of the batch, in its order.
    pub content_hashes: Vec<String>,
}

impl Store {
    /// How many articles a caller should hand to [`put_articles_bulk`](Self::put_articles_bulk)
    /// at once on this backend.
    pub fn bulk_batch_size(&self) -> usize {
        match self.db {
            Db::Postgres(_) => POSTGRES_BATCH,
            Db::Sqlite { .. } => SQLITE_BATCH,
        }
    }

    /// Stores `batch` in one transaction, each article exactly as
    /// [`put_article`](Self::put_article) would: created, updated, or left alone when its
    /// content hash is unchanged; a retracted one sent again comes back as created. Ids must
    /// be unique within the batch (the caller splits where one repeats, keeping file order).
    /// The caller calls [`analyze_after_article_import`](Self::analyze_after_article_import)
    /// once it has stored all its batches.
    #[tracing::instrument(skip_all, fields(n = batch.len()))]
    pub async fn put_articles_bulk(
        &self,
        batch: &[NewArticle],
        now: DateTime<Utc>,
    ) -> anyhow::Result<BulkOutcome> {
        let mut seen = HashSet::new();
        if let Some(a) = batch.iter().find(|a| !seen.insert(a.id.as_str())) {
            anyhow::bail!("article {:?} twice in one batch", a.id);
        }
        let staged = batch
            .iter()
            .map(Staged::new)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let now_ms = to_ms(now);
        let plan = match &self.db {
            Db::Postgres(pool) => article_bulk_postgres::merge(pool, &staged, now_ms).await?,
            Db::Sqlite { writer, .. } => {
                article_bulk_sqlite::merge(writer, &staged, now_ms).await?
            }
        };
        // Not noted for the statistics batch by batch: the importer analyzes the table once,
        // at its end (`analyze_after_article_import`).
        Ok(BulkOutcome {
            results: plan.results,
            changed_sections: plan.changed_sections.into_iter().collect(),
            content_hashes: staged.into_iter().map(|s| s.hash).collect(),
        })
    }
}
