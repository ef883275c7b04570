//! A human reading of a schedule's cron in zh-CN or en ("每天 08:00（Asia/Shanghai）",
//! "Monday to Friday at 07:30 (Asia/Shanghai)"), for the admin API, the console and the
//! subscription pages.
//!
//! Only shapes that read unambiguously are phrased: one minute at listed hours, or every hour,
//! or every N minutes (N dividing 60); on every day, on listed weekdays, or on listed days of
//! the month; any month; seconds 0. Anything else (ranges of days of the month, steps other
//! than those, months, both day fields restricted, `L`/`#`/`W`) reads as the cron itself,
//! `cron 0 8 1-7 * 1 (Asia/Shanghai)`, rather than as a guess.

use crate::domain::{CronSpec, InstantWindow};

/// The reading of `cron`, evaluated in `timezone`, in `locale` (`zh…` for Chinese, otherwise
/// English).
pub fn describe(cron: &CronSpec, timezone: &str, locale: &str) -> String {
    let zh = locale.to_ascii_lowercase().starts_with("zh");
    let phrase = Reading::parse(cron.as_str())
        .map(|r| if zh { r.zh() } else { r.en() })
        .unwrap_or_else(|| format!("cron {}", cron.as_str()));
    if zh {
        format!("{phrase}（{timezone}）")
    } else {
        format!("{phrase} ({timezone})")
    }
}

/// The reading of an instant schedule's `window` in `locale`: "within 10 minutes of a
/// publication (at most one mail per 10 minutes)".
pub fn describe_window(window: InstantWindow, locale: &str) -> String {
    let span = window_span(window, locale);
    if locale.to_ascii_lowercase().starts_with("zh") {
        format!("有新文章发布后 {span}内发送（每位订阅者每 {span}最多一封）")
    } else {
        format!("within {span} of a publication (at most one mail per {span} to each subscriber)")
    }
}

/// A window's length in words: "1 hour 30 minutes", "1 小时 30 分钟".
pub fn window_span(window: InstantWindow, locale: &str) -> String {
    let secs = window.seconds();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let parts = [
        (h, "hour", "小时"),
        (m, "minute", "分钟"),
        (s, "second", "秒"),
    ];
    let parts = parts.iter().filter(|(n, ..)| *n > 0);
    if locale.to_ascii_lowercase().starts_with("zh") {
        let words: Vec<String> = parts.map(|(n, _, zh)| format!("{n} {zh}")).collect();
        words.join(" ")
    } else {
        let words: Vec<String> = parts
            .map(|(n, en, _)| format!("{n} {en}{}", if *n == 1 { "" } else { "s" }))
            .collect();
        words.join(" ")
    }
}

/// When in the day it fires.
#[derive(Debug, PartialEq, Eq)]
enum Times {
    /// One minute at each listed hour, as sorted `(hour, minute)`.
    At(Vec<(u8, u8)>),
    /// Every hour at this minute.
    Hourly(u8),
    /// Every this many minutes (a divisor of 60), from the full hour.
    EveryMinutes(u8),
}

/// On which days it fires.
#[derive(Debug, PartialEq, Eq)]
enum Dates {
    Every,
    /// Weekdays, Monday = 0 … Sunday = 6, sorted; never all seven.
    Weekdays(Vec<u8>),
    /// Days of the month, sorted.
    MonthDays(Vec<u8>),
}

