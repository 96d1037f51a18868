//! The authenticated caller: `Authorization: Bearer <token>` or the
//! `formwork_session` cookie, checked by the engine into a [`Ctx`]. Missing
//! or invalid credentials answer 401 `unauthorized`.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use engine::Engine;
use engine::ctx::Ctx;

use crate::error::ApiError;

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "formwork_session";

/// An authenticated caller: the engine context plus the token it used.
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
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    bearer.or_else(|| req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()))
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
        let token = token_of(req);
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        Box::pin(async move {
            let token = token.ok_or_else(|| {
                ApiError::unauthorized("no credentials: send `Authorization: Bearer <token>` from login")
            })?;
            let engine = engine.ok_or_else(|| ApiError::internal("engine missing from app data"))?;
            let ctx = engine.authenticate(&token).await?;
            Ok(Self { ctx, token })
        })
    }
}
