//! Uploaded files: the bytes of attachment and image fields.
//!
//! An upload streams to a temporary file under the data directory, counting
//! and hashing as it goes, and is refused past the per-file limit; its type
//! is sniffed from the content ([`sniff`]), never taken from the client.
//! Finishing it checks the tenant's quota and inserts the `files` row in one
//! transaction, then moves the bytes to `<data>/files/<tenant>/<xx>/<id>`.
//!
//! A file belongs to no record until a record write names it in a file
//! field: the writer claims it in the record's own transaction
//! ([`Engine::claim_files`]), which only works for the uploader's own
//! unclaimed files or files the same field already holds, so nobody can
//! copy another record's file id into a record they can see. A file is
//! served only to callers who may see the record field that holds it.
//! When a change removes a file from its field, or the record is purged,
//! the file is detached; [`Engine::collect_files`] removes detached files
//! after the retention period and unclaimed uploads after a day.

mod claim;
mod gc;
mod read;
pub mod sniff;
mod upload;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub(crate) use claim::{Holder, detach, detach_forms};
pub use upload::Upload;

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::{FileId, FormId, RecordId, UserId};
use crate::store::entity::file;
use crate::store::{StoreError, parse_id};

impl crate::Engine {
    /// Whether the form has a field whose values are files.
    pub(crate) fn has_file_fields(&self, form: &crate::meta::form::LoadedForm) -> bool {
        form.def.fields.iter().any(|f| {
            self.field_types()
                .get(&f.kind)
                .is_ok_and(|t| t.file_rule().is_some())
        })
    }
}

/// Longest kept file name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Failures of file use cases.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No such file, or not one the caller may see.
    #[error("file `{0}` does not exist")]
    NotFound(String),
    /// The file is over the per-file limit.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The tenant's files would exceed its quota.
    #[error("the tenant keeps {used} bytes of files; this file would pass its quota of {quota} bytes")]
    QuotaExceeded {
        /// Bytes kept now.
        used: u64,
        /// The quota.
        quota: u64,
    },
    /// The request carries no file.
    #[error("{0}")]
    BadRequest(String),
    /// The disk refused a read or write.
    #[error("file storage failed: {0}")]
    Io(String),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for FileError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}

impl HasCode for FileError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Io(_) => ErrorCode::Internal,
            Self::Auth(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::TooLarge { .. } | Self::QuotaExceeded { .. } | Self::BadRequest(_) => {
                vec![FieldError::new("file", self.to_string())]
            }
            Self::Auth(e) => e.details(),
            _ => Vec::new(),
        }
    }
}

/// A file as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileView {
    /// Id, as record values name it.
    pub id: FileId,
    /// File name as uploaded (paths and control characters removed).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Sniffed media type.
    pub mime: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Uploader.
    pub created_by: UserId,
    /// Uploaded.
    pub created_at: DateTime<Utc>,
    /// The form, record and field holding it; absent until a record
    /// write claims it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form_id: Option<FormId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The record holding it.
    pub record_id: Option<RecordId>,
    /// The field holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_key: Option<String>,
}

impl FileView {
    pub(crate) fn from_row(row: &file::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: parse_id(&row.id)?,
            name: row.name.clone(),
            size: u64::try_from(row.size).unwrap_or_default(),
            mime: row.mime.clone(),
            sha256: row.sha256.clone(),
            created_by: parse_id(&row.created_by)?,
            created_at: row.created_at,
            form_id: row.form_id.as_deref().map(parse_id).transpose()?,
            record_id: row.record_id.as_deref().map(parse_id).transpose()?,
            field_key: row.field_key.clone(),
        })
    }
}

/// Where a file's bytes live: `<data>/files/<tenant>/<xx>/<id>`, `xx` the
/// id's last two hex digits (random in a v7 id, so directories stay small).
pub(crate) fn blob_path(data_dir: &Path, tenant: &str, id: &str) -> PathBuf {
    let shard = id.get(id.len().saturating_sub(2)..).unwrap_or("00");
    data_dir.join("files").join(tenant).join(shard).join(id)
}

/// Where uploads are written until they are finished (same file system as
/// the blobs, so finishing is a rename).
pub(crate) fn tmp_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("files").join(".tmp")
}

/// A file name fit to keep and to send back in `Content-Disposition`: the
/// last path segment, without control characters or quotes, trimmed and
/// capped; `file` when nothing is left.
#[must_use]
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\u{202e}' | '\u{202d}'))
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_and_control_characters() {
        assert_eq!(clean_name("C:\\Users\\a\\合同.pdf"), "合同.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\"b\r\n.png"), "ab.png");
        assert_eq!(clean_name("..."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name("evil\u{202e}gnp.exe"), "evilgnp.exe");
        assert_eq!(clean_name(&"x".repeat(300)).chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn blobs_are_sharded_by_the_random_end_of_the_id() {
        let p = blob_path(Path::new("d"), "t", "0193-ab");
        assert_eq!(p, Path::new("d/files/t/ab/0193-ab"));
    }
}
