//! `If-Match: "<version>"` (strong `"3"` or weak `W/"3"` form) into the
//! record version the client last saw. A malformed header answers 400.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest};

use crate::error::ApiError;

/// The expected record version, when the client sent `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<i32>);

/// Parses one `If-Match` value.
///
/// # Errors
/// `bad_request` when it is not a quoted version number.
pub fn parse(value: &str) -> Result<i32, ApiError> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "`If-Match` must be a record version such as `\"3\"`, not `{value}`"
            ))
        })
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let result = match req.headers().get(actix_web::http::header::IF_MATCH) {
            None => Ok(Self(None)),
            Some(h) => match h.to_str() {
                Ok(s) => parse(s).map(|v| Self(Some(v))),
                Err(_) => Err(ApiError::bad_request("`If-Match` must be ASCII")),
            },
        };
        ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn forms() {
        assert_eq!(parse("\"3\"").ok(), Some(3));
        assert_eq!(parse("W/\"12\"").ok(), Some(12));
        assert_eq!(parse("4").ok(), Some(4));
        assert!(parse("\"x\"").is_err());
        assert!(parse("*").is_err());
    }
}
