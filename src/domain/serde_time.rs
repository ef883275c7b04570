//! Instants as the API writes them: RFC 3339 in UTC, `Z`, with only the seconds' fraction
//! that is there.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub(super) fn rfc3339<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

pub(super) fn rfc3339_opt<S: Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}
