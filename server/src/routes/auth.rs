//! Login, logout and the caller (`/api/v1/auth/*`, `/api/v1/me`).

use actix_web::{HttpRequest, HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use serde::Deserialize;

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::{Caller, cleared_cookie, session_cookie};
use crate::limit::{Limits, client_addr};

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/auth/login",
        operation_id: "login",
        tag: "auth",
        summary: "Log in: answers a bearer token and sets the session cookie",
        is_authenticated: false,
        params: &[],
        request: Body::Ref("LoginInput"),
        status: 200,
        response: Body::Ref("LoginOutput"),
        errors: &[
            ErrorCode::BadRequest,
            ErrorCode::Unauthorized,
            ErrorCode::PayloadTooLarge,
        ],
        handler: || web::route().to(login),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/auth/logout",
        operation_id: "logout",
        tag: "auth",
        summary: "Log out: revokes the token and clears the cookie",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 204,
        response: Body::Empty,
        errors: &[],
        handler: || web::route().to(logout),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/me",
        operation_id: "me",
        tag: "auth",
        summary: "The caller: user, tenant and role",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Me"),
        errors: &[],
        handler: || web::route().to(me),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// Login credentials.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginInput {
    tenant: String,
    email: String,
    password: String,
}

async fn login(
    engine: web::Data<Engine>,
    limits: web::Data<Limits>,
    req: HttpRequest,
    body: web::Json<LoginInput>,
) -> Result<HttpResponse, ApiError> {
    limits.take("login", client_addr(&req), limits.login_per_minute)?;
    let out = engine.login(&body.tenant, &body.email, &body.password).await?;
    Ok(HttpResponse::Ok().cookie(session_cookie(&out.token)).json(out))
}

async fn logout(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    engine.logout(&caller, &caller.token).await?;
    Ok(HttpResponse::NoContent().cookie(cleared_cookie()).finish())
}

async fn me(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.me(&caller).await?))
}
