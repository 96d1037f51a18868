//! Errors of the record use cases.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::meta::MetaError;
use crate::query::QueryError;
use crate::store::StoreError;

/// Failures of record use cases.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No such live record in this form and tenant.
    #[error("record `{0}` does not exist")]
    NotFound(String),
    /// The data fails the form's schema; details name the fields.
    #[error("the record has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// A unique field already holds the value.
    #[error("field `{0}` must be unique and another record already has this value")]
    Duplicate(String),
    /// The caller's version is stale.
    #[error("the record is at version {actual}, not {expected}; reload it and apply your change again")]
    VersionMismatch {
        /// What the caller sent.
        expected: i32,
        /// What is stored.
        actual: i32,
    },
    /// The record data is over the size limit.
    #[error("the record data is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Serialised size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Too many items in a batch.
    #[error("a batch holds at most {limit} records, not {size}")]
    BatchTooLarge {
        /// Items sent.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Some items of a batch are invalid; nothing was written.
    #[error("{} item(s) of the batch are invalid; nothing was written", .items)]
    BatchInvalid {
        /// How many items failed.
        items: usize,
        /// `<index>/<field>` → message.
        details: Vec<FieldError>,
    },
    /// The `Idempotency-Key` was used for another request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// A request with the same transaction id is still being processed.
    #[error("a request with transaction id `{0}` is still in progress; retry it shortly")]
    TransactionInFlight(String),
    /// Only records in the recycle bin can be purged.
    #[error("record `{0}` is not in the recycle bin; delete it first")]
    NotDeleted(String),
    /// The record is in a running approval flow: only the flow's steps
    /// change it until the flow ends.
    #[error(
        "record `{0}` is in an approval flow; it changes only through the flow's steps until the flow ends"
    )]
    InFlow(String),
    /// Starting the form's approval flow failed.
    #[error(transparent)]
    Flow(Box<crate::workflow::WorkflowError>),
    /// Metadata failure (form not found, tag not found...).
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Query failure.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for RecordError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl HasCode for RecordError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) | Self::BatchInvalid { .. } => ErrorCode::ValidationFailed,
            Self::Duplicate(_) => ErrorCode::DuplicateValue,
            Self::VersionMismatch { .. } => ErrorCode::VersionMismatch,
            Self::TooLarge { .. } | Self::BatchTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::NotDeleted(_) | Self::InFlow(_) | Self::TransactionInFlight(_) => ErrorCode::Conflict,
            Self::Flow(e) => e.code(),
            Self::Meta(e) => e.code(),
            Self::Query(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) | Self::BatchInvalid { details: d, .. } => d.clone(),
            Self::Duplicate(f) => vec![FieldError::new(
                f.clone(),
                "another record already has this value",
            )],
            Self::Flow(e) => e.details(),
            Self::Meta(e) => e.details(),
            Self::Query(e) => e.details(),
            Self::Auth(e) => e.details(),
            _ => Vec::new(),
        }
    }
}
