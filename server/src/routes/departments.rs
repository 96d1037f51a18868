//! The tenant's department tree: `/api/v1/departments`. Every member may
//! list; owners and admins change it.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::auth::departments::{DepartmentInput, DepartmentPatch};
use engine::error::ErrorCode;
use engine::ids::DepartmentId;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
const FB: ErrorCode = ErrorCode::Forbidden;
const SC: ErrorCode = ErrorCode::InsufficientScope;
const BAD: ErrorCode = ErrorCode::BadRequest;
const INVALID: ErrorCode = ErrorCode::ValidationFailed;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "departments",
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
    ep!(Get "/api/v1/departments", list_departments,
        "List the tenant's departments (a flat list; `parent_id` makes the tree)",
        Body::Empty, 200, Body::Ref("DepartmentList"), &[FB]),
    ep!(Post "/api/v1/departments", create_department, "Create a department",
        Body::Ref("DepartmentInput"), 201, Body::Ref("Department"), &[BAD, INVALID, FB, SC]),
    ep!(Patch "/api/v1/departments/{id}", update_department,
        "Rename or move a department, or change its manager; moving under itself is refused",
        Body::Ref("DepartmentPatch"), 200, Body::Ref("Department"),
        &[NF, BAD, INVALID, FB, SC, ErrorCode::DepartmentCycle]),
    ep!(Delete "/api/v1/departments/{id}", delete_department,
        "Delete a department without sub-departments or members",
        Body::Empty, 204, Body::Empty, &[NF, FB, SC, ErrorCode::DepartmentNotEmpty]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let id_or_null = json!({"type": ["string", "null"], "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let name = json!({"type": "string", "minLength": 1, "maxLength": 100});
    m.insert(
        "DepartmentInput".to_owned(),
        json!({"type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": name, "parent_id": id_or_null, "manager_id": id_or_null}}),
    );
    m.insert(
        "DepartmentPatch".to_owned(),
        json!({"type": "object", "additionalProperties": false,
            "description": "Absent keys stay unchanged; `null` makes it top-level or clears the manager.",
            "properties": {"name": name, "parent_id": id_or_null, "manager_id": id_or_null}}),
    );
    m.insert(
        "Department".to_owned(),
        json!({"type": "object", "properties": {"id": id, "name": {"type": "string"},
            "parent_id": id_or_null, "manager_id": id_or_null, "created_at": time, "updated_at": time}}),
    );
    m.insert(
        "DepartmentList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Department"}}),
    );
}

async fn list_departments(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_departments(&caller).await?))
}

async fn create_department(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<DepartmentInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_department(&caller, body.into_inner()).await?))
}

async fn update_department(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<DepartmentId>,
    body: web::Json<DepartmentPatch>,
) -> Result<HttpResponse, ApiError> {
    let view = engine
        .update_department(&caller, id.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn delete_department(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<DepartmentId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_department(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
