//! Errors of the query module and their stable codes.

use sea_orm::DbErr;

use crate::error::{ErrorCode, FieldError, HasCode};

/// A failure to compile or run a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The filter, sort, cursor, limit, search or aggregate is malformed or
    /// does not fit the form. Code `invalid_query`.
    #[error("{message}")]
    InvalidQuery {
        /// The filter path (`filter/and/0`) or the field key concerned.
        path: String,
        /// One lower-case sentence.
        message: String,
    },
    /// A field of the form has a kind the registry does not know (a
    /// definition/registry mismatch, not the caller's fault). Code `internal`.
    #[error("field `{key}` has unregistered type `{kind}`")]
    FieldKindUnregistered {
        /// The field key.
        key: String,
        /// Its kind.
        kind: String,
    },
    /// The database failed. Code `internal`.
    #[error("database error: {0}")]
    Store(#[from] DbErr),
}

impl QueryError {
    /// An `invalid_query` error about `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidQuery {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl HasCode for QueryError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidQuery { .. } => ErrorCode::InvalidQuery,
            Self::FieldKindUnregistered { .. } | Self::Store(_) => ErrorCode::Internal,
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::InvalidQuery { path, message } => vec![FieldError::new(path, message)],
            Self::FieldKindUnregistered { .. } | Self::Store(_) => Vec::new(),
        }
    }
}
