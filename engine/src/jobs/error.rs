//! `JobError`: every failure of the job queue, each with a stable code.

use std::time::Duration;

use sea_orm::DbErr;

use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::JobId;
use crate::store::StoreError;

/// A failure of the job queue or of a job handler.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job does not exist for this tenant (another tenant's jobs too).
    #[error("job `{0}` does not exist")]
    JobNotFound(JobId),
    /// A new job or a query was malformed; details name the fields.
    #[error("the job has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The payload is over [`super::MAX_PAYLOAD_BYTES`].
    #[error("the job payload is {size} bytes, over the limit of {max}")]
    PayloadTooLarge {
        /// Serialised size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// This worker no longer holds the job's lease (it expired and another
    /// worker took it, or the job was completed or removed): the caller's
    /// transaction must roll back so the job's effects happen once.
    #[error("the lease on job `{0}` was lost")]
    LeaseLost(JobId),
    /// The job holding this key was removed while it was being planned
    /// (a concurrent `cancel_pending`); planning again is safe.
    #[error("the job with key `{0}` was removed while planning; retry")]
    KeyRace(String),
    /// No handler is registered for the job's kind.
    #[error("job kind `{0}` is not registered")]
    UnknownKind(String),
    /// A handler failed; the code is the handler's own (`script_limit`,
    /// `validation_failed`, ...).
    #[error("{message}")]
    Handler {
        /// The handler error's stable code.
        code: ErrorCode,
        /// One sentence.
        message: String,
    },
    /// A handler ran past its time budget and was stopped.
    #[error("the job handler ran past its time budget of {0:?}")]
    Timeout(Duration),
    /// The previous holder's lease expired during the job's last attempt
    /// (its worker was lost): the job is dead-lettered, not run again.
    #[error("the lease expired during the last attempt (worker lost)")]
    Abandoned,
    /// A handler panicked; the worker survived and failed the job.
    #[error("the job handler panicked: {0}")]
    Panicked(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    /// Wraps any coded error from a handler, keeping its code.
    pub fn handler(err: &(impl HasCode + ?Sized)) -> Self {
        Self::Handler {
            code: err.code(),
            message: err.to_string(),
        }
    }
}

impl From<DbErr> for JobError {
    fn from(e: DbErr) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl HasCode for JobError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::JobNotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::LeaseLost(_) | Self::KeyRace(_) => ErrorCode::Conflict,
            Self::UnknownKind(_) => ErrorCode::UnknownKind,
            Self::Handler { code, .. } => *code,
            Self::Timeout(_) | Self::Panicked(_) | Self::Abandoned => ErrorCode::Internal,
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(errs) => errs.clone(),
            _ => Vec::new(),
        }
    }
}
