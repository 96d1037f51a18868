//! Automation rules: a trigger, an optional condition and a rhai script (or
//! declarative actions) that returns effects.
//!
//! Life of a firing:
//! 1. **Planning.** Record writes leave a `record_history` row in their own
//!    transaction (the outbox); [`Engine::dispatch_events`] turns undispatched
//!    rows into one job per matching rule. The clock kinds are planned by
//!    [`Engine::plan_rules`]: cron instants and, per rule and day, one query
//!    for the records whose date field falls due. Every firing is a job with
//!    an idempotency key (`rule:{id}:event:{history}`,
//!    `rule:{id}:at:{instant}`, `rule:{id}:record:{record}:{day}`,
//!    `rule:{id}:manual:{batch}:{record}`), so planning twice plans once.
//! 2. **Running.** The `rule_run` job kind loads the rule, evaluates the
//!    condition and the script in the sandbox (on a blocking thread, under
//!    the wall-clock limit), stages the effects (validation, form and tag
//!    lookup) and applies them in one transaction that also completes the
//!    job, so they happen exactly once or not at all.
//! 3. **Logging.** Every run leaves a `job_runs` row: rule, version, trigger,
//!    record, effects, log lines, error, duration.
//!
//! Invariants: scripts never write; a rule runs as its `run_as` member and
//! its reads and writes pass that member's permissions; effects carry the
//! chain of rules behind them ([`crate::ctx::Cause`]), so a rule is never
//! re-triggered by its own chain and chains stop at [`MAX_CHAIN`]; a rule
//! that fails [`MAX_CONSECUTIVE_FAILURES`] runs in a row is disabled and its
//! owner notified; disabling or deleting a rule cancels its pending firings
//! in the same transaction.

pub mod action;
mod crud;
pub(crate) use crud::firing_prefix;
mod dispatch;
mod effects;
mod error;
mod plan;
mod run;
pub mod trigger;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use error::AutomationError;
pub use plan::{ManualRunInput, SchedulerReport, TickOptions};
pub use run::{RULE_RUN_KIND, RuleRunKind, TestRunInput, TestRunOutput};

use crate::ids::{AppId, FormId, RuleId, UserId};

/// Longest accepted chain of rules triggering rules.
pub const MAX_CHAIN: usize = 5;
/// Failed runs in a row after which a rule is disabled.
pub const MAX_CONSECUTIVE_FAILURES: i32 = 5;
/// Most records one manual run may cover.
pub const MAX_MANUAL_RECORDS: usize = 100_000;
/// Most firings one planning pass enqueues per rule.
pub const MAX_PLANNED_PER_RULE: usize = 1000;

/// A rule as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleView {
    /// The rule.
    pub id: RuleId,
    /// Its app.
    pub app_id: AppId,
    /// The form whose records it works on.
    pub form_id: FormId,
    /// Display name.
    pub name: String,
    /// Optional description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Whether it fires.
    pub enabled: bool,
    /// Definition version, from 1.
    pub version: i32,
    /// The trigger object.
    pub trigger: Value,
    /// The condition expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The script.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Declarative actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Value>,
    /// The member it runs as.
    pub run_as: UserId,
    /// Who created it (notified when it is disabled).
    pub owner_id: UserId,
    /// Failed runs in a row.
    pub consecutive_failures: i32,
    /// Why it was disabled automatically, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// How its latest run ended (only in the app's rule list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<LastRun>,
}

/// The latest run of a rule, as the rule list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRun {
    /// `succeeded`, `failed` or `skipped`.
    pub outcome: String,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// The failure, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The next instants of a cron schedule, for the rule editor's preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedulePreview {
    /// The zone the expression is read in.
    pub timezone: String,
    /// The next firing instants, earliest first.
    pub times: Vec<DateTime<Utc>>,
}

/// Most instants one preview lists.
pub const MAX_PREVIEW_TIMES: usize = 20;

/// One saved version of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVersionView {
    /// Version number.
    pub version: i32,
    /// The definition as saved.
    pub definition: Value,
    /// Who saved it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The answer of a manual run request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualRun {
    /// Names this run's jobs (`GET /rules/{id}/batches/{batch}`).
    pub batch_id: String,
    /// How many records it covers (one job each).
    pub total: usize,
}

/// Progress of a manual run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct BatchProgress {
    /// The batch.
    pub batch_id: String,
    /// Jobs in it.
    pub total: u64,
    /// Not yet run (pending, or failed and waiting for a retry).
    pub pending: u64,
    /// Being run.
    pub running: u64,
    /// Done.
    pub succeeded: u64,
    /// Condition false or record gone.
    pub skipped: u64,
    /// Failed for good.
    pub failed: u64,
    /// Cancelled (the rule was disabled or deleted).
    pub cancelled: u64,
    /// True when nothing is left to run.
    pub done: bool,
}
