//! Flow definitions: the data model of `schemas/workflow.schema.json` and
//! the graph checks the schema cannot express.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::meta::model::FormDef;
use crate::script::Sandbox;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    /// Where the initiator submits (and resubmits after a return).
    Start,
    /// Assignees approve or reject.
    Approve,
    /// Assignees fill in their editable fields.
    Fill,
    /// Assignees are notified; the flow does not wait.
    Cc,
    /// Routes by its edges' guards; a default edge is required.
    Condition,
    /// Takes every outgoing edge at once.
    Parallel,
    /// Waits for every incoming edge.
    Join,
    /// Finishes the flow as approved.
    End,
}

impl NodeKind {
    /// Whether the node waits for people.
    #[must_use]
    pub const fn has_tasks(self) -> bool {
        matches!(self, Self::Approve | Self::Fill)
    }

    /// Whether the node names assignees.
    #[must_use]
    pub const fn needs_assignees(self) -> bool {
        matches!(self, Self::Approve | Self::Fill | Self::Cc)
    }
}

/// Any one assignee completes a step (或签), or all must (会签).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The first approval completes the step.
    #[default]
    Any,
    /// Every assignee must approve.
    All,
}

/// A field's permission at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Perm {
    /// Absent from the assignee's view.
    Hidden,
    /// Shown, not writable.
    Read,
    /// Writable by the assignee's action.
    Edit,
}

/// Who gets a node's tasks. Every source named adds its people.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignees {
    /// Named members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Every active member holding one of these roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The members a member field of the record names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The member who submitted the record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub initiator: bool,
    /// The initiator's manager.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub initiator_manager: bool,
    /// Whoever completed the previous step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub previous: bool,
}

/// What happens when a step waits too long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// Remind the assignees again.
    #[default]
    Remind,
    /// Approve on the assignees' behalf.
    Approve,
    /// Reject, ending the flow.
    Reject,
    /// Hand the open tasks to `to`.
    Escalate,
}

/// A node's time limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    /// Hours after the step is entered.
    pub hours: f64,
    /// Remind the open tasks' assignees after this many hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_hours: Option<f64>,
    /// What happens at `hours`.
    #[serde(default)]
    pub then: TimeoutAction,
    /// The member an escalation goes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique within the flow; history and returns name it.
    pub id: String,
    /// What it does.
    pub kind: NodeKind,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who acts (approve, fill) or is notified (cc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignees: Option<Assignees>,
    /// Any one or all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Field permissions at this node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Perm>,
    /// Time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
}

impl Node {
    /// The permission of `field` here: as set, else editable at the start
    /// node and read-only elsewhere.
    #[must_use]
    pub fn perm(&self, field: &str) -> Perm {
        self.fields
            .get(field)
            .copied()
            .unwrap_or(if self.kind == NodeKind::Start {
                Perm::Edit
            } else {
                Perm::Read
            })
    }

    /// Display name, else the id.
    #[must_use]
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// One edge; `when` guards it, `default` is taken when no guard holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Source node id.
    pub from: String,
    /// Target node id.
    pub to: String,
    /// A rhai expression over `record`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The branch taken when no guard holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A parsed flow definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDef {
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether new records of the form start this flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
}

impl FlowDef {
    /// The node with this id.
    #[must_use]
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The start node (a checked definition has exactly one).
    #[must_use]
    pub fn start(&self) -> Option<&Node> {
        self.nodes.iter().find(|n| n.kind == NodeKind::Start)
    }

    /// Edges leaving `id`, in definition order.
    pub fn outgoing<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.from == id)
    }

    /// How many edges enter `id`.
    #[must_use]
    pub fn incoming_count(&self, id: &str) -> usize {
        self.edges.iter().filter(|e| e.to == id).count()
    }
}

