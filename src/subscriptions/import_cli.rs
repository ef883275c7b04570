//! `tidings subscribers import FILE`: the import of the admin API for files of any size,
//! with a progress bar.

use std::{fs::File, io::BufReader, path::Path};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::import::{ImportReport, ImportRules, import_csv};
use crate::{clock, config::Config, store::Store};

/// Imports `path` into the configured database and prints what happened; `Ok(report)` even
/// when some rows were refused (they are listed by line number on stderr).
pub async fn import_file(config: &Config, path: &Path) -> anyhow::Result<ImportReport> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let store = Store::connect(&config.database.url).await?;
    store.migrate().await?;
    let now = chrono::Utc::now();
    store
        .ensure_sections(&config.section_seeds(), clock::to_ms(now))
        .await?;
    store
        .ensure_schedules(&config.schedule_seeds(), clock::to_ms(now))
        .await?;
    let rules = ImportRules::load(&store, config).await?;
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .expect("valid progress template"),
    );
    let result = import_csv(
        &store,
        &rules,
        BufReader::new(file),
        clock::to_ms(now),
        |bytes, rows| {
            bar.set_position(bytes);
            bar.set_message(format!("{rows} rows"));
        },
    )
    .await;
    bar.finish_and_clear();
    store.close().await;
    let report = result?.map_err(anyhow::Error::msg)?;
    for p in report.errors.iter().chain(&report.skipped) {
        let field = p
            .field
            .as_deref()
            .map(|f| format!(" [{f}]"))
            .unwrap_or_default();
        eprintln!("line {}{field}: {}", p.line, p.error);
    }
    println!(
        "{} created, {} updated, {} skipped (unsubscribed or bounced), {} rows refused",
        report.created, report.updated, report.skipped_total, report.errors_total
    );
    Ok(report)
}
