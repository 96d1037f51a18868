//! The CRM package's three approval flows (builtin-templates/crm/workflows/)
//! run after the template is installed, on SQLite and PostgreSQL, with the
//! members and roles they name: contract approval at every amount band
//! (sales manager, finance all-must-approve, general manager, the owner's
//! copy) and its rejections, discount approval at its thresholds, ticket
//! handling from open to closed with the survey rule reacting, field
//! permissions at each step, and a new flow version saved while an
//! instance runs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::TestDb;
use engine::auth::members::MemberPatch;
use engine::auth::roles::RoleInput;
use engine::automation::TickOptions;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::ids::{FormId, RecordId, UserId};
use engine::jobs::{Worker, WorkerConfig};
use engine::record::{RecordInput, RecordView};
use engine::template::{InstallOptions, Installed};
use engine::workflow::def::{Mode, NodeKind};
use engine::workflow::{InstanceView, TaskBox, TaskQuery, TaskView, WorkflowError};
use serde_json::{Map, Value, json};

/// A Monday, 10:00 UTC: after every daily schedule of the CRM, so ticks a
/// minute later fire only what the tests cause.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).single().unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// The roles the three flows name.
const ROLES: [&str; 6] = [
    "sales_manager",
    "finance",
    "general_manager",
    "sales_director",
    "service",
    "service_manager",
];

/// An installed CRM and the people its flows name.
struct Kit {
    owner: Ctx,
    crm: Installed,
    /// The sales rep who submits; `lead` is their manager.
    rep: Ctx,
    /// The rep's direct manager, holding no role.
    lead: Ctx,
    sales_manager: Ctx,
    fin1: Ctx,
    fin2: Ctx,
    gm: Ctx,
    director: Ctx,
    agent1: Ctx,
    agent2: Ctx,
    service_manager: Ctx,
    /// The contracts' owner (the copy at the end goes to them).
    account: Ctx,
    customer: RecordId,
    worker: Worker,
}

async fn member(t: &TestDb, owner: &Ctx, role: Option<&str>, manager: Option<UserId>) -> Ctx {
    let who = t.member(owner, Role::Member).await;
    if role.is_some() || manager.is_some() {
        let patch = MemberPatch {
            role: role.map(str::to_owned),
            manager_id: manager.map(Some),
            ..MemberPatch::default()
        };
        t.engine
            .update_member(owner, who.actor, patch)
            .await
            .unwrap_or_else(|e| panic!("member: {e} {:?}", e.details()));
    }
    who
}

async fn kit(t: &TestDb, slug: &str) -> Kit {
    let owner = t.tenant(slug).await.at(t0());
    let pkg = engine::template::builtin("crm").unwrap();
    let crm = t
        .engine
        .install_package(&owner, &pkg, &InstallOptions::default())
        .await
        .unwrap_or_else(|e| panic!("install: {e} {:?}", e.details()));
    for name in ROLES {
        let input = RoleInput {
            name: Some(name.to_owned()),
            description: None,
        };
        t.engine.create_role(&owner, input).await.unwrap();
    }
    let lead = member(t, &owner, None, None).await;
    let rep = member(t, &owner, None, Some(lead.actor)).await;
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    );
    let customer = t
        .engine
        .create_record(
            &owner,
            crm.form("customers"),
            RecordInput {
                data: obj(json!({"name": "ACME 有限公司", "type": "B2B"})),
            },
            None,
        )
        .await
        .unwrap()
        .id;
    let k = Kit {
        sales_manager: member(t, &owner, Some("sales_manager"), None).await,
        fin1: member(t, &owner, Some("finance"), None).await,
        fin2: member(t, &owner, Some("finance"), None).await,
        gm: member(t, &owner, Some("general_manager"), None).await,
        director: member(t, &owner, Some("sales_director"), None).await,
        agent1: member(t, &owner, Some("service"), None).await,
        agent2: member(t, &owner, Some("service"), None).await,
        service_manager: member(t, &owner, Some("service_manager"), None).await,
        account: member(t, &owner, None, None).await,
        owner,
        crm,
        rep,
        lead,
        customer,
        worker,
    };
    // The welcome coupon of the new customer, out of the way.
    k.tick(t, t0() + TimeDelta::minutes(1)).await;
    k
}

impl Kit {
    async fn tick(&self, t: &TestDb, at: DateTime<Utc>) {
        t.engine
            .scheduler_tick(&self.worker, at, TickOptions::default())
            .await
            .unwrap();
    }

    async fn create(&self, t: &TestDb, form: &str, data: Value) -> RecordId {
        t.engine
            .create_record(
                &self.rep,
                self.crm.form(form),
                RecordInput { data: obj(data) },
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("{form}: {e} {:?}", e.details()))
            .id
    }

    async fn contract(&self, t: &TestDb, amount: i64, end_on: &str) -> RecordId {
        let data = json!({
            "title": format!("合同 Contract {amount}"), "customer": self.customer.to_string(),
            "amount": amount, "start_on": "2026-03-02", "end_on": end_on,
            "payment_terms": "upfront", "status": "draft", "owner": self.account.actor.to_string()
        });
        self.create(t, "contracts", data).await
    }

