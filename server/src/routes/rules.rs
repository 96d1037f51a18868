//! Automation rules: `/api/v1/apps/{app_id}/rules`, `/api/v1/rules/{rule_id}`
//! with versions, run log, test-run and manual runs, and the scheduler's
//! clock override `/api/v1/admin/scheduler/run`.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use engine::Engine;
use engine::auth::policy::{Action, require};
use engine::automation::{ManualRunInput, TestRunInput};
use engine::error::ErrorCode;
use engine::ids::{AppId, RuleId, RunId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, PAGE, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;
use crate::scheduler::Scheduler;

const NF: ErrorCode = ErrorCode::NotFound;
const DEFINITION_ERRORS: &[ErrorCode] = &[
    NF,
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::UnknownKind,
    ErrorCode::ScriptCompile,
    ErrorCode::ScriptLimit,
    ErrorCode::Forbidden,
];

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/apps/{app_id}/rules",
        operation_id: "list_rules",
        tag: "rules",
        summary: "List an app's automation rules",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("RuleList"),
        errors: &[NF],
        handler: || web::route().to(list_rules),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/apps/{app_id}/rules",
        operation_id: "create_rule",
        tag: "rules",
        summary: "Create a rule (checked against schemas/rule.schema.json; scripts compiled)",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("RuleInput"),
        status: 201,
        response: Body::Ref("Rule"),
        errors: DEFINITION_ERRORS,
        handler: || web::route().to(create_rule),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/rules/{rule_id}",
        operation_id: "get_rule",
        tag: "rules",
        summary: "Get a rule",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("Rule"),
        errors: &[NF],
        handler: || web::route().to(get_rule),
    },
    Endpoint {
        verb: Verb::Put,
        path: "/api/v1/rules/{rule_id}",
        operation_id: "update_rule",
        tag: "rules",
        summary: "Save a new version of a rule; disabling it cancels its pending firings",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("RuleInput"),
        status: 200,
        response: Body::Ref("Rule"),
        errors: DEFINITION_ERRORS,
        handler: || web::route().to(update_rule),
    },
    Endpoint {
        verb: Verb::Delete,
        path: "/api/v1/rules/{rule_id}",
        operation_id: "delete_rule",
        tag: "rules",
        summary: "Delete a rule and its pending firings (its run log stays)",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 204,
        response: Body::Empty,
        errors: &[NF, ErrorCode::Forbidden],
        handler: || web::route().to(delete_rule),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/rules/{rule_id}/versions",
        operation_id: "rule_versions",
        tag: "rules",
        summary: "Every saved version of a rule, newest first",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("RuleVersionList"),
        errors: &[NF],
        handler: || web::route().to(rule_versions),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/rules/{rule_id}/runs",
        operation_id: "rule_runs",
        tag: "rules",
        summary: "A rule's run log, newest first: trigger, record, effects, logs, error, duration",
        is_authenticated: true,
        params: PAGE,
        request: Body::Empty,
        status: 200,
        response: Body::Ref("RunPage"),
        errors: &[NF, ErrorCode::BadRequest],
        handler: || web::route().to(rule_runs),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/rules/{rule_id}/test",
        operation_id: "test_rule",
        tag: "rules",
        summary: "Test-run a rule over a record (id or inline values) at an optional instant; writes nothing",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("TestRunInput"),
        status: 200,
        response: Body::Ref("TestRunResult"),
        errors: &[NF, ErrorCode::BadRequest, ErrorCode::Forbidden],
        handler: || web::route().to(test_rule),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/rules/{rule_id}/run",
        operation_id: "run_rule",
        tag: "rules",
        summary: "Run a manual rule on records (ids or a filter): one job per record",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("ManualRunInput"),
        status: 202,
        response: Body::Ref("ManualRun"),
        errors: &[
            NF,
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::InvalidQuery,
        ],
        handler: || web::route().to(run_rule),
    },
    Endpoint {
        verb: Verb::Get,
        path: "/api/v1/rules/{rule_id}/batches/{batch_id}",
        operation_id: "rule_batch",
        tag: "rules",
        summary: "Progress of a manual run",
        is_authenticated: true,
        params: &[],
        request: Body::Empty,
        status: 200,
        response: Body::Ref("BatchProgress"),
        errors: &[NF],
        handler: || web::route().to(rule_batch),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/schedules/preview",
        operation_id: "preview_schedule",
        tag: "rules",
        summary: "The next firing instants of a 5-field cron expression in a zone (the tenant's by default)",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("SchedulePreviewInput"),
        status: 200,
        response: Body::Ref("SchedulePreview"),
        errors: &[ErrorCode::BadRequest, ErrorCode::ValidationFailed],
        handler: || web::route().to(preview_schedule),
    },
    Endpoint {
        verb: Verb::Post,
        path: "/api/v1/admin/scheduler/run",
        operation_id: "scheduler_run",
        tag: "rules",
        summary: "Run everything due as of `at` (only with --allow-clock-override; admins and owners)",
        is_authenticated: true,
        params: &[],
        request: Body::Ref("SchedulerRunInput"),
        status: 200,
        response: Body::Ref("SchedulerReport"),
        errors: &[ErrorCode::Forbidden, ErrorCode::BadRequest],
        handler: || web::route().to(scheduler_run),
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
        "RuleInput".to_owned(),
        json!({"description": "See schemas/rule.schema.json. Triggers: record_created, record_updated {fields}, record_deleted, schedule {cron, timezone}, date_field {field, offset_days, at, repeat}, workflow_event {event: step_entered|approved|rejected|returned|finished, node}, manual.",
               "type": "object", "required": ["name", "form_id", "trigger"]}),
    );
    m.insert(
        "Rule".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "app_id": id, "form_id": id, "name": {"type": "string"}, "enabled": {"type": "boolean"},
            "version": {"type": "integer"}, "trigger": {"type": "object"}, "condition": {"type": "string"},
            "script": {"type": "string"}, "actions": {"type": "array"}, "run_as": id, "owner_id": id,
            "consecutive_failures": {"type": "integer"}, "disabled_reason": {"type": "string"},
            "created_at": time, "updated_at": time,
            "last_run": {"description": "Only in the app's rule list: how the latest run ended",
                         "type": "object", "properties": {
                "outcome": {"enum": ["succeeded", "failed", "skipped"]}, "at": time, "error": {"type": "string"}}}}}),
    );
    m.insert(
        "SchedulePreviewInput".to_owned(),
        json!({"type": "object", "required": ["cron"], "properties": {
            "cron": {"type": "string", "description": "minute hour day-of-month month day-of-week"},
            "timezone": {"type": "string"}, "count": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5}}}),
    );
    m.insert(
        "SchedulePreview".to_owned(),
        json!({"type": "object", "properties": {
            "timezone": {"type": "string"}, "times": {"type": "array", "items": time}}}),
    );
    m.insert(
        "RuleList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Rule"}}),
    );
    m.insert(
        "RuleVersionList".to_owned(),
        json!({"type": "array", "items": {"type": "object", "properties": {
            "version": {"type": "integer"}, "definition": {"type": "object"}, "created_by": id, "created_at": time}}}),
    );
    m.insert(
        "RunPage".to_owned(),
        json!({"type": "object", "properties": {
            "runs": {"type": "array", "items": {"type": "object", "properties": {
                "id": id, "job_id": id, "kind": {"type": "string"}, "idempotency_key": {"type": "string"},
                "attempt": {"type": "integer"}, "started_at": time, "finished_at": time,
                "duration_ms": {"type": "integer"}, "outcome": {"enum": ["succeeded", "failed", "skipped"]},
                "detail": {"type": "object"}, "error": {"type": "string"}}}},
            "next_cursor": {"type": ["string", "null"]}}}),
    );
    m.insert(
        "TestRunInput".to_owned(),
        json!({"type": "object", "properties": {
            "record_id": id, "record": {"type": "object"}, "old": {"type": "object"}, "at": time}}),
    );
    m.insert(
        "TestRunResult".to_owned(),
        json!({"type": "object", "properties": {
            "condition": {"type": "boolean"}, "effects": {"type": "array", "items": {"type": "object"}},
            "logs": {"type": "array", "items": {"type": "string"}},
            "error": {"type": ["object", "null"]}}}),
    );
    m.insert(
        "ManualRunInput".to_owned(),
        json!({"type": "object", "properties": {
            "record_ids": {"type": "array", "items": id}, "filter": {"$ref": "#/components/schemas/Filter"}}}),
    );
    m.insert(
        "ManualRun".to_owned(),
        json!({"type": "object", "properties": {"batch_id": {"type": "string"}, "total": {"type": "integer"}}}),
    );
    let n = json!({"type": "integer"});
    m.insert(
        "BatchProgress".to_owned(),
        json!({"type": "object", "properties": {
            "batch_id": {"type": "string"}, "total": n, "pending": n, "running": n, "succeeded": n,
            "skipped": n, "failed": n, "cancelled": n, "done": {"type": "boolean"}}}),
    );
    m.insert(
        "SchedulerRunInput".to_owned(),
        json!({"type": "object", "required": ["at"], "properties": {"at": time}}),
    );
    m.insert(
        "SchedulerReport".to_owned(),
        json!({"type": "object", "properties": {
            "at": time, "dispatched": n, "planned": n, "ran": n, "rounds": n, "files_removed": n}}),
    );
}

