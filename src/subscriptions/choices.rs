//! What a subscriber can choose (sections, schedules, language), checked against the
//! database, and shown in the page's language.

use serde::Serialize;

use super::input::Problem;
use crate::domain::{ScheduleChoice, Section};
use crate::{config::Config, mail::Templates, store::Store};

/// The sections and schedules on offer right now.
pub struct Catalog {
    pub sections: Vec<Section>,
    pub schedules: Vec<ScheduleChoice>,
    /// The first configured schedule still on offer, else the first on offer.
    pub default_schedule: Option<String>,
}

/// A checkbox or radio button of a form.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub slug: String,
    pub title: String,
    pub checked: bool,
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
        Ok(Self {
            sections,
            schedules,
            default_schedule,
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
                title: section_title(t, locale, &s.slug, &s.title),
                checked: chosen.is_some_and(|c| c.iter().any(|x| x == &s.slug)),
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
                title: schedule_name(t, locale, &s.slug, &s.name),
                checked: chosen == Some(s.slug.as_str()),
            })
            .collect()
    }
}

/// A section's title in `locale`: `[section_titles]` of the strings, else the stored title.
pub fn section_title(t: &Templates, locale: &str, slug: &str, stored: &str) -> String {
    t.lookup(locale, &format!("section_titles.{slug}"))
        .unwrap_or_else(|| stored.to_owned())
}

/// A schedule's name in `locale`: `[schedule_names]` of the strings, else the stored name.
pub fn schedule_name(t: &Templates, locale: &str, slug: &str, stored: &str) -> String {
    t.lookup(locale, &format!("schedule_names.{slug}"))
        .unwrap_or_else(|| stored.to_owned())
}
