//! 404s for a slug in the path that names nothing: they list the slugs that do, so that a typo
//! is seen at once (`no schedule "dialy"; schedules: daily, weekly`).

use super::ApiState;
use crate::error::AppError;

/// 404 for a schedule slug that names none, listing those that exist.
pub async fn unknown_schedule(state: &ApiState, slug: &str) -> AppError {
    match state.store.list_schedules().await {
        Ok(all) => {
            AppError::unknown_name("slug", "schedule", slug, all.into_iter().map(|s| s.slug))
        }
        Err(e) => AppError::Internal(e),
    }
}

/// 404 for a section slug that names none, listing those that exist.
pub async fn unknown_section(state: &ApiState, slug: &str) -> AppError {
    match state.store.list_sections().await {
        Ok(all) => AppError::unknown_name("slug", "section", slug, all.into_iter().map(|s| s.slug)),
        Err(e) => AppError::Internal(e),
    }
}