    async fn instance(&self, t: &TestDb, form: &str, id: RecordId) -> InstanceView {
        t.engine
            .instance_view(&self.owner, self.crm.form(form), id)
            .await
            .unwrap()
    }

    async fn record(&self, t: &TestDb, form: &str, id: RecordId) -> RecordView {
        t.engine
            .get_record(&self.owner, self.crm.form(form), id)
            .await
            .unwrap()
    }

    async fn records(&self, t: &TestDb, form: &str) -> Vec<RecordView> {
        t.engine
            .query_records(&self.owner, self.crm.form(form), Default::default(), false)
            .await
            .unwrap()
            .records
    }

    fn form(&self, key: &str) -> FormId {
        self.crm.form(key)
    }

    /// The runs of one of the template's rules, newest first.
    async fn runs(&self, t: &TestDb, rule: &str) -> Vec<engine::jobs::RunView> {
        t.engine
            .rule_runs(&self.owner, self.crm.rules[rule], 50, None)
            .await
            .unwrap()
            .runs
    }
}

/// `who`'s tasks of one box on one record.
async fn tasks_in(t: &TestDb, who: &Ctx, task_box: TaskBox, record: RecordId) -> Vec<TaskView> {
    let q = TaskQuery {
        task_box,
        ..TaskQuery::default()
    };
    let tasks = t.engine.list_tasks(who, q).await.unwrap().tasks;
    tasks.into_iter().filter(|x| x.record_id == record).collect()
}

/// The step waiting now and who holds its open tasks (one step at most in
/// these flows).
fn waiting(inst: &InstanceView) -> Option<(String, BTreeSet<UserId>)> {
    assert!(inst.current.len() <= 1, "{:?}", inst.current);
    inst.current.first().map(|c| {
        let open = c.tasks.iter().filter(|x| x.status == "todo").map(|x| x.assignee);
        (c.node.clone(), open.collect())
    })
}

fn people(who: &[&Ctx]) -> BTreeSet<UserId> {
    who.iter().map(|c| c.actor).collect()
}

fn wait_at(node: &str, who: &[&Ctx]) -> Option<(String, BTreeSet<UserId>)> {
    Some((node.to_owned(), people(who)))
}

/// The nodes entered, in order.
fn entered(inst: &InstanceView) -> Vec<String> {
    inst.history
        .iter()
        .filter(|h| h.action == "step_entered")
        .filter_map(|h| h.node.clone())
        .collect()
}

fn actions(inst: &InstanceView) -> Vec<&str> {
    inst.history.iter().map(|h| h.action.as_str()).collect()
}

/// Asserts a refused write names exactly `fields` as not editable.
fn assert_read_only(r: Result<InstanceView, WorkflowError>, fields: &[&str]) {
    let err = r.expect_err("a read-only field was written");
    assert_eq!(err.code(), ErrorCode::Forbidden, "{err}");
    let got: Vec<String> = err.details().into_iter().map(|d| d.field).collect();
    let want: Vec<String> = fields.iter().map(|f| format!("data/{f}")).collect();
    assert_eq!(got, want);
}

/// Who got the owner's copy of `record`: `account` has one cc task, and
/// nobody else among `others` has any.
async fn assert_copied(t: &TestDb, k: &Kit, record: RecordId, copied: bool) {
    let cc = tasks_in(t, &k.account, TaskBox::Cc, record).await;
    assert_eq!(cc.len(), usize::from(copied), "{cc:?}");
    if copied {
        assert_eq!(cc[0].node, "notify_owner");
        assert_eq!(cc[0].kind, "cc");
    }
    for other in [&k.rep, &k.sales_manager, &k.fin1] {
        assert!(tasks_in(t, other, TaskBox::Cc, record).await.is_empty());
    }
}

