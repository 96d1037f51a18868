//! Step timeouts: the `workflow_timer` job kind. Entering a step with a
//! timeout plans one job per reminder and timeout, keyed by instance, node
//! and activation, so each fires once; the job acts only if that
//! activation of the node is still waiting, and writes its effect and its
//! own completion in one transaction.

use serde::Deserialize;
use serde_json::{Value, json};

use super::def::TimeoutAction;
use super::state::{Closing, DONE, NewTask, REJECTED, RUNNING, State, Step, TODO, TRANSFERRED};
use super::{TIMER_KIND, WorkflowError};
use crate::Engine;
use crate::ctx::{Ctx, Role};
use crate::ids::{TaskId, UserId};
use crate::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobOutcome, RunOutcome};
use crate::meta::field_type::Kinded;
use crate::store::entity::record;
use crate::store::{StoreError, parse_id};
use sea_orm::EntityTrait;

#[derive(Debug, Deserialize)]
struct TimerPayload {
    instance_id: String,
    node: String,
    activation: i32,
    what: String,
}

/// The `workflow_timer` handler.
pub struct TimerKind {
    engine: Engine,
}

impl TimerKind {
    /// A handler acting on flows of `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

impl Kinded for TimerKind {
    fn kind(&self) -> &'static str {
        TIMER_KIND
    }
}

impl JobKind for TimerKind {
    fn run<'a>(&'a self, ctx: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            match self.engine.fire_timer(&ctx, payload).await {
                Ok(outcome) => Ok(outcome),
                Err(TimerError::Job(e)) => Err(e),
                Err(TimerError::Flow(e)) => Err(JobError::handler(&e)),
            }
        })
    }

    fn runs_late(&self) -> bool {
        true
    }
}

enum TimerError {
    Job(JobError),
    Flow(WorkflowError),
}

impl<E: Into<WorkflowError>> From<E> for TimerError {
    fn from(e: E) -> Self {
        Self::Flow(e.into())
    }
}

impl Engine {
    #[allow(clippy::too_many_lines)]
    async fn fire_timer(&self, job: &JobCtx, payload: &Value) -> Result<JobOutcome, TimerError> {
        let p: TimerPayload = serde_json::from_value(payload.clone())
            .map_err(|e| StoreError::Corrupt(format!("workflow timer payload: {e}")))?;
        let tenant = job.job().tenant;
        let skip = |reason: &'static str| async move {
            let tx = job.begin().await.map_err(TimerError::Job)?;
            tx.commit(RunOutcome::Skipped, json!({ "reason": reason }))
                .await
                .map_err(TimerError::Job)
        };
        let inst = match self.instance_row(tenant, &p.instance_id).await {
            Ok(i) => i,
            Err(WorkflowError::NotFound { .. }) => return skip("the instance no longer exists").await,
            Err(e) => return Err(e.into()),
        };
        if inst.status != RUNNING {
            return skip("the flow has finished").await;
        }
        let state: State = serde_json::from_value(inst.state.clone())
            .map_err(|e| StoreError::Corrupt(format!("workflow state: {e}")))?;
        if !state
            .active
            .iter()
            .any(|a| a.node == p.node && a.activation == p.activation)
        {
            return skip("the step is no longer waiting").await;
        }
        let flow = self
            .flow_version(tenant, &inst.workflow_id, inst.workflow_version)
            .await?;
        let initiator: UserId = parse_id(&inst.initiator)?;
        let Some(row) = record::Entity::find_by_id(inst.record_id.clone())
            .one(self.db().conn())
            .await?
        else {
            return skip("the record no longer exists").await;
        };
        let values = row.data.as_object().cloned().unwrap_or_default();
        let people = self.flow_people(tenant, &flow, initiator, &values).await?;
        let open: Vec<_> = self
            .open_tasks(&inst.id)
            .await?
            .into_iter()
            .filter(|t| t.node_id == p.node && t.activation == p.activation)
            .collect();
        let now = job.now();
        let ctx = Ctx::new(tenant, initiator, Role::Member).at(now);
        let mut step = Step::new(
            &flow,
            state,
            values,
            initiator,
            &people,
            self.sandbox(),
            now,
            RUNNING,
        );
        let action = if p.what == "remind" {
            TimeoutAction::Remind
        } else {
            step.timeout_action(&p.node)
                .map_or(TimeoutAction::Remind, |(a, _)| a)
        };
        let label = flow
            .node(&p.node)
            .map_or(p.node.as_str(), |n| n.label())
            .to_owned();
        let node = Some(p.node.as_str());
        match action {
            TimeoutAction::Remind => {
                for t in &open {
                    if let Ok(u) = t.assignee.parse::<UserId>() {
                        step.notes.push((
                            u,
                            "催办 Reminder".to_owned(),
                            format!("{}: {label} is waiting for you", flow.name),
                        ));
                    }
                }
                let to: Vec<&str> = open.iter().map(|t| t.assignee.as_str()).collect();
                step.event("reminded", node, None, None, None, json!({ "to": to }));
            }
            TimeoutAction::Approve => {
                for t in &open {
                    step.closings.push(Closing::One {
                        id: t.id.clone(),
                        status: DONE,
                        result: Some("approved"),
                        comment: Some("auto-approved on timeout".to_owned()),
                    });
                }
                step.event(
                    "auto_approved",
                    node,
                    None,
                    None,
                    None,
                    json!({ "reason": "timeout" }),
                );
                step.signals.push(("approved", Some(p.node.clone())));
                step.deactivate(&p.node, p.activation);
                step.complete(&p.node, Vec::new())?;
            }
            TimeoutAction::Reject => {
                step.event(
                    "auto_rejected",
                    node,
                    None,
                    None,
                    None,
                    json!({ "reason": "timeout" }),
                );
                step.signals.push(("rejected", Some(p.node.clone())));
                step.finish(REJECTED, None, None);
            }
            TimeoutAction::Escalate => {
                let to = step
                    .timeout_action(&p.node)
                    .and_then(|(_, to)| to)
                    .and_then(|t| t.parse::<UserId>().ok())
                    .filter(|u| people.active.contains(u));
                let Some(to) = to else {
                    return skip("the escalation target is not an active member").await;
                };
                for t in &open {
                    step.closings.push(Closing::One {
                        id: t.id.clone(),
                        status: TRANSFERRED,
                        result: Some("escalated"),
                        comment: None,
                    });
                }
                step.tasks.push(NewTask {
                    id: TaskId::new(),
                    node: p.node.clone(),
                    kind: if flow
                        .node(&p.node)
                        .is_some_and(|n| n.kind == super::def::NodeKind::Fill)
                    {
                        "fill"
                    } else {
                        "approve"
                    },
                    assignee: to,
                    status: TODO,
                    activation: p.activation,
                    result: None,
                });
                let from: Vec<&str> = open.iter().map(|t| t.assignee.as_str()).collect();
                step.event(
                    "escalated",
                    node,
                    None,
                    None,
                    None,
                    json!({ "from": from, "to": to }),
                );
                step.notes.push((
                    to,
                    "超时转交 Escalated to you".to_owned(),
                    format!("{}: {label} timed out and is yours now", flow.name),
                ));
            }
        }
        let detail =
            json!({ "instance_id": inst.id, "node": p.node, "action": format!("{action:?}").to_lowercase() });
        let tx = job.begin().await.map_err(TimerError::Job)?;
        self.flush(tx.tx(), &ctx, &inst, step, row.version, false).await?;
        tx.commit(RunOutcome::Succeeded, detail)
            .await
            .map_err(TimerError::Job)
    }
}
