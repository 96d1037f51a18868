//! Public form links (外链). Owners and admins manage a form's links at
//! `/api/v1/forms/{form_id}/public-links` and `/api/v1/public-links/{id}`;
//! anyone holding a link's token reads the form to fill at
//! `GET /api/v1/public/{token}` and submits at
//! `POST /api/v1/public/{token}/records`, limited per client address to the
//! link's rate. The token authenticates nothing else: as a bearer token it
//! is unknown (401), and no other path takes it.

use actix_web::{HttpRequest, HttpResponse, web};
use engine::Engine;
use engine::auth::public_link::PublicLinkInput;
use engine::error::ErrorCode;
use engine::ids::{FormId, PublicLinkId};
use engine::record::RecordInput;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;
use crate::limit::{Limits, client_addr};

const NF: ErrorCode = ErrorCode::NotFound;
/// Public-link requests one client address may make a minute, over every
/// link and token (guessed tokens included), before any database lookup.
const ANY_LINK_PER_MINUTE: u32 = 300;
const FB: ErrorCode = ErrorCode::Forbidden;
const WRITE_ERRORS: &[ErrorCode] = &[
    NF,
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    FB,
    ErrorCode::PayloadTooLarge,
];

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $auth:literal, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "public links",
            summary: $summary,
            is_authenticated: $auth,
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
    ep!(Get "/api/v1/forms/{form_id}/public-links", list_public_links, true,
        "List a form's public links with their tokens and submission counts",
        Body::Empty, 200, Body::Ref("PublicLinkList"), &[NF, FB]),
    ep!(Post "/api/v1/forms/{form_id}/public-links", create_public_link, true,
        "Publish a public link of a form: the fields it shows, a rate per client address, an end date",
        Body::Ref("PublicLinkInput"), 201, Body::Ref("PublicLink"), WRITE_ERRORS),
    ep!(Put "/api/v1/public-links/{id}", update_public_link, true,
        "Replace a public link's settings; its token stays",
        Body::Ref("PublicLinkInput"), 200, Body::Ref("PublicLink"), WRITE_ERRORS),
    ep!(Delete "/api/v1/public-links/{id}", delete_public_link, true,
        "Delete a public link: its token stops working at once",
        Body::Empty, 204, Body::Empty, &[NF, FB]),
    ep!(Get "/api/v1/public/{token}", get_public_form, false,
        "The form a public link shows: name, description and the fields to fill",
        Body::Empty, 200, Body::Ref("PublicForm"), &[NF, ErrorCode::LinkClosed, ErrorCode::TooManyRequests]),
    ep!(Post "/api/v1/public/{token}/records", submit_public_record, false,
        "Submit one record through a public link, without signing in",
        Body::Ref("RecordInput"), 201, Body::Ref("PublicSubmission"),
        &[NF, ErrorCode::LinkClosed, ErrorCode::BadRequest, ErrorCode::ValidationFailed, FB,
          ErrorCode::DuplicateValue, ErrorCode::TooManyRequests, ErrorCode::PayloadTooLarge]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let time_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    let keys = json!({"type": ["array", "null"], "items": {"type": "string"},
        "description": "Field keys the link shows and accepts; null for every field a visitor can fill."});
    m.insert(
        "PublicLinkInput".to_owned(),
        json!({"type": "object", "additionalProperties": false,
            "properties": {"name": {"type": ["string", "null"], "maxLength": 100},
                "fields": keys,
                "rate_per_minute": {"type": ["integer", "null"], "minimum": 1, "maximum": 600,
                    "description": "Submissions per client address and minute (default 10)."},
                "expires_at": time_or_null,
                "enabled": {"type": ["boolean", "null"]}}}),
    );
    m.insert(
        "PublicLink".to_owned(),
        json!({"type": "object",
            "properties": {"id": id, "form_id": id, "name": {"type": "string"},
                "token": {"type": "string"},
                "path": {"type": "string", "description": "The page a visitor opens: `/f/<token>`."},
                "fields": keys, "rate_per_minute": {"type": "integer"}, "expires_at": time_or_null,
                "enabled": {"type": "boolean"}, "submissions": {"type": "integer"},
                "last_submitted_at": time_or_null, "created_by": id, "created_at": time,
                "updated_at": time}}),
    );
    m.insert(
        "PublicLinkList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/PublicLink"}}),
    );
    m.insert(
        "PublicForm".to_owned(),
        json!({"type": "object",
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}}}}),
    );
    m.insert(
        "PublicSubmission".to_owned(),
        json!({"type": "object",
            "properties": {"id": id, "data": {"type": "object",
                "description": "The values of the link's fields, as saved."}, "created_at": time}}),
    );
}

async fn list_public_links(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_public_links(&caller, form.into_inner()).await?))
}

async fn create_public_link(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    body: web::Json<PublicLinkInput>,
) -> Result<HttpResponse, ApiError> {
    let link = engine
        .create_public_link(&caller, form.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(link))
}

async fn update_public_link(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<PublicLinkId>,
    body: web::Json<PublicLinkInput>,
) -> Result<HttpResponse, ApiError> {
    let link = engine
        .update_public_link(&caller, id.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(link))
}

async fn delete_public_link(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<PublicLinkId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_public_link(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_public_form(
    engine: web::Data<Engine>,
    limits: web::Data<Limits>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    limits.take("public-link", client_addr(&req), ANY_LINK_PER_MINUTE)?;
    let link = engine.open_public_link(&token, chrono::Utc::now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(engine.public_form(&link)))
}

async fn submit_public_record(
    engine: web::Data<Engine>,
    limits: web::Data<Limits>,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Json<RecordInput>,
) -> Result<HttpResponse, ApiError> {
    limits.take("public-link", client_addr(&req), ANY_LINK_PER_MINUTE)?;
    let now = chrono::Utc::now();
    let link = engine.open_public_link(&token, now).await?;
    limits.take(
        &format!("public-link:{}", link.id),
        client_addr(&req),
        link.rate_per_minute,
    )?;
    let created = engine.submit_public(&link, body.into_inner().data, now).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": created.id,
        "data": created.data,
        "created_at": created.created_at,
    })))
}
