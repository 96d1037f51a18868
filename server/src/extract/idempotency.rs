//! `Idempotency-Key` on creates: at most 200 printable ASCII characters.
//! The engine stores the first response under the key and replays it.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest};

use crate::error::ApiError;

/// The header name.
pub const HEADER: &str = "idempotency-key";
/// Longest accepted key.
pub const MAX_LEN: usize = 200;

/// The client's idempotency key, if it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = match req.headers().get(HEADER).map(|v| v.to_str()) {
            None => Ok(Self(None)),
            Some(Ok(key)) if !key.is_empty() && key.len() <= MAX_LEN => Ok(Self(Some(key.to_owned()))),
            Some(_) => Err(ApiError::bad_request(format!(
                "`Idempotency-Key` must be 1 to {MAX_LEN} printable ASCII characters"
            ))),
        };
        ready(result)
    }
}
