//! The authenticated caller: `Authorization: Bearer <token>` or the
//! `formwork_session` cookie, checked by the engine into a [`Ctx`]. Missing
//! or invalid credentials answer 401 `unauthorized`.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use engine::Engine;
use engine::ctx::Ctx;
use engine::error::ErrorCode;

use crate::error::ApiError;

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "formwork_session";

/// An authenticated caller: the engine context plus the token it used.
#[derive(Clone)]
pub struct Caller {
    /// Tenant, actor, role, now.
    pub ctx: Ctx,
    /// The bearer token or session cookie value (for logout).
    pub token: String,
}

impl Deref for Caller {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

/// The token a request carries, bearer header first.
#[must_use]
pub fn token_of(req: &HttpRequest) -> Option<String> {
    bearer_of(req).or_else(|| req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()))
}

/// The `Authorization: Bearer` token, if any.
fn bearer_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned())
}

/// CSRF check for a write authenticated by the session cookie alone: the
/// browser must say the request comes from this site (`Sec-Fetch-Site:
/// same-origin`, or `none` for one the user typed), or, from a browser that
/// does not send that header, an `Origin` whose host is this request's host.
/// Bearer-token requests cannot be forged by another site and are not
/// checked; neither are reads.
///
/// # Errors
/// 403 `csrf_rejected`.
pub fn check_csrf(req: &HttpRequest) -> Result<(), ApiError> {
    if req.method().is_safe() || bearer_of(req).is_some() || req.cookie(SESSION_COOKIE).is_none() {
        return Ok(());
    }
    let headers = req.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    if let Some(site) = text("sec-fetch-site") {
        return if site == "same-origin" || site == "none" {
            Ok(())
        } else {
            Err(csrf_rejected(&format!("Sec-Fetch-Site is `{site}`")))
        };
    }
    let Some(origin) = text("origin") else {
        // Neither header: not a browser form or script of another site
        // (those send Origin on every cross-origin write).
        return Ok(());
    };
    let host = text("host").unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map_or("", |(_, rest)| rest)
        .trim_end_matches('/');
    if !host.is_empty() && origin_host == host {
        Ok(())
    } else {
        Err(csrf_rejected(&format!("Origin `{origin}` is not this server")))
    }
}

fn csrf_rejected(why: &str) -> ApiError {
    ApiError::new(
        ErrorCode::CsrfRejected,
        format!(
            "a cookie-authenticated write must come from this server's pages ({why}); send `Authorization: Bearer <token>` from a script"
        ),
    )
}

/// The session cookie set by login.
#[must_use]
pub fn session_cookie(token: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .finish()
}

/// An expired session cookie, sent by logout.
#[must_use]
pub fn cleared_cookie() -> Cookie<'static> {
    let mut c = session_cookie("");
    c.make_removal();
    c
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        if let Some(caller) = req.extensions_mut().remove::<Self>() {
            return Box::pin(std::future::ready(Ok(caller)));
        }
        let csrf = check_csrf(req);
        let token = token_of(req);
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        Box::pin(async move {
            csrf?;
            let token = token.ok_or_else(|| {
                ApiError::unauthorized("no credentials: send `Authorization: Bearer <token>` from login")
            })?;
            let engine = engine.ok_or_else(|| ApiError::internal("engine missing from app data"))?;
            let ctx = engine.authenticate(&token).await?;
            Ok(Self { ctx, token })
        })
    }
}

/// Route middleware of every authenticated `/api/v1` endpoint: the caller
/// is checked before any other part of the request is read, so a request
/// without valid credentials answers 401 whatever its body or parameters
/// (the handler's extractors run concurrently, and a body error would
/// otherwise win the race and tell a stranger about the endpoint). The
/// checked caller waits in the request's extensions for the handler.
///
/// # Errors
/// None of its own: a refusal is answered as a response.
pub async fn authenticate_first(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let caller = Caller::from_request(req.request(), &mut actix_web::dev::Payload::None).await;
    match caller {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.call(req).await
        }
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}
