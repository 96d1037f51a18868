//! Forms: `/api/v1/apps/{app_id}/forms` and `/api/v1/forms/{form_id}` with
//! its JSON Schema and version list. A definition is passed to the engine as
//! raw JSON so that meta-schema faults come back with their JSON path.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::{AppId, FormId};
use engine::meta::form::UpdateFormOptions;
use serde_json::Value;

use super::{Body, Endpoint, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const DEFINITION_ERRORS: &[ErrorCode] = &[
    ErrorCode::NotFound,
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::UnknownKind,
    ErrorCode::Forbidden,
    ErrorCode::PayloadTooLarge,
    ErrorCode::ScriptCompile,
];

const CONVERT: Param = Param {
    name: "convert",
    location: "query",
    kind: "boolean",
    description: "Convert existing values a changed field no longer accepts (all or nothing).",
};

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/apps/{app_id}/forms",
        operation_id: "list_forms",
        tag: "forms",
        summary: "List an app's forms",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("FormList"),
        errors: &[ErrorCode::NotFound],
        handler: || web::route().to(list_forms),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/apps/{app_id}/forms",
        operation_id: "create_form",
        tag: "forms",
        summary: "Create a form from a definition (checked against schemas/form.schema.json)",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("FormInput"),
        status: 201,
        response: Body::Ref("Form"),
        errors: DEFINITION_ERRORS,
        handler: || web::route().to(create_form),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/forms/{form_id}",
        operation_id: "get_form",
        tag: "forms",
        summary: "Get a form's current definition",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Form"),
        errors: &[ErrorCode::NotFound],
        handler: || web::route().to(get_form),
    },
    Endpoint {
        verb: Verb::Put,
        path: "/api/v1/forms/{form_id}",
        operation_id: "update_form",
        tag: "forms",
        summary: "Save a new version of a form; removed fields keep their data",
        is_authenticated: true,
        params: &[CONVERT],
        request: Body::Ref("FormInput"),
        status: 200,
        response: Body::Ref("Form"),
        errors: &[
            ErrorCode::NotFound,
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::UnknownKind,
            ErrorCode::Forbidden,
            ErrorCode::IncompatibleChange,
            ErrorCode::DuplicateValue,
            ErrorCode::PayloadTooLarge,
        ],
        handler: || web::route().to(update_form),
    },
    Endpoint {
        verb: Verb::Delete,
        path: "/api/v1/forms/{form_id}",
        operation_id: "delete_form",
        tag: "forms",
        summary: "Delete a form and its records",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 204,
        response: Body::Empty,
        errors: &[ErrorCode::NotFound, ErrorCode::Forbidden],
        handler: || web::route().to(delete_form),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/forms/{form_id}/schema",
        operation_id: "form_schema",
        tag: "forms",
        summary: "The JSON Schema (draft 2020-12) every record write is validated against",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("JsonSchema"),
        errors: &[ErrorCode::NotFound],
        handler: || web::route().to(form_schema),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/forms/{form_id}/versions",
        operation_id: "form_versions",
        tag: "forms",
        summary: "Every saved version of a form",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("FormVersionList"),
        errors: &[ErrorCode::NotFound],
        handler: || web::route().to(form_versions),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

async fn list_forms(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_forms(&caller, app.into_inner()).await?))
}

async fn create_form(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<AppId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(
        engine
            .create_form(&caller, app.into_inner(), body.into_inner())
            .await?,
    ))
}

async fn get_form(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_form(&caller, id.into_inner()).await?))
}

async fn update_form(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FormId>,
    opts: web::Query<UpdateFormOptions>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let form = engine
        .update_form(&caller, id.into_inner(), body.into_inner(), opts.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(form))
}

async fn delete_form(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_form(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn form_schema(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.form_schema(&caller, id.into_inner()).await?))
}

async fn form_versions(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.form_versions(&caller, id.into_inner()).await?))
}
