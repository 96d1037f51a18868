//! Tenant settings: the tenant's name and time zone
//! (`/api/v1/settings/tenant`), the outgoing mail server
//! (`/api/v1/settings/smtp`) and the email delivery log. Changes are for
//! owners and admins only.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::notify::{DeliveryQuery, SmtpInput};
use serde_json::{Map, Value, json};

use super::webhooks::DELIVERY_PAGE;
use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/settings/tenant",
        operation_id: "get_tenant_settings",
        tag: "settings",
        summary: "The caller's tenant: id, slug, name and time zone",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("TenantSettings"),
        errors: &[],
        handler: || web::route().to(get_tenant_settings),
    },
    Endpoint {
        verb: Verb::Patch,
        path: "/api/v1/settings/tenant",
        operation_id: "update_tenant_settings",
        tag: "settings",
        summary: "Rename the tenant or set its IANA time zone (schedules, date-field rules, today() run in it)",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("TenantPatch"),
        status: 200,
        response: Body::Ref("TenantSettings"),
        errors: &[
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::Forbidden,
        ],
        handler: || web::route().to(update_tenant_settings),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/settings/smtp",
        operation_id: "get_smtp_settings",
        tag: "settings",
        summary: "Get the tenant's SMTP settings (password masked); 404 until set",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("SmtpSettings"),
        errors: &[ErrorCode::NotFound, ErrorCode::Forbidden],
        handler: || web::route().to(get_smtp_settings),
    },
    Endpoint {
        verb: Verb::Put,
        path: "/api/v1/settings/smtp",
        operation_id: "put_smtp_settings",
        tag: "settings",
        summary: "Set the tenant's SMTP settings",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("SmtpInput"),
        status: 200,
        response: Body::Ref("SmtpSettings"),
        errors: &[
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::Forbidden,
        ],
        handler: || web::route().to(put_smtp_settings),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/settings/smtp/deliveries",
        operation_id: "list_email_deliveries",
        tag: "settings",
        summary: "The email delivery log: every attempt, newest first",
        is_authenticated: true,
        params: DELIVERY_PAGE,
        request: Body::Empty,
        status: 200,
        response: Body::Ref("DeliveryPage"),
        errors: &[ErrorCode::BadRequest, ErrorCode::Forbidden],
        handler: || web::route().to(list_email_deliveries),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    m.insert(
        "TenantSettings".to_owned(),
        json!({"type": "object", "properties": {"id": {"type": "string", "format": "uuid"},
            "slug": {"type": "string"}, "name": {"type": "string"}, "time_zone": {"type": "string"}}}),
    );
    m.insert(
        "TenantPatch".to_owned(),
        json!({"type": "object", "properties": {"name": {"type": "string"},
            "time_zone": {"type": "string", "description": "IANA zone, e.g. Asia/Shanghai"}}}),
    );
    let tls = json!({"enum": ["none", "starttls", "tls"]});
    m.insert(
        "SmtpInput".to_owned(),
        json!({"type": "object", "required": ["host", "port", "from_address", "tls"],
            "additionalProperties": false,
            "properties": {
                "host": {"type": "string"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "username": {"type": ["string", "null"]},
                "password": {"type": ["string", "null"],
                             "description": "Absent or null keeps the stored password; \"\" clears it."},
                "from_address": {"type": "string", "description": "`a@example.com` or `Name <a@example.com>`."},
                "tls": tls}}),
    );
    m.insert(
        "SmtpSettings".to_owned(),
        json!({"type": "object", "properties": {
            "host": {"type": "string"}, "port": {"type": "integer"}, "username": {"type": ["string", "null"]},
            "password": {"type": ["string", "null"], "description": "`********` when set."},
            "from_address": {"type": "string"}, "tls": tls,
            "updated_at": {"type": "string", "format": "date-time"}}}),
    );
}

async fn get_smtp_settings(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_smtp_settings(&caller).await?))
}

async fn put_smtp_settings(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<SmtpInput>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.put_smtp_settings(&caller, body.into_inner()).await?))
}

async fn list_email_deliveries(
    engine: web::Data<Engine>,
    caller: Caller,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_email_deliveries(&caller, query.into_inner()).await?))
}

async fn get_tenant_settings(engine: web::Data<Engine>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.tenant(&caller).await?))
}

async fn update_tenant_settings(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<engine::auth::tenant::TenantPatch>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.update_tenant(&caller, body.into_inner()).await?))
}
