//! The arithmetic of a shared send budget, apart from where its value is kept: a GCRA with no
//! burst (slots exactly one interval apart), and a domain's cool-down after it deferred our
//! mail.

use crate::store::SendBudget;

/// The first cool-down after a domain defers our mail; each deferral in a row doubles it.
pub const FIRST_COOL_DOWN_US: i64 = 30_000_000;
/// The longest cool-down.
pub const MAX_COOL_DOWN_US: i64 = 600_000_000;

/// What a reservation asks for.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// Time between two slots (µs).
    pub interval_us: i64,
    /// Slots wanted, one interval apart.
    pub count: i64,
    /// Reserve nothing when the first free slot is further away than this (µs).
    pub max_wait_us: i64,
    /// A stored arrival time further ahead than this cannot have come from reservations: the
    /// clock went back, and the budget starts again from now.
    pub max_ahead_us: i64,
}

/// Reserves `ask.count` slots from the first free one: `Ok(first slot)`, or `Err(time until
/// the first free slot)` when that is more than `ask.max_wait_us` away (nothing reserved).
pub fn reserve(b: &mut SendBudget, now: i64, ask: Ask) -> Result<i64, i64> {
    if b.tat_us > now.saturating_add(ask.max_ahead_us) {
        b.tat_us = now;
    }
    if b.cool_until_us > now.saturating_add(MAX_COOL_DOWN_US) {
        b.cool_until_us = now;
    }
    let start = b.tat_us.max(b.cool_until_us).max(now);
    let wait = start - now;
    if wait > ask.max_wait_us {
        return Err(wait);
    }
    b.tat_us = start + ask.count * ask.interval_us;
    Ok(start)
}

/// What a deferral from the domain did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoolDown {
    /// A new cool-down of this length began (µs); `None` when one was already running (another
    /// message of the same burst got its answer late).
    pub started_us: Option<i64>,
    /// Time until the domain takes mail again (µs).
    pub remaining_us: i64,
    pub strikes: i32,
}

/// A domain deferred our mail (4xx) at `now`: no slot before the end of a cool-down of
/// [`FIRST_COOL_DOWN_US`], doubled for each deferral in a row, at most [`MAX_COOL_DOWN_US`].
/// Deferrals during a cool-down (messages already in flight when it began) add nothing.
pub fn cool_down(b: &mut SendBudget, now: i64) -> CoolDown {
    let mut started_us = None;
    if b.cool_until_us <= now {
        b.strikes = b.strikes.saturating_add(1);
        let doublings = (b.strikes - 1).clamp(0, 20) as u32;
        let pause = FIRST_COOL_DOWN_US
            .saturating_mul(1 << doublings)
            .min(MAX_COOL_DOWN_US);
        b.cool_until_us = now + pause;
        started_us = Some(pause);
    }
    b.tat_us = b.tat_us.max(b.cool_until_us);
    CoolDown {
        started_us,
        remaining_us: b.cool_until_us - now,
        strikes: b.strikes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASK: Ask = Ask {
        interval_us: 1_000,
        count: 1,
        max_wait_us: i64::MAX,
        max_ahead_us: 1_000_000,
    };

    #[test]
    fn slots_are_one_interval_apart_with_no_burst_after_idling() {
        let mut b = SendBudget::default();
        assert_eq!(reserve(&mut b, 10_000, ASK), Ok(10_000));
        assert_eq!(reserve(&mut b, 10_000, ASK), Ok(11_000));
        let block = Ask { count: 5, ..ASK };
        assert_eq!(reserve(&mut b, 10_000, block), Ok(12_000));
        assert_eq!(reserve(&mut b, 10_000, ASK), Ok(17_000));
        // Idle for a long time: the first slot is now, not a burst of saved-up ones.
        assert_eq!(reserve(&mut b, 500_000, ASK), Ok(500_000));
        assert_eq!(reserve(&mut b, 500_000, ASK), Ok(501_000));
    }

    #[test]
    fn a_slot_too_far_away_is_refused_without_reserving_anything() {
        let mut b = SendBudget::default();
        let patient_for_half = Ask {
            max_wait_us: 500,
            ..ASK
        };
        assert_eq!(reserve(&mut b, 0, patient_for_half), Ok(0));
        let before = b;
        assert_eq!(reserve(&mut b, 0, patient_for_half), Err(1_000));
        assert_eq!(b, before);
        assert_eq!(reserve(&mut b, 600, patient_for_half), Ok(1_000));
    }

    #[test]
    fn a_clock_that_went_back_does_not_stall_the_budget() {
        let mut b = SendBudget {
            tat_us: 50_000_000,
            ..SendBudget::default()
        };
        assert_eq!(reserve(&mut b, 1_000, ASK), Ok(1_000));
    }

    #[test]
    fn deferrals_in_a_row_double_the_cool_down_and_a_burst_counts_once() {
        let mut b = SendBudget::default();
        let first = cool_down(&mut b, 0);
        assert_eq!(first.started_us, Some(FIRST_COOL_DOWN_US));
        assert_eq!(first.strikes, 1);
        // Another answer of the same burst: nothing new.
        let late = cool_down(&mut b, 1_000);
        assert_eq!(late.started_us, None);
        assert_eq!(late.remaining_us, FIRST_COOL_DOWN_US - 1_000);
        assert_eq!(
            reserve(&mut b, 1_000, ASK),
            Ok(FIRST_COOL_DOWN_US),
            "no slot before the cool-down ends"
        );
        let second = cool_down(&mut b, FIRST_COOL_DOWN_US + 5);
        assert_eq!(second.started_us, Some(2 * FIRST_COOL_DOWN_US));
        for _ in 0..30 {
            let now = b.cool_until_us;
            cool_down(&mut b, now);
        }
        let now = b.cool_until_us;
        assert_eq!(cool_down(&mut b, now).started_us, Some(MAX_COOL_DOWN_US));
    }
}
