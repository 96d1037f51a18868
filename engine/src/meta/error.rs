//! Errors of the metadata use cases.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::store::StoreError;

/// Failures of app, form and tag use cases.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// No such app in this tenant.
    #[error("app `{0}` does not exist")]
    AppNotFound(String),
    /// No such form in this tenant.
    #[error("form `{0}` does not exist")]
    FormNotFound(String),
    /// No such saved view for this caller.
    #[error("view `{0}` does not exist")]
    ViewNotFound(String),
    /// No such tag in this tenant.
    #[error("tag `{0}` does not exist")]
    TagNotFound(String),
    /// A tag with this name exists.
    #[error("tag `{0}` already exists")]
    TagExists(String),
    /// The definition or input is invalid; details carry JSON paths.
    #[error("the definition has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// A field change that existing records cannot satisfy.
    #[error(
        "{count} record(s) hold values that field `{field}` would no longer accept (first: {}); \
         send `\"convert\": true` to convert them",
        .first_ids.join(", ")
    )]
    IncompatibleChange {
        /// The field key.
        field: String,
        /// How many records are in the way.
        count: usize,
        /// The first few of them.
        first_ids: Vec<String>,
    },
    /// A conversion was asked for but some values do not convert.
    #[error(
        "{count} record(s) hold values of field `{field}` that do not convert (first: {}); nothing was changed",
        .first_ids.join(", ")
    )]
    ConversionFailed {
        /// The field key.
        field: String,
        /// How many records fail.
        count: usize,
        /// The first few of them.
        first_ids: Vec<String>,
    },
    /// Making a field unique failed because live records share values.
    #[error("field `{0}` cannot be unique: live records already share values")]
    NotUnique(String),
    /// The caller may not do this.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for MetaError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl HasCode for MetaError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::AppNotFound(_) | Self::FormNotFound(_) | Self::TagNotFound(_) | Self::ViewNotFound(_) => {
                ErrorCode::NotFound
            }
            Self::TagExists(_) => ErrorCode::Conflict,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::IncompatibleChange { .. } | Self::ConversionFailed { .. } => ErrorCode::IncompatibleChange,
            Self::NotUnique(_) => ErrorCode::DuplicateValue,
            Self::Auth(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::IncompatibleChange { field, count, .. } | Self::ConversionFailed { field, count, .. } => {
                vec![FieldError::new(
                    field.clone(),
                    format!("{count} record(s) in the way"),
                )]
            }
            Self::NotUnique(field) => vec![FieldError::new(field.clone(), "live records share values")],
            Self::Auth(e) => e.details(),
            _ => Vec::new(),
        }
    }
}
