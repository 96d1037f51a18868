//! Approval flows on real SQLite and real PostgreSQL: definitions refused
//! with the node named, the contract approval (thresholds, all-must-approve,
//! field permissions, the record lock), return and resubmit, two approvers
//! racing, timeouts through the job table with a moved clock, bad input,
//! and workflow events firing automation rules.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::TestDb;
use engine::automation::TickOptions;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::ids::{AppId, FormId, RecordId, TaskId};
use engine::jobs::{Worker, WorkerConfig};
use engine::meta::app::AppInput;
use engine::record::RecordInput;
use engine::workflow::{InstanceView, TaskBox, TaskQuery, WorkflowError};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Map, Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).single().unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

struct Kit {
    owner: Ctx,
    sales: Ctx,
    manager: Ctx,
    fin1: Ctx,
    fin2: Ctx,
    boss: Ctx,
    app: AppId,
    contracts: FormId,
}

async fn kit(t: &TestDb, slug: &str) -> Kit {
    let owner = t.tenant(slug).await.at(t0());
    let app = t
        .engine
        .create_app(
            &owner,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let contracts = t
        .engine
        .create_form(
            &owner,
            app,
            json!({"name": "contracts", "fields": [
                {"key": "title", "label": "Title", "type": "text", "required": true},
                {"key": "amount", "label": "Amount", "type": "number", "required": true},
                {"key": "terms", "label": "Payment terms", "type": "text", "max_length": 20},
                {"key": "cost", "label": "Cost", "type": "number"}
            ]}),
        )
        .await
        .unwrap()
        .id;
    Kit {
        sales: t.member(&owner, Role::Member).await,
        manager: t.member(&owner, Role::Member).await,
        fin1: t.member(&owner, Role::Member).await,
        fin2: t.member(&owner, Role::Member).await,
        boss: t.member(&owner, Role::Member).await,
        owner,
        app,
        contracts,
    }
}

impl Kit {
    fn contract_flow(&self) -> Value {
        json!({
            "name": "Contract approval",
            "nodes": [
                {"id": "start", "kind": "start", "fields": {"amount": "read"}},
                {"id": "mgr", "kind": "approve", "name": "Sales manager",
                 "assignees": {"users": [self.manager.actor]}, "mode": "any",
                 "fields": {"amount": "read", "terms": "edit", "cost": "hidden"},
                 "timeout": {"hours": 24, "then": "escalate", "to": self.boss.actor}},
                {"id": "gate", "kind": "condition"},
                {"id": "finance", "kind": "approve", "name": "Finance",
                 "assignees": {"users": [self.fin1.actor, self.fin2.actor]}, "mode": "all",
                 "fields": {"terms": "edit", "amount": "read"}},
                {"id": "end", "kind": "end"}
            ],
            "edges": [
                {"from": "start", "to": "mgr"},
                {"from": "mgr", "to": "gate"},
                {"from": "gate", "to": "finance", "when": "record.amount > 100000"},
                {"from": "gate", "to": "end", "default": true},
                {"from": "finance", "to": "end"}
            ]
        })
    }

    async fn flow(&self, t: &TestDb) {
        t.engine
            .create_workflow(&self.owner, self.contracts, self.contract_flow())
            .await
            .expect("flow");
    }

    async fn submit(&self, t: &TestDb, amount: i64) -> RecordId {
        t.engine
            .create_record(
                &self.sales,
                self.contracts,
                RecordInput {
                    data: obj(json!({"title": "Deal", "amount": amount, "terms": "30 days", "cost": 5})),
                },
                None,
            )
            .await
            .expect("contract")
            .id
    }

    async fn instance(&self, t: &TestDb, id: RecordId) -> InstanceView {
        t.engine
            .instance_view(&self.owner, self.contracts, id)
            .await
            .expect("instance")
    }
}

async fn todo(t: &TestDb, who: &Ctx) -> Vec<TaskId> {
    let tasks = t
        .engine
        .list_tasks(who, TaskQuery::default())
        .await
        .expect("tasks")
        .tasks;
    // The list names each task's step, as the inbox shows it.
    // (its name, or its id where the flow gives none).
    for task in &tasks {
        assert!(task.node_name.is_some(), "{task:?}");
    }
    tasks.into_iter().map(|t| t.id).collect()
}

fn fields(e: &WorkflowError) -> Vec<String> {
    e.details().into_iter().map(|d| d.field).collect()
}

async fn definitions_are_refused_naming_the_node(t: &TestDb) {
    let k = kit(t, "defs").await;
    let u = k.manager.actor;
    let approve = |id: &str| json!({"id": id, "kind": "approve", "assignees": {"users": [u]}});
    let cases = [
        (
            json!({"name": "x", "nodes": [{"id": "start", "kind": "start"}, approve("a"), approve("orphan"), {"id": "end", "kind": "end"}],
                   "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "end"}, {"from": "orphan", "to": "end"}]}),
            "nodes/orphan",
        ),
        (
            json!({"name": "x", "nodes": [{"id": "start", "kind": "start"}, {"id": "c", "kind": "condition"}, approve("a"), {"id": "end", "kind": "end"}],
                   "edges": [{"from": "start", "to": "c"}, {"from": "c", "to": "a", "when": "record.amount > 1"}, {"from": "c", "to": "end", "when": "true"}, {"from": "a", "to": "end"}]}),
            "nodes/c",
        ),
        (
            json!({"name": "x", "nodes": [{"id": "start", "kind": "start"}, approve("a"), approve("b"), {"id": "end", "kind": "end"}],
                   "edges": [{"from": "start", "to": "a", "when": "record.amount > 5"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}, {"from": "start", "to": "end", "default": true}]}),
            "nodes/a",
        ),
        (
            json!({"name": "x", "nodes": [{"id": "start", "kind": "start"}, {"id": "a", "kind": "approve", "assignees": {"users": [u]}, "fields": {"nope": "edit"}}, {"id": "end", "kind": "end"}],
                   "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "end"}]}),
            "nodes/a/fields/nope",
        ),
        (
            json!({"name": "x", "nodes": [{"id": "start", "kind": "start"}, approve("a"), {"id": "end", "kind": "end"}],
                   "edges": [{"from": "start", "to": "a", "when": "record.amount >"}, {"from": "start", "to": "end", "default": true}, {"from": "a", "to": "end"}]}),
            "edges/0/when",
        ),
        (
            json!({"name": "x", "nodes": [{"id": "start", "kind": "start"}, {"id": "a", "kind": "approve"}, {"id": "end", "kind": "end"}],
                   "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "end"}]}),
            "nodes/a/assignees",
        ),
    ];
    for (def, field) in cases {
        let err = t
            .engine
            .create_workflow(&k.owner, k.contracts, def.clone())
            .await
            .expect_err(field);
        assert_eq!(err.code(), ErrorCode::ValidationFailed, "{field}: {err}");
        assert!(
            fields(&err).iter().any(|f| f == field),
            "{field} not in {:?}",
            err.details()
        );
    }
    // Members do not design flows.
    let err = t
        .engine
        .create_workflow(&k.sales, k.contracts, k.contract_flow())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    // A valid flow saves; a second save is version 2.
    let f = t
        .engine
        .create_workflow(&k.owner, k.contracts, k.contract_flow())
        .await
        .unwrap();
    assert!(f.active);
    let f2 = t
        .engine
        .update_workflow(&k.owner, f.id, k.contract_flow())
        .await
        .unwrap();
    assert_eq!(f2.version, 2);
    assert_eq!(t.engine.workflow_versions(&k.owner, f.id).await.unwrap().len(), 2);
}
both_backends!(
    definitions_are_refused_naming_the_node,
    definitions_are_refused_naming_the_node
);

async fn contract_approval(t: &TestDb) {
    let k = kit(t, "contract").await;
    k.flow(t).await;
    // At most 100,000: the sales manager only.
    let small = k.submit(t, 100_000).await;
    let inst = k.instance(t, small).await;
    assert_eq!(inst.status, "running");
    assert_eq!(inst.current[0].node, "mgr");
    // The record is locked against ordinary edits while in flow.
    let err = t
        .engine
        .update_record(&k.sales, k.contracts, small, obj(json!({"amount": 1})), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let mgr_tasks = todo(t, &k.manager).await;
    assert_eq!(mgr_tasks.len(), 1);
    let page = t
        .engine
        .list_tasks(
            &k.manager,
            TaskQuery {
                task_box: TaskBox::Done,
                ..TaskQuery::default()
            },
        )
        .await
        .unwrap();
    assert!(page.tasks.is_empty());
    assert_eq!(page.todo_count, 1, "the badge counts to-dos from any box");
    let listed = t
        .engine
        .list_tasks(&k.manager, TaskQuery::default())
        .await
        .unwrap()
        .tasks;
    assert_eq!(
        listed[0].node_name.as_deref(),
        Some("Sales manager"),
        "the list names the step"
    );
    // The manager's view hides `cost`.
    let detail = t.engine.get_task(&k.manager, mgr_tasks[0]).await.unwrap();
    assert!(detail.record["data"].get("cost").is_none(), "{}", detail.record);
    assert_eq!(detail.record["data"]["amount"], json!(100_000));
    assert_eq!(detail.fields["cost"], json!("hidden"));
    // The manager cannot change the amount.
    let err = t
        .act(
            &k.manager,
            mgr_tasks[0],
            "approve",
            json!({"data": {"amount": 5}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    assert_eq!(fields(&err), vec!["data/amount"]);
    let done = t
        .act(&k.manager, mgr_tasks[0], "approve", json!({"comment": "ok"}))
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert!(done.current.is_empty());
    // Unlocked once finished.
    t.engine
        .update_record(&k.sales, k.contracts, small, obj(json!({"amount": 1})), None)
        .await
        .unwrap();

    // Over 100,000: manager, then both finance members.
    let big = k.submit(t, 250_000).await;
    let mgr = todo(t, &k.manager).await;
    t.act(&k.manager, mgr[0], "approve", json!({})).await.unwrap();
    let inst = k.instance(t, big).await;
    assert_eq!(inst.current[0].node, "finance");
    assert_eq!(inst.current[0].tasks.len(), 2);
    let f1 = todo(t, &k.fin1).await;
    let f2 = todo(t, &k.fin2).await;
    // Finance edits only the payment terms; a bad value names the field.
    let err = t
        .act(&k.fin1, f1[0], "approve", json!({"data": {"amount": 1}}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    let err = t
        .act(
            &k.fin1,
            f1[0],
            "approve",
            json!({"data": {"terms": "x".repeat(40)}}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert_eq!(fields(&err), vec!["terms"]);
    let after_one = t
        .act(&k.fin1, f1[0], "approve", json!({"data": {"terms": "60 days"}}))
        .await
        .unwrap();
    assert_eq!(after_one.status, "running", "all must approve");
    let end = t.act(&k.fin2, f2[0], "approve", json!({})).await.unwrap();
    assert_eq!(end.status, "approved");
    let rec = t.engine.get_record(&k.owner, k.contracts, big).await.unwrap();
    assert_eq!(rec.data["terms"], json!("60 days"));
    let actions: Vec<&str> = end.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "step_entered",
            "approved",
            "step_entered",
            "approved",
            "approved",
            "finished"
        ]
    );
    let filled = end
        .history
        .iter()
        .find(|h| h.detail.as_ref().is_some_and(|d| d.get("changes").is_some()));
    assert_eq!(
        filled.unwrap().detail.as_ref().unwrap()["changes"]["terms"]["to"],
        json!("60 days")
    );
    // Inboxes: done for finance, initiated for sales.
    let done = t
        .engine
        .list_tasks(
            &k.fin1,
            TaskQuery {
                task_box: TaskBox::Done,
                ..TaskQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(done.tasks.len(), 1);
    // Whatever the box, the count of what still waits (the badge).
    assert_eq!(done.todo_count, 0);
    let mine = t
        .engine
        .list_tasks(
            &k.sales,
            TaskQuery {
                task_box: TaskBox::Initiated,
                ..TaskQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(mine.tasks.len(), 2);
    // The initiator was told both times.
    let inbox = t
        .engine
        .list_notifications(&k.sales, Default::default())
        .await
        .unwrap();
    assert!(inbox.notifications.len() >= 2, "{inbox:?}");
}
both_backends!(contract_approval, contract_approval);

async fn return_and_resubmit(t: &TestDb) {
    let k = kit(t, "return").await;
    k.flow(t).await;
    let id = k.submit(t, 300_000).await;
    let mgr = todo(t, &k.manager).await;
    t.act(&k.manager, mgr[0], "approve", json!({})).await.unwrap();
    let f1 = todo(t, &k.fin1).await;
    let back = t
        .act(
            &k.fin1,
            f1[0],
            "return",
            json!({"to": "initiator", "comment": "fix the title"}),
        )
        .await
        .unwrap();
    assert_eq!(back.current[0].node, "start");
    assert!(todo(t, &k.fin2).await.is_empty(), "the other finance task closed");
    let mine = todo(t, &k.sales).await;
    assert_eq!(mine.len(), 1);
    // The start node keeps the amount read-only.
    let err = t
        .act(&k.sales, mine[0], "submit", json!({"data": {"amount": 1}}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    t.act(&k.sales, mine[0], "submit", json!({"data": {"title": "Deal v2"}}))
        .await
        .unwrap();
    // Around again: manager, then finance.
    let mgr = todo(t, &k.manager).await;
    t.act(&k.manager, mgr[0], "approve", json!({})).await.unwrap();
    for who in [&k.fin1, &k.fin2] {
        let task = todo(t, who).await;
        t.act(who, task[0], "approve", json!({})).await.unwrap();
    }
    let inst = k.instance(t, id).await;
    assert_eq!(inst.status, "approved");
    let actions: Vec<&str> = inst.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "submitted",
            "step_entered",
            "approved",
            "step_entered",
            "returned",
            "step_entered",
            "resubmitted",
            "step_entered",
            "approved",
            "step_entered",
            "approved",
            "approved",
            "finished"
        ]
    );
    let seqs: Vec<i32> = inst.history.iter().map(|h| h.seq).collect();
    assert_eq!(seqs, (1..=13).collect::<Vec<_>>());
    assert_eq!(inst.history[4].comment.as_deref(), Some("fix the title"));
    assert_eq!(
        t.engine.get_record(&k.owner, k.contracts, id).await.unwrap().data["title"],
        json!("Deal v2")
    );
}
both_backends!(return_and_resubmit, return_and_resubmit);

async fn racing_approvers(t: &TestDb) {
    let k = kit(t, "race").await;
    let flow = json!({
        "name": "any one",
        "nodes": [
            {"id": "start", "kind": "start"},
            {"id": "a", "kind": "approve", "assignees": {"users": [k.fin1.actor, k.fin2.actor]}, "mode": "any"},
            {"id": "b", "kind": "approve", "assignees": {"users": [k.manager.actor]}},
            {"id": "end", "kind": "end"}
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "end"}]
    });
    t.engine
        .create_workflow(&k.owner, k.contracts, flow)
        .await
        .unwrap();
    for round in 0..5 {
        let id = k.submit(t, 10 + round).await;
        let a = todo(t, &k.fin1).await;
        let b = todo(t, &k.fin2).await;
        let (r1, r2) = tokio::join!(
            t.act(&k.fin1, a[0], "approve", json!({})),
            t.act(&k.fin2, b[0], "approve", json!({}))
        );
        let oks = [&r1, &r2].iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "round {round}: {r1:?} / {r2:?}");
        let err = if let Err(e) = r1 { e } else { r2.unwrap_err() };
        assert_eq!(err.code(), ErrorCode::Conflict);
        let inst = k.instance(t, id).await;
        let approvals = inst.history.iter().filter(|h| h.action == "approved").count();
        assert_eq!(approvals, 1);
        assert_eq!(inst.current.len(), 1);
        assert_eq!(inst.current[0].node, "b");
        let m = todo(t, &k.manager).await;
        assert_eq!(m.len(), 1, "the flow moved once");
        t.act(&k.manager, m[0], "approve", json!({})).await.unwrap();
    }
}
both_backends!(racing_approvers, racing_approvers);

async fn timeout_escalates_once(t: &TestDb) {
    let k = kit(t, "timeout").await;
    k.flow(t).await;
    let id = k.submit(t, 10).await;
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    );
    let opts = || TickOptions::default();
    // Before the deadline nothing happens.
    t.engine
        .scheduler_tick(&worker, t0() + TimeDelta::hours(23), opts())
        .await
        .unwrap();
    assert_eq!(todo(t, &k.manager).await.len(), 1);
    assert!(todo(t, &k.boss).await.is_empty());
    // Past it, the step goes to the boss, once.
    for h in [25, 26, 48] {
        t.engine
            .scheduler_tick(&worker, t0() + TimeDelta::hours(h), opts())
            .await
            .unwrap();
    }
    assert!(todo(t, &k.manager).await.is_empty());
    let boss = todo(t, &k.boss).await;
    assert_eq!(boss.len(), 1);
    let inst = k.instance(t, id).await;
    assert_eq!(inst.history.iter().filter(|h| h.action == "escalated").count(), 1);
    t.act(
        &k.boss.clone().at(t0() + TimeDelta::hours(49)),
        boss[0],
        "approve",
        json!({}),
    )
    .await
    .unwrap();
    assert_eq!(k.instance(t, id).await.status, "approved");
}
both_backends!(timeout_escalates_once, timeout_escalates_once);

async fn bad_input(t: &TestDb) {
    let k = kit(t, "bad").await;
    k.flow(t).await;
    let id = k.submit(t, 10).await;
    let mgr = todo(t, &k.manager).await;
    // Not yours: not found.
    let err = t.act(&k.fin1, mgr[0], "approve", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    // Unknown action.
    let err = t.act(&k.manager, mgr[0], "launch", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    // Return to a node never passed.
    let err = t
        .act(&k.manager, mgr[0], "return", json!({"to": "finance"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    // Withdraw while nobody acted, then act on the finished flow.
    let mine = t
        .engine
        .list_tasks(
            &k.sales,
            TaskQuery {
                task_box: TaskBox::Initiated,
                ..TaskQuery::default()
            },
        )
        .await
        .unwrap();
    let gone = t
        .act(&k.sales, mine.tasks[0].id, "withdraw", json!({}))
        .await
        .unwrap();
    assert_eq!(gone.status, "withdrawn");
    let err = t.act(&k.manager, mgr[0], "approve", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert_eq!(k.instance(t, id).await.status, "withdrawn");
    // Once someone acted, the initiator can no longer withdraw.
    let id2 = k.submit(t, 500_000).await;
    let mgr = todo(t, &k.manager).await;
    t.act(&k.manager, mgr[0], "approve", json!({})).await.unwrap();
    let mine = t
        .engine
        .list_tasks(
            &k.sales,
            TaskQuery {
                task_box: TaskBox::Initiated,
                ..TaskQuery::default()
            },
        )
        .await
        .unwrap();
    let start = mine.tasks.iter().find(|t| t.record_id == id2).unwrap().id;
    let err = t.act(&k.sales, start, "withdraw", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    // Transfer hands the task on.
    let f1 = todo(t, &k.fin1).await;
    t.act(&k.fin1, f1[0], "transfer", json!({"to": k.boss.actor}))
        .await
        .unwrap();
    assert!(todo(t, &k.fin1).await.is_empty());
    assert_eq!(todo(t, &k.boss).await.len(), 1);
    // Reject ends the flow.
    let f2 = todo(t, &k.fin2).await;
    let out = t
        .act(&k.fin2, f2[0], "reject", json!({"comment": "too expensive"}))
        .await
        .unwrap();
    assert_eq!(out.status, "rejected");
    assert!(todo(t, &k.boss).await.is_empty());
}
both_backends!(bad_input, bad_input);

async fn finished_flows_fire_rules(t: &TestDb) {
    let k = kit(t, "events").await;
    k.flow(t).await;
    let plans = t
        .engine
        .create_form(
            &k.owner,
            k.app,
            json!({"name": "payment plans", "fields": [
                {"key": "contract", "label": "Contract", "type": "text", "required": true}
            ]}),
        )
        .await
        .unwrap()
        .id;
    t.engine
        .create_rule(
            &k.owner,
            k.app,
            json!({"name": "plan on approval", "form_id": k.contracts,
                   "trigger": {"kind": "workflow_event", "event": "finished"},
                   "condition": "record.amount > 0",
                   "actions": [{"kind": "create_record", "form": plans, "values": {"contract": {"expr": "record.id"}}}]}),
        )
        .await
        .unwrap();
    let id = k.submit(t, 10).await;
    let mgr = todo(t, &k.manager).await;
    t.act(&k.manager, mgr[0], "approve", json!({})).await.unwrap();
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    );
    for _ in 0..3 {
        t.engine
            .scheduler_tick(&worker, t0() + TimeDelta::minutes(1), TickOptions::default())
            .await
            .unwrap();
    }
    let page = t
        .engine
        .query_records(&k.owner, plans, Default::default(), false)
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1, "one plan for one finished flow");
    assert_eq!(page.records[0].data["contract"], json!(id.to_string()));
}
both_backends!(finished_flows_fire_rules, finished_flows_fire_rules);

/// Changes `who`'s membership row (manager, role) through the full entity.
async fn edit_member(
    t: &TestDb,
    who: &Ctx,
    edit: impl FnOnce(&mut engine::store::entity::member::ActiveModel),
) {
    use engine::store::entity::member;
    use sea_orm::{EntityTrait, IntoActiveModel};
    let row = member::Entity::find_by_id((who.tenant.to_string(), who.actor.to_string()))
        .one(t.engine.db().conn())
        .await
        .unwrap()
        .unwrap();
    let mut m = row.into_active_model();
    edit(&mut m);
    m.update(t.engine.db().conn()).await.unwrap();
}

/// Parallel branches with a join, a cc, every assignee source (role,
/// member field, initiator's manager, previous approver), add-approver on
/// an all-must-approve step, comments, and the cc inbox.
async fn branches_and_assignees(t: &TestDb) {
    let k = kit(t, "branches").await;
    let reviewers = t
        .engine
        .create_form(
            &k.owner,
            k.app,
            json!({"name": "tickets", "fields": [
                {"key": "title", "label": "Title", "type": "text", "required": true},
                {"key": "handler", "label": "Handler", "type": "member"},
                {"key": "notes", "label": "Notes", "type": "textarea"}
            ]}),
        )
        .await
        .unwrap()
        .id;
    let manager = k.manager.actor.to_string();
    edit_member(t, &k.sales, |m| m.manager_id = Set(Some(manager))).await;
    edit_member(t, &k.boss, |m| m.role = Set("admin".to_owned())).await;
    let flow = json!({
        "name": "Ticket",
        "nodes": [
            {"id": "start", "kind": "start"},
            {"id": "split", "kind": "parallel"},
            {"id": "mgr", "kind": "approve", "assignees": {"initiator_manager": true}},
            {"id": "handler", "kind": "fill", "assignees": {"field": "handler"}, "fields": {"notes": "edit"}},
            {"id": "join", "kind": "join"},
            {"id": "inform", "kind": "cc", "assignees": {"roles": ["admin"]}},
            {"id": "check", "kind": "approve", "assignees": {"previous": true}, "mode": "all"},
            {"id": "end", "kind": "end"}
        ],
        "edges": [
            {"from": "start", "to": "split"},
            {"from": "split", "to": "mgr"}, {"from": "split", "to": "handler"},
            {"from": "mgr", "to": "join"}, {"from": "handler", "to": "join"},
            {"from": "join", "to": "inform"}, {"from": "inform", "to": "check"},
            {"from": "check", "to": "end"}
        ]
    });
    t.engine.create_workflow(&k.owner, reviewers, flow).await.unwrap();
    let id = t
        .engine
        .create_record(
            &k.sales,
            reviewers,
            RecordInput {
                data: obj(json!({"title": "Printer", "handler": k.fin1.actor.to_string()})),
            },
            None,
        )
        .await
        .unwrap()
        .id;
    let inst = t.engine.instance_view(&k.owner, reviewers, id).await.unwrap();
    let mut nodes: Vec<&str> = inst.current.iter().map(|c| c.node.as_str()).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["handler", "mgr"], "both branches wait");
    // The handler (a member field) fills the notes; the join still waits.
    let h = todo(t, &k.fin1).await;
    t.act(&k.fin1, h[0], "comment", json!({"comment": "looking"}))
        .await
        .unwrap();
    let after = t
        .act(&k.fin1, h[0], "submit", json!({"data": {"notes": "toner"}}))
        .await
        .unwrap();
    assert_eq!(after.current.len(), 1);
    assert_eq!(after.current[0].node, "mgr");
    // The initiator's manager approves; the join passes, admins get a copy,
    // and the previous approver must check.
    let m = todo(t, &k.manager).await;
    let after = t.act(&k.manager, m[0], "approve", json!({})).await.unwrap();
    assert_eq!(after.current[0].node, "check");
    assert_eq!(after.current[0].tasks[0].assignee, k.manager.actor);
    let cc = t
        .engine
        .list_tasks(
            &k.boss,
            TaskQuery {
                task_box: TaskBox::Cc,
                ..TaskQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cc.tasks.len(), 1);
    // Add an approver to the all-must step: both must now approve.
    let c = todo(t, &k.manager).await;
    t.act(&k.manager, c[0], "add_approver", json!({"to": k.fin2.actor}))
        .await
        .unwrap();
    let out = t.act(&k.manager, c[0], "approve", json!({})).await.unwrap();
    assert_eq!(out.status, "running");
    let f2 = todo(t, &k.fin2).await;
    let out = t.act(&k.fin2, f2[0], "approve", json!({})).await.unwrap();
    assert_eq!(out.status, "approved");
    let acts: Vec<&str> = out.history.iter().map(|h| h.action.as_str()).collect();
    for want in ["commented", "filled", "cc", "approver_added", "finished"] {
        assert!(acts.contains(&want), "{want} missing from {acts:?}");
    }
    let rec = t.engine.get_record(&k.owner, reviewers, id).await.unwrap();
    assert_eq!(rec.data["notes"], json!("toner"));
}
both_backends!(branches_and_assignees, branches_and_assignees);

/// A reminder, then an automatic rejection, each once; rules see
/// `step_entered` and `rejected`.
async fn remind_then_reject(t: &TestDb) {
    let k = kit(t, "remind").await;
    let log = t
        .engine
        .create_form(
            &k.owner,
            k.app,
            json!({"name": "log", "fields": [{"key": "what", "label": "What", "type": "text", "required": true}]}),
        )
        .await
        .unwrap()
        .id;
    for event in ["step_entered", "rejected"] {
        t.engine
            .create_rule(
                &k.owner,
                k.app,
                json!({"name": event, "form_id": k.contracts,
                       "trigger": {"kind": "workflow_event", "event": event, "node": "mgr"},
                       "actions": [{"kind": "create_record", "form": log, "values": {"what": event}}]}),
            )
            .await
            .unwrap();
    }
    let flow = json!({
        "name": "Quick",
        "nodes": [
            {"id": "start", "kind": "start"},
            {"id": "mgr", "kind": "approve", "assignees": {"users": [k.manager.actor]},
             "timeout": {"hours": 48, "remind_hours": 24, "then": "reject"}},
            {"id": "end", "kind": "end"}
        ],
        "edges": [{"from": "start", "to": "mgr"}, {"from": "mgr", "to": "end"}]
    });
    t.engine
        .create_workflow(&k.owner, k.contracts, flow)
        .await
        .unwrap();
    let id = k.submit(t, 1).await;
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    );
    for h in [1, 25, 26] {
        t.engine
            .scheduler_tick(&worker, t0() + TimeDelta::hours(h), TickOptions::default())
            .await
            .unwrap();
    }
    let inst = k.instance(t, id).await;
    assert_eq!(inst.status, "running");
    assert_eq!(inst.history.iter().filter(|h| h.action == "reminded").count(), 1);
    // Days late (past the misfire window): the timeout still acts, once.
    for h in [24 * 5, 24 * 5 + 1] {
        t.engine
            .scheduler_tick(&worker, t0() + TimeDelta::hours(h), TickOptions::default())
            .await
            .unwrap();
    }
    let inst = k.instance(t, id).await;
    assert_eq!(inst.status, "rejected");
    assert_eq!(
        inst.history
            .iter()
            .filter(|h| h.action == "auto_rejected")
            .count(),
        1
    );
    let logged: Vec<Value> = t
        .engine
        .query_records(&k.owner, log, Default::default(), false)
        .await
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.data["what"].clone())
        .collect();
    let mut logged: Vec<String> = logged.iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    logged.sort();
    assert_eq!(logged, ["rejected", "step_entered"]);
}
both_backends!(remind_then_reject, remind_then_reject);

/// The shipped example flow saves against its form.
async fn example_flows_are_valid(t: &TestDb) {
    let k = kit(t, "examples").await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workflows");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let ex: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let form = t
            .engine
            .create_form(&k.owner, k.app, ex["form"].clone())
            .await
            .unwrap()
            .id;
        t.engine
            .create_workflow(&k.owner, form, ex["workflow"].clone())
            .await
            .unwrap_or_else(|e| panic!("{}: {e} {:?}", path.display(), e.details()));
        seen += 1;
    }
    assert!(seen >= 1);
}
both_backends!(example_flows_are_valid, example_flows_are_valid);

/// A step that approves itself on timeout moves the flow on, once.
async fn auto_approve_on_timeout(t: &TestDb) {
    let k = kit(t, "auto").await;
    let flow = json!({
        "name": "Auto",
        "nodes": [
            {"id": "start", "kind": "start"},
            {"id": "mgr", "kind": "approve", "assignees": {"users": [k.manager.actor, k.boss.actor]}, "mode": "all",
             "timeout": {"hours": 2, "then": "approve"}},
            {"id": "fin", "kind": "approve", "assignees": {"users": [k.fin1.actor]}},
            {"id": "end", "kind": "end"}
        ],
        "edges": [{"from": "start", "to": "mgr"}, {"from": "mgr", "to": "fin"}, {"from": "fin", "to": "end"}]
    });
    t.engine
        .create_workflow(&k.owner, k.contracts, flow)
        .await
        .unwrap();
    let id = k.submit(t, 1).await;
    // One of the two approves in time; the other does not.
    let m = todo(t, &k.manager).await;
    t.act(&k.manager, m[0], "approve", json!({})).await.unwrap();
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    );
    for h in [3, 4] {
        t.engine
            .scheduler_tick(&worker, t0() + TimeDelta::hours(h), TickOptions::default())
            .await
            .unwrap();
    }
    assert!(todo(t, &k.boss).await.is_empty());
    let inst = k.instance(t, id).await;
    assert_eq!(inst.current[0].node, "fin");
    assert_eq!(
        inst.history
            .iter()
            .filter(|h| h.action == "auto_approved")
            .count(),
        1
    );
    assert_eq!(todo(t, &k.fin1).await.len(), 1, "the next step was entered once");
}
both_backends!(auto_approve_on_timeout, auto_approve_on_timeout);

/// A batch of records in a flow form starts one instance each, in the
/// batch's transaction.
async fn batch_creates_start_flows(t: &TestDb) {
    let k = kit(t, "batch").await;
    k.flow(t).await;
    let inputs = (0..3)
        .map(|i| RecordInput {
            data: obj(json!({"title": format!("Deal {i}"), "amount": 10 + i})),
        })
        .collect();
    let rows = t
        .engine
        .batch_create_records(&k.sales, k.contracts, inputs)
        .await
        .unwrap();
    for r in &rows {
        assert_eq!(k.instance(t, r.id).await.current[0].node, "mgr");
    }
    assert_eq!(todo(t, &k.manager).await.len(), 3);
}
both_backends!(batch_creates_start_flows, batch_creates_start_flows);
