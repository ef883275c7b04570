//! Digest rendering: templates compiled once at start; the article part rendered once per
//! distinct article list, language and look, only the short wrapper per subscriber.
//!
//! The same templates make the mail (HTML and text) and its web copy, which is the HTML part
//! without the personal links.

use std::{collections::HashMap, path::Path, sync::Mutex};

use anyhow::Context;
use chrono_tz::Tz;
use minijinja::{Value, context};

use super::{
    images::ImageSizes,
    letter::{self, Shelf, pick_locale},
    plain::{one_line, tidy},
};
use crate::{
    domain::{Article, DisplayNames, Section, upper_first},
    mail::Templates,
};

pub use letter::{Letter, Reader, human_date};

/// A rendered digest.
#[derive(Debug, Clone)]
pub struct RenderedDigest {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The accent colour when the settings name none.
const DEFAULT_ACCENT: &str = "#b71c1c";

/// Shared article parts (HTML, text, section titles), by what makes them differ; bounded.
type PartCache = HashMap<String, Parts>;
const PART_CACHE_MAX: usize = 256;

#[derive(Clone)]
struct Parts {
    html: String,
    text: String,
    section_titles: Vec<String>,
}

/// The digest templates with their zh-CN / en strings.
pub struct DigestRenderer {
    templates: Templates,
    tz: Tz,
    parts: Mutex<PartCache>,
    /// Lead images' sizes, learnt before a batch is rendered.
    pub images: ImageSizes,
}

/// Digest templates of earlier versions, one per language; a templates folder that still has
/// them is told that they are no longer read.
const OLD_TEMPLATES: &[&str] = &[
    "digest.zh-CN.html",
    "digest.en.html",
    "digest.zh-CN.txt",
    "digest.en.txt",
    "digest_articles.zh-CN.html",
    "digest_articles.en.html",
    "digest_subject.zh-CN.txt",
    "digest_subject.en.txt",
];

impl DigestRenderer {
    /// Loads and compiles the templates of `dir` (a file missing there falls back to the copy
    /// built into the binary, a broken one is an error); dates are shown in `tz`.
    pub fn load(dir: &Path, tz: Tz, images: ImageSizes) -> anyhow::Result<Self> {
        let templates = Templates::load(dir).context("digest templates")?;
        for old in OLD_TEMPLATES {
            if dir.join(old).is_file() {
                tracing::warn!(
                    file = %dir.join(old).display(),
                    "this digest template is no longer read: digests use digest.html, \
                     digest.txt and digest_articles.html/.txt with the strings of \
                     locales/*.toml [digest]"
                );
            }
        }
        Ok(Self {
            templates,
            tz,
            parts: Mutex::new(HashMap::new()),
            images,
        })
    }

    /// The strings (and page templates) the digests are rendered with.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The article part of `letter`, from the cache when a digest with the same articles,
    /// language, colour, section titles and picture sizes was rendered before.
    fn parts(
        &self,
        letter: &Letter<'_>,
        locale: &'static str,
        accent: &str,
    ) -> anyhow::Result<Parts> {
        // The key is made of what the part shows besides the articles' own text; building it
        // costs far less than rendering, which only a new combination pays.
        let titles: Vec<String> = (letter.articles)
            .chunk_by(|a, b| a.section == b.section)
            .map(|chunk| {
                let slug = &chunk[0].section;
                letter::section_title(&self.templates, letter.names, letter.sections, slug, locale)
            })
            .collect();
        let mut key = format!("{locale}\u{0}{accent}");
        for title in &titles {
            key.push('\u{0}');
            key.push_str(title);
        }
        for a in letter.articles {
            key.push('\u{0}');
            key.push_str(&a.id);
            if let Some((w, h)) = a.image.as_ref().and_then(|i| self.images.get(&i.url)) {
                key.push_str(&format!("\u{1}{w}x{h}"));
            }
        }
        if let Some(p) = self.parts.lock().expect("cache lock").get(&key) {
            return Ok(p.clone());
        }
        let shelf = Shelf {
            strings: &self.templates,
            names: letter.names,
            sections: letter.sections,
            sizes: &self.images,
            tz: self.tz,
            locale,
        };
        let ctx = context! {
            t => self.templates.strings(locale),
            accent,
            sections => Value::from(minijinja::value::Serde(shelf.sections(letter.articles))),
        };
        let parts = Parts {
            html: self.templates.render("digest_articles.html", ctx.clone())?,
            text: self.templates.render("digest_articles.txt", ctx)?,
            section_titles: titles,
        };
        let mut cache = self.parts.lock().expect("cache lock");
        if cache.len() >= PART_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, parts.clone());
        Ok(parts)
    }

    /// The article part of a digest holding `articles` (grouped by section as given), as the
    /// mail's HTML rows: the console's preview shows exactly what a digest would.
    pub fn articles_html(
        &self,
        locale: &str,
        sections: &[Section],
        articles: &[&Article],
    ) -> anyhow::Result<String> {
        let locale = pick_locale(locale);
        let names = DisplayNames::default();
        let shelf = Shelf {
            strings: &self.templates,
            names: &names,
            sections,
            sizes: &self.images,
            tz: self.tz,
            locale,
        };
        let rows = self.templates.render(
            "digest_articles.html",
            context! {
                t => self.templates.strings(locale),
                accent => DEFAULT_ACCENT,
                sections => Value::from(minijinja::value::Serde(shelf.sections(articles))),
            },
        )?;
        // The rows belong in the mail's table; alone they need one.
        Ok(format!(
            "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" \
             border=\"0\" style=\"max-width:600px\">{rows}</table>"
        ))
    }

