//! What a batch of articles does, decided once for both backends: the rules of
//! [`Store::put_article`](super::Store::put_article), given what the database held for each
//! id. The backends only apply the plan.

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;

use super::PutResult;
use crate::{clock::to_ms, domain::NewArticle};

/// What the database held for an id of the batch (locked until the batch commits).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct Previous {
    pub id: String,
    pub section: String,
    pub content_hash: String,
    pub retracted_at: Option<i64>,
    pub created_at: i64,
}

/// An article as it is written: the encoded fields that are not plain text.
pub(super) struct Staged<'a> {
    pub a: &'a NewArticle,
    pub hash: String,
    pub tags: String,
    pub published_at: i64,
    pub updated_at: Option<i64>,
}

impl<'a> Staged<'a> {
    pub fn new(a: &'a NewArticle) -> anyhow::Result<Self> {
        Ok(Self {
            a,
            hash: a.content_hash(),
            tags: serde_json::to_string(&a.tags).context("encode tags")?,
            published_at: to_ms(a.published_at),
            updated_at: a.updated_at.map(to_ms),
        })
    }
}

/// What to write: positions in the batch to insert, and to update with the `created_at`
/// they keep (`visible_at` is the publication, never before that).
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub results: Vec<PutResult>,
    pub inserts: Vec<usize>,
    pub updates: Vec<(usize, i64)>,
    pub changed_sections: BTreeSet<String>,
}

impl Plan {
    /// The rules of [`Store::put_article`], for each article of `staged` given what the
    /// database held for it (by id).
    pub fn new(staged: &[Staged<'_>], previous: &[Previous], now_ms: i64) -> Self {
        let by_id: HashMap<&str, &Previous> = previous.iter().map(|p| (p.id.as_str(), p)).collect();
        let mut plan = Plan::default();
        for (i, s) in staged.iter().enumerate() {
            let result = match by_id.get(s.a.id.as_str()) {
                None => {
                    plan.inserts.push(i);
                    PutResult::Created
                }
                Some(p) if p.retracted_at.is_none() && p.content_hash == s.hash => {
                    PutResult::Unchanged
                }
                // A retracted article sent again counts as new for digests.
                Some(p) if p.retracted_at.is_some() => {
                    plan.updates.push((i, now_ms));
                    PutResult::Created
                }
                // An edit keeps its first ingest time, so that it is not mailed again; the
                // section it leaves changes too.
                Some(p) => {
                    plan.updates.push((i, p.created_at));
                    plan.changed_sections.insert(p.section.clone());
                    PutResult::Updated
                }
            };
            if result != PutResult::Unchanged {
                plan.changed_sections.insert(s.a.section.clone());
            }
            plan.results.push(result);
        }
        plan
    }
}
