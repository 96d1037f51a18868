//! Per-form permissions: `GET|PUT|DELETE /api/v1/forms/{form_id}/permissions`
//! (owners and admins). What they mean is `engine::auth::access`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::FormId;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const ERRORS: &[ErrorCode] = &[ErrorCode::NotFound, ErrorCode::Forbidden];

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/forms/{form_id}/permissions",
        operation_id: "get_form_permissions",
        tag: "permissions",
        summary: "Who may view, create, edit, delete and export the form's records, over which records, and which fields are hidden or read-only",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("FormPermissions"),
        errors: ERRORS,
        handler: || web::route().to(get_form_permissions),
    },
    Endpoint {
        verb: Verb::Put,
        path: "/api/v1/forms/{form_id}/permissions",
        operation_id: "put_form_permissions",
        tag: "permissions",
        summary: "Replace the form's permissions (schemas/permissions.schema.json); members then get only what the entries naming them grant",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("FormPermissionsInput"),
        status: 200,
        response: Body::Ref("FormPermissions"),
        errors: &[
            ErrorCode::NotFound,
            ErrorCode::Forbidden,
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
        ],
        handler: || web::route().to(put_form_permissions),
    },
    Endpoint {
        verb: Verb::Delete,
        path: "/api/v1/forms/{form_id}/permissions",
        operation_id: "delete_form_permissions",
        tag: "permissions",
        summary: "Remove the form's permissions: it is open to every member again",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("FormPermissions"),
        errors: ERRORS,
        handler: || web::route().to(delete_form_permissions),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// OpenAPI components of this resource (the input is the meta schema itself).
pub fn components(m: &mut Map<String, Value>) {
    let mut input: Value = serde_json::from_str(include_str!("../../../schemas/permissions.schema.json"))
        .unwrap_or_else(|_| json!({"type": "object"}));
    if let Some(obj) = input.as_object_mut() {
        obj.remove("$schema");
        obj.remove("$id");
    }
    // Components cannot carry their own `$defs` references by JSON pointer
    // from elsewhere, so the entry definition is inlined.
    let entry = input
        .pointer("/$defs/entry")
        .cloned()
        .unwrap_or_else(|| json!({"type": "object"}));
    if let Some(items) = input.pointer_mut("/properties/entries/items") {
        *items = entry;
    }
    if let Some(obj) = input.as_object_mut() {
        obj.remove("$defs");
    }
    let mut output = input.clone();
    if let Some(props) = output.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("form_id".to_owned(), json!({"type": "string", "format": "uuid"}));
        props.insert(
            "is_restricted".to_owned(),
            json!({"type": "boolean", "description": "False while the form is open to every member."}),
        );
    }
    m.insert("FormPermissionsInput".to_owned(), input);
    m.insert("FormPermissions".to_owned(), output);
}

async fn get_form_permissions(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_form_permissions(&caller, form.into_inner()).await?))
}

async fn put_form_permissions(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        engine
            .put_form_permissions(&caller, form.into_inner(), &body)
            .await?,
    ))
}

async fn delete_form_permissions(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.delete_form_permissions(&caller, form.into_inner()).await?))
}
