//! An instance's working state (stored as JSON in `workflow_instances.state`)
//! and the in-memory step that moves it: entering nodes, completing them,
//! and collecting the writes one action makes, so they are applied in one
//! transaction guarded by the instance version.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::WorkflowError;
use super::def::{FlowDef, Mode, NodeKind, Perm, TimeoutAction};
use crate::ids::UserId;
use crate::script::{RunState, Sandbox};

/// Instance statuses.
pub const RUNNING: &str = "running";
/// Finished through an end node.
pub const APPROVED: &str = "approved";
/// Ended by a rejection.
pub const REJECTED: &str = "rejected";
/// Taken back by the initiator.
pub const WITHDRAWN: &str = "withdrawn";
/// Ended by an owner or admin while it ran.
pub const CLOSED: &str = "closed";

/// Task statuses.
pub const TODO: &str = "todo";
/// Acted on by its assignee (or by a timeout).
pub const DONE: &str = "done";
/// Closed without action (another approver completed the step, the flow
/// moved on or ended).
pub const CANCELLED: &str = "cancelled";
/// Handed to someone else.
pub const TRANSFERRED: &str = "transferred";
/// A carbon copy: nothing to do.
pub const CC: &str = "cc";

/// Nodes entered in one action at most (guards against a loop of routing
/// nodes that the definition check cannot rule out).
const MAX_HOPS: usize = 200;

/// A node waiting for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    /// Node id.
    pub node: String,
    /// Which entry of the node this is (tasks carry it).
    pub activation: i32,
    /// When it was entered.
    pub entered_at: DateTime<Utc>,
}

/// The stored state of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Last history sequence number used.
    #[serde(default)]
    pub seq: i32,
    /// Last activation number used (the submission is 0).
    #[serde(default)]
    pub activation: i32,
    /// Nodes waiting for people.
    #[serde(default)]
    pub active: Vec<Active>,
    /// Join node → the nodes whose branches have arrived.
    #[serde(default)]
    pub joins: BTreeMap<String, BTreeSet<String>>,
    /// Nodes completed, in order (returns may go back to one).
    #[serde(default)]
    pub visited: Vec<String>,
    /// Who completed the latest step (for `previous` assignees).
    #[serde(default)]
    pub previous: Vec<String>,
    /// Whether anyone acted since the latest submission (withdrawing is
    /// allowed only while nobody has).
    #[serde(default)]
    pub acted: bool,
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Its id (known before insert, for history and notifications).
    pub id: crate::ids::TaskId,
    /// Node id.
    pub node: String,
    /// `start`, `approve`, `fill` or `cc`.
    pub kind: &'static str,
    /// Assignee.
    pub assignee: UserId,
    /// `todo` or `cc`.
    pub status: &'static str,
    /// Activation.
    pub activation: i32,
    /// `submitted` for the submission task.
    pub result: Option<&'static str>,
}

/// One history entry to write.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened (`submitted`, `approved`, `step_entered`, ...).
    pub action: &'static str,
    /// The node it happened at.
    pub node: Option<String>,
    /// The task it happened to.
    pub task: Option<String>,
    /// Who did it (`None`: the flow itself, a timeout).
    pub actor: Option<UserId>,
    /// Comment.
    pub comment: Option<String>,
    /// Details (changed fields, transfer target, ...).
    pub detail: Value,
}

/// A timeout job to plan.
#[derive(Debug, Clone)]
pub struct Timer {
    /// Node id.
    pub node: String,
    /// Activation.
    pub activation: i32,
    /// `remind` or `timeout`.
    pub what: &'static str,
    /// When.
    pub at: DateTime<Utc>,
}

/// Task closings to write.
#[derive(Debug, Clone)]
pub enum Closing {
    /// One task: new status and result.
    One {
        /// Task id.
        id: String,
        /// New status.
        status: &'static str,
        /// Result.
        result: Option<&'static str>,
        /// Comment.
        comment: Option<String>,
    },
    /// Every open task of a node activation.
    Activation {
        /// Node.
        node: String,
        /// Activation.
        activation: i32,
    },
    /// Every open task of the instance.
    All,
}

