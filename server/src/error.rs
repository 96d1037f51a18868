//! `ApiError`: the one place where an engine [`ErrorCode`] becomes an HTTP
//! status and the JSON error body
//! `{"error":{"code","message","details":[{"field","message"}]}}`.
//!
//! Any engine error (`HasCode + Display`) converts with `?`. `internal`
//! answers `internal error (request <id>)`; the cause stays in the error value
//! and is logged by the request-id middleware, never serialised. The
//! extractor error handlers (`JsonConfig`, `QueryConfig`, `PathConfig`,
//! `PayloadConfig`) live here too, so malformed input gets the same body.

use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use engine::error::{ErrorCode, FieldError, HasCode};
use serde::Serialize;

use crate::request_id;

/// An error answer: a stable code, a message, field details and (for
/// `internal`) a cause that is only logged.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Vec<FieldError>,
    cause: Option<String>,
    /// Sent as `Retry-After` (seconds).
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        if code == ErrorCode::Internal {
            return Self::internal(message);
        }
        Self {
            code,
            message,
            details: Vec::new(),
            cause: None,
            retry_after: None,
        }
    }

    /// An internal error; `cause` is logged, never sent.
    pub fn internal(cause: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: String::new(),
            details: Vec::new(),
            cause: Some(cause.into()),
            retry_after: None,
        }
    }

    /// Sets the `Retry-After` seconds.
    #[must_use]
    pub const fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Adds field details.
    #[must_use]
    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
        self
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// `payload_too_large`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }

    /// The code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The logged-only cause of an internal error.
    #[must_use]
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }
}

impl<E: HasCode + fmt::Display> From<E> for ApiError {
    fn from(e: E) -> Self {
        match e.code() {
            ErrorCode::Internal => Self::internal(e.to_string()),
            code => Self {
                code,
                message: e.to_string(),
                details: e.details(),
                cause: None,
                retry_after: e.retry_after_secs(),
            },
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Some(cause) => write!(f, "{}: {cause}", self.code.as_str()),
            None => write!(f, "{}: {}", self.code.as_str(), self.message),
        }
    }
}

/// The HTTP status of a code. The only such table in the code base.
#[must_use]
pub const fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::ValidationFailed
        | ErrorCode::UnknownKind
        | ErrorCode::ScriptCompile
        | ErrorCode::ScriptRuntime
        | ErrorCode::ScriptLimit => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::BadRequest | ErrorCode::InvalidQuery => StatusCode::BAD_REQUEST,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict
        | ErrorCode::DuplicateValue
        | ErrorCode::IdempotencyKeyReused
        | ErrorCode::IncompatibleChange
        | ErrorCode::LastOwner
        | ErrorCode::DepartmentCycle
        | ErrorCode::DepartmentNotEmpty => StatusCode::CONFLICT,
        ErrorCode::VersionMismatch => StatusCode::PRECONDITION_FAILED,
        ErrorCode::Forbidden | ErrorCode::InsufficientScope | ErrorCode::CsrfRejected => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::LinkClosed => StatusCode::GONE,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::PayloadTooLarge | ErrorCode::QuotaExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
    details: &'a [FieldError],
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.code)
    }

    fn error_response(&self) -> HttpResponse {
        let internal;
        let message = if self.code == ErrorCode::Internal {
            internal = format!(
                "internal error (request {})",
                request_id::current().unwrap_or_default()
            );
            internal.as_str()
        } else {
            self.message.as_str()
        };
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message,
                details: &self.details,
            },
        };
        let mut res = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            res.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        res.json(body)
    }
}

/// `JsonConfig` error handler: 413 over the limit, 415 for a wrong content
/// type, 400 `bad_request` with line and column for malformed JSON or a body
/// of the wrong shape (`invalid_query` on the query and aggregate routes).
pub fn json_error(err: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    let is_query = req
        .match_pattern()
        .is_some_and(|p| p.ends_with("/records/query") || p.ends_with("/aggregate"));
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::payload_too_large(format!(
            "the request body is {length} bytes, over the limit of {limit} bytes"
        )),
        JsonPayloadError::Overflow { limit } => {
            ApiError::payload_too_large(format!("the request body is over the limit of {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            let mut res =
                ApiError::bad_request("the request body must be JSON: send `Content-Type: application/json`")
                    .error_response();
            *res.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return actix_web::error::InternalError::from_response(err, res).into();
        }
        JsonPayloadError::Deserialize(e) if e.is_data() && is_query => {
            ApiError::new(ErrorCode::InvalidQuery, format!("invalid query: {e}"))
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::bad_request(format!("the request body has the wrong shape: {e}"))
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        }
        JsonPayloadError::Payload(p) => payload_api_error(p),
        other => ApiError::bad_request(format!("the request body could not be read: {other}")),
    };
    api.into()
}

fn payload_api_error(err: &PayloadError) -> ApiError {
    match err {
        PayloadError::Overflow => ApiError::payload_too_large("the request body is over the size limit"),
        other => ApiError::bad_request(format!("the request body could not be read: {other}")),
    }
}

/// `QueryConfig` error handler: 400 naming the bad parameter.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = match &err {
        QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
        other => format!("invalid query string: {other}"),
    };
    ApiError::bad_request(message).into()
}

/// `PathConfig` error handler: a path segment that is not a valid id names no
/// object, so it answers 404 `not_found` ("`abc` is not a valid id").
pub fn path_error(_err: PathError, req: &HttpRequest) -> actix_web::Error {
    let bad = req
        .match_info()
        .iter()
        .find(|(name, value)| name.ends_with("id") && uuid::Uuid::parse_str(value).is_err())
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default();
    ApiError::not_found(format!("`{bad}` is not a valid id")).into()
}

/// Default service of every resource: 405 with the error body.
pub async fn method_not_allowed() -> HttpResponse {
    let mut res = ApiError::bad_request("this method is not allowed on this path").error_response();
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res
}

/// Default service of the app: 404 with the error body.
pub async fn no_route() -> HttpResponse {
    ApiError::not_found("no such path; see `/api/v1/openapi.json`").error_response()
}

impl ApiError {
    /// The message sent (empty for `internal`).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The field details sent.
    #[must_use]
    pub fn details(&self) -> &[FieldError] {
        &self.details
    }
}
