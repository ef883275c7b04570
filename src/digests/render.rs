//! Digest rendering: templates compiled once at start; the article part rendered once per
//! distinct article list, language and look, only the short wrapper per subscriber.
//!
//! The same templates make the mail (HTML and text) and its web copy, which is the HTML part
//! without the personal links.

use std::{collections::HashMap, path::Path, sync::Mutex};

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use minijinja::{Value, context};

use super::{
    images::ImageSizes,
    letter::{self, Shelf, pick_locale},
};
use crate::{
    branding::Brand,
    domain::{Article, DisplayNames, Section},
    mail::Templates,
};

pub use letter::human_date;

/// A rendered digest.
#[derive(Debug, Clone)]
pub struct RenderedDigest {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// The accent colour when the settings name none.
const DEFAULT_ACCENT: &str = "#b71c1c";

/// Who a digest is rendered for, and so which links it carries.
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    /// A subscriber's mail: their address in the "why you get this" line, their manage and
    /// unsubscribe links, and the link to the mail's web copy (none in a preview).
    Mail {
        email: &'a str,
        manage_url: &'a str,
        unsubscribe_url: &'a str,
        web_url: Option<&'a str>,
    },
    /// The web copy: nobody's address or links, a link to subscribe instead.
    WebCopy { subscribe_url: &'a str },
}

/// Everything one digest shows.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The reader's language (`en`, else zh-CN).
    pub locale: &'a str,
    pub brand: &'a Brand,
    /// The schedule's slug and stored name (shown in the reader's language).
    pub schedule: (&'a str, &'a str),
    /// The digest's date (its fire instant).
    pub when: DateTime<Utc>,
    /// Every section, in display order.
    pub sections: &'a [Section],
    pub names: &'a DisplayNames,
    /// The articles in mail order (grouped by section, newest first within each).
    pub articles: &'a [&'a Article],
    /// Where the site title and logo link to (`site.home_url`, else `site.base_url`).
    pub home_url: &'a str,
    pub reader: Reader<'a>,
}

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

    /// The zone dates are shown in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    fn parts(
        &self,
        letter: &Letter<'_>,
        locale: &'static str,
        accent: &str,
    ) -> anyhow::Result<Parts> {
        let shelf = Shelf {
            strings: &self.templates,
            names: letter.names,
            sections: letter.sections,
            sizes: &self.images,
            tz: self.tz,
            locale,
        };
        let sections = shelf.sections(letter.articles);
        // Everything the part shows besides the articles' own text.
        let mut key = format!("{locale}\u{0}{accent}");
        for s in &sections {
            key.push('\u{0}');
            key.push_str(&s.title);
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
        let ctx = context! {
            t => self.templates.strings(locale),
            accent,
            sections => Value::from(minijinja::value::Serde(&sections)),
        };
        let parts = Parts {
            html: self.templates.render("digest_articles.html", ctx.clone())?,
            text: self.templates.render("digest_articles.txt", ctx)?,
            section_titles: sections.into_iter().map(|s| s.title).collect(),
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

    /// Renders one digest: subject, HTML and (for a mail) text.
    pub fn render(&self, letter: &Letter<'_>) -> anyhow::Result<RenderedDigest> {
        let locale = pick_locale(letter.locale);
        let t = &self.templates;
        let brand = letter.brand;
        let accent = brand.accent.as_deref().unwrap_or(DEFAULT_ACCENT);
        let parts = self.parts(letter, locale, accent)?;
        let schedule_name = self.schedule_name(letter);
        let date = human_date(letter.when, self.tz, locale, false);
        let subject = one_line(
            &t.text(locale, "digest.subject")
                .replace("{site}", &brand.title)
                .replace("{schedule}", &schedule_name)
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
        let ctx = context! {
            t => t.strings(locale),
            subject => &subject,
            preheader,
            site_title => &brand.title,
            logo_url => &brand.logo_url,
            accent,
            home_url => letter.home_url,
            schedule_name => &schedule_name,
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

/// A plain-text part as people read it: no trailing spaces (but the "-- " that starts a
/// signature), no runs of blank lines, whatever the templates' whitespace.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = true;
    for line in text.lines() {
        let line = if line == "-- " { line } else { line.trim_end() };
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
        blank = false;
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// `s` on one line, with runs of white space made one space (a subject from an edited
/// strings file or a name with a line break stays a subject).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
