//! The 简道云 workflow endpoints over our approval flows: a record's
//! approval comments, an instance (get, close), a member's tasks, and the
//! task actions approve/submit, rollback (our `return`) and transfer.
//!
//! 简道云's `instance_id` is the record's `data_id`; ours is accepted too.
//! Calls that name a `username` act as that member: an owner's or admin's
//! key may name anyone of the tenant, a member's key only its own user.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use engine::Engine;
use engine::ctx::{Ctx, Role};
use engine::error::ErrorCode;
use engine::ids::{FormId, TaskId};
use engine::workflow::{ActionInput, InstanceView, TaskQuery, TaskView};
use serde::Deserialize;
use serde_json::{Value, json};

use super::call::FormCall;
use super::data::directory;
use super::meta::EntryRef;
use super::value::Directory;
use super::{V5Caller, V5Error, id_string, parse, parse_id, v5};
use crate::routes::Endpoint;

/// The rows of this group.
pub const ENDPOINTS: &[Endpoint] = &[
    v5!(
        "app/entry/data/approval_comments",
        v5_approval_comments,
        "简道云 v5: the approval comments of a flow record"
    ),
    v5!(
        "workflow/instance/get",
        v5_get_instance,
        "简道云 v5: a flow instance and its tasks"
    ),
    v5!(
        "workflow/instance/close",
        v5_close_instance,
        "简道云 v5: end a running flow instance (owners and admins)"
    ),
    v5!(
        "workflow/task/list",
        v5_list_tasks,
        "简道云 v5: a member's open tasks"
    ),
    v5!(
        "workflow/task/approve",
        v5_approve_task,
        "简道云 v5: approve (or submit) a task"
    ),
    v5!(
        "workflow/task/rollback",
        v5_rollback_task,
        "简道云 v5: send a task's flow back to an earlier step"
    ),
    v5!(
        "workflow/task/transfer",
        v5_transfer_task,
        "简道云 v5: hand a task to another member"
    ),
];

/// Largest and default `limit` of the list calls.
const MAX_LIMIT: u64 = 100;
const DEFAULT_LIMIT: u64 = 10;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn limit(l: Option<u64>) -> Result<u64, V5Error> {
    match l.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(V5Error::bad_request(format!("`limit` must be 1 to {MAX_LIMIT}"))),
        l if l > MAX_LIMIT => Err(V5Error::bad_request(format!("`limit` must be 1 to {MAX_LIMIT}"))),
        l => Ok(l),
    }
}

/// 简道云's instance status: 0 running, 1 approved, 2 ended otherwise.
fn status_code(status: &str) -> i64 {
    match status {
        "running" => 0,
        "approved" => 1,
        _ => 2,
    }
}

/// The context of acting as `username` (the caller itself when absent).
fn act_as(caller: &Ctx, dir: &Directory, username: Option<&str>) -> Result<Ctx, V5Error> {
    let Some(name) = username.filter(|n| !n.is_empty()) else {
        return Ok(caller.clone());
    };
    let member = dir
        .user_id(name)
        .and_then(|id| dir.get(&id))
        .ok_or_else(|| V5Error::new(ErrorCode::NotFound, format!("member `{name}` does not exist")))?;
    if member.user_id == caller.actor {
        return Ok(caller.clone());
    }
    if caller.role == Role::Member {
        return Err(V5Error::new(
            ErrorCode::Forbidden,
            "a member's API key acts only as its own user; `username` must name it",
        ));
    }
    let mut ctx = caller.clone();
    ctx.actor = member.user_id;
    ctx.role = member.base_role;
    Ok(ctx)
}

