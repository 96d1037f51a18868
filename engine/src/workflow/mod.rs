//! Approval workflows (流程表单): flows as versioned data
//! ([`def::FlowDef`], checked against `schemas/workflow.schema.json` and as
//! a graph), instances started when a record of a flow form is created,
//! tasks per assignee of each waiting step, the task actions, step
//! timeouts through the job table ([`timer`]), and the inbox and history
//! views.
//!
//! Every action is computed in memory as a [`state::Step`] and written in
//! one transaction whose first statement bumps the instance version only if
//! it is still the one read: of two people acting at once, one wins and the
//! other gets `conflict`. Workflow events reach automation rules as
//! `record_history` rows (action `workflow`), through the same outbox as
//! record events.

pub mod close;
pub mod crud;
pub mod def;
pub mod error;
pub mod run;
pub mod state;
pub mod timer;
pub mod view;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub use error::WorkflowError;
pub use run::{ActionInput, TaskAction};
pub use view::{TaskBox, TaskQuery};

use crate::ids::{AppId, FormId, InstanceId, RecordId, TaskId, UserId, WorkflowId};

/// The job kind of step reminders and timeouts.
pub const TIMER_KIND: &str = "workflow_timer";

/// A flow as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowView {
    /// Id.
    pub id: WorkflowId,
    /// The form's app.
    pub app_id: AppId,
    /// The form.
    pub form_id: FormId,
    /// Name.
    pub name: String,
    /// Whether new records of the form start it.
    pub active: bool,
    /// Current version.
    pub version: i32,
    /// The definition as saved.
    pub definition: Value,
    /// Creator.
    pub created_by: UserId,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

/// One saved version of a flow.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowVersionView {
    /// Version number.
    pub version: i32,
    /// The definition.
    pub definition: Value,
    /// Who saved it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    /// Id.
    pub id: TaskId,
    /// Its instance.
    pub instance_id: InstanceId,
    /// The record's app.
    pub app_id: AppId,
    /// The record's form.
    pub form_id: FormId,
    /// The record.
    pub record_id: RecordId,
    /// The node id.
    pub node: String,
    /// The node's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// `start`, `approve`, `fill` or `cc`.
    pub kind: String,
    /// Who holds it.
    pub assignee: UserId,
    /// `todo`, `done`, `cancelled`, `transferred` or `cc`.
    pub status: String,
    /// `approved`, `rejected`, `returned`, `submitted`, `transferred`,
    /// `escalated`.
    pub result: Option<String>,
    /// The holder's comment.
    pub comment: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Acted on.
    pub acted_at: Option<DateTime<Utc>>,
    /// The instance's status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_status: Option<String>,
}

/// A page of tasks.
#[derive(Debug, Clone, Serialize)]
pub struct TaskList {
    /// The tasks, newest first.
    pub tasks: Vec<TaskView>,
    /// Whether another page follows.
    pub more: bool,
    /// How many tasks wait for the caller (every app and page; the inbox
    /// badge).
    pub todo_count: u64,
}

/// One task with what its holder may see and do.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    /// The task.
    pub task: TaskView,
    /// The node's kind.
    pub node_kind: Option<def::NodeKind>,
    /// Every field's permission at this step.
    pub fields: Map<String, Value>,
    /// The record without the fields hidden at this step.
    pub record: Value,
    /// The actions open now.
    pub actions: Vec<String>,
}

/// A step waiting now.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentStep {
    /// Node id.
    pub node: String,
    /// Display name.
    pub name: Option<String>,
    /// Kind.
    pub kind: Option<def::NodeKind>,
    /// Any one or all.
    pub mode: def::Mode,
    /// Which entry of the node.
    pub activation: i32,
    /// Entered.
    pub entered_at: DateTime<Utc>,
    /// Its tasks.
    pub tasks: Vec<TaskView>,
}

/// One history entry.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// Order within the instance, from 1.
    pub seq: i32,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (absent for the flow itself: routing, timeouts).
    pub actor: Option<UserId>,
    /// `submitted`, `step_entered`, `approved`, `filled`, `rejected`,
    /// `returned`, `resubmitted`, `transferred`, `approver_added`, `cc`,
    /// `commented`, `reminded`, `escalated`, `auto_approved`,
    /// `auto_rejected`, `withdrawn`, `finished`, `guard_failed`.
    pub action: String,
    /// The node.
    pub node: Option<String>,
    /// The task.
    pub task_id: Option<TaskId>,
    /// Comment.
    pub comment: Option<String>,
    /// Details: changed fields, transfer targets, assignees, status.
    pub detail: Option<Value>,
}

/// A record's flow.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// Instance id.
    pub id: InstanceId,
    /// The flow.
    pub workflow_id: WorkflowId,
    /// The flow version it runs.
    pub workflow_version: i32,
    /// The form.
    pub form_id: FormId,
    /// The record.
    pub record_id: RecordId,
    /// `running`, `approved`, `rejected` or `withdrawn`.
    pub status: String,
    /// Who submitted it.
    pub initiator: UserId,
    /// Changes with every action.
    pub version: i32,
    /// Submitted.
    pub started_at: DateTime<Utc>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Steps waiting now.
    pub current: Vec<CurrentStep>,
    /// Everything that happened, in order.
    pub history: Vec<HistoryEntry>,
}
