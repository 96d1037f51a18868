//! Instances and actions: starting a flow when a record is created, the
//! task actions, and writing one action's work in one transaction guarded
//! by the instance version.

use std::collections::BTreeSet;
use std::sync::Arc;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::def::{FlowDef, NodeKind, Perm};
use super::state::{
    CANCELLED, Closing, DONE, NewTask, People, REJECTED, RUNNING, State, Step, TODO, TRANSFERRED, WITHDRAWN,
};
use super::{InstanceView, TIMER_KIND, WorkflowError};
use crate::Engine;
use crate::auth::org;
use crate::auth::policy::{Action, require};
use crate::automation::trigger::{WORKFLOW_ACTION, WORKFLOW_CHANGE_KEY};
use crate::ctx::Ctx;
use crate::ids::{FormId, InstanceId, RecordId, TaskId, TenantId, UserId, WorkflowEventId};
use crate::jobs::{DEFAULT_MAX_ATTEMPTS, NewJob, enqueue};
use crate::meta::form::LoadedForm;
use crate::record::RecordError;
use crate::record::prepare::WriteKind;
use crate::store::entity::{
    record, workflow, workflow_event, workflow_instance, workflow_task, workflow_version,
};
use crate::store::{StoreError, parse_id};

/// Longest comment kept.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// The body of `POST /tasks/{id}/{action}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// A comment kept in the history.
    #[serde(default)]
    pub comment: Option<String>,
    /// Field values to write (approve, submit): only the step's editable
    /// fields.
    #[serde(default)]
    pub data: Option<Map<String, Value>>,
    /// Return: `initiator` or an earlier node id; transfer and add
    /// approver: a member id.
    #[serde(default)]
    pub to: Option<String>,
}

/// The actions a task holder can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    /// Approve (approve steps), optionally writing editable fields.
    Approve,
    /// Reject: the flow ends as rejected.
    Reject,
    /// Submit a fill step, or resubmit after a return.
    Submit,
    /// Send the flow back to the initiator or an earlier node.
    Return,
    /// Hand the task to another member.
    Transfer,
    /// Add another approver to the step (加签).
    AddApprover,
    /// The initiator takes the submission back while nobody has acted.
    Withdraw,
    /// Add a comment to the history.
    Comment,
}

impl TaskAction {
    /// Every action, by its path segment.
    pub const ALL: [(&'static str, Self); 8] = [
        ("approve", Self::Approve),
        ("reject", Self::Reject),
        ("submit", Self::Submit),
        ("return", Self::Return),
        ("transfer", Self::Transfer),
        ("add_approver", Self::AddApprover),
        ("withdraw", Self::Withdraw),
        ("comment", Self::Comment),
    ];

    /// Parses a path segment.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }

    /// The path segment.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("comment", |(n, _)| n)
    }
}

/// The actions open to the holder of `task` in an instance with `status`.
#[must_use]
pub fn actions_for(
    task: &workflow_task::Model,
    status: &str,
    initiator: bool,
    acted: bool,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    if status == RUNNING && task.status == TODO {
        match task.kind.as_str() {
            "approve" => out.extend(["approve", "reject", "return", "transfer", "add_approver"]),
            "fill" => out.extend(["submit", "return", "transfer", "add_approver"]),
            "start" => out.push("submit"),
            _ => {}
        }
    }
    if status == RUNNING && task.kind == "start" && initiator && !acted {
        out.push("withdraw");
    }
    if status == RUNNING {
        out.push("comment");
    }
    out
}

/// A field write checked against the step and prepared against the form.
struct Write {
    form: Arc<LoadedForm>,
    row: record::Model,
    data: Map<String, Value>,
}