async fn list_rules(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_rules(&caller, path.into_inner()).await?))
}

async fn create_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<AppId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let rule = engine
        .create_rule(&caller, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(rule))
}

async fn get_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_rule(&caller, path.into_inner()).await?))
}

async fn update_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let rule = engine
        .update_rule(&caller, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(rule))
}

async fn delete_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
) -> Result<HttpResponse, ApiError> {
    engine.delete_rule(&caller, path.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn rule_versions(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.rule_versions(&caller, path.into_inner()).await?))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    cursor: Option<RunId>,
}

async fn rule_runs(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = engine
        .rule_runs(&caller, path.into_inner(), q.limit.unwrap_or(50), q.cursor)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn test_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
    body: Option<web::Json<TestRunInput>>,
) -> Result<HttpResponse, ApiError> {
    let input = body.map(web::Json::into_inner).unwrap_or_default();
    Ok(HttpResponse::Ok().json(engine.test_rule(&caller, path.into_inner(), input).await?))
}

async fn run_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<RuleId>,
    body: web::Json<ManualRunInput>,
) -> Result<HttpResponse, ApiError> {
    let run = engine
        .run_rule(&caller, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Accepted().json(run))
}

async fn rule_batch(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(RuleId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (rule, batch) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.batch_progress(&caller, rule, &batch).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulePreviewInput {
    cron: String,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    count: Option<usize>,
}

async fn preview_schedule(
    engine: web::Data<Engine>,
    caller: Caller,
    body: web::Json<SchedulePreviewInput>,
) -> Result<HttpResponse, ApiError> {
    let input = body.into_inner();
    let preview = engine
        .preview_schedule(
            &caller,
            &input.cron,
            input.timezone.as_deref(),
            input.count.unwrap_or(5),
        )
        .await?;
    Ok(HttpResponse::Ok().json(preview))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerRunInput {
    at: DateTime<Utc>,
}

async fn scheduler_run(
    scheduler: web::Data<Scheduler>,
    caller: Caller,
    body: web::Json<SchedulerRunInput>,
) -> Result<HttpResponse, ApiError> {
    require(&caller, Action::DesignApps)?;
    let report = scheduler.tick_at(body.into_inner().at).await?;
    Ok(HttpResponse::Ok().json(report))
}
