//! Importing subscribers who already consented, from CSV with the header
//! `email,sections,schedule` (optionally `locale`; other columns are ignored, so an export
//! can be imported again). Used by `POST /api/v1/subscribers/import` and by
//! `tidings subscribers import FILE`. Bad rows are reported by line number; good rows are
//! kept, active and confirmed at import.

use std::io::Read;

use serde::Serialize;

use super::{choices::Catalog, input::supported};
use crate::{
    config::Config,
    domain::{Email, Preferences, SubscriberStatus},
    store::{ImportOutcome, ImportRow, Store},
};

/// Problems listed in a report; beyond this only counted, so a bad file cannot blow it up.
const MAX_LISTED: usize = 1000;

/// A row not imported, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowProblem {
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub error: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    /// Rows of people who unsubscribed or bounced: an import does not subscribe them again.
    pub skipped: Vec<RowProblem>,
    pub errors: Vec<RowProblem>,
    pub skipped_total: u64,
    pub errors_total: u64,
}

impl ImportReport {
    fn note(list: &mut Vec<RowProblem>, total: &mut u64, p: RowProblem) {
        *total += 1;
        if list.len() < MAX_LISTED {
            list.push(p);
        }
    }
}

/// Where the valid values come from.
pub struct ImportRules {
    catalog: Catalog,
    locale: String,
}

impl ImportRules {
    /// Current sections and schedules; the site language for rows without `locale`.
    pub async fn load(store: &Store, config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            catalog: Catalog::load(store, config).await?,
            locale: config.site.language.clone(),
        })
    }
}

/// Column positions found in the header.
struct Columns {
    email: usize,
    sections: usize,
    schedule: usize,
    locale: Option<usize>,
}

/// Reads `input` and imports it; `progress(bytes_read, rows_done)` is called per batch.
/// Errs (before storing anything) when the header lacks a required column.
pub async fn import_csv(
    store: &Store,
    rules: &ImportRules,
    input: impl Read,
    now_ms: i64,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Result<ImportReport, String>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let cols = match columns(&mut reader) {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
    let mut report = ImportReport::default();
    // Rows written per transaction: what suits the database (see `Store::import_batch_rows`).
    let size = store.import_batch_rows();
    let mut batch = Batch::with_capacity(size);
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    loop {
        let more = match reader.read_byte_record(&mut record) {
            Ok(more) => more,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                ImportReport::note(
                    &mut report.errors,
                    &mut report.errors_total,
                    RowProblem {
                        line,
                        field: None,
                        error: e.to_string(),
                    },
                );
                // A broken quote or a read error leaves nothing sensible to continue from.
                false
            }
        };
        if more {
            rows += 1;
            let line = record.position().map_or(0, |p| p.line());
            match parse_row(&record, &cols, rules) {
                Ok(row) => {
                    batch.lines.push(line);
                    batch.rows.push(row);
                }
                Err((field, error)) => ImportReport::note(
                    &mut report.errors,
                    &mut report.errors_total,
                    RowProblem {
                        line,
                        field: Some(field.into()),
                        error,
                    },
                ),
            }
        }
        if batch.rows.len() >= size || (!more && !batch.rows.is_empty()) {
            store_batch(store, &mut batch, now_ms, &mut report).await?;
            progress(reader.position().byte(), rows);
        }
        if !more {
            return Ok(Ok(report));
        }
    }
}

/// The column positions named by the header line, or why there are none.
fn columns<R: Read>(reader: &mut csv::Reader<R>) -> Result<Columns, String> {
    let header = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(format!("cannot read the header line: {e}")),
    };
    let find = |name: &str| {
        header.iter().position(|h| {
            let h = decode(h);
            h.trim_start_matches('\u{feff}')
                .trim()
                .eq_ignore_ascii_case(name)
        })
    };
    let (Some(email), Some(sections), Some(schedule)) =
        (find("email"), find("sections"), find("schedule"))
    else {
        return Err("the header line must name the columns email,sections,schedule".into());
    };
    Ok(Columns {
        email,
        sections,
        schedule,
        locale: find("locale"),
    })
}

/// The first valid rows of a file and every rejected line, nothing stored: what an import of
/// it would do (rows of people who unsubscribed or bounced are left alone at import).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportPreview {
    pub rows: Vec<PreviewRow>,
    pub valid_total: u64,
    pub errors: Vec<RowProblem>,
    pub errors_total: u64,
}

/// A valid row of a preview.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PreviewRow {
    pub line: u64,
    pub email: String,
    /// `None`: every section.
    pub sections: Option<Vec<String>>,
    pub schedule: String,
    pub locale: String,
}

