//! Page and mail templates (minijinja) and their zh-CN / en strings, read once at start from
//! `site.templates_dir` so admins can edit them. A file missing there falls back to the copy
//! built into the binary; a file that does not parse stops start-up with its name and line.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use anyhow::Context;
use minijinja::{AutoEscape, Environment, Value};

/// Languages pages and mails come in; the first is the fallback.
pub const LOCALES: &[&str] = &["zh-CN", "en"];

/// `(name, text)` pairs of files under `config/templates/`, built into the binary.
macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../config/templates/", $name)))),*]
    };
}
#[allow(unused_imports)]
pub(crate) use builtin;

/// The shipped templates, used for any file the templates folder lacks.
const BUILTIN: &[(&str, &str)] = builtin![
    "pages/base.html",
    "pages/subscribe.html",
    "pages/confirm.html",
    "pages/manage.html",
    "pages/unsubscribe.html",
    "pages/notice.html",
    "pages/home.html",
    "mail/confirm.txt",
    "mail/confirm.html",
    "mail/already_subscribed.txt",
    "mail/already_subscribed.html",
    "admin/base.html",
    "admin/notice.html",
    "admin/login.html",
    "admin/password.html",
    "admin/dashboard.html",
    "admin/accounts.html",
    "admin/token_created.html",
    "admin/audit.html",
    "admin/returned.html",
    "admin/returned_message.html",
    "admin/subscribers_list.html",
    "admin/subscribers_person.html",
    "admin/subscribers_new.html",
    "admin/subscribers_import.html",
    "admin/subscribers_erase.html",
    "admin/schedules_list.html",
    "admin/schedules_form.html",
    "admin/schedules_confirm.html",
    "admin/schedules_previews.html",
    "admin/schedules_preview.html",
    "admin/runs_list.html",
    "admin/runs_show.html",
    "admin/accounts_person_added.html",
    "admin/articles_form.html",
    "admin/articles_list.html",
    "admin/articles_retract.html",
    "admin/sections_delete.html",
    "admin/sections_form.html",
    "admin/sections_list.html",
    "admin/settings.html",
    "admin/sources.html",
    "digest.html",
    "digest.txt",
    "digest_articles.html",
    "digest_articles.txt",
    "admin/articles_announce.html",
];

/// The shipped strings of each locale, under any keys the folder's files lack: the file of
/// the public pages and mails (`locales/{locale}.toml`) and the console's
/// (`locales/admin.{locale}.toml`, whose keys sit under `admin`).
const BUILTIN_STRINGS: &[(&str, &str, &str)] = &[
    (
        "zh-CN",
        "zh-CN.toml",
        include_str!("../../config/templates/locales/zh-CN.toml"),
    ),
    (
        "zh-CN",
        "admin.zh-CN.toml",
        include_str!("../../config/templates/locales/admin.zh-CN.toml"),
    ),
    (
        "en",
        "en.toml",
        include_str!("../../config/templates/locales/en.toml"),
    ),
    (
        "en",
        "admin.en.toml",
        include_str!("../../config/templates/locales/admin.en.toml"),
    ),
];

/// minijinja's HTML escaping also turns '/' into "&#x2f;", which is correct but makes every
/// link in a page's or mail's source unreadable (and longer); escaping `& < > " '` suffices.
pub fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if *state.auto_escape() == AutoEscape::Html && !value.is_safe() {
        let text = value.to_string();
        out.write_str(&html_escape::encode_quoted_attribute(&text))
            .map_err(minijinja::Error::from)
    } else {
        minijinja::escape_formatter(out, state, value)
    }
}

/// Compiled templates plus the strings of each locale.
pub struct Templates {
    env: Environment<'static>,
    /// Each locale's strings as one template value, made once at load. Converting a locale's
    /// whole table (the console's strings included) for every render was half of what a
    /// digest cost the process: 694 µs of CPU per delivery in `benches/scale.sh` at 100,000
    /// members, 357 µs without it (issue 15). A `Value` map is shared: handing it out clones
    /// a pointer.
    strings: HashMap<&'static str, Value>,
}

