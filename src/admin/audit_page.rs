//! `GET /admin/audit?person=&kind=&before=` (admins): the audit log, newest first, filtered
//! by person and kind, a page at a time.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{
    page::{View, ser},
    session::AdminSession,
    state::ConsoleState,
};
use crate::{domain::AuditKind, error::AppError};

/// Entries per page.
pub const PAGE: u32 = 50;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    person: String,
    #[serde(default)]
    kind: String,
    /// Entries with ids below this (the "older" link).
    before: Option<i64>,
}

#[derive(Serialize)]
struct Row {
    at: String,
    actor: String,
    kind: &'static str,
    target: String,
    before: Option<String>,
    after: Option<String>,
    client: Option<String>,
}

/// `GET /admin/audit`.
pub async fn show(
    State(state): State<ConsoleState>,
    s: AdminSession,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let view = View::new(&state, &s.visit);
    let person = q.person.trim();
    // An unknown kind filters nothing out rather than failing: the form only offers known ones.
    let kind = AuditKind::parse(q.kind.trim()).ok();
    let entries = state
        .store
        .audit_entries(
            (!person.is_empty()).then_some(person),
            kind,
            q.before,
            PAGE + 1,
        )
        .await?;
    let more = entries.len() > PAGE as usize;
    let rows: Vec<Row> = entries
        .iter()
        .take(PAGE as usize)
        .map(|e| Row {
            at: view.time(e.at),
            actor: e.actor.clone(),
            kind: e.kind.as_str(),
            target: e.target.clone(),
            before: e.before.clone(),
            after: e.after.clone(),
            client: e.client.clone(),
        })
        .collect();
    let link = |before: Option<i64>| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !person.is_empty() {
            query.append_pair("person", person);
        }
        if let Some(k) = kind {
            query.append_pair("kind", k.as_str());
        }
        if let Some(id) = before {
            query.append_pair("before", &id.to_string());
        }
        format!("{}/audit?{}", state.admin_path(), query.finish())
    };
    let older = more.then(|| link(Some(entries[PAGE as usize - 1].id)));
    // Back to the newest entries of the same filter.
    let newest = q.before.is_some().then(|| link(None));
    Ok(view.render(
        "admin/audit.html",
        &view.text("audit.title"),
        StatusCode::OK,
        context! {
            rows => ser(&rows),
            people => ser(&state.store.audit_actors().await?),
            kinds => ser(&AuditKind::NAMES),
            person => person,
            kind => kind.map(AuditKind::as_str),
            older => older,
            newest => newest,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::domain::AuditKind;

    fn strings(text: &str) -> toml::Table {
        text.parse().expect("the console's strings parse")
    }

    /// Every key path of `table`, dotted.
    fn keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in table {
            let path = format!("{prefix}/{k}");
            match v {
                toml::Value::Table(t) => keys(&path, t, out),
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn every_audit_kind_has_a_label_in_both_languages() {
        for text in [
            include_str!("../../config/templates/locales/admin.zh-CN.toml"),
            include_str!("../../config/templates/locales/admin.en.toml"),
        ] {
            let table = strings(text);
            let kinds = table["admin"]["audit"]["kinds"].as_table().unwrap();
            for name in AuditKind::NAMES {
                assert!(kinds.contains_key(*name), "no label for audit kind {name}");
            }
        }
    }

    #[test]
    fn both_languages_have_the_same_console_strings() {
        let mut zh = Vec::new();
        let mut en = Vec::new();
        keys(
            "",
            &strings(include_str!(
                "../../config/templates/locales/admin.zh-CN.toml"
            )),
            &mut zh,
        );
        keys(
            "",
            &strings(include_str!("../../config/templates/locales/admin.en.toml")),
            &mut en,
        );
        let only_zh: Vec<_> = zh.iter().filter(|k| !en.contains(k)).collect();
        let only_en: Vec<_> = en.iter().filter(|k| !zh.contains(k)).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "only in zh-CN: {only_zh:?}; only in en: {only_en:?}"
        );
    }
}
