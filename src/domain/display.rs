//! What sections and schedules are called in each language (SPEC §5–§7): the per-locale texts
//! stored for them, over the stored name (the site language's), over the strings file.

use std::collections::BTreeMap;

/// Per-locale texts by slug, then by locale.
pub type TextsBySlug = BTreeMap<String, BTreeMap<String, String>>;

/// The per-locale section titles and schedule names of one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisplayNames {
    /// The site's language (`site.language`): its name is the stored `title` / `name`.
    pub default_locale: String,
    pub sections: TextsBySlug,
    pub schedules: TextsBySlug,
}

impl DisplayNames {
    /// A section's title in `locale`. `stored` is `sections.title`; `file` the strings file's
    /// `[section_titles]` entry, used only when nothing was stored for a foreign locale.
    pub fn section(&self, slug: &str, locale: &str, stored: &str, file: Option<String>) -> String {
        pick(
            &self.sections,
            &self.default_locale,
            slug,
            locale,
            stored,
            file,
        )
    }

    /// A schedule's name in `locale`, by the same rule as [`DisplayNames::section`].
    pub fn schedule(&self, slug: &str, locale: &str, stored: &str, file: Option<String>) -> String {
        pick(
            &self.schedules,
            &self.default_locale,
            slug,
            locale,
            stored,
            file,
        )
    }
}

fn pick(
    texts: &TextsBySlug,
    default_locale: &str,
    slug: &str,
    locale: &str,
    stored: &str,
    file: Option<String>,
) -> String {
    if let Some(t) = texts
        .get(slug)
        .and_then(|m| m.get(locale))
        .filter(|t| !t.is_empty())
    {
        return t.clone();
    }
    if locale == default_locale {
        return stored.to_owned();
    }
    file.filter(|f| !f.is_empty())
        .unwrap_or_else(|| stored.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> DisplayNames {
        let mut d = DisplayNames {
            default_locale: "zh-CN".into(),
            ..Default::default()
        };
        d.schedules
            .entry("daily".into())
            .or_default()
            .insert("en".into(), "Morning news".into());
        d
    }

    #[test]
    fn a_stored_text_of_the_locale_wins_over_the_strings_file() {
        let d = names();
        assert_eq!(
            d.schedule("daily", "en", "每日", Some("daily digest".into())),
            "Morning news"
        );
    }

    #[test]
    fn the_site_language_reads_the_stored_name_not_the_strings_file() {
        let d = names();
        assert_eq!(
            d.schedule("daily", "zh-CN", "早报", Some("每日摘要".into())),
            "早报"
        );
    }

    #[test]
    fn a_foreign_locale_without_text_falls_back_to_the_file_then_the_stored_name() {
        let d = names();
        assert_eq!(
            d.schedule("weekly", "en", "每周", Some("weekly digest".into())),
            "weekly digest"
        );
        assert_eq!(d.schedule("weekly", "en", "每周", None), "每周");
    }
}
