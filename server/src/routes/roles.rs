//! The tenant's custom roles: `/api/v1/roles`. Every member may list;
//! owners and admins change them.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::auth::roles::RoleInput;
use engine::error::ErrorCode;
use engine::ids::RoleId;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
const FB: ErrorCode = ErrorCode::Forbidden;
const SC: ErrorCode = ErrorCode::InsufficientScope;
const BAD: ErrorCode = ErrorCode::BadRequest;
const INVALID: ErrorCode = ErrorCode::ValidationFailed;
const CONFLICT: ErrorCode = ErrorCode::Conflict;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "roles",
            summary: $summary,
            is_authenticated: true,
            params: &[],
            request: $req,
            status: $status,
            response: $resp,
            errors: $errors,
            handler: || web::route().to($op),
        }
    };
}

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    ep!(Get "/api/v1/roles", list_roles, "List the tenant's custom roles with how many members hold each",
        Body::Empty, 200, Body::Ref("RoleList"), &[FB]),
    ep!(Post "/api/v1/roles", create_role, "Create a custom role (assignable as a member's `role`)",
        Body::Ref("RoleInput"), 201, Body::Ref("Role"), &[BAD, INVALID, CONFLICT, FB, SC]),
    ep!(Patch "/api/v1/roles/{id}", update_role, "Rename a custom role or change its description",
        Body::Ref("RoleInput"), 200, Body::Ref("Role"), &[NF, BAD, INVALID, CONFLICT, FB, SC]),
    ep!(Delete "/api/v1/roles/{id}", delete_role, "Delete a custom role nobody holds",
        Body::Empty, 204, Body::Empty, &[NF, CONFLICT, FB, SC]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    m.insert(
        "RoleInput".to_owned(),
        json!({"type": "object", "additionalProperties": false,
            "description": "`name` is required on create; absent keys stay unchanged on a patch.",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 50,
                         "description": "Not `owner`, `admin` or `member`."},
                "description": {"type": "string", "maxLength": 500}}}),
    );
    m.insert(
        "Role".to_owned(),
        json!({"type": "object", "properties": {"id": id, "name": {"type": "string"},
            "description": {"type": "string"}, "members": {"type": "integer"}, "created_at": time}}),
    );
    m.insert(
        "RoleList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Role"}}),
    );
}

async fn list_roles(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_roles(&caller).await?))
}

async fn create_role(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<RoleInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_role(&caller, body.into_inner()).await?))
}

async fn update_role(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<RoleId>,
    body: web::Json<RoleInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        engine
            .update_role(&caller, id.into_inner(), body.into_inner())
            .await?,
    ))
}

async fn delete_role(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<RoleId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_role(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
