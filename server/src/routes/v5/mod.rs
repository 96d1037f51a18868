//! The 简道云-compatible Open API (v5): `POST /api/v5/...` with a JSON body
//! and `Authorization: Bearer <API token>`, answering 简道云's shapes and, on
//! failure, HTTP 400 `{"code": <int>, "msg": "..."}` (see docs/v5.md for the
//! code table). A thin adapter over the engine's own use cases: the same
//! records, permissions and validation as `/api/v1`, no second data model.
//!
//! One module per group: [`meta`] (apps, forms, widgets), [`data`] (reads),
//! [`write`] (writes), [`workflow`] (approval flows), with the value and filter mapping in [`value`] and
//! [`filter`]. Every request passes [`V5Caller`]: bearer token, then the
//! per-token rate limit ([`RateLimiter`], default 50 requests/s); calls on
//! one form then share the prologue in [`call`].

pub mod call;
pub mod data;
pub mod filter;
pub mod meta;
pub mod value;
pub mod workflow;
pub mod write;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use engine::Engine;
use engine::ctx::Ctx;
use engine::error::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Body, Endpoint};
use crate::error::ApiError;

/// Requests per second one token may make when not configured.
pub const DEFAULT_RATE_LIMIT: u32 = 50;

/// 简道云's code for "too many requests".
pub const CODE_RATE_LIMITED: u32 = 8303;

/// The v5 code of an engine error code (docs/v5.md lists them). Only
/// [`CODE_RATE_LIMITED`] is 简道云's own number; the others are
/// Formwork's, in the 17xxx range, which 简道云 does not use.
#[must_use]
pub const fn v5_code(code: ErrorCode) -> u32 {
    match code {
        ErrorCode::Unauthorized => 17_001,
        ErrorCode::Forbidden | ErrorCode::InsufficientScope | ErrorCode::CsrfRejected => 17_002,
        ErrorCode::BadRequest | ErrorCode::UnknownKind => 17_003,
        ErrorCode::NotFound => 17_004,
        ErrorCode::ValidationFailed => 17_005,
        ErrorCode::DuplicateValue => 17_006,
        ErrorCode::InvalidQuery => 17_007,
        ErrorCode::PayloadTooLarge | ErrorCode::QuotaExceeded => 17_008,
        ErrorCode::IdempotencyKeyReused => 17_009,
        ErrorCode::VersionMismatch => 17_010,
        ErrorCode::Conflict
        | ErrorCode::IncompatibleChange
        | ErrorCode::LastOwner
        | ErrorCode::DepartmentCycle
        | ErrorCode::DepartmentNotEmpty
        | ErrorCode::LinkClosed => 17_011,
        ErrorCode::ScriptCompile | ErrorCode::ScriptRuntime | ErrorCode::ScriptLimit => 17_012,
        ErrorCode::Unavailable => 17_013,
        ErrorCode::TooManyRequests => CODE_RATE_LIMITED,
        ErrorCode::Internal => 17_099,
    }
}

/// A v5 error answer: HTTP 400 (500 for an internal error) with
/// `{"code": <int>, "msg": "..."}`.
#[derive(Debug)]
pub struct V5Error {
    /// The numeric code.
    pub code: u32,
    /// One sentence; for field errors it names the fields.
    pub msg: String,
    /// Logged, never sent (internal errors).
    cause: Option<String>,
}

impl V5Error {
    /// An error with an engine code and a message.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self {
            code: v5_code(code),
            msg: msg.into(),
            cause: None,
        }
    }

    /// `bad_request` (17003).
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, msg)
    }
}

impl fmt::Display for V5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v5 {}: {}",
            self.code,
            self.cause.as_deref().unwrap_or(&self.msg)
        )
    }
}

impl From<ApiError> for V5Error {
    fn from(e: ApiError) -> Self {
        if e.code() == ErrorCode::Internal {
            return Self {
                code: v5_code(ErrorCode::Internal),
                msg: String::new(),
                cause: e.cause().map(str::to_owned),
            };
        }
        let mut msg = e.message().to_owned();
        if !e.details().is_empty() {
            let parts: Vec<String> = e
                .details()
                .iter()
                .map(|d| format!("`{}`: {}", d.field, d.message))
                .collect();
            msg = format!("{msg} ({})", parts.join("; "));
        }
        Self {
            code: v5_code(e.code()),
            msg,
            cause: None,
        }
    }
}

impl<E: engine::error::HasCode + fmt::Display> From<E> for V5Error {
    fn from(e: E) -> Self {
        ApiError::from(e).into()
    }
}

