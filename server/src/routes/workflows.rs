//! Approval workflows: `/api/v1/forms/{form_id}/workflows`,
//! `/api/v1/workflows/{workflow_id}`, the task inbox `/api/v1/tasks`, task
//! actions `/api/v1/tasks/{task_id}/{action}`, and a record's flow
//! `/api/v1/forms/{form_id}/records/{id}/workflow`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::{FormId, RecordId, TaskId, WorkflowId};
use engine::workflow::{ActionInput, TaskQuery};
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, LIMIT, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
const DEFINITION_ERRORS: &[ErrorCode] = &[
    NF,
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::ScriptCompile,
    ErrorCode::Forbidden,
    ErrorCode::Conflict,
];
const TASK_PARAMS: &[Param] = &[
    Param {
        name: "box",
        location: "query",
        kind: "string",
        description: "todo (default), done, initiated or cc.",
    },
    Param {
        name: "app_id",
        location: "query",
        kind: "string",
        description: "Only tasks of this app's forms.",
    },
    Param {
        name: "form_id",
        location: "query",
        kind: "string",
        description: "Only tasks of this form.",
    },
    LIMIT,
    Param {
        name: "offset",
        location: "query",
        kind: "integer",
        description: "Tasks to skip.",
    },
];

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $params:expr, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "workflows",
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
    ep!(Get "/api/v1/forms/{form_id}/workflows", list_workflows, "A form's approval flows, newest first",
        &[], Body::Empty, 200, Body::Ref("WorkflowList"), &[NF]),
    ep!(Post "/api/v1/forms/{form_id}/workflows", create_workflow,
        "Create an approval flow (schemas/workflow.schema.json); unless `active: false` it becomes the form's one active flow",
        &[], Body::Ref("WorkflowInput"), 201, Body::Ref("Workflow"), DEFINITION_ERRORS),
    ep!(Get "/api/v1/workflows/{workflow_id}", get_workflow, "Get an approval flow",
        &[], Body::Empty, 200, Body::Ref("Workflow"), &[NF]),
    ep!(Put "/api/v1/workflows/{workflow_id}", update_workflow,
        "Save a new version of a flow; running instances keep the version they started with",
        &[], Body::Ref("WorkflowInput"), 200, Body::Ref("Workflow"), DEFINITION_ERRORS),
    ep!(Get "/api/v1/workflows/{workflow_id}/versions", workflow_versions, "Every saved version of a flow, newest first",
        &[], Body::Empty, 200, Body::Ref("WorkflowVersionList"), &[NF]),
    ep!(Get "/api/v1/tasks", list_tasks, "The caller's tasks: to do, done, initiated or cc'd, newest first",
        TASK_PARAMS, Body::Empty, 200, Body::Ref("TaskList"), &[ErrorCode::BadRequest, ErrorCode::ValidationFailed]),
    ep!(Get "/api/v1/tasks/{task_id}", get_task,
        "One of the caller's tasks: the step's field permissions, the record without hidden fields, the open actions",
        &[], Body::Empty, 200, Body::Ref("TaskDetail"), &[NF]),
    ep!(Post "/api/v1/tasks/{task_id}/{action}", task_action,
        "Act on a task: approve, reject, submit, return, transfer, add_approver, withdraw or comment",
        &[], Body::Ref("TaskActionInput"), 200, Body::Ref("WorkflowInstance"),
        &[NF, ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::Conflict, ErrorCode::Forbidden,
          ErrorCode::DuplicateValue]),
    ep!(Get "/api/v1/forms/{form_id}/records/{id}/workflow", record_workflow,
        "A record's approval flow: status, the steps waiting now and the full history",
        &[], Body::Empty, 200, Body::Ref("WorkflowInstance"), &[NF]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let s = json!({"type": "string"});
    m.insert(
        "WorkflowInput".to_owned(),
        json!({"description": "See schemas/workflow.schema.json: {name, nodes: [{id, kind: start|approve|fill|cc|condition|parallel|join|end, assignees: {users, roles, field, initiator, initiator_manager, previous}, mode: any|all, fields: {key: hidden|read|edit}, timeout: {hours, remind_hours, then: remind|approve|reject|escalate, to}}], edges: [{from, to, when, default}]}",
               "type": "object", "required": ["name", "nodes", "edges"]}),
    );
    m.insert(
        "Workflow".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "app_id": id, "form_id": id, "name": s, "active": {"type": "boolean"},
            "version": {"type": "integer"}, "definition": {"type": "object"}, "created_by": id,
            "created_at": time, "updated_at": time}}),
    );
    m.insert(
        "WorkflowList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Workflow"}}),
    );
    m.insert(
        "WorkflowVersionList".to_owned(),
        json!({"type": "array", "items": {"type": "object", "properties": {
            "version": {"type": "integer"}, "definition": {"type": "object"}, "created_by": id, "created_at": time}}}),
    );
    let task = json!({"type": "object", "properties": {
        "id": id, "instance_id": id, "app_id": id, "form_id": id, "record_id": id, "node": s, "node_name": s,
        "kind": {"enum": ["start", "approve", "fill", "cc"]}, "assignee": id,
        "status": {"enum": ["todo", "done", "cancelled", "transferred", "cc"]}, "result": s, "comment": s,
        "created_at": time, "acted_at": time, "instance_status": s}});
    m.insert("Task".to_owned(), task);
    m.insert(
        "TaskList".to_owned(),
        json!({"type": "object", "properties": {
            "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
            "more": {"type": "boolean"},
            "todo_count": {"type": "integer", "description": "Tasks waiting for the caller, in every app (the inbox badge)"}}}),
    );
    m.insert(
        "TaskDetail".to_owned(),
        json!({"type": "object", "properties": {
            "task": {"$ref": "#/components/schemas/Task"}, "node_kind": s,
            "fields": {"type": "object", "additionalProperties": {"enum": ["hidden", "read", "edit"]}},
            "record": {"type": "object"}, "actions": {"type": "array", "items": s}}}),
    );
    m.insert(
        "TaskActionInput".to_owned(),
        json!({"type": "object", "properties": {
            "comment": s, "data": {"type": "object", "description": "approve/submit: the step's editable fields"},
            "to": {"type": "string", "description": "return: `initiator` or an earlier node id; transfer, add_approver: a member id"}}}),
    );
    m.insert(
        "WorkflowInstance".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "workflow_id": id, "workflow_version": {"type": "integer"}, "form_id": id, "record_id": id,
            "status": {"enum": ["running", "approved", "rejected", "withdrawn"]}, "initiator": id,
            "version": {"type": "integer"}, "started_at": time, "finished_at": time,
            "current": {"type": "array", "items": {"type": "object", "properties": {
                "node": s, "name": s, "kind": s, "mode": s, "activation": {"type": "integer"}, "entered_at": time,
                "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}}}}},
            "history": {"type": "array", "items": {"type": "object", "properties": {
                "seq": {"type": "integer"}, "at": time, "actor": id, "action": s, "node": s, "task_id": id,
                "comment": s, "detail": {"type": "object"}}}}}}),
    );
}

