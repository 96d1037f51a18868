//! Reading flows: the task inbox, one task with the record as its step
//! shows it, and an instance with its current steps and full history.

use std::collections::BTreeMap;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::def::Perm;
use super::run::actions_for;
use super::state::{CC, DONE, State, TODO, TRANSFERRED};
use super::{CurrentStep, HistoryEntry, InstanceView, TaskDetail, TaskList, TaskView, WorkflowError};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{AppId, FormId, RecordId, TaskId};
use crate::store::entity::{workflow_event, workflow_instance, workflow_task};
use crate::store::{StoreError, parse_id};

/// Most tasks one page lists.
pub const MAX_TASK_PAGE: u64 = 200;

/// Which of the caller's tasks to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskBox {
    /// Waiting for the caller.
    #[default]
    Todo,
    /// Acted on (or handed on) by the caller.
    Done,
    /// Submissions the caller started.
    Initiated,
    /// Copies sent to the caller.
    Cc,
}

/// Filters of `GET /tasks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskQuery {
    /// Which box (default `todo`).
    #[serde(default, rename = "box")]
    pub task_box: TaskBox,
    /// Only this app's forms.
    #[serde(default)]
    pub app_id: Option<AppId>,
    /// Only this form.
    #[serde(default)]
    pub form_id: Option<FormId>,
    /// Page size (default 50, at most 200).
    #[serde(default)]
    pub limit: Option<u64>,
    /// Rows to skip.
    #[serde(default)]
    pub offset: Option<u64>,
}

fn task_view(
    t: &workflow_task::Model,
    inst: Option<&workflow_instance::Model>,
    node_name: Option<String>,
) -> Result<TaskView, WorkflowError> {
    Ok(TaskView {
        id: parse_id(&t.id)?,
        instance_id: parse_id(&t.instance_id)?,
        app_id: parse_id(&t.app_id)?,
        form_id: parse_id(&t.form_id)?,
        record_id: parse_id(&t.record_id)?,
        node: t.node_id.clone(),
        node_name,
        kind: t.kind.clone(),
        assignee: parse_id(&t.assignee)?,
        status: t.status.clone(),
        result: t.result.clone(),
        comment: t.comment.clone(),
        created_at: t.created_at,
        acted_at: t.acted_at,
        instance_status: inst.map(|i| i.status.clone()),
    })
}

