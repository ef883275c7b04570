//! The dashboard's 90-day growth chart: active subscribers at the end of each day (in the
//! site's zone) and the sign-ups of each day, drawn as an SVG on the server (no script; no
//! inline style, the stylesheet colours it through classes).
//!
//! The store keeps no daily history; the days are worked back from today's active count and
//! each day's events (confirmations add, unsubscriptions and bounces subtract), counted in
//! one grouped query per 15 minutes (every zone's day starts on a quarter hour). Erased
//! subscribers leave no trace, and a re-subscribed person counts from the latest
//! confirmation only.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::store::GrowthBucket;

/// Days the chart covers, today included.
pub const DAYS: usize = 90;
/// The store's bucket: a quarter of an hour.
pub const BUCKET_MS: i64 = 15 * 60_000;

/// One day of the chart.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Day {
    pub date: NaiveDate,
    /// Active subscribers at the end of the day (now, for today).
    pub active: i64,
    /// Sign-ups during the day.
    pub signups: i64,
}

/// The local midnight starting `date` in `tz` (the first instant of the day).
fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        // Midnight skipped by a DST change: the day starts an hour later.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::TimeDelta::hours(1)))
            .earliest()
            .map_or_else(
                || Utc.from_utc_datetime(&midnight),
                |t| t.with_timezone(&Utc),
            ),
    }
}

/// The first instant of today in `tz`.
pub fn today_start(tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    day_start(tz, now.with_timezone(&tz).date_naive())
}

/// The first instant the chart counts events from: the start of the day 89 days ago.
pub fn window_start(tz: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let today = now.with_timezone(&tz).date_naive();
    day_start(tz, today - Days::new(DAYS as u64 - 1))
}

/// The chart's days, oldest first, from today's active count and the store's buckets; and
/// the net growth over them (active now minus active before the first day).
pub fn days(
    tz: Tz,
    now: DateTime<Utc>,
    active_now: i64,
    buckets: &[GrowthBucket],
) -> (Vec<Day>, i64) {
    let start = window_start(tz, now);
    let first = start.with_timezone(&tz).date_naive();
    // Per day: sign-ups and the change of the active count.
    let mut signups = vec![0i64; DAYS];
    let mut change = vec![0i64; DAYS];
    for b in buckets {
        let at = start + chrono::TimeDelta::milliseconds(b.bucket * BUCKET_MS);
        let date = at.with_timezone(&tz).date_naive();
        let Ok(i) = usize::try_from((date - first).num_days()) else {
            continue;
        };
        if i >= DAYS {
            continue;
        }
        signups[i] += b.created;
        change[i] += b.confirmed - b.unsubscribed - b.bounced;
    }
    let mut out = Vec::with_capacity(DAYS);
    let mut active = active_now;
    for i in (0..DAYS).rev() {
        out.push(Day {
            date: first + Days::new(i as u64),
            active: active.max(0),
            signups: signups[i],
        });
        active -= change[i];
    }
    out.reverse();
    (out, active_now - active)
}

/// `1234567` as `1,234,567`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Words of the chart, in the page's language.
pub struct Labels {
    pub title: String,
    pub summary: String,
    pub active: String,
    pub signups: String,
}

/// Geometry of a drawing, in SVG user units (its viewBox; the stylesheet scales it to the
/// page's width, so a phone gets a drawing of its own whose text stays readable).
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// `wide` or `narrow` (a CSS class, and the suffix of the ids inside).
    pub name: &'static str,
    w: f64,
    h: f64,
    left: f64,
    font: f64,
}

/// The drawing for wide screens.
pub const WIDE: Size = Size {
    name: "wide",
    w: 720.0,
    h: 240.0,
    left: 56.0,
    font: 12.0,
};
/// The drawing for phones.
pub const NARROW: Size = Size {
    name: "narrow",
    w: 340.0,
    h: 210.0,
    left: 44.0,
    font: 11.0,
};
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 28.0;

