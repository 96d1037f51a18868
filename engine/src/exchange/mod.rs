//! Spreadsheet exchange: CSV and XLSX import into a form and export of any
//! query out of it.
//!
//! Import is upload → (dry) run. An upload stores the file's bytes in the
//! database (`import_files`, so any server sharing it can run the import)
//! and answers its columns, row count and a guessed column → field mapping
//! ([`mapping`]). A run takes the mapping, a mode (insert, upsert by a key
//! field, update only) and `dry_run`: every cell goes through the field
//! registry's `parse_import`, every row through the same checks as a record
//! write, keys and unique values are looked up in batches, and the errors of
//! every bad row are reported with the row's number in the file ([`plan`]).
//! A dry run writes nothing but its report. A real run is a durable job
//! ([`job`]) and is all or nothing: with any bad row nothing is written;
//! otherwise every write happens in one transaction ([`write`]). Progress is
//! readable while it runs; the errors download as CSV.
//!
//! Export streams a filtered, sorted query page by page through the keyset
//! cursor, each cell through the registry's `display` ([`export`]).
//!
//! Invariants: no second conversion table (cells are the registry's);
//! tenant first in every query; a failed import changes no record. Callers:
//! the HTTP routes, `formwork import`, the job worker.

mod actor;
mod error;
pub mod export;
mod import;
pub mod job;
pub mod mapping;
pub mod plan;
pub mod progress;
pub mod read;
mod write;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use error::ExchangeError;
pub use export::{ExportRequest, Exported};
pub use mapping::ColumnMapping;
pub use plan::{ImportMode, RowError};
pub use progress::{Phase, Progress};
pub use read::{Format, XLSX_MIME};

use crate::ids::{FormId, ImportId, JobId, UserId};

/// Largest accepted upload.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// Most row errors kept per run (the count is always exact).
pub const MAX_STORED_ERRORS: usize = 10_000;
/// Row errors shown in an import's view (all of them are in the report).
pub const ERRORS_IN_VIEW: usize = 20;

/// How to run an import.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunImportInput {
    /// Column → field; the stored (guessed or last) mapping when absent.
    #[serde(default)]
    pub mapping: Option<Vec<ColumnMapping>>,
    /// Insert (default), upsert or update.
    #[serde(default)]
    pub mode: ImportMode,
    /// The key field for upsert and update.
    #[serde(default)]
    pub key: Option<String>,
    /// Only validate and report.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a run did, or (dry run) would do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// Records created.
    pub inserted: u64,
    /// Records changed.
    pub updated: u64,
    /// Rows matching a record without changing it.
    pub unchanged: u64,
    /// Rows with errors.
    pub failed_rows: u64,
}

/// An import as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ImportView {
    /// Id.
    pub id: ImportId,
    /// The target form.
    pub form_id: FormId,
    /// `csv` or `xlsx`.
    pub format: Format,
    /// The uploaded file's name, when given.
    pub file_name: String,
    /// Header cells.
    pub columns: Vec<String>,
    /// Column → field (guessed on upload, then as last run).
    pub mapping: Vec<ColumnMapping>,
    /// The fields columns may be mapped to, and which may be the key.
    pub targets: Vec<mapping::ImportTarget>,
    /// Data rows in the file.
    pub rows: u64,
    /// Mode of the last run.
    pub mode: ImportMode,
    /// Key of the last run.
    pub key: Option<String>,
    /// `uploaded`, `validated` (dry run done), `queued`, `running`,
    /// `succeeded`, `failed`.
    pub status: String,
    /// Rows processed out of the phase's rows.
    pub progress: Progress,
    /// Rows with errors found by the last run.
    pub error_count: u64,
    /// The first errors (all of them: `GET .../errors`).
    pub errors: Vec<RowError>,
    /// What the last run did or would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<ImportSummary>,
    /// Why a run failed, beyond row errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The job of the last real run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
    /// Uploader.
    pub created_by: UserId,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When the last run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Plain text of a scalar value for messages.
pub(crate) fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