/// A cron that reads as `times` on `days`.
#[derive(Debug, PartialEq, Eq)]
struct Reading {
    times: Times,
    days: Dates,
}

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const ZH_DAYS: [&str; 7] = ["一", "二", "三", "四", "五", "六", "日"];
const CRON_DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Reading {
    /// The reading of a cron already accepted by [`CronSpec`], if it has a phrasable shape.
    fn parse(cron: &str) -> Option<Self> {
        let mut fields: Vec<&str> = cron.split_whitespace().collect();
        if fields.len() == 6 {
            if number(fields[0], 0, 59)? != 0 {
                return None;
            }
            fields.remove(0);
        }
        let [minute, hour, dom, month, dow] = fields[..] else {
            return None;
        };
        if !any(month) {
            return None;
        }
        let times = match (minute, any(hour)) {
            ("*", true) => Times::EveryMinutes(1),
            (m, true) => match m.strip_prefix("*/") {
                Some(step) => {
                    let n = number(step, 1, 59)?;
                    (60 % n == 0).then_some(Times::EveryMinutes(n))?
                }
                None => Times::Hourly(number(m, 0, 59)?),
            },
            (m, false) => {
                let m = number(m, 0, 59)?;
                Times::At(list(hour, 0, 23)?.into_iter().map(|h| (h, m)).collect())
            }
        };
        let days = match (any(dom), any(dow)) {
            (true, true) => Dates::Every,
            (false, true) => Dates::MonthDays(list(dom, 1, 31)?),
            (true, false) => {
                let days = weekdays(dow)?;
                if days.len() == 7 {
                    Dates::Every
                } else {
                    Dates::Weekdays(days)
                }
            }
            // Days of the month OR weekdays: no short phrase says that honestly.
            (false, false) => return None,
        };
        Some(Self { times, days })
    }

    fn en(&self) -> String {
        let days = match &self.days {
            Dates::Every => None,
            Dates::Weekdays(d) => Some(match contiguous(d) {
                Some((first, last)) => format!("{} to {}", EN_DAYS[first], EN_DAYS[last]),
                None => format!("every {}", en_join(d.iter().map(|&i| EN_DAYS[i as usize]))),
            }),
            Dates::MonthDays(d) => Some(format!(
                "every month on day{} {}",
                if d.len() > 1 { "s" } else { "" },
                en_join(d.iter().map(u8::to_string))
            )),
        };
        let times = match &self.times {
            Times::At(at) => {
                let at = en_join(at.iter().map(|&(h, m)| format!("{h:02}:{m:02}")));
                return format!("{} at {at}", days.as_deref().unwrap_or("every day"));
            }
            Times::Hourly(m) => format!("every hour at :{m:02}"),
            Times::EveryMinutes(1) => "every minute".to_owned(),
            Times::EveryMinutes(n) => format!("every {n} minutes"),
        };
        match days {
            Some(days) => format!("{times}, {days}"),
            None => times,
        }
    }

    fn zh(&self) -> String {
        let days = match &self.days {
            Dates::Every => "每天".to_owned(),
            Dates::Weekdays(d) => match contiguous(d) {
                Some((first, last)) => format!("每周{}至周{}", ZH_DAYS[first], ZH_DAYS[last]),
                None => {
                    let names: Vec<String> = d
                        .iter()
                        .map(|&i| format!("周{}", ZH_DAYS[i as usize]))
                        .collect();
                    format!("每{}", names.join("、"))
                }
            },
            Dates::MonthDays(d) => {
                let names: Vec<String> = d.iter().map(|n| format!("{n} 日")).collect();
                format!("每月 {}", names.join("、"))
            }
        };
        let times = match &self.times {
            Times::At(at) => {
                let at: Vec<String> = at.iter().map(|&(h, m)| format!("{h:02}:{m:02}")).collect();
                return format!("{days} {}", at.join("、"));
            }
            Times::Hourly(m) => format!("每小时第 {m:02} 分"),
            Times::EveryMinutes(1) => "每分钟".to_owned(),
            Times::EveryMinutes(n) => format!("每 {n} 分钟"),
        };
        match self.days {
            Dates::Every => times,
            _ => format!("{days} {times}"),
        }
    }
}

/// `*` or `?`: any value.
fn any(field: &str) -> bool {
    matches!(field, "*" | "?")
}

/// A plain decimal number within `lo..=hi`.
fn number(s: &str, lo: u8, hi: u8) -> Option<u8> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = s.parse().ok()?;
    (lo..=hi).contains(&n).then_some(n)
}

/// A comma-separated list of plain numbers, sorted and without repeats.
fn list(s: &str, lo: u8, hi: u8) -> Option<Vec<u8>> {
    let mut out = s
        .split(',')
        .map(|p| number(p, lo, hi))
        .collect::<Option<Vec<u8>>>()?;
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// A weekday field (numbers 0–7 with 0 and 7 Sunday, or names, single or in `a-b` ranges,
/// comma-separated) as Monday-first indices, sorted and without repeats.
fn weekdays(s: &str) -> Option<Vec<u8>> {
    // Cron's own numbering: Sunday first, 7 also Sunday.
    let cron_day = |p: &str| {
        number(p, 0, 7).or_else(|| {
            let i = CRON_DAYS.iter().position(|d| d.eq_ignore_ascii_case(p))?;
            u8::try_from(i).ok()
        })
    };
    let mut out = Vec::new();
    for part in s.split(',') {
        let (from, to) = match part.split_once('-') {
            Some((a, b)) => (cron_day(a)?, cron_day(b)?),
            None => (cron_day(part)?, cron_day(part)?),
        };
        if from > to {
            return None;
        }
        out.extend((from..=to).map(|d| (d % 7 + 6) % 7));
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// `(first, last)` when the Monday-first days form one run of at least three.
fn contiguous(days: &[u8]) -> Option<(usize, usize)> {
    let (first, last) = (*days.first()?, *days.last()?);
    (days.len() >= 3 && usize::from(last - first) + 1 == days.len())
        .then_some((first as usize, last as usize))
}

/// "a", "a and b", "a, b and c".
fn en_join(items: impl IntoIterator<Item = impl Into<String>>) -> String {
    let items: Vec<String> = items.into_iter().map(Into::into).collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
