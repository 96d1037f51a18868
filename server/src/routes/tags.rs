//! Tenant-level tag definitions: `/api/v1/tags`. Attaching tags to records
//! lives in `records.rs`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::meta::tag::TagInput;

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/tags",
        operation_id: "list_tags",
        tag: "tags",
        summary: "List the tenant's tags",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("TagList"),
        errors: &[],
        handler: || web::route().to(list_tags),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/tags",
        operation_id: "create_tag",
        tag: "tags",
        summary: "Create a tag (name, colour, description)",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("TagInput"),
        status: 201,
        response: Body::Ref("Tag"),
        errors: &[
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::Conflict,
            ErrorCode::Forbidden,
        ],
        handler: || web::route().to(create_tag),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

async fn list_tags(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_tags(&caller).await?))
}

async fn create_tag(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<TagInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_tag(&caller, body.into_inner()).await?))
}