    /// The schedule's name as `letter`'s reader reads it.
    pub fn schedule_name(&self, letter: &Letter<'_>) -> String {
        let locale = pick_locale(letter.locale);
        let (slug, stored) = letter.schedule;
        letter::schedule_name(&self.templates, letter.names, slug, stored, locale)
    }

    /// The schedule's name where it stands as a title (subject, header, `List-Id`): "Daily
    /// digest" where a sentence says "the daily digest".
    pub fn schedule_title(&self, letter: &Letter<'_>) -> String {
        upper_first(&self.schedule_name(letter))
    }

    /// Renders one digest: subject, HTML and (for a mail) text.
    ///
    /// The logo is drawn [`LOGO_HEIGHT`] pixels high, with a `width` when its size is known.
    pub fn render(&self, letter: &Letter<'_>) -> anyhow::Result<RenderedDigest> {
        let locale = pick_locale(letter.locale);
        let t = &self.templates;
        let brand = letter.brand;
        let accent = brand.accent.as_deref().unwrap_or(DEFAULT_ACCENT);
        let parts = self.parts(letter, locale, accent)?;
        let schedule_name = self.schedule_name(letter);
        let schedule_title = upper_first(&schedule_name);
        let date = human_date(letter.when, self.tz, locale, false);
        let subject = one_line(
            &t.text(locale, "digest.subject")
                .replace("{site}", &brand.title)
                .replace("{schedule}", &schedule_title)
                .replace("{date}", &date),
        );
        let preheader = self.preheader(locale, letter.articles.len(), &parts.section_titles);
        let (email, manage_url, unsubscribe_url, web_url, subscribe_url) = match letter.reader {
            Reader::Mail {
                email,
                manage_url,
                unsubscribe_url,
                web_url,
            } => (
                Some(email),
                Some(manage_url),
                Some(unsubscribe_url),
                web_url,
                None,
            ),
            Reader::WebCopy { subscribe_url } => (None, None, None, None, Some(subscribe_url)),
        };
        let logo_size = brand
            .logo_url
            .as_deref()
            .and_then(|u| logo_size(self.images.get(u)));
        let ctx = context! {
            t => t.strings(locale),
            subject => &subject,
            preheader,
            site_title => &brand.title,
            logo_url => &brand.logo_url,
            logo_width => logo_size.map(|s| s.0),
            logo_height => logo_size.map_or(LOGO_HEIGHT, |s| s.1),
            accent,
            home_url => letter.home_url,
            schedule_name => &schedule_name,
            schedule_title => &schedule_title,
            date => &date,
            empty => letter.articles.is_empty(),
            web_copy => subscribe_url.is_some(),
            email, manage_url, unsubscribe_url, web_url, subscribe_url,
            footer => &brand.footer,
            address => &brand.address,
        };
        let html = t.render(
            "digest.html",
            context! { articles => Value::from_safe_string(parts.html), ..ctx.clone() },
        )?;
        let text = match letter.reader {
            Reader::Mail { .. } => {
                tidy(&t.render("digest.txt", context! { articles => parts.text, ..ctx })?)
            }
            Reader::WebCopy { .. } => String::new(),
        };
        Ok(RenderedDigest {
            subject,
            html,
            text,
        })
    }

    /// The line mail clients show after the subject: how many articles, in which sections.
    fn preheader(&self, locale: &str, count: usize, sections: &[String]) -> String {
        let t = &self.templates;
        let key = match count {
            0 => return t.text(locale, "digest.preheader_empty"),
            1 => "digest.preheader_one",
            _ => "digest.preheader",
        };
        t.text(locale, key)
            .replace("{count}", &count.to_string())
            .replace(
                "{sections}",
                &sections.join(&t.text(locale, "digest.list_separator")),
            )
    }
}

/// Height of the logo in the mail's header, in CSS pixels.
const LOGO_HEIGHT: u32 = 48;
/// Widest a logo may be: the column inside the card.
const LOGO_MAX_WIDTH: u32 = 552;

/// The logo's `(width, height)` in the header, from its pixel size: [`LOGO_HEIGHT`] high, or
/// narrower than that when it would be wider than the column; `None` when unknown. Outlook
/// sizes a picture by its attributes alone, so both are given when they can be.
fn logo_size(natural: Option<(u32, u32)>) -> Option<(u32, u32)> {
    let (w, h) = natural.filter(|(w, h)| *w > 0 && *h > 0)?;
    let (w, h) = (u64::from(w), u64::from(h));
    let width = (w * u64::from(LOGO_HEIGHT) / h).max(1);
    if width <= u64::from(LOGO_MAX_WIDTH) {
        return Some((width as u32, LOGO_HEIGHT));
    }
    let height = (h * u64::from(LOGO_MAX_WIDTH) / w).max(1);
    Some((LOGO_MAX_WIDTH, height as u32))
}

#[cfg(test)]
mod tests;