/// Contract approval at each band: up to 50,000 the sales manager (or the
/// rep's manager) alone; up to 200,000 finance too, every finance member;
/// above, the general manager before finance. Each approved contract is
/// copied to its owner and made active by the `contract_activate` rule
/// (approvers only read the status).
async fn contract_bands(t: &TestDb) {
    let k = kit(t, "crm-contracts").await;
    let end = "2027-03-01";

    // 30,000: one step, held by the sales manager role and the rep's manager.
    let small = k.contract(t, 30_000, end).await;
    let inst = k.instance(t, "contracts", small).await;
    assert_eq!(inst.status, "running");
    assert_eq!(inst.initiator, k.rep.actor);
    assert_eq!(
        waiting(&inst),
        wait_at("sales_manager", &[&k.sales_manager, &k.lead])
    );
    let task = t.my_task(&k.sales_manager, small).await;
    let detail = t.engine.get_task(&k.sales_manager, task).await.unwrap();
    assert_eq!(detail.fields["amount"], json!("read"));
    assert_eq!(detail.fields["payment_terms"], json!("edit"));
    assert_eq!(detail.fields["status"], json!("read"));
    assert_eq!(
        detail.fields["title"],
        json!("read"),
        "undeclared fields are read-only"
    );
    assert_read_only(
        t.act(&k.sales_manager, task, "approve", json!({"data": {"amount": 1}}))
            .await,
        &["amount"],
    );
    assert_read_only(
        t.act(&k.sales_manager, task, "approve", json!({"data": {"title": "x"}}))
            .await,
        &["title"],
    );
    assert_read_only(
        t.act(
            &k.sales_manager,
            task,
            "approve",
            json!({"data": {"status": "active"}}),
        )
        .await,
        &["status"],
    );
    // The rep's manager approves (any one is enough) and edits the terms.
    let lead_task = t.my_task(&k.lead, small).await;
    let done = t
        .act(
            &k.lead,
            lead_task,
            "approve",
            json!({"data": {"payment_terms": "monthly"}}),
        )
        .await
        .unwrap();
    assert_eq!(done.status, "approved");
    assert_eq!(waiting(&done), None);
    assert_eq!(entered(&done), ["sales_manager"]);
    assert_eq!(
        actions(&done),
        ["submitted", "step_entered", "approved", "cc", "finished"]
    );
    assert!(
        tasks_in(t, &k.sales_manager, TaskBox::Todo, small)
            .await
            .is_empty()
    );
    let rec = k.record(t, "contracts", small).await;
    assert_eq!(rec.data["payment_terms"], json!("monthly"));
    assert_eq!(rec.data["status"], json!("draft"), "until the rule runs");
    k.tick(t, t0() + TimeDelta::minutes(2)).await;
    let rec = k.record(t, "contracts", small).await;
    assert_eq!(rec.data["status"], json!("active"));
    assert_eq!(rec.data["amount"].as_f64(), Some(30_000.0));
    assert_copied(t, &k, small, true).await;
    let told = t
        .engine
        .list_notifications(&k.account, Default::default())
        .await
        .unwrap();
    assert!(
        told.notifications
            .iter()
            .any(|n| n.title == "抄送 CC" && n.source["record_id"] == json!(small.to_string())),
        "{told:?}"
    );

    // Exactly 50,000 is not over the threshold; exactly 200,000 goes to
    // finance but not to the general manager.
    let at_50k = k.contract(t, 50_000, end).await;
    let task = t.my_task(&k.sales_manager, at_50k).await;
    let out = t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    assert_eq!(out.status, "approved");
    assert_eq!(entered(&out), ["sales_manager"]);
    let at_200k = k.contract(t, 200_000, end).await;
    let task = t.my_task(&k.sales_manager, at_200k).await;
    let out = t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    assert_eq!(waiting(&out), wait_at("finance", &[&k.fin1, &k.fin2]));
    for who in [&k.fin1, &k.fin2] {
        let task = t.my_task(who, at_200k).await;
        t.act(who, task, "approve", json!({})).await.unwrap();
    }
    let out = k.instance(t, "contracts", at_200k).await;
    assert_eq!(out.status, "approved");
    assert_eq!(entered(&out), ["sales_manager", "finance"]);

    // 120,000: finance after the sales manager, and one finance approval
    // is not enough.
    let mid = k.contract(t, 120_000, end).await;
    let task = t.my_task(&k.sales_manager, mid).await;
    let inst = t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    assert_eq!(waiting(&inst), wait_at("finance", &[&k.fin1, &k.fin2]));
    assert_eq!(inst.current[0].mode, Mode::All);
    assert!(tasks_in(t, &k.gm, TaskBox::Todo, mid).await.is_empty());
    assert!(tasks_in(t, &k.lead, TaskBox::Todo, mid).await.is_empty());
    let f1 = t.my_task(&k.fin1, mid).await;
    let detail = t.engine.get_task(&k.fin1, f1).await.unwrap();
    assert_eq!(detail.fields["amount"], json!("read"));
    assert_eq!(detail.fields["payment_terms"], json!("edit"));
    assert_read_only(
        t.act(
            &k.fin1,
            f1,
            "approve",
            json!({"data": {"amount": 1, "owner": null}}),
        )
        .await,
        &["amount", "owner"],
    );
    let after_one = t
        .act(
            &k.fin1,
            f1,
            "approve",
            json!({"data": {"payment_terms": "installments"}}),
        )
        .await
        .unwrap();
    assert_eq!(after_one.status, "running", "finance is all-must-approve");
    assert_eq!(waiting(&after_one), wait_at("finance", &[&k.fin2]));
    assert_copied(t, &k, mid, false).await;
    let f2 = t.my_task(&k.fin2, mid).await;
    let end_state = t.act(&k.fin2, f2, "approve", json!({})).await.unwrap();
    assert_eq!(end_state.status, "approved");
    assert_eq!(
        actions(&end_state),
        [
            "submitted",
            "step_entered",
            "approved",
            "step_entered",
            "approved",
            "approved",
            "cc",
            "finished"
        ]
    );
    k.tick(t, t0() + TimeDelta::minutes(3)).await;
    let rec = k.record(t, "contracts", mid).await;
    assert_eq!(
        rec.data["payment_terms"],
        json!("installments"),
        "fin1's edit kept"
    );
    assert_eq!(rec.data["status"], json!("active"));
    assert_copied(t, &k, mid, true).await;

    // 350,000: the general manager, then finance.
    let big = k.contract(t, 350_000, end).await;
    let task = t.my_task(&k.sales_manager, big).await;
    let inst = t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    assert_eq!(waiting(&inst), wait_at("general_manager", &[&k.gm]));
    assert!(tasks_in(t, &k.fin1, TaskBox::Todo, big).await.is_empty());
    let g = t.my_task(&k.gm, big).await;
    let detail = t.engine.get_task(&k.gm, g).await.unwrap();
    assert_eq!(
        detail.fields["payment_terms"],
        json!("read"),
        "not declared at this step"
    );
    assert_read_only(
        t.act(&k.gm, g, "approve", json!({"data": {"payment_terms": "monthly"}}))
            .await,
        &["payment_terms"],
    );
    let inst = t.act(&k.gm, g, "approve", json!({})).await.unwrap();
    assert_eq!(waiting(&inst), wait_at("finance", &[&k.fin1, &k.fin2]));
    let f1 = t.my_task(&k.fin1, big).await;
    let inst = t.act(&k.fin1, f1, "approve", json!({})).await.unwrap();
    assert_eq!(inst.status, "running");
    let f2 = t.my_task(&k.fin2, big).await;
    let inst = t.act(&k.fin2, f2, "approve", json!({})).await.unwrap();
    assert_eq!(inst.status, "approved");
    assert_eq!(entered(&inst), ["sales_manager", "general_manager", "finance"]);
    k.tick(t, t0() + TimeDelta::minutes(4)).await;
    assert_eq!(
        k.record(t, "contracts", big).await.data["status"],
        json!("active")
    );
    assert_copied(t, &k, big, true).await;
    // The initiator was told of each outcome.
    let told = t
        .engine
        .list_notifications(&k.rep, Default::default())
        .await
        .unwrap();
    let approved = told
        .notifications
        .iter()
        .filter(|n| n.title == "审批通过 Approved")
        .count();
    assert_eq!(approved, 5, "{told:?}");
    // The rule ran once per approved contract.
    let runs = k.runs(t, "contract_activate").await;
    assert_eq!(runs.len(), 5, "{runs:#?}");
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:#?}");
    for id in [small, at_50k, at_200k, mid, big] {
        assert_eq!(k.record(t, "contracts", id).await.data["status"], json!("active"));
    }
}
both_backends!(contract_bands, contract_bands);

