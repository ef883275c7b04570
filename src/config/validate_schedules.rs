//! Validation of `[[schedules]]`; each error names its key (`schedules[1].window`).

use anyhow::bail;

use super::{Config, ScheduleConfig};
use crate::domain::{CronSpec, InstantWindow, MAX_FIRST_DIGEST_ARTICLES, SectionSlug, TimeZone};

impl Config {
    /// `[[schedules]]`: slugs, kinds with what they need, limits and names.
    pub(super) fn validate_schedules(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.schedules.iter().enumerate() {
            SectionSlug::parse(&s.slug).map_err(|e| anyhow::anyhow!("schedules[{i}].slug: {e}"))?;
            if !seen.insert(s.slug.as_str()) {
                bail!("schedules[{i}].slug: duplicate schedule slug {:?}", s.slug);
            }
            self.validate_schedule_kind(i, s)?;
            if let Some(tz) = &s.timezone {
                TimeZone::parse(tz).map_err(|e| anyhow::anyhow!("schedules[{i}].timezone: {e}"))?;
            }
            if !(1..=500).contains(&s.max_articles) {
                bail!("schedules[{i}].max_articles: must be between 1 and 500");
            }
            if i64::from(s.first_digest_articles) > MAX_FIRST_DIGEST_ARTICLES {
                bail!(
                    "schedules[{i}].first_digest_articles: must be between 0 and {MAX_FIRST_DIGEST_ARTICLES}"
                );
            }
            self.validate_schedule_names(i, s)?;
        }
        Ok(())
    }

    /// `kind` with what it needs: a cron for a digest, a window (and no cron) for instant.
    fn validate_schedule_kind(&self, i: usize, s: &ScheduleConfig) -> anyhow::Result<()> {
        match s.kind.as_str() {
            "digest" => {
                if s.cron.trim().is_empty() {
                    bail!(
                        "schedules[{i}].cron: required for kind = \"digest\" (e.g. \"0 8 * * *\")"
                    );
                }
                CronSpec::parse(&s.cron)
                    .map_err(|e| anyhow::anyhow!("schedules[{i}].cron: {e}"))?;
                if s.window.is_some() {
                    bail!("schedules[{i}].window: only for kind = \"instant\"");
                }
            }
            "instant" => {
                let Some(w) = &s.window else {
                    bail!("schedules[{i}].window: required for kind = \"instant\" (e.g. \"10m\")");
                };
                InstantWindow::parse(w)
                    .map_err(|e| anyhow::anyhow!("schedules[{i}].window: {e}"))?;
                if !s.cron.is_empty() {
                    bail!(
                        "schedules[{i}].cron: not used by kind = \"instant\" (its window says when it mails); remove it"
                    );
                }
            }
            other => bail!("schedules[{i}].kind: {other:?} is not \"digest\" or \"instant\""),
        }
        Ok(())
    }

    /// `names`: known locales, one-line texts of 1 to 200 characters; the site language's,
    /// if given, is `name` itself.
    fn validate_schedule_names(&self, i: usize, s: &ScheduleConfig) -> anyhow::Result<()> {
        for (locale, text) in &s.names {
            // The locales of the strings files (as `site.language` above).
            if !matches!(locale.as_str(), "zh-CN" | "en") {
                bail!("schedules[{i}].names: unknown locale {locale:?} (known: zh-CN, en)");
            }
            let n = text.trim().chars().count();
            if n == 0 || n > 200 || text.contains(['\n', '\r']) {
                bail!("schedules[{i}].names.{locale}: must be one line of 1 to 200 characters");
            }
            if *locale == self.site.language && text.trim() != s.name.trim() {
                bail!(
                    "schedules[{i}].names.{locale}: differs from name, which is the site language's name; set one of them"
                );
            }
        }
        Ok(())
    }
}