impl Engine {
    /// The form's active flow, if any.
    pub(crate) async fn active_flow<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: TenantId,
        form: FormId,
    ) -> Result<Option<workflow::Model>, StoreError> {
        Ok(workflow::Entity::find()
            .filter(workflow::Column::TenantId.eq(tenant.to_string()))
            .filter(workflow::Column::FormId.eq(form.to_string()))
            .filter(workflow::Column::Active.eq(true))
            .one(conn)
            .await?)
    }

    /// Looks up, before a transaction opens, the people a flow may name:
    /// roles, the initiator's manager, which named members are active, the
    /// tenant's owners.
    pub(crate) async fn flow_people(
        &self,
        tenant: TenantId,
        flow: &FlowDef,
        initiator: UserId,
        record: &Map<String, Value>,
    ) -> Result<People, WorkflowError> {
        let db = self.db();
        let mut people = People::default();
        let mut named: BTreeSet<UserId> = BTreeSet::new();
        named.insert(initiator);
        let mut wants_manager = false;
        for n in &flow.nodes {
            if let Some(a) = &n.assignees {
                named.extend(a.users.iter().filter_map(|u| u.parse::<UserId>().ok()));
                for r in &a.roles {
                    if !people.roles.contains_key(r) {
                        let members = org::members_with_role(db, tenant, r).await?;
                        people.roles.insert(r.clone(), members);
                    }
                }
                if let Some(key) = &a.field {
                    match record.get(key) {
                        Some(Value::String(s)) => named.extend(s.parse::<UserId>().ok()),
                        Some(Value::Array(items)) => named.extend(
                            items
                                .iter()
                                .filter_map(Value::as_str)
                                .filter_map(|s| s.parse::<UserId>().ok()),
                        ),
                        _ => {}
                    }
                }
                wants_manager |= a.initiator_manager;
            }
            if let Some(to) = n.timeout.as_ref().and_then(|t| t.to.as_ref()) {
                named.extend(to.parse::<UserId>().ok());
            }
        }
        for u in named {
            if org::is_active_member(db, tenant, u).await? {
                people.active.insert(u);
            }
        }
        if wants_manager {
            people.manager = org::manager_of(db, tenant, initiator).await?;
        }
        people.owners = org::members_with_role(db, tenant, "owner").await?;
        Ok(people)
    }

    /// The definition an instance runs.
    pub(crate) async fn flow_version(
        &self,
        tenant: TenantId,
        workflow_id: &str,
        version: i32,
    ) -> Result<FlowDef, WorkflowError> {
        let row = workflow_version::Entity::find_by_id((workflow_id.to_owned(), version))
            .one(self.db().conn())
            .await?
            .filter(|v| v.tenant_id == tenant.to_string())
            .ok_or_else(|| WorkflowError::not_found("workflow", workflow_id))?;
        serde_json::from_value(row.def)
            .map_err(|e| StoreError::Corrupt(format!("workflow definition: {e}")).into())
    }

    /// Starts `flow` for a record just inserted on `conn` (the creating
    /// transaction): the submission task, its history, and the first steps.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_instance_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form: &LoadedForm,
        row: &record::Model,
        flow_row: &workflow::Model,
        flow: &FlowDef,
        people: &People,
    ) -> Result<InstanceId, WorkflowError> {
        let record = row.data.as_object().cloned().unwrap_or_default();
        let mut step = Step::new(
            flow,
            State::default(),
            record,
            ctx.actor,
            people,
            self.sandbox(),
            ctx.now,
            RUNNING,
        );
        let start = flow
            .start()
            .ok_or_else(|| WorkflowError::not_found("node", "start"))?
            .id
            .clone();
        let submission = TaskId::new();
        step.tasks.push(NewTask {
            id: submission,
            node: start.clone(),
            kind: "start",
            assignee: ctx.actor,
            status: DONE,
            activation: 0,
            result: Some("submitted"),
        });
        step.event(
            "submitted",
            Some(&start),
            Some(submission.to_string()),
            Some(ctx.actor),
            None,
            Value::Null,
        );
        step.complete(&start, vec![ctx.actor])?;
        let id = InstanceId::new();
        let inst = workflow_instance::Model {
            id: id.to_string(),
            tenant_id: ctx.tenant.to_string(),
            app_id: form.app_id.to_string(),
            form_id: form.id.to_string(),
            record_id: row.id.clone(),
            workflow_id: flow_row.id.clone(),
            workflow_version: flow_row.version,
            status: RUNNING.to_owned(),
            initiator: ctx.actor.to_string(),
            state: Value::Null,
            version: 0,
            started_at: ctx.now,
            updated_at: ctx.now,
            finished_at: None,
        };
        self.flush(conn, ctx, &inst, step, row.version, true).await?;
        Ok(id)
    }

    /// Takes `action` on a task the caller holds.
    ///
    /// # Errors
    /// `not_found` (no such task of the caller), `conflict` (the task was
    /// already acted on, the flow finished, or someone moved it first),
    /// `forbidden` (a field the step may not change), `validation_failed`.
    pub async fn task_action(
        &self,
        ctx: &Ctx,
        task_id: TaskId,
        action: &str,
        input: ActionInput,
    ) -> Result<InstanceView, WorkflowError> {
        require(ctx, Action::ReadData)?;
        let Some(action) = TaskAction::parse(action) else {
            return Err(WorkflowError::not_found("action", action));
        };
        let task = self.my_task(ctx, task_id).await?;
        let inst = self.instance_row(ctx.tenant, &task.instance_id).await?;
        let comment = clean_comment(input.comment.as_deref())?;
        if inst.status != RUNNING {
            return Err(WorkflowError::Conflict(format!(
                "the flow is already {}",
                inst.status
            )));
        }
        let flow = self
            .flow_version(ctx.tenant, &inst.workflow_id, inst.workflow_version)
            .await?;
        let form_id: FormId = parse_id(&inst.form_id)?;
        let record_id: RecordId = parse_id(&inst.record_id)?;
        let form = self.load_form(ctx, form_id).await?;
        let row = self
            .record_row(ctx, form_id, record_id, false)
            .await
            .map_err(WorkflowError::from)?;
        let state: State = serde_json::from_value(inst.state.clone())
            .map_err(|e| StoreError::Corrupt(format!("workflow state: {e}")))?;
        let initiator: UserId = parse_id(&inst.initiator)?;
        let needs_todo = !matches!(action, TaskAction::Withdraw | TaskAction::Comment);
        if needs_todo && task.status != TODO {
            return Err(WorkflowError::Conflict(format!(
                "this task is already {}",
                task.result.as_deref().unwrap_or(&task.status)
            )));
        }
        let kind_ok = match action {
            TaskAction::Approve | TaskAction::Reject => task.kind == "approve",
            TaskAction::Submit => matches!(task.kind.as_str(), "fill" | "start"),
            TaskAction::Return | TaskAction::Transfer | TaskAction::AddApprover => {
                matches!(task.kind.as_str(), "approve" | "fill")
            }
            TaskAction::Withdraw => task.kind == "start",
            TaskAction::Comment => true,
        };
        if !kind_ok {
            return Err(WorkflowError::invalid(
                "action",
                format!("a {} task cannot be {}", task.kind, action.as_str()),
            ));
        }
        // Field writes: only editable fields, validated by the form.
        let write = match (&input.data, action) {
            (Some(data), TaskAction::Approve | TaskAction::Submit) if !data.is_empty() => {
                Some(self.check_write(ctx, &flow, &task.node_id, form.clone(), row.clone(), data)?)
            }
            (Some(data), _) if !data.is_empty() => {
                return Err(WorkflowError::invalid(
                    "data",
                    "only approve and submit write fields",
                ));
            }
            _ => None,
        };
        if let Some(w) = &write {
            let errs = self.check_references(ctx, &w.form, &w.data).await?;
            if !errs.is_empty() {
                return Err(RecordError::Invalid(errs).into());
            }
        }
        let mut values = row.data.as_object().cloned().unwrap_or_default();
        if let Some(w) = &write {
            values.clone_from(&w.data);
        }
        let people = self.flow_people(ctx.tenant, &flow, initiator, &values).await?;
        let target = match action {
            TaskAction::Transfer | TaskAction::AddApprover => {
                let to = input
                    .to
                    .as_deref()
                    .and_then(|t| t.parse::<UserId>().ok())
                    .ok_or_else(|| WorkflowError::invalid("to", "name the member (user id)"))?;
                if !org::is_active_member(self.db(), ctx.tenant, to).await? {
                    return Err(WorkflowError::invalid(
                        "to",
                        "is not an active member of the tenant",
                    ));
                }
                Some(to)
            }
            _ => None,
        };
        let open = self.open_tasks(&inst.id).await?;
        let mut step = Step::new(
            &flow,
            state,
            values,
            initiator,
            &people,
            self.sandbox(),
            ctx.now,
            RUNNING,
        );
        let me = Some(ctx.actor);
        let node = task.node_id.clone();
        let tid = Some(task.id.clone());
        let changes = write
            .as_ref()
            .map_or(Value::Null, |w| json!({ "changes": diff(&row.data, &w.data) }));
        match action {
            TaskAction::Approve | TaskAction::Submit => {
                let (result, event) = match task.kind.as_str() {
                    "approve" => ("approved", "approved"),
                    "fill" => ("submitted", "filled"),
                    _ => ("submitted", "resubmitted"),
                };
                step.closings.push(Closing::One {
                    id: task.id.clone(),
                    status: DONE,
                    result: Some(result),
                    comment: comment.clone(),
                });
                step.event(event, Some(&node), tid, me, comment, changes);
                if task.kind == "start" {
                    step.state.acted = false;
                    step.deactivate(&node, task.activation);
                    step.closings.push(Closing::Activation {
                        node: node.clone(),
                        activation: task.activation,
                    });
                    step.complete(&node, vec![ctx.actor])?;
                } else {
                    step.state.acted = true;
                    if task.kind == "approve" {
                        step.signals.push(("approved", Some(node.clone())));
                    }
                    let others_open = open
                        .iter()
                        .any(|t| t.id != task.id && t.node_id == node && t.activation == task.activation);
                    let all = step.mode(&node) == super::def::Mode::All;
                    if !all || !others_open {
                        let mut by: Vec<UserId> = if all {
                            self.activation_actors(&inst.id, &node, task.activation).await?
                        } else {
                            Vec::new()
                        };
                        if !by.contains(&ctx.actor) {
                            by.push(ctx.actor);
                        }
                        step.closings.push(Closing::Activation {
                            node: node.clone(),
                            activation: task.activation,
                        });
                        step.deactivate(&node, task.activation);
                        step.complete(&node, by)?;
                    }
                }
            }
            TaskAction::Reject => {
                step.closings.push(Closing::One {
                    id: task.id.clone(),
                    status: DONE,
                    result: Some("rejected"),
                    comment: comment.clone(),
                });
                step.event("rejected", Some(&node), tid, me, comment.clone(), Value::Null);
                step.signals.push(("rejected", Some(node.clone())));
                step.finish(REJECTED, me, None);
            }
            TaskAction::Return => {
                let to = input.to.as_deref().unwrap_or("initiator");
                let start = flow.start().map(|n| n.id.clone()).unwrap_or_default();
                let dest = if to == "initiator" { start } else { to.to_owned() };
                let ok = flow.node(&dest).is_some_and(|n| {
                    n.kind == NodeKind::Start || (n.kind.has_tasks() && step.state.visited.contains(&dest))
                });
                if !ok || dest == node {
                    return Err(WorkflowError::invalid(
                        "to",
                        "return to `initiator` or to an approve or fill step this flow has already passed",
                    ));
                }
                step.closings.push(Closing::One {
                    id: task.id.clone(),
                    status: DONE,
                    result: Some("returned"),
                    comment: comment.clone(),
                });
                step.closings.push(Closing::All);
                step.state.active.clear();
                step.state.joins.clear();
                step.state.acted = true;
                step.event("returned", Some(&node), tid, me, comment, json!({ "to": dest }));
                step.signals.push(("returned", Some(node.clone())));
                step.enter(&dest, &node)?;
            }
            TaskAction::Transfer | TaskAction::AddApprover => {
                let to = target.ok_or_else(|| WorkflowError::invalid("to", "name the member"))?;
                let already = open.iter().any(|t| {
                    t.node_id == node && t.activation == task.activation && t.assignee == to.to_string()
                });
                if already || to == ctx.actor {
                    return Err(WorkflowError::invalid("to", "already holds this step"));
                }
                let transfer = action == TaskAction::Transfer;
                if transfer {
                    step.closings.push(Closing::One {
                        id: task.id.clone(),
                        status: TRANSFERRED,
                        result: Some("transferred"),
                        comment: comment.clone(),
                    });
                }
                let kind = if task.kind == "approve" { "approve" } else { "fill" };
                step.tasks.push(NewTask {
                    id: TaskId::new(),
                    node: node.clone(),
                    kind,
                    assignee: to,
                    status: TODO,
                    activation: task.activation,
                    result: None,
                });
                step.state.acted = true;
                let what = if transfer { "transferred" } else { "approver_added" };
                step.event(what, Some(&node), tid, me, comment, json!({ "to": to }));
                step.notes.push((
                    to,
                    if transfer {
                        "转交给你 Transferred to you"
                    } else {
                        "加签 Added as approver"
                    }
                    .to_owned(),
                    format!(
                        "{}: {}",
                        flow.name,
                        flow.node(&node).map_or(node.as_str(), |n| n.label())
                    ),
                ));
            }
            TaskAction::Withdraw => {
                if ctx.actor != initiator {
                    return Err(WorkflowError::not_found("task", task_id));
                }
                if step.state.acted {
                    return Err(WorkflowError::Conflict(
                        "someone has already acted on this submission; it can no longer be withdrawn"
                            .to_owned(),
                    ));
                }
                step.event("withdrawn", Some(&node), tid, me, comment, Value::Null);
                step.finish(WITHDRAWN, me, None);
            }
            TaskAction::Comment => {
                if comment.is_none() {
                    return Err(WorkflowError::invalid("comment", "write a comment"));
                }
                step.event("commented", Some(&node), tid, me, comment, Value::Null);
            }
        }
        let db = self.db();
        {
            let _w = db.write_lock().await;
            let tx = db.begin().await?;
            self.flush_action(&tx, ctx, &inst, step, write, row.version)
                .await?;
            tx.commit().await?;
        }
        self.instance_view(ctx, form_id, record_id).await
    }

    /// Writes an action: the guarded instance update first, then the record
    /// write, then the rest.
    async fn flush_action<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        inst: &workflow_instance::Model,
        step: Step<'_>,
        write: Option<Write>,
        record_version: i32,
    ) -> Result<(), WorkflowError> {
        // The version guard is written in `flush`, first; the record write
        // goes through the same connection after it.
        self.flush_with(conn, ctx, inst, step, record_version, false, write)
            .await
    }

    /// Writes a step for a new (`new`) or existing instance.
    pub(crate) async fn flush<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        inst: &workflow_instance::Model,
        step: Step<'_>,
        record_version: i32,
        new: bool,
    ) -> Result<(), WorkflowError> {
        self.flush_with(conn, ctx, inst, step, record_version, new, None)
            .await
    }

    #[allow(clippy::too_many_arguments, clippy::too_many_lines)]
    async fn flush_with<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        inst: &workflow_instance::Model,
        mut step: Step<'_>,
        record_version: i32,
        new: bool,
        write: Option<Write>,
    ) -> Result<(), WorkflowError> {
        let tenant = ctx.tenant.to_string();
        let now = ctx.now;
        let first_seq = step.state.seq;
        step.state.seq += i32::try_from(step.events.len()).unwrap_or(i32::MAX);
        let state = serde_json::to_value(&step.state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let finished = (step.status != RUNNING).then_some(now);
        if new {
            let row = workflow_instance::Model {
                state,
                status: step.status.to_owned(),
                version: 1,
                finished_at: finished,
                ..inst.clone()
            };
            workflow_instance::Entity::insert(workflow_instance::ActiveModel::from(row))
                .exec_without_returning(conn)
                .await?;
        } else {
            let moved = workflow_instance::Entity::update_many()
                .col_expr(workflow_instance::Column::Version, Expr::val(inst.version + 1))
                .col_expr(workflow_instance::Column::State, Expr::val(state))
                .col_expr(workflow_instance::Column::Status, Expr::val(step.status))
                .col_expr(workflow_instance::Column::UpdatedAt, Expr::val(now))
                .col_expr(workflow_instance::Column::FinishedAt, Expr::val(finished))
                .filter(workflow_instance::Column::Id.eq(inst.id.clone()))
                .filter(workflow_instance::Column::Version.eq(inst.version))
                .filter(workflow_instance::Column::Status.eq(RUNNING))
                .exec(conn)
                .await?;
            if moved.rows_affected != 1 {
                return Err(WorkflowError::Conflict(
                    "someone else acted on this flow at the same moment; reload it".to_owned(),
                ));
            }
        }
        let mut record_version = record_version;
        if let Some(w) = write
            && let Some((updated, _)) = self.update_prepared(conn, ctx, &w.form, &w.row, w.data).await?
        {
            record_version = updated.version;
        }
        for c in &step.closings {
            let q = workflow_task::Entity::update_many()
                .col_expr(workflow_task::Column::ActedAt, Expr::val(now))
                .filter(workflow_task::Column::InstanceId.eq(inst.id.clone()))
                .filter(workflow_task::Column::Status.eq(TODO));
            match c {
                Closing::One {
                    id,
                    status,
                    result,
                    comment,
                } => {
                    let done = q
                        .col_expr(workflow_task::Column::Status, Expr::val(*status))
                        .col_expr(
                            workflow_task::Column::Result,
                            Expr::val(result.map(str::to_owned)),
                        )
                        .col_expr(workflow_task::Column::Comment, Expr::val(comment.clone()))
                        .filter(workflow_task::Column::Id.eq(id.clone()))
                        .exec(conn)
                        .await?;
                    if done.rows_affected != 1 {
                        return Err(WorkflowError::Conflict(
                            "this task was already acted on".to_owned(),
                        ));
                    }
                }
                Closing::Activation { node, activation } => {
                    q.col_expr(workflow_task::Column::Status, Expr::val(CANCELLED))
                        .filter(workflow_task::Column::NodeId.eq(node.clone()))
                        .filter(workflow_task::Column::Activation.eq(*activation))
                        .exec(conn)
                        .await?;
                }
                Closing::All => {
                    q.col_expr(workflow_task::Column::Status, Expr::val(CANCELLED))
                        .exec(conn)
                        .await?;
                }
            }
        }
        if !step.tasks.is_empty() {
            let rows = step.tasks.iter().map(|t| workflow_task::ActiveModel {
                id: Set(t.id.to_string()),
                tenant_id: Set(tenant.clone()),
                instance_id: Set(inst.id.clone()),
                app_id: Set(inst.app_id.clone()),
                form_id: Set(inst.form_id.clone()),
                record_id: Set(inst.record_id.clone()),
                node_id: Set(t.node.clone()),
                kind: Set(t.kind.to_owned()),
                assignee: Set(t.assignee.to_string()),
                status: Set(t.status.to_owned()),
                activation: Set(t.activation),
                result: Set(t.result.map(str::to_owned)),
                comment: Set(None),
                created_at: Set(now),
                acted_at: Set((t.status == DONE).then_some(now)),
            });
            workflow_task::Entity::insert_many(rows)
                .exec_without_returning(conn)
                .await?;
        }
        if !step.events.is_empty() {
            let rows = step
                .events
                .iter()
                .zip(first_seq + 1..)
                .map(|(e, seq)| workflow_event::ActiveModel {
                    id: Set(WorkflowEventId::new().to_string()),
                    tenant_id: Set(tenant.clone()),
                    instance_id: Set(inst.id.clone()),
                    seq: Set(seq),
                    at: Set(now),
                    actor: Set(e.actor.map(|a| a.to_string())),
                    action: Set(e.action.to_owned()),
                    node_id: Set(e.node.clone()),
                    task_id: Set(e.task.clone()),
                    comment: Set(e.comment.clone()),
                    detail: Set((!e.detail.is_null()).then(|| e.detail.clone())),
                });
            workflow_event::Entity::insert_many(rows)
                .exec_without_returning(conn)
                .await?;
        }
        let form: FormId = parse_id(&inst.form_id)?;
        for (event, node) in &step.signals {
            let changes = json!({ WORKFLOW_CHANGE_KEY: {
                "event": event,
                "node": node,
                "instance_id": inst.id,
                "status": step.status,
            }});
            self.write_history(
                conn,
                ctx,
                form,
                &inst.record_id,
                record_version,
                WORKFLOW_ACTION,
                changes,
            )
            .await?;
        }
        let tenant_id: TenantId = parse_id(&inst.tenant_id)?;
        for (user, title, body) in &step.notes {
            let source = json!({
                "kind": "workflow",
                "instance_id": inst.id,
                "form_id": inst.form_id,
                "record_id": inst.record_id,
            });
            crate::notify::notify_in(conn, tenant_id, &user.to_string(), title, body, source, now).await?;
        }
        for t in &step.timers {
            enqueue(
                conn,
                NewJob {
                    tenant: tenant_id,
                    kind: TIMER_KIND.to_owned(),
                    payload: json!({
                        "instance_id": inst.id,
                        "node": t.node,
                        "activation": t.activation,
                        "what": t.what,
                    }),
                    idempotency_key: format!("wf:{}:{}:{}:{}", inst.id, t.node, t.activation, t.what),
                    run_at: t.at,
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                },
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Checks a step's field write: only editable fields, then the form's
    /// own validation over the merged record.
    fn check_write(
        &self,
        ctx: &Ctx,
        flow: &FlowDef,
        node: &str,
        form: Arc<LoadedForm>,
        row: record::Model,
        data: &Map<String, Value>,
    ) -> Result<Write, WorkflowError> {
        let Some(n) = flow.node(node) else {
            return Err(WorkflowError::not_found("node", node));
        };
        let refused: Vec<String> = data.keys().filter(|k| n.perm(k) != Perm::Edit).cloned().collect();
        if !refused.is_empty() {
            return Err(WorkflowError::ReadOnly(refused));
        }
        let base = row.data.as_object().cloned().unwrap_or_default();
        let merged = self
            .prepare_data(ctx, &form, &base, data.clone(), WriteKind::Update)
            .map_err(|errs| WorkflowError::Record(RecordError::Invalid(errs)))?;
        self.check_size(&merged)?;
        Ok(Write {
            form,
            row,
            data: merged,
        })
    }

    /// A task of the caller (another member's task does not exist for them).
    pub(crate) async fn my_task(&self, ctx: &Ctx, id: TaskId) -> Result<workflow_task::Model, WorkflowError> {
        workflow_task::Entity::find_by_id(id.to_string())
            .filter(workflow_task::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_task::Column::Assignee.eq(ctx.actor.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| WorkflowError::not_found("task", id))
    }

    pub(crate) async fn instance_row(
        &self,
        tenant: TenantId,
        id: &str,
    ) -> Result<workflow_instance::Model, WorkflowError> {
        workflow_instance::Entity::find_by_id(id.to_owned())
            .filter(workflow_instance::Column::TenantId.eq(tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| WorkflowError::not_found("instance", id))
    }

    /// The open (`todo`) tasks of an instance.
    pub(crate) async fn open_tasks(
        &self,
        instance: &str,
    ) -> Result<Vec<workflow_task::Model>, WorkflowError> {
        Ok(workflow_task::Entity::find()
            .filter(workflow_task::Column::InstanceId.eq(instance.to_owned()))
            .filter(workflow_task::Column::Status.eq(TODO))
            .all(self.db().conn())
            .await?)
    }

    /// Who approved or filled one activation of a node so far.
    async fn activation_actors(
        &self,
        instance: &str,
        node: &str,
        activation: i32,
    ) -> Result<Vec<UserId>, WorkflowError> {
        let rows = workflow_task::Entity::find()
            .filter(workflow_task::Column::InstanceId.eq(instance.to_owned()))
            .filter(workflow_task::Column::NodeId.eq(node.to_owned()))
            .filter(workflow_task::Column::Activation.eq(activation))
            .filter(workflow_task::Column::Status.eq(DONE))
            .all(self.db().conn())
            .await?;
        Ok(rows.iter().filter_map(|t| t.assignee.parse().ok()).collect())
    }

    /// Refuses ordinary edits of a record while its flow runs.
    pub(crate) async fn ensure_not_in_flow(&self, ctx: &Ctx, record: RecordId) -> Result<(), RecordError> {
        let running = workflow_instance::Entity::find()
            .filter(workflow_instance::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_instance::Column::RecordId.eq(record.to_string()))
            .filter(workflow_instance::Column::Status.eq(RUNNING))
            .one(self.db().conn())
            .await?;
        if running.is_some() {
            return Err(RecordError::InFlow(record.to_string()));
        }
        Ok(())
    }
}

/// `{field: {from, to}}` between two records' values.
pub(crate) fn diff(old: &Value, new: &Map<String, Value>) -> Value {
    let empty = Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    Value::Object(
        keys.into_iter()
            .filter(|k| old.get(*k) != new.get(*k))
            .map(|k| {
                (
                    k.clone(),
                    json!({ "from": old.get(k).cloned().unwrap_or(Value::Null),
                            "to": new.get(k).cloned().unwrap_or(Value::Null) }),
                )
            })
            .collect(),
    )
}

pub(crate) fn clean_comment(c: Option<&str>) -> Result<Option<String>, WorkflowError> {
    let Some(c) = c.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    if c.chars().count() > MAX_COMMENT_CHARS {
        return Err(WorkflowError::invalid(
            "comment",
            format!("at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(Some(c.to_owned()))
}

/// A flow a record being created will start, with its lookups done.
#[derive(Clone)]
pub(crate) struct FlowStart {
    row: workflow::Model,
    def: FlowDef,
    people: People,
}

/// Whether a flow's people depend on the record's values (member-field
/// assignees), so they must be looked up per record.
pub(crate) fn depends_on_record(flow: &FlowStart) -> bool {
    flow.def
        .nodes
        .iter()
        .any(|n| n.assignees.as_ref().is_some_and(|a| a.field.is_some()))
}

impl From<WorkflowError> for RecordError {
    fn from(e: WorkflowError) -> Self {
        match e {
            WorkflowError::Record(r) => r,
            WorkflowError::Store(s) => Self::Store(s),
            other => Self::Flow(Box::new(other)),
        }
    }
}

impl Engine {
    /// The active flow of the form a record is being created in, with the
    /// people it may name looked up (before the creating transaction).
    pub(crate) async fn flow_for_create(
        &self,
        ctx: &Ctx,
        form: FormId,
        data: &Map<String, Value>,
    ) -> Result<Option<FlowStart>, RecordError> {
        if !ctx.start_flow {
            return Ok(None);
        }
        let Some(row) = self.active_flow(self.db().conn(), ctx.tenant, form).await? else {
            return Ok(None);
        };
        let def = self.flow_version(ctx.tenant, &row.id, row.version).await?;
        let people = self.flow_people(ctx.tenant, &def, ctx.actor, data).await?;
        Ok(Some(FlowStart { row, def, people }))
    }

    /// Starts `flow` for a record inserted on `conn`.
    pub(crate) async fn start_flow_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form: &LoadedForm,
        row: &record::Model,
        flow: &FlowStart,
    ) -> Result<(), RecordError> {
        self.start_instance_in(conn, ctx, form, row, &flow.row, &flow.def, &flow.people)
            .await?;
        Ok(())
    }
}