impl ResponseError for V5Error {
    fn status_code(&self) -> StatusCode {
        if self.code == v5_code(ErrorCode::Internal) {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    fn error_response(&self) -> HttpResponse {
        let msg = if self.code == v5_code(ErrorCode::Internal) {
            if let Some(cause) = &self.cause {
                tracing::error!(cause = %cause, "v5 internal error");
            }
            format!(
                "internal error (request {})",
                crate::request_id::current().unwrap_or_default()
            )
        } else {
            self.msg.clone()
        };
        HttpResponse::build(self.status_code()).json(json!({"code": self.code, "msg": msg}))
    }
}

/// A token bucket per API token: `rate` requests per second, bursts up to
/// `rate`. Kept in memory per server process, so behind N replicas a token
/// may reach N times the rate.
pub struct RateLimiter {
    rate: u32,
    buckets: Mutex<HashMap<[u8; 32], (f64, Instant)>>,
}

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 10_000;

impl RateLimiter {
    /// A limiter of `rate` requests per second per token (0 = unlimited).
    #[must_use]
    pub fn new(rate: u32) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request for `token`; false when its bucket is empty.
    pub fn allow(&self, token: &str) -> bool {
        if self.rate == 0 {
            return true;
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let rate = f64::from(self.rate);
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs() < 2);
        }
        let (tokens, at) = buckets.entry(key).or_insert((rate, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(rate);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            true
        } else {
            *tokens = refilled;
            false
        }
    }
}

/// An authenticated, rate-limited v5 caller.
pub struct V5Caller {
    /// Tenant, actor, role, scope, now.
    pub ctx: Ctx,
}

impl FromRequest for V5Caller {
    type Error = V5Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, V5Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|t| t.trim().to_owned());
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        let limiter = req.app_data::<web::Data<RateLimiter>>().cloned();
        Box::pin(async move {
            let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
                V5Error::new(
                    ErrorCode::Unauthorized,
                    "no API key: send `Authorization: Bearer <API token>`",
                )
            })?;
            let engine = engine.ok_or_else(|| V5Error::from(ApiError::internal("engine missing")))?;
            let ctx = engine.authenticate(&token).await?;
            if let Some(limiter) = limiter
                && !limiter.allow(&token)
            {
                return Err(V5Error {
                    code: CODE_RATE_LIMITED,
                    msg: "too many requests with this API key: slow down and retry".to_owned(),
                    cause: None,
                });
            }
            Ok(Self { ctx })
        })
    }
}

/// Parses a request body into `T`, answering 17003 with serde's reason.
///
/// # Errors
/// `bad_request` for malformed JSON or a body of the wrong shape.
pub fn parse<T: DeserializeOwned>(body: &web::Bytes) -> Result<(T, Value), V5Error> {
    let raw: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| V5Error::bad_request(format!("the body is not JSON: {e}")))?
    };
    let parsed = serde_json::from_value(raw.clone())
        .map_err(|e| V5Error::bad_request(format!("the body does not fit this endpoint: {e}")))?;
    Ok((parsed, raw))
}

/// Every v5 endpoint.
pub const ENDPOINT_GROUPS: [&[Endpoint]; 4] = [
    meta::ENDPOINTS,
    data::ENDPOINTS,
    write::ENDPOINTS,
    workflow::ENDPOINTS,
];

/// Registers every v5 endpoint (the [`RateLimiter`] is app data, set once
/// in `app::build` so every worker shares it).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for group in ENDPOINT_GROUPS {
        super::register(cfg, group);
    }
}

/// The OpenAPI component schemas the v5 rows name.
pub fn components(m: &mut Map<String, Value>) {
    m.insert(
        "V5Request".to_owned(),
        json!({"type": "object", "description": "A 简道云 v5 request body; docs/v5.md describes each endpoint's fields."}),
    );
    m.insert(
        "V5Response".to_owned(),
        json!({"type": "object", "description": "A 简道云 v5 answer; failures answer HTTP 400 `{\"code\": <int>, \"msg\": \"...\"}`."}),
    );
}

/// The body every v5 row takes and answers.
pub const REQUEST: Body = Body::Ref("V5Request");
/// See [`REQUEST`].
pub const RESPONSE: Body = Body::Ref("V5Response");

/// Defines a v5 row: POST, tag `v5`, 200, errors documented in docs/v5.md.
macro_rules! v5 {
    ($path:literal, $op:ident, $summary:literal) => {
        $crate::routes::Endpoint {
            verb: $crate::routes::Verb::Post,
            path: concat!("/api/v5/", $path),
            operation_id: stringify!($op),
            tag: "v5",
            summary: $summary,
            is_authenticated: true,
            params: &[],
            request: $crate::routes::v5::REQUEST,
            status: 200,
            response: $crate::routes::v5::RESPONSE,
            errors: &[],
            handler: || actix_web::web::route().to($op),
        }
    };
}
pub(crate) use v5;

/// Deserialises a JSON string or number as a string (ids sent either way).
pub(crate) fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::Deserialize;
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("expected an id, not {other}"))),
    }
}

/// Parses an id of ours, answering "not found" for anything malformed (a
/// 简道云 id pasted in finds nothing, like an unknown one).
pub(crate) fn parse_id<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, V5Error> {
    s.parse()
        .map_err(|_| V5Error::new(ErrorCode::NotFound, format!("{what} `{s}` does not exist")))
}
