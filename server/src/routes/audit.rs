//! The audit log: `GET /api/v1/audit`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::audit::AuditFilter;
use engine::error::ErrorCode;
use serde_json::{Map, Value, json};

use super::{Body, CURSOR, Endpoint, LIMIT, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const PARAMS: &[Param] = &[
    Param {
        name: "action",
        location: "query",
        kind: "string",
        description: "Only actions starting with this (`member.`, `permissions.updated`).",
    },
    Param {
        name: "target_id",
        location: "query",
        kind: "string",
        description: "Only changes of this object.",
    },
    Param {
        name: "actor",
        location: "query",
        kind: "string",
        description: "Only changes by this user id.",
    },
    LIMIT,
    CURSOR,
];

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[Endpoint {
    verb: Verb::Get,
    path: "/api/v1/audit",
    operation_id: "list_audit",
    tag: "audit",
    summary: "The audit log, newest first: member, role, department, token, permission and app-definition \
              changes with who and when",
    is_authenticated: true,
    params: PARAMS,
    request: Body::Empty,
    status: 200,
    response: Body::Ref("AuditPage"),
    errors: &[ErrorCode::BadRequest, ErrorCode::Forbidden],
    handler: || web::route().to(list_audit),
}];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// OpenAPI components of this resource.
pub fn components(m: &mut Map<String, Value>) {
    m.insert(
        "AuditPage".to_owned(),
        json!({"type": "object", "properties": {
            "entries": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string", "format": "uuid"},
                "at": {"type": "string", "format": "date-time"},
                "actor": {"type": "string", "format": "uuid"},
                "action": {"type": "string"}, "target_kind": {"type": "string"},
                "target_id": {"type": "string"}, "detail": {"type": "object"}}}},
            "next_cursor": {"type": ["string", "null"], "format": "uuid"}}}),
    );
}

async fn list_audit(
    engine: web::Data<Engine>,
    caller: Caller,
    query: web::Query<AuditFilter>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_audit(&caller, query.into_inner()).await?))
}