/// A task as 简道云 lists it.
fn task_json(t: &TaskView, dir: &Directory, forms: &HashMap<FormId, String>, initiator: &str) -> Value {
    json!({
        "app_id": t.app_id.to_string(),
        "form_id": t.form_id.to_string(),
        "entry_id": t.form_id.to_string(),
        "task_id": t.id.to_string(),
        "instance_id": t.record_id.to_string(),
        "form_title": forms.get(&t.form_id).cloned().unwrap_or_default(),
        "title": t.node_name.clone().unwrap_or_else(|| t.node.clone()),
        "flow_id": t.node,
        "flow_name": t.node_name.clone().unwrap_or_else(|| t.node.clone()),
        "assignee": dir.member(&t.assignee.to_string()),
        "creator": dir.member(initiator),
        "create_time": iso(t.created_at),
        "finish_time": t.acted_at.map(iso),
        "status": match t.status.as_str() {
            "todo" => 0,
            "done" => 1,
            "transferred" => 2,
            _ => 3,
        },
        "kind": t.kind,
    })
}

#[derive(Deserialize)]
struct CommentsBody {
    #[serde(flatten)]
    entry: EntryRef,
    #[serde(deserialize_with = "id_string")]
    data_id: String,
    #[serde(default)]
    skip: usize,
    #[serde(default)]
    limit: Option<u64>,
}

impl super::call::FormBody for CommentsBody {
    fn entry(&self) -> &EntryRef {
        &self.entry
    }
}

async fn v5_approval_comments(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<CommentsBody> = FormCall::load(&engine, caller, &body).await?;
    let take = usize::try_from(limit(c.body.limit)?).unwrap_or(usize::MAX);
    let record = parse_id("record", &c.body.data_id)?;
    let inst = engine.instance_view(&c.ctx, c.form.id, record).await?;
    let comments: Vec<Value> = inst
        .history
        .iter()
        .filter(|h| h.comment.is_some())
        .skip(c.body.skip)
        .take(take)
        .map(|h| {
            json!({
                "comment": h.comment,
                "creator": h.actor.map(|a| c.reader.dir.member(&a.to_string())),
                "create_time": iso(h.at),
                "flow_action": h.action,
                "flow_id": h.node,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "approveCommentList": comments })))
}

/// An instance found by `instance_id`, read by `ctx`.
async fn instance(engine: &Engine, ctx: &Ctx, id: &str) -> Result<InstanceView, V5Error> {
    let (form, record) = engine.locate_instance(ctx, id).await?;
    Ok(engine.instance_view(ctx, form, record).await?)
}

#[derive(Deserialize)]
struct InstanceBody {
    #[serde(deserialize_with = "id_string")]
    instance_id: String,
    #[serde(default)]
    tasks_type: u8,
    #[serde(default)]
    comment: Option<String>,
}

async fn v5_get_instance(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let (b, _): (InstanceBody, _) = parse(&body)?;
    let inst = instance(&engine, &caller.ctx, &b.instance_id).await?;
    let form = engine.load_form(&caller.ctx, inst.form_id).await?;
    let dir = directory(&engine, &caller.ctx).await?;
    let initiator = inst.initiator.to_string();
    let mut out = json!({
        "instance_id": inst.record_id.to_string(),
        "app_id": form.app_id.to_string(),
        "form_id": inst.form_id.to_string(),
        "entry_id": inst.form_id.to_string(),
        "status": status_code(&inst.status),
        "flow_status": inst.status,
        "creator": dir.member(&initiator),
        "create_time": iso(inst.started_at),
        "finish_time": inst.finished_at.map(iso),
    });
    if b.tasks_type == 1 {
        let forms = HashMap::from([(form.id, form.def.name.clone())]);
        let tasks: Vec<Value> = inst
            .current
            .iter()
            .flat_map(|s| s.tasks.iter())
            .map(|t| task_json(t, &dir, &forms, &initiator))
            .collect();
        if let Some(o) = out.as_object_mut() {
            o.insert("tasks".to_owned(), Value::Array(tasks));
        }
    }
    Ok(HttpResponse::Ok().json(out))
}

async fn v5_close_instance(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let (b, _): (InstanceBody, _) = parse(&body)?;
    let (form, record) = engine.locate_instance(&caller.ctx, &b.instance_id).await?;
    engine
        .close_instance(&caller.ctx, form, record, b.comment.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(json!({"status": "success"})))
}

