//! IANA time zones by name.

use std::{fmt, str::FromStr};

/// A validated IANA zone such as `Asia/Shanghai`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    /// Looks the name up in the IANA database.
    pub fn parse(s: &str) -> Result<Self, String> {
        chrono_tz::Tz::from_str(s)
            .map(Self)
            .map_err(|_| format!("unknown IANA time zone {s:?}"))
    }

    /// The zone's canonical name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}