/// People the flow's assignees may name, looked up before the transaction.
#[derive(Debug, Clone, Default)]
pub struct People {
    /// Role name → its active members.
    pub roles: BTreeMap<String, Vec<UserId>>,
    /// The initiator's manager.
    pub manager: Option<UserId>,
    /// Active members among those the flow names directly.
    pub active: BTreeSet<UserId>,
    /// The tenant's owners (tasks nobody else can take go to them).
    pub owners: Vec<UserId>,
}

/// One action's work on an instance, applied later in one transaction.
pub struct Step<'a> {
    /// The flow version the instance runs.
    pub flow: &'a FlowDef,
    /// The state being changed.
    pub state: State,
    /// The record's values (guards and member-field assignees read them).
    pub record: Map<String, Value>,
    /// The initiator.
    pub initiator: UserId,
    /// People lookups.
    pub people: &'a People,
    /// The sandbox guards run in.
    pub sandbox: &'a Sandbox,
    /// The instant of the action.
    pub now: DateTime<Utc>,
    /// New status when the flow ends.
    pub status: &'static str,
    /// Tasks to create.
    pub tasks: Vec<NewTask>,
    /// Tasks to close.
    pub closings: Vec<Closing>,
    /// History to write.
    pub events: Vec<Event>,
    /// Rule-facing events (`step_entered`, `approved`, ...) with their node.
    pub signals: Vec<(&'static str, Option<String>)>,
    /// In-app notifications: member, title, body.
    pub notes: Vec<(UserId, String, String)>,
    /// Timeout jobs to plan.
    pub timers: Vec<Timer>,
    hops: usize,
}

