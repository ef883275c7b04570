//! Cron expressions: 5 fields, or 6 with leading seconds.

use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};

/// A parsed cron expression, evaluated later in a schedule's own zone.
#[derive(Debug, Clone)]
pub struct CronSpec {
    source: String,
    cron: Cron,
}

impl CronSpec {
    /// Parses `0 8 * * *` or `0 0 8 * * *`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let fields = s.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "{s:?} must have 5 fields (minute hour day month weekday) or 6 with leading seconds"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(s)
            .map_err(|e| format!("{s:?} is not a valid cron expression: {e}"))?;
        Ok(Self {
            source: s.trim().to_owned(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed pattern.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_fields_parse_and_garbage_does_not() {
        assert!(CronSpec::parse("0 8 * * *").is_ok());
        assert!(CronSpec::parse("0 0 8 * * *").is_ok());
        assert!(CronSpec::parse("0 9 * * MON").is_ok());
        for bad in ["", "* * *", "61 8 * * *", "0 8 * * * * *", "every day"] {
            assert!(CronSpec::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
