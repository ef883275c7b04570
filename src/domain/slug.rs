//! Section (and schedule) slugs: the stable names used in URLs and config.

use std::fmt;

/// A lower-case ASCII slug: `[a-z0-9][a-z0-9-]{0,63}`, never the reserved `all`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SectionSlug(String);

impl SectionSlug {
    /// Validates `s` as a slug.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s.len() > 64 {
            return Err(format!("{s:?} must be 1 to 64 characters"));
        }
        let ok_start = s.as_bytes()[0].is_ascii_lowercase() || s.as_bytes()[0].is_ascii_digit();
        if !ok_start
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "{s:?} must be lower-case letters, digits and '-', starting with a letter or digit"
            ));
        }
        if s == "all" {
            return Err("\"all\" is reserved for the feed of every section".into());
        }
        Ok(Self(s.to_owned()))
    }

    /// The slug text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SectionSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs_and_rejects_others() {
        assert!(SectionSlug::parse("news").is_ok());
        assert!(SectionSlug::parse("grass-roots2").is_ok());
        for bad in ["", "News", "-x", "a b", "工会", "all", &"x".repeat(65)] {
            assert!(SectionSlug::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
