//! Operational endpoints: liveness, readiness, metrics and the API document.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/healthz",
        operation_id: "healthz",
        tag: "system",
        summary: "Liveness: the process answers",
        is_authenticated: false,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Health"),
        errors: &[],
        handler: || web::route().to(healthz),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/readyz",
        operation_id: "readyz",
        tag: "system",
        summary: "Readiness: the database answers",
        is_authenticated: false,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Health"),
        errors: &[ErrorCode::Unavailable],
        handler: || web::route().to(readyz),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/metrics",
        operation_id: "metrics",
        tag: "system",
        summary: "Prometheus metrics: request counts and latencies by route",
        is_authenticated: false,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Text,
        errors: &[],
        handler: || web::route().to(metrics),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/openapi.json",
        operation_id: "openapi",
        tag: "system",
        summary: "This OpenAPI 3.1 document",
        is_authenticated: false,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Empty,
        errors: &[],
        handler: || web::route().to(openapi),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/kinds",
        operation_id: "kinds",
        tag: "system",
        summary: "What the registries hold: field types, rule trigger kinds and action kinds, flow events and states",
        is_authenticated: false,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Kinds"),
        errors: &[],
        handler: || web::route().to(kinds),
    },
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(engine: web::Data<Engine>) -> Result<HttpResponse, ApiError> {
    engine.ready().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// The registries' kinds, so that a client (the web UI's palette and rule
/// editor among them) offers exactly what this server accepts.
async fn kinds(engine: web::Data<Engine>) -> HttpResponse {
    use engine::automation::trigger::{FLOW_STATUSES, WORKFLOW_EVENTS};
    HttpResponse::Ok().json(serde_json::json!({
        "field_types": engine.field_types().kinds().collect::<Vec<_>>(),
        "trigger_kinds": engine.triggers().kinds().collect::<Vec<_>>(),
        "action_kinds": engine.actions().kinds().collect::<Vec<_>>(),
        "workflow_events": WORKFLOW_EVENTS,
        "flow_statuses": FLOW_STATUSES,
    }))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}
