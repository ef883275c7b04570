//! Cron fire instants in a schedule's own IANA zone, DST-correct.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::CronSpec;

/// Most instants returned by one call; a schedule firing every second after a long outage must
/// not make an unbounded list.
pub const MAX_INSTANTS: usize = 10_000;

/// Fire instants `t` with `after < t <= until`, oldest first, evaluated on the wall clock of
/// `tz`. A wall time skipped by a spring-forward gap fires once, at the first instant after
/// the gap; a wall time repeated by a fall-back overlap fires once, at its first occurrence.
pub fn fire_instants(
    cron: &CronSpec,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    instants(cron, tz, after, until, MAX_INSTANTS)
}

/// The next `n` fire instants strictly after `after`, oldest first, by the same rules as
/// [`fire_instants`] (fewer when the cron has fewer left, e.g. an impossible date).
pub fn next_instants(
    cron: &CronSpec,
    tz: Tz,
    after: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    instants(
        cron,
        tz,
        after,
        DateTime::<Utc>::MAX_UTC,
        n.min(MAX_INSTANTS),
    )
}

fn instants(
    cron: &CronSpec,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    most: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut cursor = after.with_timezone(&tz);
    while out.len() < most {
        let Ok(next) = cron.cron().find_next_occurrence(&cursor, false) else {
            break;
        };
        let next_utc = next.with_timezone(&Utc);
        if next_utc > until {
            break;
        }
        // Same local wall-clock reading as the previous fire: the repeated hour of a fall-back.
        let repeated = out.last().is_some_and(|prev: &DateTime<Utc>| {
            prev.with_timezone(&tz).naive_local() == next.naive_local()
        });
        if !repeated {
            out.push(next_utc);
        }
        cursor = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn shanghai_eight_oclock_is_midnight_utc() {
        let cron = CronSpec::parse("0 8 * * *").unwrap();
        let got = fire_instants(
            &cron,
            chrono_tz::Asia::Shanghai,
            utc("2026-03-01T00:00:00Z"),
            utc("2026-03-03T00:00:00Z"),
        );
        assert_eq!(
            got,
            vec![utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z")]
        );
    }

    /// New York fire instants of `cron` between two UTC instants, as local "date time zone".
    fn new_york(cron: &str, from: &str, to: &str) -> Vec<String> {
        let cron = CronSpec::parse(cron).unwrap();
        fire_instants(&cron, chrono_tz::America::New_York, utc(from), utc(to))
            .iter()
            .map(|t| {
                t.with_timezone(&chrono_tz::America::New_York)
                    .format("%F %T %Z")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn spring_forward_gap_fires_once() {
        // 2026-03-08: New York clocks jump from 02:00 to 03:00; 02:30 does not exist.
        let days = new_york("30 2 * * *", "2026-03-07T12:00:00Z", "2026-03-09T12:00:00Z");
        assert_eq!(days.len(), 2, "{days:?}");
        assert!(days[0].starts_with("2026-03-08"), "{days:?}");
        assert!(days[1].starts_with("2026-03-09 02:30:00"), "{days:?}");
    }

    #[test]
    fn fall_back_overlap_fires_once() {
        // 2026-11-01: New York clocks go from 02:00 back to 01:00; 01:30 happens twice.
        let days = new_york("30 1 * * *", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z");
        assert_eq!(days, ["2026-11-01 01:30:00 EDT", "2026-11-02 01:30:00 EST"]);
    }

    #[test]
    fn next_instants_step_over_a_dst_change_one_per_local_day() {
        let cron = CronSpec::parse("30 2 * * *").unwrap();
        let ny = chrono_tz::America::New_York;
        let next = next_instants(&cron, ny, utc("2026-03-06T12:00:00Z"), 5);
        assert_eq!(next.len(), 5);
        assert!(next.windows(2).all(|w| w[0] < w[1]), "{next:?}");
        let days: Vec<String> = next
            .iter()
            .map(|t| t.with_timezone(&ny).format("%F").to_string())
            .collect();
        assert_eq!(
            days,
            [
                "2026-03-07",
                "2026-03-08",
                "2026-03-09",
                "2026-03-10",
                "2026-03-11"
            ]
        );
        // 02:30 EST is 07:30Z before the change, 02:30 EDT is 06:30Z after it.
        assert_eq!(next[0], utc("2026-03-07T07:30:00Z"));
        assert_eq!(next[2], utc("2026-03-09T06:30:00Z"));
        // Across the fall-back overlap: 01:30 happens twice on 2026-11-01 but counts once.
        let cron = CronSpec::parse("30 1 * * *").unwrap();
        let next = next_instants(&cron, ny, utc("2026-10-31T12:00:00Z"), 3);
        assert_eq!(
            next,
            [
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-02T06:30:00Z"),
                utc("2026-11-03T06:30:00Z")
            ]
        );
    }

    #[test]
    fn next_instants_are_strictly_after_the_start() {
        let cron = CronSpec::parse("0 8 * * *").unwrap();
        let next = next_instants(
            &cron,
            chrono_tz::Asia::Shanghai,
            utc("2026-03-01T00:00:00Z"),
            2,
        );
        assert_eq!(
            next,
            [utc("2026-03-02T00:00:00Z"), utc("2026-03-03T00:00:00Z")]
        );
    }

    #[test]
    fn two_thirty_on_the_fall_back_day_fires_once() {
        let days = new_york("30 2 * * *", "2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z");
        assert_eq!(days.len(), 2, "{days:?}");
    }
}
