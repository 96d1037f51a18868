//! Apps: `/api/v1/apps` and `/api/v1/apps/{app_id}`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::AppId;
use engine::meta::app::{AppInput, AppPatch};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const WRITE_ERRORS: &[ErrorCode] = &[
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::Forbidden,
    ErrorCode::PayloadTooLarge,
];

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/apps",
        operation_id: "list_apps",
        tag: "apps",
        summary: "List the tenant's apps",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("AppList"),
        errors: &[],
        handler: || web::route().to(list_apps),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/apps",
        operation_id: "create_app",
        tag: "apps",
        summary: "Create an app",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("AppInput"),
        status: 201,
        response: Body::Ref("App"),
        errors: WRITE_ERRORS,
        handler: || web::route().to(create_app),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/apps/{app_id}",
        operation_id: "get_app",
        tag: "apps",
        summary: "Get an app",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("App"),
        errors: &[ErrorCode::NotFound],
        handler: || web::route().to(get_app),
    },
    Endpoint {
        verb: Verb::Patch,
        path: "/api/v1/apps/{app_id}",
        operation_id: "update_app",
        tag: "apps",
        summary: "Rename or describe an app",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("AppPatch"),
        status: 200,
        response: Body::Ref("App"),
        errors: &[
            ErrorCode::NotFound,
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::Forbidden,
        ],
        handler: || web::route().to(update_app),
    },
    Endpoint {
        verb: Verb::Delete,
        path: "/api/v1/apps/{app_id}",
        operation_id: "delete_app",
        tag: "apps",
        summary: "Delete an app and its forms",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 204,
        response: Body::Empty,
        errors: &[ErrorCode::NotFound, ErrorCode::Forbidden, ErrorCode::Conflict],
        handler: || web::route().to(delete_app),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

async fn list_apps(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_apps(&caller).await?))
}

async fn create_app(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<AppInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_app(&caller, body.into_inner()).await?))
}

async fn get_app(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_app(&caller, id.into_inner()).await?))
}

async fn update_app(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<AppId>,
    body: web::Json<AppPatch>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        engine
            .update_app(&caller, id.into_inner(), body.into_inner())
            .await?,
    ))
}

async fn delete_app(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_app(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
