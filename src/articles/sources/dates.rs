//! Dates as web pages print them: `2025-02-21`, `2025年02月21日`, `2025/2/21 09:30`,
//! `发布时间：2025-02-21 09:30:15 来源：…`, RFC 3339 and RFC 2822. A date without an offset is read
//! in the source's time zone.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The first date (with its time, if any) found in `text`, read in `tz` unless it carries
/// its own offset.
pub fn parse_date(text: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let trimmed = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(trimmed) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(trimmed) {
        return Some(t.with_timezone(&Utc));
    }
    let chars: Vec<char> = text.chars().collect();
    (0..chars.len())
        .filter(|&i| chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_digit()))
        .find_map(|i| {
            Scanner {
                chars: &chars,
                at: i,
            }
            .date_time(tz)
        })
}

/// A cursor over the characters of one candidate date.
struct Scanner<'a> {
    chars: &'a [char],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, options: &[char]) -> bool {
        match self.peek() {
            Some(c) if options.contains(&c) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    fn spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// A run of `min..=max` ASCII digits not followed by another digit.
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let len = self.at - start;
        if len < min || len > max {
            self.at = start;
            return None;
        }
        self.chars[start..self.at]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    fn date_time(mut self, tz: Tz) -> Option<DateTime<Utc>> {
        let date = self.date()?;
        let save = self.at;
        let parsed_time = self.time();
        if parsed_time.is_none() {
            self.at = save;
        }
        let local = NaiveDateTime::new(date, parsed_time.unwrap_or(NaiveTime::MIN));
        // Only a time of day can carry an offset; "2025-02-21 - 来源" has none.
        if parsed_time.is_some() {
            let before_offset = self.at;
            self.spaces();
            match self.offset() {
                Some(offset) => {
                    return offset
                        .from_local_datetime(&local)
                        .single()
                        .map(|t| t.with_timezone(&Utc));
                }
                None => self.at = before_offset,
            }
        }
        // A local time skipped by a DST change is read as the hour after.
        let zoned = tz.from_local_datetime(&local).earliest().or_else(|| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })?;
        Some(zoned.with_timezone(&Utc))
    }

    fn date(&mut self) -> Option<NaiveDate> {
        let year = self.number(4, 4)?;
        if !(1970..=2100).contains(&year) {
            return None;
        }
        self.spaces();
        if !self.eat(&['-', '/', '.', '年']) {
            return None;
        }
        self.spaces();
        let month = self.number(1, 2)?;
        self.spaces();
        if !self.eat(&['-', '/', '.', '月']) {
            return None;
        }
        self.spaces();
        let day = self.number(1, 2)?;
        self.eat(&['日', '号']);
        NaiveDate::from_ymd_opt(year as i32, month, day)
    }

    fn time(&mut self) -> Option<NaiveTime> {
        if !self.eat(&['T']) {
            self.spaces();
        }
        let hour = self.number(1, 2)?;
        if !self.eat(&[':', '：', '时', '時', '点', '點']) {
            return None;
        }
        let minute = self.number(1, 2)?;
        let save = self.at;
        let second = if self.eat(&['分']) {
            // 9时30分15秒
            self.number(1, 2)
                .inspect(|_| {
                    self.eat(&['秒']);
                })
                .unwrap_or(0)
        } else if self.eat(&[':', '：']) {
            self.number(2, 2).unwrap_or_else(|| {
                self.at = save;
                0
            })
        } else {
            0
        };
        // Fractions of a second carry no meaning for a publication time.
        if self.eat(&['.']) {
            self.number(1, 9);
        }
        NaiveTime::from_hms_opt(hour, minute, second)
    }

    /// `Z`, `+08:00`, `+0800` directly after the time.
    fn offset(&mut self) -> Option<FixedOffset> {
        if self.eat(&['Z']) {
            return FixedOffset::east_opt(0);
        }
        let sign = match self.peek()? {
            '+' => 1,
            '-' => -1,
            _ => return None,
        };
        let save = self.at;
        self.at += 1;
        let parsed = (|| {
            let h = self.number(2, 4)?;
            let (h, m) = if h > 99 {
                (h / 100, h % 100)
            } else if self.eat(&[':']) {
                (h, self.number(2, 2)?)
            } else {
                (h, 0)
            };
            FixedOffset::east_opt(sign * (h * 3600 + m * 60) as i32)
        })();
        if parsed.is_none() {
            self.at = save;
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai(s: &str) -> Option<String> {
        parse_date(s, chrono_tz::Asia::Shanghai).map(|t| t.to_rfc3339())
    }

    #[test]
    fn chinese_and_numeric_forms_are_read_in_the_source_zone() {
        let nine_am = Some("2025-02-21T01:00:00+00:00".to_owned());
        let midnight = Some("2025-02-20T16:00:00+00:00".to_owned());
        assert_eq!(shanghai("2025-02-21"), midnight);
        assert_eq!(shanghai("2025年02月21日"), midnight);
        assert_eq!(shanghai("2025年2月21日 09:00"), nine_am);
        assert_eq!(shanghai("2025/2/21 09:00"), nine_am);
        assert_eq!(shanghai("2025.02.21 9:00:00"), nine_am);
        assert_eq!(
            shanghai("发布时间：2025-02-21 09:00 来源：青海日报 点击：1234"),
            nine_am
        );
        assert_eq!(shanghai("2025年2月21日9时0分"), nine_am);
        assert_eq!(shanghai("2025-02-21T09:00"), nine_am);
    }

    #[test]
    fn explicit_offsets_win_over_the_zone() {
        let t = Some("2025-02-21T09:30:00+00:00".to_owned());
        assert_eq!(shanghai("2025-02-21T09:30:00Z"), t);
        assert_eq!(shanghai("2025-02-21 17:30:00 +08:00"), t);
        assert_eq!(shanghai("Fri, 21 Feb 2025 09:30:00 GMT"), t);
        let ny = parse_date("2025/2/21 04:30", chrono_tz::America::New_York);
        assert_eq!(ny.map(|t| t.to_rfc3339()), t);
    }

    #[test]
    fn text_without_a_date_gives_none() {
        for s in [
            "",
            "点击：2025",
            "第12345期",
            "2025-13-01",
            "99999-01-01",
            "阅读次数 12/3",
        ] {
            assert_eq!(shanghai(s), None, "{s}");
        }
    }
}