impl<'a> Step<'a> {
    /// A step over `state`.
    #[must_use]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        flow: &'a FlowDef,
        state: State,
        record: Map<String, Value>,
        initiator: UserId,
        people: &'a People,
        sandbox: &'a Sandbox,
        now: DateTime<Utc>,
        status: &'static str,
    ) -> Self {
        Self {
            flow,
            state,
            record,
            initiator,
            people,
            sandbox,
            now,
            status,
            tasks: Vec::new(),
            closings: Vec::new(),
            events: Vec::new(),
            signals: Vec::new(),
            notes: Vec::new(),
            timers: Vec::new(),
            hops: 0,
        }
    }

    /// Records a history entry.
    pub fn event(
        &mut self,
        action: &'static str,
        node: Option<&str>,
        task: Option<String>,
        actor: Option<UserId>,
        comment: Option<String>,
        detail: Value,
    ) {
        self.events.push(Event {
            action,
            node: node.map(str::to_owned),
            task,
            actor,
            comment,
            detail,
        });
    }

    /// Whether the flow is still running after this step.
    #[must_use]
    pub fn running(&self) -> bool {
        self.status == RUNNING
    }

    /// Takes `node` off the active list.
    pub fn deactivate(&mut self, node: &str, activation: i32) {
        self.state
            .active
            .retain(|a| !(a.node == node && a.activation == activation));
    }

    /// Ends the flow with `status`: every open task closes, nothing stays
    /// active, the initiator is told.
    pub fn finish(&mut self, status: &'static str, actor: Option<UserId>, comment: Option<String>) {
        self.status = status;
        self.state.active.clear();
        self.state.joins.clear();
        self.closings.push(Closing::All);
        self.event(
            "finished",
            None,
            None,
            actor,
            comment,
            json!({ "status": status }),
        );
        self.signals.push(("finished", None));
        let (title, body) = match status {
            APPROVED => (
                "审批通过 Approved",
                format!("{} finished: approved", self.flow.name),
            ),
            REJECTED => (
                "审批被拒绝 Rejected",
                format!("{} finished: rejected", self.flow.name),
            ),
            CLOSED => (
                "流程已结束 Closed",
                format!("{} was closed by an administrator", self.flow.name),
            ),
            _ => (
                "流程已撤回 Withdrawn",
                format!("{} was withdrawn", self.flow.name),
            ),
        };
        self.notes.push((self.initiator, title.to_owned(), body));
    }

    /// Completes `node` (its people are done, or it routes by itself) and
    /// enters what follows.
    ///
    /// # Errors
    /// `conflict` when routing loops without end.
    pub fn complete(&mut self, node: &str, by: Vec<UserId>) -> Result<(), WorkflowError> {
        if !self.running() {
            return Ok(());
        }
        self.state.visited.push(node.to_owned());
        if !by.is_empty() {
            self.state.previous = by.iter().map(ToString::to_string).collect();
        }
        let Some(n) = self.flow.node(node) else {
            return Err(WorkflowError::not_found("node", node));
        };
        let targets: Vec<String> = if n.kind == NodeKind::Parallel {
            self.flow.outgoing(node).map(|e| e.to.clone()).collect()
        } else {
            self.route(node).into_iter().collect()
        };
        for t in targets {
            if !self.running() {
                break;
            }
            self.enter(&t, node)?;
        }
        Ok(())
    }

    /// The edge taken out of a non-parallel node: the first guard that
    /// holds, else the default, else the only edge.
    fn route(&mut self, node: &str) -> Option<String> {
        let edges: Vec<_> = self.flow.outgoing(node).cloned().collect();
        for (i, e) in edges.iter().enumerate() {
            let Some(guard) = &e.when else {
                continue;
            };
            match self.guard(guard) {
                Ok(true) => return Some(e.to.clone()),
                Ok(false) => {}
                Err(message) => self.event(
                    "guard_failed",
                    Some(node),
                    None,
                    None,
                    None,
                    json!({ "edge": i, "to": e.to, "error": message }),
                ),
            }
        }
        edges
            .iter()
            .find(|e| e.default)
            .or_else(|| edges.iter().find(|e| e.when.is_none()))
            .map(|e| e.to.clone())
    }

    fn guard(&self, src: &str) -> Result<bool, String> {
        let ast = self.sandbox.compile_rule(src).map_err(|e| e.to_string())?;
        let record = crate::script::convert::shared_map(&self.record);
        let state = RunState::new(self.now, self.now.date_naive(), None);
        let (result, _) = self.sandbox.run_rule(&ast, Some(&record), None, state);
        match result.map_err(|e| e.to_string())? {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            other => Err(format!("the guard gave {other}, not true or false")),
        }
    }

    /// Enters `node` from `from`.
    ///
    /// # Errors
    /// `conflict` when routing loops without end.
    pub fn enter(&mut self, node: &str, from: &str) -> Result<(), WorkflowError> {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            return Err(WorkflowError::Conflict(format!(
                "the flow passed {MAX_HOPS} nodes without reaching a person or an end; check its guards"
            )));
        }
        let Some(n) = self.flow.node(node).cloned() else {
            return Err(WorkflowError::not_found("node", node));
        };
        match n.kind {
            NodeKind::End => {
                self.state.visited.push(node.to_owned());
                self.finish(APPROVED, None, None);
                Ok(())
            }
            NodeKind::Condition | NodeKind::Parallel => self.complete(node, Vec::new()),
            NodeKind::Join => {
                let arrived = self.state.joins.entry(node.to_owned()).or_default();
                arrived.insert(from.to_owned());
                if arrived.len() >= self.flow.incoming_count(node) {
                    self.state.joins.remove(node);
                    self.complete(node, Vec::new())
                } else {
                    Ok(())
                }
            }
            NodeKind::Cc => {
                let people = self.assignees(&n.id);
                self.state.activation += 1;
                let activation = self.state.activation;
                for p in &people {
                    self.tasks.push(NewTask {
                        id: crate::ids::TaskId::new(),
                        node: n.id.clone(),
                        kind: "cc",
                        assignee: *p,
                        status: CC,
                        activation,
                        result: None,
                    });
                    self.notes.push((
                        *p,
                        "抄送 CC".to_owned(),
                        format!("{}: {} (for your information)", self.flow.name, n.label()),
                    ));
                }
                self.event("cc", Some(node), None, None, None, json!({ "to": people }));
                self.complete(node, Vec::new())
            }
            NodeKind::Start => {
                self.open(&n.id, "start", vec![self.initiator], false);
                Ok(())
            }
            NodeKind::Approve | NodeKind::Fill => {
                let people = self.assignees(&n.id);
                let kind = if n.kind == NodeKind::Approve {
                    "approve"
                } else {
                    "fill"
                };
                let fallback = people.is_empty();
                let people = if fallback {
                    self.people.owners.clone()
                } else {
                    people
                };
                self.open(&n.id, kind, people, fallback);
                Ok(())
            }
        }
    }

    /// Activates a node that waits for `people`.
    fn open(&mut self, node: &str, kind: &'static str, people: Vec<UserId>, fallback: bool) {
        self.state.activation += 1;
        let activation = self.state.activation;
        self.state.active.push(Active {
            node: node.to_owned(),
            activation,
            entered_at: self.now,
        });
        let label = self.flow.node(node).map_or(node, |n| n.label()).to_owned();
        for p in &people {
            let id = crate::ids::TaskId::new();
            self.tasks.push(NewTask {
                id,
                node: node.to_owned(),
                kind,
                assignee: *p,
                status: TODO,
                activation,
                result: None,
            });
            let title = match kind {
                "start" => "退回待重新提交 Returned to you",
                "fill" => "待填写 To fill in",
                _ => "待审批 To approve",
            };
            self.notes
                .push((*p, title.to_owned(), format!("{}: {label}", self.flow.name)));
        }
        self.event(
            "step_entered",
            Some(node),
            None,
            None,
            None,
            json!({ "assignees": people, "activation": activation, "fallback_to_owners": fallback }),
        );
        self.signals.push(("step_entered", Some(node.to_owned())));
        if let Some(t) = self.flow.node(node).and_then(|n| n.timeout.clone()) {
            if let Some(r) = t.remind_hours {
                self.timers.push(Timer {
                    node: node.to_owned(),
                    activation,
                    what: "remind",
                    at: self.now + hours(r),
                });
            }
            self.timers.push(Timer {
                node: node.to_owned(),
                activation,
                what: "timeout",
                at: self.now + hours(t.hours),
            });
        }
    }

    /// Resolves a node's assignees against the record and the lookups:
    /// active members only, each once, in the order the sources name them.
    fn assignees(&self, node: &str) -> Vec<UserId> {
        let Some(a) = self.flow.node(node).and_then(|n| n.assignees.clone()) else {
            return Vec::new();
        };
        let mut out: Vec<UserId> = Vec::new();
        let push = |u: UserId, out: &mut Vec<UserId>| {
            if !out.contains(&u) {
                out.push(u);
            }
        };
        for u in a.users.iter().filter_map(|u| u.parse::<UserId>().ok()) {
            if self.people.active.contains(&u) {
                push(u, &mut out);
            }
        }
        for r in &a.roles {
            for u in self.people.roles.get(r).into_iter().flatten() {
                push(*u, &mut out);
            }
        }
        if let Some(key) = &a.field {
            let ids: Vec<UserId> = match self.record.get(key) {
                Some(Value::String(s)) => s.parse().ok().into_iter().collect(),
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(|s| s.parse().ok())
                    .collect(),
                _ => Vec::new(),
            };
            for u in ids {
                if self.people.active.contains(&u) {
                    push(u, &mut out);
                }
            }
        }
        if a.initiator {
            push(self.initiator, &mut out);
        }
        if a.initiator_manager
            && let Some(m) = self.people.manager
        {
            push(m, &mut out);
        }
        if a.previous {
            for u in self
                .state
                .previous
                .iter()
                .filter_map(|u| u.parse::<UserId>().ok())
            {
                push(u, &mut out);
            }
        }
        out
    }

    /// The node's mode.
    #[must_use]
    pub fn mode(&self, node: &str) -> Mode {
        self.flow.node(node).and_then(|n| n.mode).unwrap_or_default()
    }

    /// The permission of `field` at `node`.
    #[must_use]
    pub fn perm(&self, node: &str, field: &str) -> Perm {
        self.flow.node(node).map_or(Perm::Read, |n| n.perm(field))
    }

    /// The timeout action of a node.
    #[must_use]
    pub fn timeout_action(&self, node: &str) -> Option<(TimeoutAction, Option<String>)> {
        self.flow
            .node(node)
            .and_then(|n| n.timeout.as_ref())
            .map(|t| (t.then, t.to.clone()))
    }
}

fn hours(h: f64) -> TimeDelta {
    #[allow(clippy::cast_possible_truncation)]
    let secs = (h * 3600.0).round() as i64;
    TimeDelta::seconds(secs)
}