async fn list_workflows(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<FormId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_workflows(&caller, path.into_inner()).await?))
}

async fn create_workflow(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<FormId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let flow = engine
        .create_workflow(&caller, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(flow))
}

async fn get_workflow(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<WorkflowId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_workflow(&caller, path.into_inner()).await?))
}

async fn update_workflow(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<WorkflowId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let flow = engine
        .update_workflow(&caller, path.into_inner(), body.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(flow))
}

async fn workflow_versions(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<WorkflowId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.workflow_versions(&caller, path.into_inner()).await?))
}

async fn list_tasks(
    engine: web::Data<Engine>,
    caller: Caller,
    query: web::Query<TaskQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.list_tasks(&caller, query.into_inner()).await?))
}

async fn get_task(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<TaskId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.get_task(&caller, path.into_inner()).await?))
}

async fn task_action(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(TaskId, String)>,
    body: Option<web::Json<ActionInput>>,
) -> Result<HttpResponse, ApiError> {
    let (task, action) = path.into_inner();
    let input = body.map(web::Json::into_inner).unwrap_or_default();
    Ok(HttpResponse::Ok().json(engine.task_action(&caller, task, &action, input).await?))
}

async fn record_workflow(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(FormId, RecordId)>,
) -> Result<HttpResponse, ApiError> {
    let (form, record) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.instance_view(&caller, form, record).await?))
}
