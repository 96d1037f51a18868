//! Outgoing webhooks: `/api/v1/webhooks`, one webhook, and its delivery log.
//! Owners and admins only.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::notify::{DeliveryQuery, WebhookId, WebhookInput};
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
const FB: ErrorCode = ErrorCode::Forbidden;
const WRITE_ERRORS: &[ErrorCode] = &[
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::Conflict,
    FB,
    ErrorCode::PayloadTooLarge,
];
/// `limit` and `cursor` of a delivery log page.
pub const DELIVERY_PAGE: &[Param] = super::PAGE;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $params:expr, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "webhooks",
            summary: $summary,
            is_authenticated: true,
            params: $params,
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
    ep!(Get "/api/v1/webhooks", list_webhooks, "List the tenant's webhooks (secrets masked)", &[],
        Body::Empty, 200, Body::Ref("WebhookList"), &[FB]),
    ep!(Post "/api/v1/webhooks", create_webhook,
        "Create a webhook; the answer shows its signing secret in full, once", &[],
        Body::Ref("WebhookInput"), 201, Body::Ref("Webhook"), WRITE_ERRORS),
    ep!(Get "/api/v1/webhooks/{id}", get_webhook, "Get a webhook (secret masked)", &[], Body::Empty, 200,
        Body::Ref("Webhook"), &[NF, FB]),
    ep!(Put "/api/v1/webhooks/{id}", update_webhook,
        "Replace a webhook's settings; an absent secret keeps the current one", &[],
        Body::Ref("WebhookInput"), 200, Body::Ref("Webhook"),
        &[NF, ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::Conflict, FB]),
    ep!(Delete "/api/v1/webhooks/{id}", delete_webhook,
        "Delete a webhook and its deliveries not yet attempted", &[], Body::Empty, 204, Body::Empty, &[NF, FB]),
    ep!(Get "/api/v1/webhooks/{id}/deliveries", list_webhook_deliveries,
        "A webhook's delivery log: every attempt, newest first", DELIVERY_PAGE, Body::Empty, 200,
        Body::Ref("DeliveryPage"), &[NF, FB, ErrorCode::BadRequest]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas (the delivery log's too).
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let events =
        json!({"type": "array", "items": {"enum": ["record.created", "record.updated", "record.deleted"]}});
    let form_ids = json!({"type": ["array", "null"], "items": id, "maxItems": 100,
                          "description": "Only record events of these forms; null for every form."});
    let format = json!({"enum": ["formwork", "jdy"], "default": "formwork",
        "description": "`jdy`: 简道云's 数据推送 body `{op, opTime, data}`, `?nonce=&timestamp=` on the URL, \
            `x-jdy-signature` = hex SHA-1 of `nonce:body:secret:timestamp`, and only a 2xx `success` reply counts \
            as delivered (docs/v5.md)."});
    let push = json!({"type": "boolean", "default": true,
        "description": "Deliver events of v5 API and batch writes too (简道云 never does)."});
    m.insert(
        "WebhookInput".to_owned(),
        json!({"type": "object", "required": ["name", "url"], "additionalProperties": false,
            "description": "Deliveries are `POST`s with `X-Formwork-Event`, `X-Formwork-Delivery`, \
                `X-Formwork-Timestamp` and `X-Formwork-Signature: sha256=<hex HMAC-SHA256(secret, \
                \"{timestamp}.{body}\")>`; 2xx succeeds, anything else is retried with backoff.",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "url": {"type": "string", "format": "uri", "description": "http or https."},
                "secret": {"type": "string", "minLength": 16, "maxLength": 200,
                           "description": "Generated when absent on create; kept when absent on update."},
                "events": events, "form_ids": form_ids, "enabled": {"type": "boolean", "default": true},
                "format": format, "push_api_writes": push}}),
    );
    m.insert(
        "Webhook".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "name": {"type": "string"}, "url": {"type": "string"},
            "secret": {"type": "string", "description": "In full only in the answer that set it; else `****` and its last four characters."},
            "events": events, "form_ids": form_ids, "enabled": {"type": "boolean"},
            "format": {"enum": ["formwork", "jdy"]}, "push_api_writes": {"type": "boolean"},
            "created_at": time, "updated_at": time}}),
    );
    m.insert(
        "WebhookList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}),
    );
    m.insert(
        "Delivery".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "channel": {"enum": ["webhook", "email"]},
            "target": {"type": "string", "description": "The webhook id, or the email address."},
            "event": {"type": ["string", "null"]}, "job_id": id, "attempt": {"type": "integer"},
            "status": {"enum": ["succeeded", "failed"]},
            "response_status": {"type": ["integer", "null"], "description": "HTTP status or SMTP reply code."},
            "response": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]},
            "duration_ms": {"type": "integer"}, "created_at": time}}),
    );
    m.insert(
        "DeliveryPage".to_owned(),
        json!({"type": "object", "properties": {
            "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/Delivery"}},
            "next_cursor": {"type": ["string", "null"]}}}),
    );
}

async fn list_webhooks(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_webhooks(&caller).await?))
}

async fn create_webhook(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<WebhookInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(engine.create_webhook(&caller, body.into_inner()).await?))
}

async fn get_webhook(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_webhook(&caller, id.into_inner()).await?))
}

async fn update_webhook(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<WebhookId>,
    body: web::Json<WebhookInput>,
) -> Result<HttpResponse, ApiError> {
    let view = engine
        .update_webhook(&caller, id.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn delete_webhook(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_webhook(&caller, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_webhook_deliveries(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<WebhookId>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = engine
        .list_webhook_deliveries(&caller, id.into_inner(), query.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
