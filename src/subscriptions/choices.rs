//! What a subscriber can choose (sections, schedules, language), checked against the
//! database, and shown in the page's language.

use std::collections::BTreeMap;

use serde::Serialize;

use super::input::Problem;
use crate::domain::{DisplayNames, ScheduleChoice, Section, upper_first};
use crate::{config::Config, mail::Templates, store::Store};

/// The sections and schedules on offer right now, with what they are called in each language.
pub struct Catalog {
    pub sections: Vec<Section>,
    pub schedules: Vec<ScheduleChoice>,
    /// The first configured schedule still on offer, else the first on offer.
    pub default_schedule: Option<String>,
    /// Stored per-locale section titles and schedule names (admins rename them at any time).
    pub names: DisplayNames,
    /// Stored per-locale section descriptions, by slug then locale.
    pub descriptions: BTreeMap<String, BTreeMap<String, String>>,
}

/// A checkbox or radio button of a form.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub slug: String,
    pub title: String,
    pub checked: bool,
    /// A line under the title: when a schedule's mail comes ("每天 07:00（Asia/Shanghai）").
    pub hint: String,
}

impl Catalog {
    /// Reads the offer from the database (admins may change it at any time).
    pub async fn load(store: &Store, config: &Config) -> anyhow::Result<Self> {
        let sections = store.list_sections().await?;
        let schedules = store.subscribable_schedules().await?;
        let default_schedule = config
            .schedules
            .iter()
            .find(|c| schedules.iter().any(|s| s.slug == c.slug))
            .map(|c| c.slug.clone())
            .or_else(|| schedules.first().map(|s| s.slug.clone()));
        let names = store.display_names(&config.site.language).await?;
        let descriptions = store
            .section_texts()
            .await?
            .into_iter()
            .map(|(slug, t)| (slug, t.descriptions))
            .collect();
        Ok(Self {
            sections,
            schedules,
            default_schedule,
            names,
            descriptions,
        })
    }

    /// Chosen sections: none (or only empty values) means all, `None`; each must exist.
    pub fn pick_sections(&self, given: &[String]) -> Result<Option<Vec<String>>, Problem> {
        let mut picked: Vec<String> = Vec::new();
        for g in given.iter().map(|g| g.trim()).filter(|g| !g.is_empty()) {
            if !self.sections.iter().any(|s| s.slug == g) {
                return Err(Problem::invalid("sections", "section_unknown", g));
            }
            if !picked.iter().any(|p| p == g) {
                picked.push(g.to_owned());
            }
        }
        picked.sort();
        Ok((!picked.is_empty()).then_some(picked))
    }

    /// The chosen schedule, or the default one when none is given.
    pub fn pick_schedule(&self, given: Option<&str>) -> Result<String, Problem> {
        match given.map(str::trim).filter(|g| !g.is_empty()) {
            Some(g) if self.schedules.iter().any(|s| s.slug == g) => Ok(g.to_owned()),
            Some(g) => Err(Problem::invalid("schedule", "schedule_unknown", g)),
            None => self
                .default_schedule
                .clone()
                .ok_or_else(|| Problem::invalid("schedule", "schedule_unknown", "")),
        }
    }

    /// Section checkboxes, titled in `locale`; `chosen: None` ticks none (meaning all).
    pub fn section_choices(
        &self,
        t: &Templates,
        locale: &str,
        chosen: Option<&[String]>,
    ) -> Vec<Choice> {
        self.sections
            .iter()
            .map(|s| Choice {
                slug: s.slug.clone(),
                title: self.section_title(t, locale, &s.slug, &s.title),
                checked: chosen.is_some_and(|c| c.iter().any(|x| x == &s.slug)),
                hint: String::new(),
            })
            .collect()
    }

    /// Schedule radio buttons, named in `locale`, `chosen` (or the default) ticked.
    pub fn schedule_choices(
        &self,
        t: &Templates,
        locale: &str,
        chosen: Option<&str>,
    ) -> Vec<Choice> {
        let chosen = chosen.or(self.default_schedule.as_deref());
        self.schedules
            .iter()
            .map(|s| Choice {
                slug: s.slug.clone(),
                title: upper_first(&self.schedule_name(t, locale, &s.slug)),
                checked: chosen == Some(s.slug.as_str()),
                hint: s.when(locale),
            })
            .collect()
    }

    /// A section's title in `locale` by the [`DisplayNames`] rule; `stored` is its `title`.
    pub fn section_title(&self, t: &Templates, locale: &str, slug: &str, stored: &str) -> String {
        let file = t.lookup(locale, &format!("section_titles.{slug}"));
        self.names.section(slug, locale, stored, file)
    }

    /// A section's description in `locale`: the stored text of that locale, else (in the
    /// site's language only) the stored description; other languages get none rather than
    /// a text their readers may not read.
    pub fn section_description(&self, locale: &str, slug: &str, stored: &str) -> String {
        match self.descriptions.get(slug).and_then(|d| d.get(locale)) {
            Some(d) if !d.trim().is_empty() => d.clone(),
            _ if locale == self.names.default_locale => stored.to_owned(),
            _ => String::new(),
        }
    }

    /// A schedule's name in `locale` by the [`DisplayNames`] rule: a stored text of that
    /// locale, else its stored name in the site's language, else the strings file (which, or
    /// the slug, also stands for the stored name of a schedule no longer on offer).
    pub fn schedule_name(&self, t: &Templates, locale: &str, slug: &str) -> String {
        let file = t.lookup(locale, &format!("schedule_names.{slug}"));
        let stored = match self.schedules.iter().find(|s| s.slug == slug) {
            Some(s) => s.name.clone(),
            None => file.clone().unwrap_or_else(|| slug.to_owned()),
        };
        self.names.schedule(slug, locale, &stored, file)
    }
}