/// Reads `input` as [`import_csv`] would, keeping the first `shown` valid rows; errs when the
/// header lacks a required column.
pub fn preview_csv(
    rules: &ImportRules,
    input: impl Read,
    shown: usize,
) -> Result<ImportPreview, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let cols = columns(&mut reader)?;
    let mut out = ImportPreview::default();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(out),
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                match parse_row(&record, &cols, rules) {
                    Ok(row) => {
                        out.valid_total += 1;
                        if out.rows.len() < shown {
                            out.rows.push(PreviewRow {
                                line,
                                email: row.email,
                                sections: row.prefs.sections,
                                schedule: row.prefs.schedule,
                                locale: row.prefs.locale,
                            });
                        }
                    }
                    Err((field, error)) => ImportReport::note(
                        &mut out.errors,
                        &mut out.errors_total,
                        RowProblem {
                            line,
                            field: Some(field.into()),
                            error,
                        },
                    ),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let problem = RowProblem {
                    line,
                    field: None,
                    error: e.to_string(),
                };
                ImportReport::note(&mut out.errors, &mut out.errors_total, problem);
                return Ok(out);
            }
        }
    }
}

/// Valid rows waiting to be stored, with their line numbers.
struct Batch {
    lines: Vec<u64>,
    rows: Vec<ImportRow>,
}

impl Batch {
    fn with_capacity(n: usize) -> Self {
        Self {
            lines: Vec::with_capacity(n),
            rows: Vec::with_capacity(n),
        }
    }
}

/// Stores the batch and adds what happened to `report`; leaves the batch empty.
async fn store_batch(
    store: &Store,
    batch: &mut Batch,
    now_ms: i64,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    let outcomes = store.import_subscribers(&batch.rows, now_ms).await?;
    let rows = batch.lines.drain(..).zip(batch.rows.drain(..));
    for ((line, row), outcome) in rows.zip(outcomes) {
        match outcome {
            ImportOutcome::Created => report.created += 1,
            ImportOutcome::Updated => report.updated += 1,
            ImportOutcome::Skipped(status) => {
                let why = match status {
                    SubscriberStatus::Bounced => "bounced",
                    _ => "unsubscribed",
                };
                ImportReport::note(
                    &mut report.skipped,
                    &mut report.skipped_total,
                    RowProblem {
                        line,
                        field: Some("email".into()),
                        error: format!(
                            "{} has {why}; an import does not subscribe them again",
                            row.email
                        ),
                    },
                );
            }
        }
    }
    Ok(())
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
const FORMULA_STARTS: &[char] = &['=', '+', '-', '@', '\t', '\r'];

/// A cell of an export: one that a spreadsheet would run as a formula gets a leading `'`, which
/// spreadsheets show as text. An address may legally start with `=`, `+` or `-`, so anyone could
/// subscribe one that runs a command on the admin's machine when the export is opened.
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The inverse of [`neutralise_cell`], so that an export imports again unchanged.
fn restore_cell(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

fn parse_row(
    record: &csv::ByteRecord,
    cols: &Columns,
    rules: &ImportRules,
) -> Result<ImportRow, (&'static str, String)> {
    let field = |i: usize| record.get(i).map(decode).unwrap_or_default();
    let email =
        Email::parse(restore_cell(&field(cols.email))).map_err(|e| ("email", e.to_string()))?;
    let given: Vec<String> = field(cols.sections)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let catalog = &rules.catalog;
    let sections = catalog.pick_sections(&given).map_err(|p| {
        let valid = catalog.sections.iter().map(|s| s.slug.as_str());
        ("sections", unknown("section", &p.value, valid))
    })?;
    let schedule = field(cols.schedule);
    let schedule = catalog.pick_schedule(Some(schedule.trim())).map_err(|p| {
        let valid = catalog.schedules.iter().map(|s| s.slug.as_str());
        ("schedule", unknown("schedule", &p.value, valid))
    })?;
    let locale = match cols.locale.map(field).filter(|l| !l.trim().is_empty()) {
        Some(l) => supported(&l)
            .ok_or(("locale", format!("unsupported locale {l:?} (zh-CN or en)")))?
            .to_owned(),
        None => rules.locale.clone(),
    };
    Ok(ImportRow {
        email: email.as_str().to_owned(),
        prefs: Preferences {
            sections,
            schedule,
            locale,
        },
    })
}

/// `unknown section "x"; sections: news, notices`: what was wrong and what would do.
fn unknown<'a>(kind: &str, given: &str, valid: impl Iterator<Item = &'a str>) -> String {
    let valid: Vec<&str> = valid.collect();
    if valid.is_empty() {
        format!("unknown {kind} {given:?}; there are no {kind}s to choose")
    } else {
        format!("unknown {kind} {given:?}; {kind}s: {}", valid.join(", "))
    }
}

/// UTF-8, or else GB18030 (what spreadsheet software on Chinese systems often saves). Both
/// keep ASCII as is, so the CSV structure is read correctly either way.
fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}