impl Templates {
    /// Loads every `.html` / `.txt` file under `dir` (names are paths relative to it, with
    /// `/`), then the built-in copies of any shipped file it lacks, and the locale strings.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_formatter(html_formatter);
        let mut found = Vec::new();
        if dir.is_dir() {
            collect(dir, dir, &mut found)?;
        } else {
            tracing::warn!(dir = %dir.display(), "templates folder missing; using built-in templates");
        }
        let mut names = std::collections::HashSet::new();
        for (name, path) in found {
            let src = std::fs::read_to_string(&path)
                .with_context(|| format!("read template {}", path.display()))?;
            env.add_template_owned(name.clone(), src)
                .with_context(|| format!("template {}", path.display()))?;
            names.insert(name);
        }
        for (name, src) in BUILTIN {
            if !names.contains(*name) {
                env.add_template(name, src)
                    .with_context(|| format!("built-in template {name}"))?;
            }
        }
        let mut tables: HashMap<&'static str, toml::Table> = HashMap::new();
        for (locale, file, builtin) in BUILTIN_STRINGS {
            let mut table: toml::Table = builtin
                .parse()
                .with_context(|| format!("built-in strings {file}"))?;
            let path = dir.join("locales").join(file);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("read {}", path.display()))?;
                let over: toml::Table = text
                    .parse()
                    .with_context(|| format!("strings file {}", path.display()))?;
                merge(&mut table, over);
            }
            merge(tables.entry(*locale).or_default(), table);
        }
        let strings = tables
            .iter()
            .map(|(locale, table)| (*locale, Value::from(minijinja::value::Serde(table))))
            .collect();
        Ok(Self { env, strings })
    }

    /// Renders template `name`; `.html` templates escape every value.
    pub fn render(&self, name: &str, ctx: Value) -> anyhow::Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .with_context(|| format!("render template {name}"))
    }

    /// The strings of `locale` as a template value (`t` in templates).
    pub fn strings(&self, locale: &str) -> Value {
        self.strings
            .get(locale)
            .or_else(|| self.strings.get(LOCALES[0]))
            .cloned()
            .expect("built-in locales are always loaded")
    }

    /// One string by dotted key (`errors.email_empty`); the key itself if missing.
    pub fn text(&self, locale: &str, key: &str) -> String {
        self.lookup(locale, key).unwrap_or_else(|| {
            tracing::warn!(locale, key, "missing string");
            key.to_owned()
        })
    }

    /// One string by dotted key, if the locale has it.
    pub fn lookup(&self, locale: &str, key: &str) -> Option<String> {
        let mut node = self.strings(locale);
        for part in key.split('.') {
            node = node.get_attr(part).ok().filter(|v| !v.is_undefined())?;
        }
        node.as_str().map(str::to_owned)
    }
}

/// Every template file under `dir`, with its name relative to `root`.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("html" | "txt")
        ) {
            let rel = path.strip_prefix(root).expect("under root");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.push((name, path));
        }
    }
    Ok(())
}

/// Deep-merges `over` into `base`.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod builtin_tests {
    use super::BUILTIN;

    /// A console or page template missing from the built-in list works from a checkout and
    /// fails in an installation whose templates folder predates it.
    #[test]
    fn every_page_mail_and_console_template_is_built_in() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/templates");
        for dir in ["pages", "mail", "admin"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
                assert!(
                    BUILTIN.iter().any(|(n, _)| *n == name),
                    "{name} is not in BUILTIN"
                );
            }
        }
    }
}

#[cfg(test)]
mod strings_tests {
    use super::Templates;

    fn heading(t: &Templates, locale: &str) -> String {
        let strings = t.strings(locale);
        let common = strings.get_attr("common").unwrap();
        common.get_attr("heading").unwrap().to_string()
    }

    /// The values handed to templates are made once at load: they must hold the folder's
    /// overrides, each locale its own, and an unknown locale the first one's.
    #[test]
    fn template_strings_carry_the_folders_overrides_per_locale() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("locales")).unwrap();
        std::fs::write(
            dir.path().join("locales/en.toml"),
            "[common]\nheading = \"Union news by mail\"\n",
        )
        .unwrap();
        let t = Templates::load(dir.path()).unwrap();
        assert_eq!(heading(&t, "en"), "Union news by mail");
        // Keys the file lacks keep the shipped text.
        let en = t.strings("en");
        let common = en.get_attr("common").unwrap();
        assert_eq!(common.get_attr("home_link").unwrap().to_string(), "Home");
        let zh = heading(&t, "zh-CN");
        assert_ne!(zh, "Union news by mail");
        assert_eq!(heading(&t, "fr"), zh);
        // The same answer as the dotted lookup the pages use, which reads the same values:
        // a string by its dotted key, nothing for a missing key or a table.
        assert_eq!(t.text("en", "common.heading"), "Union news by mail");
        assert_eq!(t.lookup("fr", "common.heading"), Some(zh));
        assert_eq!(t.lookup("en", "common.no_such_key"), None);
        assert_eq!(t.lookup("en", "no_such_table.heading"), None);
        assert_eq!(t.lookup("en", "common"), None);
    }
}