/// Checks the graph and everything the schema cannot: one start; node ids
/// unique; edges between existing nodes; a default branch wherever edges
/// carry guards (and on every condition node); every node reachable from
/// the start; an end reachable from every node (no cycle without exit);
/// joins entered by at least two edges; assignees, fields and timeouts
/// that make sense for the form; guards that compile. Every problem is
/// reported, naming the node (`nodes/<id>`) or edge (`edges/<i>`).
pub fn check(def: &FlowDef, form: &FormDef, sandbox: &Sandbox) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut ids = BTreeSet::new();
    for n in &def.nodes {
        if !ids.insert(n.id.as_str()) {
            errs.push(FieldError::new(
                format!("nodes/{}", n.id),
                "node ids must be unique",
            ));
        }
    }
    let starts: Vec<&Node> = def.nodes.iter().filter(|n| n.kind == NodeKind::Start).collect();
    if starts.len() != 1 {
        errs.push(FieldError::new("nodes", "a flow has exactly one start node"));
    }
    if !def.nodes.iter().any(|n| n.kind == NodeKind::End) {
        errs.push(FieldError::new("nodes", "a flow needs an end node"));
    }
    for (i, e) in def.edges.iter().enumerate() {
        for (side, id) in [("from", &e.from), ("to", &e.to)] {
            if !ids.contains(id.as_str()) {
                errs.push(FieldError::new(
                    format!("edges/{i}/{side}"),
                    format!("no node `{id}`"),
                ));
            }
        }
        if let Some(src) = &e.when
            && let Err(err) = sandbox.compile_rule(src)
        {
            let detail = crate::error::HasCode::details(&err);
            let (line, col) = detail.first().map_or((None, None), |d| (d.line, d.column));
            errs.push(FieldError::new(format!("edges/{i}/when"), err.to_string()).at(line, col));
        }
        if e.when.is_some() && e.default {
            errs.push(FieldError::new(
                format!("edges/{i}"),
                "an edge is either guarded (`when`) or the default branch, not both",
            ));
        }
    }
    for n in &def.nodes {
        check_node(def, n, form, &mut errs);
    }
    if errs.is_empty() {
        check_reach(def, &mut errs);
    }
    errs
}

fn check_node(def: &FlowDef, n: &Node, form: &FormDef, errs: &mut Vec<FieldError>) {
    let at = |what: &str| format!("nodes/{}{what}", n.id);
    let out: Vec<&Edge> = def.outgoing(&n.id).collect();
    let incoming = def.incoming_count(&n.id);
    match n.kind {
        NodeKind::Start if incoming > 0 => {
            errs.push(FieldError::new(at(""), "no edge may enter the start node"));
        }
        NodeKind::End if !out.is_empty() => {
            errs.push(FieldError::new(at(""), "no edge may leave an end node"));
        }
        NodeKind::Join if incoming < 2 => {
            errs.push(FieldError::new(
                at(""),
                "a join needs at least two incoming edges",
            ));
        }
        _ => {}
    }
    if n.kind != NodeKind::End && out.is_empty() {
        errs.push(FieldError::new(at(""), "no edge leaves this node"));
    }
    let guarded = out.iter().filter(|e| e.when.is_some()).count();
    let defaults = out.iter().filter(|e| e.default).count();
    if n.kind == NodeKind::Parallel {
        if guarded > 0 || defaults > 0 {
            errs.push(FieldError::new(
                at(""),
                "a parallel split takes every edge: no guards or default",
            ));
        }
        if out.len() < 2 {
            errs.push(FieldError::new(
                at(""),
                "a parallel split needs at least two outgoing edges",
            ));
        }
    } else {
        if defaults > 1 {
            errs.push(FieldError::new(
                at(""),
                "only one outgoing edge may be the default branch",
            ));
        }
        if (n.kind == NodeKind::Condition || guarded > 0 || out.len() > 1) && defaults == 0 && !out.is_empty()
        {
            errs.push(FieldError::new(
                at(""),
                "a node with branches needs a default branch (an edge with \"default\": true)",
            ));
        }
        if out.len() > 1 && guarded + defaults < out.len() {
            errs.push(FieldError::new(
                at(""),
                "every branch but the default needs a guard (`when`); use a parallel node to take several",
            ));
        }
    }
    match (&n.assignees, n.kind.needs_assignees()) {
        (None, true) => errs.push(FieldError::new(at("/assignees"), "this step needs assignees")),
        (Some(_), false) => errs.push(FieldError::new(
            at("/assignees"),
            "this node kind has no assignees",
        )),
        (Some(a), true) => check_assignees(a, form, &at("/assignees"), errs),
        (None, false) => {}
    }
    if n.mode.is_some() && !n.kind.has_tasks() {
        errs.push(FieldError::new(
            at("/mode"),
            "only approve and fill steps have a mode",
        ));
    }
    if !n.fields.is_empty()
        && !matches!(
            n.kind,
            NodeKind::Start | NodeKind::Approve | NodeKind::Fill | NodeKind::Cc
        )
    {
        errs.push(FieldError::new(at("/fields"), "this node kind shows no fields"));
    }
    for key in n.fields.keys() {
        if !form.fields.iter().any(|f| &f.key == key) {
            errs.push(FieldError::new(
                at(&format!("/fields/{key}")),
                "no such field in the form",
            ));
        }
    }
    if let Some(t) = &n.timeout {
        if !n.kind.has_tasks() {
            errs.push(FieldError::new(
                at("/timeout"),
                "only approve and fill steps time out",
            ));
        }
        match (t.then, &t.to) {
            (TimeoutAction::Escalate, None) => {
                errs.push(FieldError::new(
                    at("/timeout/to"),
                    "an escalation names the member it goes to",
                ));
            }
            (TimeoutAction::Escalate, Some(_)) | (_, None) => {}
            (_, Some(_)) => {
                errs.push(FieldError::new(
                    at("/timeout/to"),
                    "only an escalation names a member",
                ));
            }
        }
        if t.remind_hours.is_some_and(|r| r >= t.hours) {
            errs.push(FieldError::new(
                at("/timeout/remind_hours"),
                "the reminder comes before the timeout",
            ));
        }
        if t.then == TimeoutAction::Approve && n.kind == NodeKind::Fill {
            errs.push(FieldError::new(
                at("/timeout/then"),
                "a fill step cannot be approved automatically",
            ));
        }
    }
}

