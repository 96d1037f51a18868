//! The caller's in-app notifications: `/api/v1/notifications`, mark one or
//! all read.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::notify::{NotificationId, NotificationQuery};
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const LIST_PARAMS: &[Param] = &[
    Param {
        name: "unread",
        location: "query",
        kind: "boolean",
        description: "Only unread notifications.",
    },
    super::LIMIT,
    super::CURSOR,
];

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/notifications",
        operation_id: "list_notifications",
        tag: "notifications",
        summary: "List my notifications, newest first, paged",
        is_authenticated: true,
        params: LIST_PARAMS,
        request: Body::Empty,
        status: 200,
        response: Body::Ref("NotificationPage"),
        errors: &[ErrorCode::BadRequest, ErrorCode::ValidationFailed],
        handler: || web::route().to(list_notifications),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/notifications/read-all",
        operation_id: "mark_all_notifications_read",
        tag: "notifications",
        summary: "Mark all my notifications read",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("MarkedRead"),
        errors: &[],
        handler: || web::route().to(mark_all_notifications_read),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/notifications/{id}/read",
        operation_id: "mark_notification_read",
        tag: "notifications",
        summary: "Mark one of my notifications read",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Notification"),
        errors: &[ErrorCode::NotFound],
        handler: || web::route().to(mark_notification_read),
    },
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
        "Notification".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "title": {"type": "string"}, "body": {"type": "string"},
            "source": {"type": "object", "description": "What sent it: `rule_id`, `record_id`, ..."},
            "read_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": time}}),
    );
    m.insert(
        "NotificationPage".to_owned(),
        json!({"type": "object", "properties": {
            "notifications": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
            "next_cursor": {"type": ["string", "null"]},
            "unread_count": {"type": "integer", "description": "My unread notifications, all pages."}}}),
    );
    m.insert(
        "MarkedRead".to_owned(),
        json!({"type": "object", "properties": {"updated": {"type": "integer"}}}),
    );
}

async fn list_notifications(
    engine: web::Data<Engine>,
    caller: Caller,
    query: web::Query<NotificationQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_notifications(&caller, query.into_inner()).await?))
}

async fn mark_all_notifications_read(
    engine: web::Data<Engine>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.mark_all_notifications_read(&caller).await?))
}

async fn mark_notification_read(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<NotificationId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.mark_notification_read(&caller, id.into_inner()).await?))
}