/// Rejections end the flow without the owner's copy and leave the contract
/// (or put it back) in draft; the renewal reminder (status `active` only)
/// then finds the approved contract and not the rejected ones. A rule on
/// `finished` alone fires for both outcomes; the template's rules name the
/// outcome in the trigger's `status`.
async fn contract_rejections(t: &TestDb) {
    let k = kit(t, "crm-rejects").await;
    // A rule on `finished` without a status.
    let naive = t
        .engine
        .create_rule(
            &k.owner,
            k.crm.app,
            json!({"name": "activate on finish", "form_id": k.form("contracts"),
                   "trigger": {"kind": "workflow_event", "event": "finished"},
                   "script": "log(record.title);"}),
        )
        .await
        .unwrap()
        .id;
    // A status a flow never has is refused.
    let err = t
        .engine
        .create_rule(
            &k.owner,
            k.crm.app,
            json!({"name": "activate on approval", "form_id": k.form("contracts"),
                   "trigger": {"kind": "workflow_event", "event": "finished", "status": "done"},
                   "script": "log(record.title);"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed, "{err}");
    assert!(
        err.details().iter().any(|d| d.field.ends_with("trigger/status")),
        "{:?}",
        err.details()
    );

    // Ends 2026-04-11: the renewal reminder is due on 2026-03-12 at 09:00.
    let end = "2026-04-11";
    let kept = k.contract(t, 30_000, end).await;
    let task = t.my_task(&k.sales_manager, kept).await;
    t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();

    // Finance rejects: the other finance task closes, nobody is copied.
    let by_finance = k.contract(t, 120_000, end).await;
    let task = t.my_task(&k.sales_manager, by_finance).await;
    t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    let f1 = t.my_task(&k.fin1, by_finance).await;
    let out = t
        .act(
            &k.fin1,
            f1,
            "reject",
            json!({"comment": "付款条件不可接受 terms"}),
        )
        .await
        .unwrap();
    assert_eq!(out.status, "rejected");
    assert!(out.finished_at.is_some());
    assert_eq!(waiting(&out), None);
    assert_eq!(entered(&out), ["sales_manager", "finance"]);
    let done = actions(&out);
    assert_eq!(done[done.len() - 2..], ["rejected", "finished"]);
    assert!(tasks_in(t, &k.fin2, TaskBox::Todo, by_finance).await.is_empty());
    assert_copied(t, &k, by_finance, false).await;
    let err = t.act(&k.fin2, f1, "approve", json!({})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "fin1's task is not fin2's");

    // Finance never answers: 48 hours on, the step rejects by itself.
    let stalled = k.contract(t, 60_000, end).await;
    let task = t.my_task(&k.sales_manager, stalled).await;
    t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();

    // The sales manager rejects a small one, entered as already active.
    let by_manager = k
        .create(
            t,
            "contracts",
            json!({
                "title": "合同 Contract 20000", "customer": k.customer.to_string(),
                "amount": 20_000, "start_on": "2026-03-02", "end_on": end,
                "payment_terms": "upfront", "status": "active", "owner": k.account.actor.to_string()
            }),
        )
        .await;
    let task = t.my_task(&k.sales_manager, by_manager).await;
    let out = t.act(&k.sales_manager, task, "reject", json!({})).await.unwrap();
    assert_eq!(out.status, "rejected");
    assert!(tasks_in(t, &k.lead, TaskBox::Todo, by_manager).await.is_empty());
    assert_copied(t, &k, by_manager, false).await;
    assert_eq!(
        k.record(t, "contracts", by_finance).await.data["status"],
        json!("draft")
    );
    k.tick(t, t0() + TimeDelta::minutes(2)).await;
    for id in [by_finance, by_manager] {
        assert_eq!(k.record(t, "contracts", id).await.data["status"], json!("draft"));
    }
    assert_eq!(
        k.record(t, "contracts", kept).await.data["status"],
        json!("active")
    );
    assert_eq!(k.runs(t, "contract_activate").await.len(), 1);
    // Both rejections ran it; only the one entered as active changed.
    let back = k.runs(t, "contract_back_to_draft").await;
    assert_eq!(back.len(), 2, "{back:#?}");
    let logs: Vec<String> = back.iter().map(|r| r.detail["logs"].to_string()).collect();
    assert_eq!(
        logs.iter().filter(|l| l.contains("back to draft")).count(),
        1,
        "{logs:?}"
    );
    // Finished flows unlock the record.
    t.engine
        .update_record(
            &k.rep,
            k.form("contracts"),
            by_manager,
            obj(json!({"title": "合同 v2"})),
            None,
        )
        .await
        .unwrap();

    // The `finished` rule ran once per flow, approved or rejected alike.
    k.tick(t, t0() + TimeDelta::minutes(3)).await;
    let runs = t.engine.rule_runs(&k.owner, naive, 50, None).await.unwrap().runs;
    assert_eq!(runs.len(), 3, "{runs:#?}");
    assert!(runs.iter().all(|r| r.error.is_none()), "{runs:#?}");
    let logged: Vec<String> = runs.iter().map(|r| r.detail["logs"].to_string()).collect();
    // The rejected ones too.
    for title in ["Contract 30000", "Contract 120000", "Contract 20000"] {
        assert!(logged.iter().any(|l| l.contains(title)), "{title}: {logged:?}");
    }

    // Ten days on, the renewal reminder: only the active contract.
    let due = Utc.with_ymd_and_hms(2026, 3, 12, 9, 30, 0).single().unwrap();
    k.tick(t, due).await;
    let renewals: Vec<RecordView> = k
        .records(t, "tasks")
        .await
        .into_iter()
        .filter(|r| r.data["kind"] == json!("renewal"))
        .collect();
    assert_eq!(renewals.len(), 1, "{renewals:#?}");
    assert_eq!(renewals[0].data["contract"], json!(kept.to_string()));
    assert_eq!(renewals[0].data["owner"], json!(k.account.actor.to_string()));
    // The late ticks changed no finished flow; the stalled one timed out.
    assert_eq!(k.instance(t, "contracts", kept).await.status, "approved");
    assert_eq!(k.instance(t, "contracts", by_finance).await.status, "rejected");
    let timed_out = k.instance(t, "contracts", stalled).await;
    assert_eq!(timed_out.status, "rejected");
    let auto: Vec<_> = timed_out
        .history
        .iter()
        .filter(|h| h.action == "auto_rejected")
        .collect();
    assert_eq!(auto.len(), 1, "{:?}", actions(&timed_out));
    assert_eq!(auto[0].node.as_deref(), Some("finance"));
    assert!(tasks_in(t, &k.fin1, TaskBox::Todo, stalled).await.is_empty());
    assert_copied(t, &k, stalled, false).await;
    assert_eq!(
        k.record(t, "contracts", stalled).await.data["status"],
        json!("draft")
    );
}
both_backends!(contract_rejections, contract_rejections);

/// Discount approval: up to 10% passes at once; over 10% the sales
/// manager; over 20% (after the manager's edit) the sales director too.
async fn discount_thresholds(t: &TestDb) {
    let k = kit(t, "crm-discounts").await;
    let quote = |pct: f64| {
        json!({"quote_no": format!("Q-{pct}"), "customer": k.customer.to_string(),
               "list_amount": 10_000, "discount_pct": pct, "status": "draft",
               "owner": k.account.actor.to_string()})
    };
    for pct in [0.0, 5.0, 10.0] {
        let id = k.create(t, "quotes", quote(pct)).await;
        let inst = k.instance(t, "quotes", id).await;
        assert_eq!(inst.status, "approved", "{pct}%");
        assert_eq!(entered(&inst), Vec::<String>::new(), "{pct}%");
        assert!(tasks_in(t, &k.sales_manager, TaskBox::Todo, id).await.is_empty());
    }

    // 15%: the sales manager (or the rep's manager) only.
    let q15 = k.create(t, "quotes", quote(15.0)).await;
    let inst = k.instance(t, "quotes", q15).await;
    assert_eq!(
        waiting(&inst),
        wait_at("sales_manager", &[&k.sales_manager, &k.lead])
    );
    let task = t.my_task(&k.sales_manager, q15).await;
    let detail = t.engine.get_task(&k.sales_manager, task).await.unwrap();
    assert_eq!(detail.fields["discount_pct"], json!("edit"));
    assert_eq!(detail.fields["list_amount"], json!("read"));
    assert_read_only(
        t.act(
            &k.sales_manager,
            task,
            "approve",
            json!({"data": {"list_amount": 1}}),
        )
        .await,
        &["list_amount"],
    );
    let out = t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    assert_eq!(out.status, "approved");
    assert_eq!(entered(&out), ["sales_manager"]);

    // 25%: the director after the manager; the director's edit is kept.
    let q25 = k.create(t, "quotes", quote(25.0)).await;
    let task = t.my_task(&k.lead, q25).await;
    let inst = t.act(&k.lead, task, "approve", json!({})).await.unwrap();
    assert_eq!(waiting(&inst), wait_at("sales_director", &[&k.director]));
    let d = t.my_task(&k.director, q25).await;
    assert_read_only(
        t.act(
            &k.director,
            d,
            "approve",
            json!({"data": {"list_amount": 20_000}}),
        )
        .await,
        &["list_amount"],
    );
    let out = t
        .act(&k.director, d, "approve", json!({"data": {"discount_pct": 22}}))
        .await
        .unwrap();
    assert_eq!(out.status, "approved");
    assert_eq!(entered(&out), ["sales_manager", "sales_director"]);
    let rec = k.record(t, "quotes", q25).await;
    assert_eq!(rec.data["discount_pct"].as_f64(), Some(22.0));
    assert_eq!(rec.data["list_amount"].as_f64(), Some(10_000.0));
    assert_eq!(
        rec.data["amount"].as_f64(),
        Some(7_800.0),
        "the formula follows the edit"
    );

    // 25% cut to 18% by the manager: the large-discount check reads the
    // edited value, so the director is skipped.
    let cut = k.create(t, "quotes", quote(25.0)).await;
    let task = t.my_task(&k.sales_manager, cut).await;
    let out = t
        .act(
            &k.sales_manager,
            task,
            "approve",
            json!({"data": {"discount_pct": 18}}),
        )
        .await
        .unwrap();
    assert_eq!(out.status, "approved");
    assert_eq!(entered(&out), ["sales_manager"]);
    assert!(tasks_in(t, &k.director, TaskBox::Todo, cut).await.is_empty());
    assert_eq!(
        k.record(t, "quotes", cut).await.data["discount_pct"].as_f64(),
        Some(18.0)
    );

    // 30%: the director rejects.
    let q30 = k.create(t, "quotes", quote(30.0)).await;
    let task = t.my_task(&k.sales_manager, q30).await;
    t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    let d = t.my_task(&k.director, q30).await;
    let out = t
        .act(&k.director, d, "reject", json!({"comment": "太低 too low"}))
        .await
        .unwrap();
    assert_eq!(out.status, "rejected");
    assert_eq!(
        k.record(t, "quotes", q30).await.data["discount_pct"].as_f64(),
        Some(30.0)
    );
}
both_backends!(discount_thresholds, discount_thresholds);

/// Service tickets from open to closed: the service team (and the ticket's
/// assignee) handles, a service manager reviews; auto-assignment and the
/// survey on closing run as queued rule jobs.
async fn ticket_handling(t: &TestDb) {
    let k = kit(t, "crm-tickets").await;
    let roster =
        json!({"name": "二号 Agent 2", "agent": k.agent2.actor.to_string(), "seq": 1, "active": true});
    t.engine
        .create_record(
            &k.owner,
            k.form("service_agents"),
            RecordInput { data: obj(roster) },
            None,
        )
        .await
        .unwrap();
    let ticket = |title: &str, priority: &str| {
        json!({"title": title, "customer": k.customer.to_string(), "category": "fault",
               "priority": priority, "opened_on": "2026-03-02"})
    };

    // A new ticket without an assignee: the service role handles it.
    let t1 = k
        .create(t, "service_tickets", ticket("打印机故障 Printer", "high"))
        .await;
    let inst = k.instance(t, "service_tickets", t1).await;
    assert_eq!(waiting(&inst), wait_at("handle", &[&k.agent1, &k.agent2]));
    assert_eq!(inst.current[0].kind, Some(NodeKind::Fill));
    // Auto-assignment writes into the ticket while it is in its flow; the
    // step's holders, resolved when the flow started, stay as they were.
    k.tick(t, t0() + TimeDelta::minutes(2)).await;
    let inst = k.instance(t, "service_tickets", t1).await;
    assert_eq!(waiting(&inst), wait_at("handle", &[&k.agent1, &k.agent2]));
    let rec = k.record(t, "service_tickets", t1).await;
    assert_eq!(rec.data["assignee"], json!(k.agent2.actor.to_string()));
    assert_eq!(rec.data["status"], json!("open"));
    assert_eq!(rec.data["sla_due"], json!("2026-03-04"));
    let h = t.my_task(&k.agent2, t1).await;
    let detail = t.engine.get_task(&k.agent2, h).await.unwrap();
    for (field, perm) in [
        ("status", "edit"),
        ("resolution", "edit"),
        ("closed_on", "edit"),
        ("priority", "read"),
        ("sla_due", "read"),
    ] {
        assert_eq!(detail.fields[field], json!(perm), "{field}");
    }
    assert_read_only(
        t.act(&k.agent2, h, "submit", json!({"data": {"priority": "low"}}))
            .await,
        &["priority"],
    );
    assert_read_only(
        t.act(&k.agent2, h, "submit", json!({"data": {"sla_due": "2026-03-31"}}))
            .await,
        &["sla_due"],
    );
    let err = t.act(&k.agent2, h, "approve", json!({})).await.unwrap_err();
    assert_eq!(
        err.code(),
        ErrorCode::ValidationFailed,
        "a fill step is submitted"
    );
    let inst = t
        .act(
            &k.agent2,
            h,
            "submit",
            json!({"data": {"status": "resolved", "resolution": "更换定影器 Replaced the fuser"}}),
        )
        .await
        .unwrap();
    assert_eq!(waiting(&inst), wait_at("review", &[&k.service_manager]));
    assert!(tasks_in(t, &k.agent1, TaskBox::Todo, t1).await.is_empty());
    k.tick(t, t0() + TimeDelta::minutes(3)).await;
    let surveys_of = |id: RecordId, all: &[RecordView]| -> Vec<RecordView> {
        all.iter()
            .filter(|s| s.data["ticket"] == json!(id.to_string()))
            .cloned()
            .collect()
    };
    assert!(
        surveys_of(t1, &k.records(t, "surveys").await).is_empty(),
        "not closed yet"
    );
    // The review closes it; the resolution is read-only there.
    let r = t.my_task(&k.service_manager, t1).await;
    let detail = t.engine.get_task(&k.service_manager, r).await.unwrap();
    assert_eq!(detail.fields["resolution"], json!("read"));
    assert_eq!(detail.fields["status"], json!("edit"));
    assert_read_only(
        t.act(
            &k.service_manager,
            r,
            "approve",
            json!({"data": {"resolution": "x"}}),
        )
        .await,
        &["resolution"],
    );
    let out = t
        .act(
            &k.service_manager,
            r,
            "approve",
            json!({"data": {"status": "closed"}}),
        )
        .await
        .unwrap();
    assert_eq!(out.status, "approved");
    assert_eq!(entered(&out), ["handle", "review"]);
    k.tick(t, t0() + TimeDelta::minutes(4)).await;
    let rec = k.record(t, "service_tickets", t1).await;
    assert_eq!(rec.data["status"], json!("closed"));
    assert_eq!(rec.data["resolution"], json!("更换定影器 Replaced the fuser"));
    assert_eq!(rec.data["closed_on"], json!("2026-03-02"));
    assert_eq!(rec.data["sla_met"], json!(true));
    assert_eq!(rec.data["sla_breached"], json!(false));
    let surveys = surveys_of(t1, &k.records(t, "surveys").await);
    assert_eq!(surveys.len(), 1, "{surveys:#?}");
    assert_eq!(surveys[0].data["customer"], json!(k.customer.to_string()));
    assert_eq!(surveys[0].data["status"], json!("pending"));
    assert_eq!(surveys[0].data["sent_on"], json!("2026-03-02"));

    // An assignee outside the service team handles too; closing in the
    // handling step fires the survey while the review still waits.
    let mut late = ticket("退货 Return", "urgent");
    late["opened_on"] = json!("2026-02-20");
    late["assignee"] = json!(k.lead.actor.to_string());
    let t2 = k.create(t, "service_tickets", late).await;
    let inst = k.instance(t, "service_tickets", t2).await;
    assert_eq!(
        waiting(&inst),
        wait_at("handle", &[&k.lead, &k.agent1, &k.agent2])
    );
    k.tick(t, t0() + TimeDelta::minutes(5)).await;
    let rec = k.record(t, "service_tickets", t2).await;
    assert_eq!(rec.data["assignee"], json!(k.lead.actor.to_string()), "kept");
    assert_eq!(rec.data["sla_due"], json!("2026-02-21"));
    let h = t.my_task(&k.lead, t2).await;
    t.act(
        &k.lead,
        h,
        "submit",
        json!({"data": {"status": "closed", "closed_on": "2026-03-02", "resolution": "已退款 Refunded"}}),
    )
    .await
    .unwrap();
    k.tick(t, t0() + TimeDelta::minutes(6)).await;
    let inst = k.instance(t, "service_tickets", t2).await;
    assert_eq!(waiting(&inst), wait_at("review", &[&k.service_manager]));
    let rec = k.record(t, "service_tickets", t2).await;
    assert_eq!(rec.data["sla_met"], json!(false));
    assert_eq!(rec.data["sla_breached"], json!(true));
    assert_eq!(surveys_of(t2, &k.records(t, "surveys").await).len(), 1);
    let r = t.my_task(&k.service_manager, t2).await;
    let out = t.act(&k.service_manager, r, "approve", json!({})).await.unwrap();
    assert_eq!(out.status, "approved");
    k.tick(t, t0() + TimeDelta::minutes(7)).await;
    assert_eq!(
        surveys_of(t2, &k.records(t, "surveys").await).len(),
        1,
        "one survey per close"
    );
}
both_backends!(ticket_handling, ticket_handling);

/// A new version of the contract flow (no general-manager step, a renamed
/// first step) saved while an instance waits at the general manager: that
/// instance finishes on version 1, a new contract runs version 2.
async fn flow_upgrade(t: &TestDb) {
    let k = kit(t, "crm-upgrade").await;
    let flow_id = k.crm.workflows["contract_approval"];
    let old = k.contract(t, 300_000, "2027-03-01").await;
    let task = t.my_task(&k.sales_manager, old).await;
    let inst = t.act(&k.sales_manager, task, "approve", json!({})).await.unwrap();
    assert_eq!(inst.workflow_version, 1);
    assert_eq!(waiting(&inst), wait_at("general_manager", &[&k.gm]));

    let mut def = t.engine.get_workflow(&k.owner, flow_id).await.unwrap().definition;
    def["nodes"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["id"] != json!("general_manager"));
    def["edges"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["from"] != json!("general_manager") && e["to"] != json!("general_manager"));
    for n in def["nodes"].as_array_mut().unwrap() {
        if n["id"] == json!("sales_manager") {
            n["name"] = json!("销售经理 v2");
        }
    }
    let saved = t.engine.update_workflow(&k.owner, flow_id, def).await.unwrap();
    assert_eq!(saved.version, 2);
    let versions = t.engine.workflow_versions(&k.owner, flow_id).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);

    // The new contract takes version 2: no general manager.
    let new = k.contract(t, 300_000, "2027-03-01").await;
    let inst = k.instance(t, "contracts", new).await;
    assert_eq!(inst.workflow_version, 2);
    let listed = tasks_in(t, &k.sales_manager, TaskBox::Todo, new).await;
    assert_eq!(listed[0].node_name.as_deref(), Some("销售经理 v2"));
    let inst = t
        .act(&k.sales_manager, listed[0].id, "approve", json!({}))
        .await
        .unwrap();
    assert_eq!(waiting(&inst), wait_at("finance", &[&k.fin1, &k.fin2]));
    assert!(tasks_in(t, &k.gm, TaskBox::Todo, new).await.is_empty());

    // The running one keeps version 1: its general-manager step goes on.
    let inst = k.instance(t, "contracts", old).await;
    assert_eq!(inst.workflow_version, 1);
    let listed = tasks_in(t, &k.gm, TaskBox::Todo, old).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].node_name.as_deref(), Some("总经理审批 General manager"));
    let inst = t.act(&k.gm, listed[0].id, "approve", json!({})).await.unwrap();
    assert_eq!(waiting(&inst), wait_at("finance", &[&k.fin1, &k.fin2]));
    for id in [old, new] {
        for who in [&k.fin1, &k.fin2] {
            let task = t.my_task(who, id).await;
            t.act(who, task, "approve", json!({})).await.unwrap();
        }
    }
    let old_inst = k.instance(t, "contracts", old).await;
    let new_inst = k.instance(t, "contracts", new).await;
    assert_eq!(
        (old_inst.status.as_str(), new_inst.status.as_str()),
        ("approved", "approved")
    );
    assert_eq!(
        entered(&old_inst),
        ["sales_manager", "general_manager", "finance"]
    );
    assert_eq!(entered(&new_inst), ["sales_manager", "finance"]);
    assert_eq!((old_inst.workflow_version, new_inst.workflow_version), (1, 2));
    assert_copied(t, &k, old, true).await;
    assert_copied(t, &k, new, true).await;
}
both_backends!(flow_upgrade, flow_upgrade);
