//! `WorkflowError`: every failure of flow management and flow actions.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::jobs::JobError;
use crate::meta::MetaError;
use crate::notify::NotifyError;
use crate::record::RecordError;
use crate::script::ScriptError;
use crate::store::StoreError;

/// A failure of a workflow use case.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// No such flow, instance or task for this caller (another member's
    /// task answers this too).
    #[error("{what} `{id}` does not exist")]
    NotFound {
        /// `workflow`, `task`, `instance` or `node`.
        what: &'static str,
        /// The id sent.
        id: String,
    },
    /// The definition or the request is invalid; details name the node,
    /// edge or field.
    #[error("the request has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The action does not fit the instance's or task's state: the task was
    /// already acted on, the flow finished, someone else moved it first.
    #[error("{0}")]
    Conflict(String),
    /// Fields that this step may not write.
    #[error("this step may not change {}", .0.join(", "))]
    ReadOnly(Vec<String>),
    /// A guard failed to compile.
    #[error("{part}: {source}")]
    Script {
        /// JSON pointer of the guard (`edges/2/when`).
        part: String,
        /// The failure.
        source: ScriptError,
    },
    /// Metadata failure.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Record failure (a fill's validation, say).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Notification failure.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// Job queue failure.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for WorkflowError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl WorkflowError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub(crate) fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl HasCode for WorkflowError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::ReadOnly(_) => ErrorCode::Forbidden,
            Self::Script { source, .. } => source.code(),
            Self::Meta(e) => e.code(),
            Self::Record(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Notify(e) => e.code(),
            Self::Job(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::ReadOnly(fields) => fields
                .iter()
                .map(|f| FieldError::new(format!("data/{f}"), "is not editable at this step"))
                .collect(),
            Self::Script { part, source } => source
                .details()
                .into_iter()
                .map(|mut d| {
                    d.field.clone_from(part);
                    d
                })
                .collect(),
            Self::Meta(e) => e.details(),
            Self::Record(e) => e.details(),
            Self::Auth(e) => e.details(),
            Self::Notify(e) => e.details(),
            Self::Job(e) => e.details(),
            _ => Vec::new(),
        }
    }
}