/// A round axis maximum at or above `n` (1, 1.5, 2, 3, 4, 5, 6 or 8 times a power of ten,
/// so the line fills most of the height).
fn nice_max(n: i64) -> i64 {
    let n = n.max(1);
    let mut step = 1i64;
    loop {
        for tenths in [10, 15, 20, 30, 40, 50, 60, 80] {
            let m = step.saturating_mul(tenths) / 10;
            if m >= n {
                return m;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The chart as an SVG element of `size` (text escaped; numbers only otherwise).
pub fn svg(days: &[Day], labels: &Labels, size: Size) -> String {
    let Size {
        name,
        w,
        h,
        left,
        font,
    } = size;
    use std::fmt::Write;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let plot_w = w - left - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let max_active = nice_max(days.iter().map(|d| d.active).max().unwrap_or(0));
    let max_signups = days.iter().map(|d| d.signups).max().unwrap_or(0).max(1);
    let n = days.len().max(2) as f64;
    let x = |i: usize| left + plot_w * i as f64 / (n - 1.0);
    let y = |v: i64| TOP + plot_h - plot_h * v as f64 / max_active as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="growth {name}" viewBox="0 0 {w} {h}" font-size="{font}" role="img" aria-labelledby="growth-title-{name} growth-desc-{name}" xmlns="http://www.w3.org/2000/svg"><title id="growth-title-{name}">{}</title><desc id="growth-desc-{name}">{}</desc>"#,
        esc(&labels.title),
        esc(&labels.summary)
    );
    // Grid lines and the left axis: 0, half, max.
    for (v, label) in [
        (0, "0".to_owned()),
        (max_active / 2, grouped(max_active / 2)),
        (max_active, grouped(max_active)),
    ] {
        let _ = write!(
            s,
            r#"<line class="grid" x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="currentColor" stroke-width="1"/><text class="axis" x="{}" y="{:.1}" text-anchor="end" fill="currentColor">{label}</text>"#,
            w - RIGHT,
            left - 6.0,
            y(v) + 4.0,
            y = y(v),
        );
    }
    // Sign-ups: bars along the bottom fifth, on their own scale.
    let bar_w = (plot_w / n * 0.7).max(1.0);
    for (i, d) in days.iter().enumerate().filter(|(_, d)| d.signups > 0) {
        let h = (plot_h / 5.0) * d.signups as f64 / max_signups as f64;
        let _ = write!(
            s,
            r#"<rect class="signups" x="{:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="currentColor"><title>{} · {} {}</title></rect>"#,
            x(i) - bar_w / 2.0,
            TOP + plot_h - h,
            d.date,
            esc(&labels.signups),
            grouped(d.signups)
        );
    }
    // Active subscribers: a line.
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{:.1},{:.1}", x(i), y(d.active)))
        .collect();
    let _ = write!(
        s,
        r#"<polyline class="active" points="{}" fill="none" stroke="currentColor" stroke-width="2.5" stroke-linejoin="round"><title>{}</title></polyline>"#,
        points.join(" "),
        esc(&labels.active)
    );
    // Dates along the bottom: the first day, the middle one and today.
    for (i, anchor) in [
        (0, "start"),
        (days.len() / 2, "middle"),
        (days.len().saturating_sub(1), "end"),
    ] {
        if let Some(d) = days.get(i) {
            let _ = write!(
                s,
                r#"<text class="axis" x="{:.1}" y="{}" text-anchor="{anchor}" fill="currentColor">{}</text>"#,
                x(i),
                h - 8.0,
                d.date.format("%m-%d")
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_worked_back_from_today() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        // 2026-03-10 12:00 in Shanghai.
        let now = Utc.with_ymd_and_hms(2026, 3, 10, 4, 0, 0).unwrap();
        let start = window_start(tz, now);
        assert_eq!(start, Utc.with_ymd_and_hms(2025, 12, 10, 16, 0, 0).unwrap());
        let bucket_of = |t: DateTime<Utc>| (t - start).num_milliseconds() / BUCKET_MS;
        // Yesterday 23:50 local: 3 confirmations; today 00:10: 1 unsubscription.
        let yesterday = Utc.with_ymd_and_hms(2026, 3, 9, 15, 50, 0).unwrap();
        let today = Utc.with_ymd_and_hms(2026, 3, 9, 16, 10, 0).unwrap();
        let buckets = [
            GrowthBucket {
                bucket: bucket_of(yesterday),
                created: 4,
                confirmed: 3,
                ..Default::default()
            },
            GrowthBucket {
                bucket: bucket_of(today),
                unsubscribed: 1,
                ..Default::default()
            },
        ];
        let (d, net) = days(tz, now, 10, &buckets);
        assert_eq!(net, 2);
        assert_eq!(d.len(), DAYS);
        assert_eq!(d[89].date.to_string(), "2026-03-10");
        assert_eq!((d[89].active, d[89].signups), (10, 0));
        assert_eq!((d[88].active, d[88].signups), (11, 4));
        assert_eq!(d[87].active, 8);
        assert_eq!(d[0].active, 8);
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-1234), "-1,234");
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(1), 1);
        assert_eq!(nice_max(503), 600);
        assert_eq!(nice_max(1_100), 1_500);
        assert_eq!(nice_max(1_000_000), 1_000_000);
    }
}
