//! Errors of package install, export, import and upgrade.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::meta::MetaError;
use crate::store::StoreError;

/// Failures of the template use cases.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template install job has this id for the tenant.
    #[error("install job `{0}` does not exist")]
    JobNotFound(String),
    /// No builtin template has this key.
    #[error("template `{0}` does not exist")]
    NotFound(String),
    /// The package is malformed; details name the file and pointer.
    #[error("the package is invalid")]
    Invalid(Vec<FieldError>),
    /// One object of the package was refused when installed; details are
    /// the object's own, prefixed with its file.
    #[error("{file}: {message}")]
    Object {
        /// The package file (`rules/churn_alert.json`).
        file: String,
        /// The refusal's own code (`script_compile`, `validation_failed`).
        code: ErrorCode,
        /// The refusal's message.
        message: String,
        /// The refusal's details, fields prefixed with the file.
        details: Vec<FieldError>,
    },
    /// The app was not installed from a package (upgrade).
    #[error("app `{0}` was not installed from a template")]
    NotInstalled(String),
    /// Over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The server failed reading or writing package files, or found a
    /// stored object it cannot read back (a package the caller handed in
    /// is refused as `Invalid` instead).
    #[error("{0}")]
    Io(String),
    /// Metadata failure (app not found).
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// Job queue failure (cancelling a removed rule's firings).
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),
    /// Permission failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for TemplateError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(e))
    }
}

impl TemplateError {
    /// Wraps another module's error as the refusal of one package file.
    pub(crate) fn object<E: HasCode>(file: &str, e: &E) -> Self {
        let details = e
            .details()
            .into_iter()
            .map(|mut d| {
                d.field = if d.field.is_empty() {
                    file.to_owned()
                } else if d.field.starts_with('/') {
                    format!("{file}{}", d.field)
                } else {
                    format!("{file}/{}", d.field)
                };
                d
            })
            .collect();
        Self::Object {
            file: file.to_owned(),
            code: e.code(),
            message: e.to_string(),
            details,
        }
    }
}

impl HasCode for TemplateError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) | Self::JobNotFound(_) => ErrorCode::NotFound,
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Object { code, .. } => *code,
            Self::NotInstalled(_) => ErrorCode::Conflict,
            Self::Io(_) => ErrorCode::Internal,
            Self::TooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Meta(e) => e.code(),
            Self::Job(e) => e.code(),
            Self::Auth(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) | Self::Object { details: d, .. } => d.clone(),
            Self::Meta(e) => e.details(),
            _ => Vec::new(),
        }
    }
}
