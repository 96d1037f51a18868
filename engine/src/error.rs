//! The one table of stable error codes, and the field-level error detail.
//!
//! Codes are public API, like URLs: add freely, never rename or reuse. Each
//! module has its own `thiserror` enum implementing [`HasCode`]; the server
//! maps a code to an HTTP status in one place.

use serde::Serialize;

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Input did not satisfy a schema or rule; details name the fields.
    ValidationFailed,
    /// The request body or a parameter could not be read at all.
    BadRequest,
    /// The object does not exist for this tenant (another tenant's objects too).
    NotFound,
    /// The write conflicts with existing state.
    Conflict,
    /// A unique field already holds this value.
    DuplicateValue,
    /// `If-Match` or `version` named a stale version.
    VersionMismatch,
    /// The caller is known but may not do this.
    Forbidden,
    /// No valid credentials.
    Unauthorized,
    /// A field type, trigger kind or action kind that is not registered.
    UnknownKind,
    /// The filter, sort or aggregate request is malformed.
    InvalidQuery,
    /// A body or collection is over its size limit.
    PayloadTooLarge,
    /// The tenant's file storage quota would be exceeded.
    QuotaExceeded,
    /// A script failed to compile.
    ScriptCompile,
    /// A script failed while running.
    ScriptRuntime,
    /// A script hit an operation, size or time limit.
    ScriptLimit,
    /// An `Idempotency-Key` was reused with a different request.
    IdempotencyKeyReused,
    /// A form change that existing records cannot satisfy.
    IncompatibleChange,
    /// The change would leave the tenant without an active owner.
    LastOwner,
    /// The API token's scope (`read`, `write`) is below what the action needs.
    InsufficientScope,
    /// The department move would put a department under itself.
    DepartmentCycle,
    /// The department still has sub-departments or members.
    DepartmentNotEmpty,
    /// Too many attempts (failed logins, a public link's rate limit); retry later.
    TooManyRequests,
    /// A cookie-authenticated write that did not come from this site's pages.
    CsrfRejected,
    /// A public form link that was switched off or is past its end date.
    LinkClosed,
    /// The database is not reachable.
    Unavailable,
    /// A bug or an unexpected backend failure; details are only logged.
    Internal,
}

impl ErrorCode {
    /// The wire form of the code.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::BadRequest => "bad_request",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::DuplicateValue => "duplicate_value",
            Self::VersionMismatch => "version_mismatch",
            Self::Forbidden => "forbidden",
            Self::Unauthorized => "unauthorized",
            Self::UnknownKind => "unknown_kind",
            Self::InvalidQuery => "invalid_query",
            Self::PayloadTooLarge => "payload_too_large",
            Self::QuotaExceeded => "quota_exceeded",
            Self::ScriptCompile => "script_syntax",
            Self::ScriptRuntime => "script_error",
            Self::ScriptLimit => "script_limit",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IncompatibleChange => "incompatible_change",
            Self::LastOwner => "last_owner",
            Self::InsufficientScope => "insufficient_scope",
            Self::DepartmentCycle => "department_cycle",
            Self::DepartmentNotEmpty => "department_not_empty",
            Self::TooManyRequests => "too_many_requests",
            Self::CsrfRejected => "csrf_rejected",
            Self::LinkClosed => "link_closed",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// Every code, for documentation and tests.
    pub const ALL: [Self; 26] = [
        Self::ValidationFailed,
        Self::BadRequest,
        Self::NotFound,
        Self::Conflict,
        Self::DuplicateValue,
        Self::VersionMismatch,
        Self::Forbidden,
        Self::Unauthorized,
        Self::UnknownKind,
        Self::InvalidQuery,
        Self::PayloadTooLarge,
        Self::QuotaExceeded,
        Self::ScriptCompile,
        Self::ScriptRuntime,
        Self::ScriptLimit,
        Self::IdempotencyKeyReused,
        Self::IncompatibleChange,
        Self::LastOwner,
        Self::InsufficientScope,
        Self::DepartmentCycle,
        Self::DepartmentNotEmpty,
        Self::TooManyRequests,
        Self::CsrfRejected,
        Self::LinkClosed,
        Self::Unavailable,
        Self::Internal,
    ];
}

/// One problem with one field (or JSON path) of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Field key or JSON path (`total_spent`, `items/0/qty`, `/fields/2/type`).
    pub field: String,
    /// One lower-case sentence.
    pub message: String,
    /// Line in a script, from 1, when the error is about a script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Column in a script, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// The same error placed at a script position.
    #[must_use]
    pub fn at(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        self.line = line;
        self.column = column;
        self
    }
}

/// Implemented by every module error: its stable code and field details.
pub trait HasCode: std::error::Error {
    /// The stable code.
    fn code(&self) -> ErrorCode;
    /// Field-level details, empty when the error is not about fields.
    fn details(&self) -> Vec<FieldError> {
        Vec::new()
    }
    /// For `too_many_requests`: seconds until a retry may succeed.
    fn retry_after_secs(&self) -> Option<u64> {
        None
    }
}
