//! `AutomationError`: every failure of rule management and rule runs.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::jobs::JobError;
use crate::meta::MetaError;
use crate::notify::NotifyError;
use crate::query::QueryError;
use crate::record::RecordError;
use crate::script::ScriptError;
use crate::store::StoreError;

/// A failure of automation.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    /// No such rule in this tenant.
    #[error("rule `{0}` does not exist")]
    NotFound(String),
    /// The definition or request is invalid; details carry JSON pointers.
    #[error("the rule has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// A trigger or action kind that is not registered.
    #[error("{what} kind `{kind}` is not registered")]
    UnknownKind {
        /// `trigger` or `action`.
        what: &'static str,
        /// JSON pointer to the kind.
        field: String,
        /// The kind sent.
        kind: String,
    },
    /// A script or condition failed to compile, failed, or hit a limit.
    /// `part` is `script`, `condition` or `/actions/N/...`.
    #[error("{part}: {source}")]
    Script {
        /// Which part of the rule.
        part: String,
        /// The failure.
        source: ScriptError,
    },
    /// The clock override endpoint is off.
    #[error("the scheduler clock can be set only on a server started with --allow-clock-override")]
    ClockOverrideRefused,
    /// Metadata failure.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Record failure (an effect's validation, say).
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Query failure.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Notification, email or webhook failure.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// Job queue failure.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for AutomationError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl AutomationError {
    /// A script failure of `part`.
    pub(crate) fn script(part: impl Into<String>, source: ScriptError) -> Self {
        Self::Script {
            part: part.into(),
            source,
        }
    }

    /// True when another attempt would fail the same way (the rule or its
    /// input is at fault, not the machine).
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self.code(),
            ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::VersionMismatch | ErrorCode::Conflict
        )
    }
}

impl HasCode for AutomationError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::UnknownKind { .. } => ErrorCode::UnknownKind,
            Self::Script { source, .. } => source.code(),
            Self::ClockOverrideRefused => ErrorCode::Forbidden,
            Self::Meta(e) => e.code(),
            Self::Record(e) => e.code(),
            Self::Query(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Notify(e) => e.code(),
            Self::Job(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::UnknownKind { field, what, .. } => {
                vec![FieldError::new(
                    field.clone(),
                    format!("is not a registered {what} kind"),
                )]
            }
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
            Self::Query(e) => e.details(),
            Self::Auth(e) => e.details(),
            Self::Notify(e) => e.details(),
            Self::Job(e) => e.details(),
            Self::Store(e) => e.details(),
            Self::NotFound(_) | Self::ClockOverrideRefused => Vec::new(),
        }
    }
}
