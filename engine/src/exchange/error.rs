//! Errors of spreadsheet import and export.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::jobs::JobError;
use crate::meta::MetaError;
use crate::query::QueryError;
use crate::record::RecordError;
use crate::store::StoreError;

/// Failures of the exchange use cases.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No such import for this form and tenant.
    #[error("import `{0}` does not exist")]
    ImportNotFound(String),
    /// The upload is neither CSV nor XLSX.
    #[error("the file must be CSV (`text/csv`) or XLSX; got `{0}`")]
    UnsupportedFormat(String),
    /// The file could not be read as its format.
    #[error("the file cannot be read: {0}")]
    Unreadable(String),
    /// The file is over a size limit (bytes, rows or columns).
    #[error("{0}")]
    TooLarge(String),
    /// The mapping, mode or key of a run is wrong; details name the problem.
    #[error("the import settings are invalid")]
    InvalidSettings(Vec<FieldError>),
    /// The import is already queued or running.
    #[error("import `{0}` is already queued or running")]
    Busy(String),
    /// Records changed between validation and writing.
    #[error("records changed while the import was written; nothing was written, run it again")]
    Changed,
    /// The export request is wrong (unknown field, too many rows for XLSX).
    #[error("the export request is invalid")]
    InvalidExport(Vec<FieldError>),
    /// Metadata failure (form not found).
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Record write failure.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Query failure (export filter or sort).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Job queue failure.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ExchangeError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl HasCode for ExchangeError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::ImportNotFound(_) => ErrorCode::NotFound,
            Self::UnsupportedFormat(_) | Self::Unreadable(_) => ErrorCode::BadRequest,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::InvalidSettings(_) | Self::InvalidExport(_) => ErrorCode::ValidationFailed,
            Self::Busy(_) | Self::Changed => ErrorCode::Conflict,
            Self::Meta(e) => e.code(),
            Self::Record(e) => e.code(),
            Self::Query(e) => e.code(),
            Self::Job(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::InvalidSettings(d) | Self::InvalidExport(d) => d.clone(),
            Self::Meta(e) => e.details(),
            Self::Record(e) => e.details(),
            Self::Query(e) => e.details(),
            _ => Vec::new(),
        }
    }
}
