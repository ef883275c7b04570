//! A section of the site: the unit of feeds and of subscription choices.

use serde::Serialize;

/// A section as stored (and as the API shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Section {
    pub slug: String,
    pub title: String,
    pub description: String,
    /// Display order; configured sections take their place in the config file.
    #[serde(skip)]
    pub position: i64,
}