#[derive(Deserialize)]
struct TaskListBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    skip: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn v5_list_tasks(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let (b, _): (TaskListBody, _) = parse(&body)?;
    let dir = directory(&engine, &caller.ctx).await?;
    let ctx = act_as(&caller.ctx, &dir, b.username.as_deref())?;
    let q = TaskQuery {
        limit: Some(limit(b.limit)?),
        offset: Some(b.skip),
        ..TaskQuery::default()
    };
    let page = engine.list_tasks(&ctx, q).await?;
    let mut forms = HashMap::new();
    let mut tasks = Vec::with_capacity(page.tasks.len());
    for t in &page.tasks {
        if let std::collections::hash_map::Entry::Vacant(e) = forms.entry(t.form_id) {
            e.insert(engine.load_form(&ctx, t.form_id).await?.def.name.clone());
        }
        // The inbox does not carry step names; the instance does.
        let inst = engine.instance_view(&ctx, t.form_id, t.record_id).await?;
        let mut t = t.clone();
        if t.node_name.is_none() {
            t.node_name = inst
                .current
                .iter()
                .find(|s| s.node == t.node)
                .and_then(|s| s.name.clone());
        }
        tasks.push(task_json(&t, &dir, &forms, &inst.initiator.to_string()));
    }
    Ok(HttpResponse::Ok().json(json!({"has_more": page.more, "tasks": tasks})))
}

/// The body of the task actions.
#[derive(Deserialize)]
struct TaskBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(deserialize_with = "id_string")]
    instance_id: String,
    #[serde(deserialize_with = "id_string")]
    task_id: String,
    #[serde(default)]
    comment: Option<String>,
    /// rollback: the node to go back to (default: the initiator).
    #[serde(default)]
    flow_id: Option<Value>,
    /// transfer: the member who takes the task.
    #[serde(default)]
    transfer_username: Option<String>,
}

/// Which v5 task action.
#[derive(Clone, Copy)]
enum Act {
    Approve,
    Rollback,
    Transfer,
}

async fn task_act(
    engine: &Engine,
    caller: V5Caller,
    body: &web::Bytes,
    act: Act,
) -> Result<HttpResponse, V5Error> {
    let (b, _): (TaskBody, _) = parse(body)?;
    let dir = directory(engine, &caller.ctx).await?;
    let ctx = act_as(&caller.ctx, &dir, b.username.as_deref())?;
    let task_id: TaskId = parse_id("task", &b.task_id)?;
    let detail = engine.get_task(&ctx, task_id).await?;
    let t = &detail.task;
    if b.instance_id != t.record_id.to_string() && b.instance_id != t.instance_id.to_string() {
        return Err(V5Error::new(
            ErrorCode::NotFound,
            format!(
                "task `{}` is not a task of instance `{}`",
                b.task_id, b.instance_id
            ),
        ));
    }
    let mut input = ActionInput {
        comment: b.comment.clone(),
        ..ActionInput::default()
    };
    let action = match act {
        // 简道云's 提交 covers both: approve steps approve, fill and start
        // steps submit.
        Act::Approve if t.kind == "approve" => "approve",
        Act::Approve => "submit",
        Act::Rollback => {
            input.to = Some(match &b.flow_id {
                None | Some(Value::Null) => "initiator".to_owned(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            });
            "return"
        }
        Act::Transfer => {
            let name = b.transfer_username.as_deref().unwrap_or_default();
            let to = dir.user_id(name).ok_or_else(|| {
                V5Error::new(
                    ErrorCode::ValidationFailed,
                    format!("field `transfer_username`: `{name}` is not a member's username"),
                )
            })?;
            input.to = Some(to);
            "transfer"
        }
    };
    engine.task_action(&ctx, task_id, action, input).await?;
    Ok(HttpResponse::Ok().json(json!({"status": "success"})))
}

async fn v5_approve_task(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    task_act(&engine, caller, &body, Act::Approve).await
}

async fn v5_rollback_task(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    task_act(&engine, caller, &body, Act::Rollback).await
}

async fn v5_transfer_task(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    task_act(&engine, caller, &body, Act::Transfer).await
}