fn check_assignees(a: &Assignees, form: &FormDef, at: &str, errs: &mut Vec<FieldError>) {
    if a.users.is_empty()
        && a.roles.is_empty()
        && a.field.is_none()
        && !a.initiator
        && !a.initiator_manager
        && !a.previous
    {
        errs.push(FieldError::new(at, "name at least one assignee source"));
    }
    if let Some(key) = &a.field {
        match form.fields.iter().find(|f| &f.key == key) {
            None => errs.push(FieldError::new(
                format!("{at}/field"),
                "no such field in the form",
            )),
            Some(f) if f.kind != "member" => {
                errs.push(FieldError::new(format!("{at}/field"), "must be a member field"));
            }
            Some(_) => {}
        }
    }
}

/// Reachability: every node from the start, and an end from every node.
fn check_reach(def: &FlowDef, errs: &mut Vec<FieldError>) {
    let Some(start) = def.start() else {
        return;
    };
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut prev: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in &def.edges {
        next.entry(e.from.as_str()).or_default().push(e.to.as_str());
        prev.entry(e.to.as_str()).or_default().push(e.from.as_str());
    }
    let walk = |from: Vec<&str>, links: &BTreeMap<&str, Vec<&str>>| -> BTreeSet<String> {
        let mut seen: BTreeSet<String> = from.iter().map(|s| (*s).to_owned()).collect();
        let mut queue: VecDeque<&str> = from.into_iter().collect();
        while let Some(n) = queue.pop_front() {
            for &m in links.get(n).map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(m.to_owned()) {
                    queue.push_back(m);
                }
            }
        }
        seen
    };
    let reachable = walk(vec![start.id.as_str()], &next);
    let ends: Vec<&str> = def
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::End)
        .map(|n| n.id.as_str())
        .collect();
    let exits = walk(ends, &prev);
    for n in &def.nodes {
        if !reachable.contains(&n.id) {
            errs.push(FieldError::new(
                format!("nodes/{}", n.id),
                format!("node `{}` is unreachable from the start", n.id),
            ));
        } else if !exits.contains(&n.id) {
            errs.push(FieldError::new(
                format!("nodes/{}", n.id),
                format!("node `{}` cannot reach an end (a cycle without exit?)", n.id),
            ));
        }
    }
}
