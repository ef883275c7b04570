//! Instant schedules (SPEC §6): a mail within the window of a publication, at most one per
//! window. The rule and the run it makes live in the store (`Store::tick_instant`), where every
//! process reads the same facts; this is what the scheduler and the admin API ask of it.

use chrono::{DateTime, Utc};

use crate::{
    clock::{from_ms, to_ms},
    domain::Schedule,
    store::{InstantTick, Store},
};

/// When instant `schedule` mails next, if something published waits for it (possibly now or
/// earlier: its run is due); `None` for a digest, a disabled schedule or when nothing waits.
pub async fn pending_fire(
    store: &Store,
    schedule: &Schedule,
    now_ms: i64,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let Some(window) = schedule.window().filter(|_| schedule.enabled) else {
        return Ok(None);
    };
    Ok(store
        .instant_pending(&schedule.slug, window.millis(), now_ms)
        .await?
        .map(from_ms))
}

/// What evaluating one instant schedule did, for the scheduler's report.
pub enum Evaluated {
    /// A run was made.
    Started(i64),
    /// Evaluate again at this instant (the window's end).
    DueAt(DateTime<Utc>),
    Nothing,
}

/// Evaluates instant `schedule` at `now` and fires it when due. A disabled one passes over
/// what is published meanwhile, so enabling it later mails nothing old at once.
pub async fn evaluate(
    store: &Store,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> anyhow::Result<Evaluated> {
    if !schedule.enabled {
        store
            .advance_schedule_check(&schedule.slug, to_ms(now))
            .await?;
        return Ok(Evaluated::Nothing);
    }
    let Some(window) = schedule.window() else {
        anyhow::bail!("instant schedule {:?} has no valid window", schedule.slug);
    };
    // A read first: most evaluations find nothing due, and need no write transaction.
    match store
        .instant_pending(&schedule.slug, window.millis(), to_ms(now))
        .await?
    {
        None => return Ok(Evaluated::Nothing),
        Some(at) if at > to_ms(now) => return Ok(Evaluated::DueAt(from_ms(at))),
        Some(_) => {}
    }
    Ok(
        match store
            .tick_instant(&schedule.slug, window.millis(), to_ms(now))
            .await?
        {
            InstantTick::Planned { run_id, fire_at } => {
                tracing::info!(schedule = %schedule.slug, fire_at = %from_ms(fire_at), run = run_id,
                    "instant run started");
                Evaluated::Started(run_id)
            }
            InstantTick::Waiting(at) => Evaluated::DueAt(from_ms(at)),
            InstantTick::Unfollowed => {
                tracing::debug!(schedule = %schedule.slug,
                    "published articles are in sections no subscriber of this schedule follows");
                Evaluated::Nothing
            }
            InstantTick::Idle => Evaluated::Nothing,
        },
    )
}