impl Engine {
    /// The caller's tasks in one box, newest first.
    ///
    /// # Errors
    /// `validation_failed` (limit).
    pub async fn list_tasks(&self, ctx: &Ctx, q: TaskQuery) -> Result<TaskList, WorkflowError> {
        require(ctx, Action::ReadData)?;
        let limit = q.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_TASK_PAGE {
            return Err(WorkflowError::invalid(
                "limit",
                format!("from 1 to {MAX_TASK_PAGE}"),
            ));
        }
        let mut find = workflow_task::Entity::find()
            .filter(workflow_task::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_task::Column::Assignee.eq(ctx.actor.to_string()));
        find = match q.task_box {
            TaskBox::Todo => find.filter(workflow_task::Column::Status.eq(TODO)),
            TaskBox::Done => find
                .filter(workflow_task::Column::Status.is_in([DONE, TRANSFERRED]))
                .filter(workflow_task::Column::Kind.ne("start")),
            TaskBox::Initiated => find
                .filter(workflow_task::Column::Kind.eq("start"))
                .filter(workflow_task::Column::Activation.eq(0)),
            TaskBox::Cc => find.filter(workflow_task::Column::Status.eq(CC)),
        };
        if let Some(app) = q.app_id {
            find = find.filter(workflow_task::Column::AppId.eq(app.to_string()));
        }
        if let Some(form) = q.form_id {
            find = find.filter(workflow_task::Column::FormId.eq(form.to_string()));
        }
        let rows = find
            .order_by_desc(workflow_task::Column::CreatedAt)
            .order_by_desc(workflow_task::Column::Id)
            .offset(q.offset.unwrap_or(0))
            .limit(limit + 1)
            .all(self.db().conn())
            .await?;
        let more = rows.len() as u64 > limit;
        let rows: Vec<_> = rows
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let ids: Vec<String> = rows.iter().map(|t| t.instance_id.clone()).collect();
        let instances: BTreeMap<String, workflow_instance::Model> = workflow_instance::Entity::find()
            .filter(workflow_instance::Column::Id.is_in(ids))
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        // Step names come from each flow version on the page (one read per
        // distinct version, not per task).
        let mut flows = BTreeMap::new();
        for inst in instances.values() {
            let key = (inst.workflow_id.clone(), inst.workflow_version);
            if let std::collections::btree_map::Entry::Vacant(slot) = flows.entry(key) {
                slot.insert(
                    self.flow_version(ctx.tenant, &inst.workflow_id, inst.workflow_version)
                        .await?,
                );
            }
        }
        let tasks = rows
            .iter()
            .map(|t| {
                let inst = instances.get(&t.instance_id);
                let name = inst
                    .and_then(|i| flows.get(&(i.workflow_id.clone(), i.workflow_version)))
                    .and_then(|f| f.node(&t.node_id))
                    .map(|n| n.label().to_owned());
                task_view(t, inst, name)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let todo_count = workflow_task::Entity::find()
            .filter(workflow_task::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_task::Column::Assignee.eq(ctx.actor.to_string()))
            .filter(workflow_task::Column::Status.eq(TODO))
            .count(self.db().conn())
            .await?;
        Ok(TaskList {
            tasks,
            more,
            todo_count,
        })
    }

    /// One of the caller's tasks: the step, the actions open to them, and
    /// the record as the step shows it (hidden fields left out).
    ///
    /// # Errors
    /// `not_found` (also another member's task).
    pub async fn get_task(&self, ctx: &Ctx, id: TaskId) -> Result<TaskDetail, WorkflowError> {
        require(ctx, Action::ReadData)?;
        let task = self.my_task(ctx, id).await?;
        let inst = self.instance_row(ctx.tenant, &task.instance_id).await?;
        let flow = self
            .flow_version(ctx.tenant, &inst.workflow_id, inst.workflow_version)
            .await?;
        let form_id: FormId = parse_id(&inst.form_id)?;
        let record_id: RecordId = parse_id(&inst.record_id)?;
        let form = self.load_form(ctx, form_id).await?;
        // The task itself lets its holder see the record, whatever their data
        // scope; a field hidden from them by the form's permissions stays
        // hidden here too, as does one the step hides.
        let access = self.form_access(ctx, &form).await?;
        let row = self.record_row(ctx, form_id, record_id, false).await?;
        let record = crate::record::view(&form.def, &row, Vec::new())?;
        let node = flow.node(&task.node_id);
        let mut fields = Map::new();
        let mut data = Map::new();
        for f in &form.def.fields {
            let perm = if access.is_hidden(&f.key) {
                Perm::Hidden
            } else {
                node.map_or(Perm::Read, |n| n.perm(&f.key))
            };
            fields.insert(f.key.clone(), serde_json::to_value(perm).unwrap_or(Value::Null));
            if perm != Perm::Hidden
                && let Some(v) = record.data.get(&f.key)
            {
                data.insert(f.key.clone(), v.clone());
            }
        }
        let state: State = serde_json::from_value(inst.state.clone())
            .map_err(|e| StoreError::Corrupt(format!("workflow state: {e}")))?;
        let initiator = inst.initiator == ctx.actor.to_string();
        Ok(TaskDetail {
            task: task_view(&task, Some(&inst), node.map(|n| n.label().to_owned()))?,
            node_kind: node.map(|n| n.kind),
            fields,
            record: serde_json::json!({
                "id": record.id,
                "version": record.version,
                "data": data,
                "created_by": record.created_by,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
            }),
            actions: actions_for(&task, &inst.status, initiator, state.acted)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// A record's flow: status, the steps waiting now with their tasks, and
    /// the whole history in order.
    ///
    /// # Errors
    /// `not_found` (the record, or it never entered a flow).
    pub async fn instance_view(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        record_id: RecordId,
    ) -> Result<InstanceView, WorkflowError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, form_id).await?;
        let access = self.form_access(ctx, &form).await?;
        let inst = workflow_instance::Entity::find()
            .filter(workflow_instance::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(workflow_instance::Column::FormId.eq(form_id.to_string()))
            .filter(workflow_instance::Column::RecordId.eq(record_id.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| WorkflowError::not_found("instance", record_id))?;
        let flow = self
            .flow_version(ctx.tenant, &inst.workflow_id, inst.workflow_version)
            .await?;
        let state: State = serde_json::from_value(inst.state.clone())
            .map_err(|e| StoreError::Corrupt(format!("workflow state: {e}")))?;
        let tasks = workflow_task::Entity::find()
            .filter(workflow_task::Column::InstanceId.eq(inst.id.clone()))
            .order_by_asc(workflow_task::Column::CreatedAt)
            .order_by_asc(workflow_task::Column::Id)
            .all(self.db().conn())
            .await?;
        // Those who may view the record see its flow, and so do the flow's
        // initiator and every assignee; to anyone else it does not exist.
        let me = ctx.actor.to_string();
        let is_participant = inst.initiator == me || tasks.iter().any(|t| t.assignee == me);
        if !is_participant {
            let row = self
                .record_row(ctx, form_id, record_id, false)
                .await
                .map_err(|_| WorkflowError::not_found("instance", record_id))?;
            if !access.allows(FormAction::View) || !access.covers(FormAction::View, &row) {
                return Err(WorkflowError::not_found("instance", record_id));
            }
        }
        let current = state
            .active
            .iter()
            .map(|a| {
                let node = flow.node(&a.node);
                Ok(CurrentStep {
                    node: a.node.clone(),
                    name: node.map(|n| n.label().to_owned()),
                    kind: node.map(|n| n.kind),
                    mode: node.and_then(|n| n.mode).unwrap_or_default(),
                    activation: a.activation,
                    entered_at: a.entered_at,
                    tasks: tasks
                        .iter()
                        .filter(|t| t.node_id == a.node && t.activation == a.activation)
                        .map(|t| task_view(t, Some(&inst), node.map(|n| n.label().to_owned())))
                        .collect::<Result<Vec<_>, WorkflowError>>()?,
                })
            })
            .collect::<Result<Vec<_>, WorkflowError>>()?;
        let history = workflow_event::Entity::find()
            .filter(workflow_event::Column::InstanceId.eq(inst.id.clone()))
            .order_by_asc(workflow_event::Column::Seq)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|e| {
                Ok(HistoryEntry {
                    seq: e.seq,
                    at: e.at,
                    actor: e.actor.as_deref().map(parse_id).transpose()?,
                    action: e.action,
                    node: e.node_id,
                    task_id: e.task_id.as_deref().map(parse_id).transpose()?,
                    comment: e.comment,
                    detail: {
                        let mut detail = e.detail;
                        if let Some(changes) = detail.as_mut().and_then(|d| d.get_mut("changes")) {
                            access.strip_changes(changes);
                        }
                        detail
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(InstanceView {
            id: parse_id(&inst.id)?,
            workflow_id: parse_id(&inst.workflow_id)?,
            workflow_version: inst.workflow_version,
            form_id,
            record_id,
            status: inst.status,
            initiator: parse_id(&inst.initiator)?,
            version: inst.version,
            started_at: inst.started_at,
            finished_at: inst.finished_at,
            current,
            history,
        })
    }
}
