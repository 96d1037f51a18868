//! Approval flows over HTTP against the real binary: the contract approval
//! (thresholds, all-must-approve finance, the record lock, per-step field
//! permissions), return and resubmit, two approvers racing, a timeout that
//! escalates once across a restart, and bad input.

use chrono::{TimeDelta, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::{Opts, Server};

fn clock() -> Opts {
    Opts {
        env: vec![("FORMWORK_ALLOW_CLOCK_OVERRIDE".into(), "true".into())],
    }
}

/// A new member of the demo tenant, through the members API: `(user id,
/// token)`.
async fn member(srv: &Server, owner: &str, name: &str) -> (String, String) {
    let email = format!("{name}@demo.test");
    let r = srv
        .post(
            "/api/v1/members",
            owner,
            json!({"email": email, "password": "password-123", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "create member: {}", r.text);
    let id = r.body["user_id"].as_str().unwrap().to_owned();
    (id, srv.login("demo", &email, "password-123").await)
}

struct Crm {
    owner: String,
    form: String,
    sales: (String, String),
    manager: (String, String),
    fin1: (String, String),
    fin2: (String, String),
    boss: (String, String),
}

async fn crm(srv: &Server) -> Crm {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv
        .create_form(
            &owner,
            &app,
            json!({"name": "contracts", "fields": [
                {"key": "title", "label": "Title", "type": "text", "required": true},
                {"key": "amount", "label": "Amount", "type": "money", "required": true},
                {"key": "terms", "label": "Payment terms", "type": "text", "max_length": 20},
                {"key": "cost", "label": "Cost", "type": "number"}
            ]}),
        )
        .await;
    Crm {
        sales: member(srv, &owner, "sales").await,
        manager: member(srv, &owner, "manager").await,
        fin1: member(srv, &owner, "fin1").await,
        fin2: member(srv, &owner, "fin2").await,
        boss: member(srv, &owner, "boss").await,
        owner,
        form,
    }
}

impl Crm {
    fn flow(&self) -> Value {
        json!({
            "name": "Contract approval",
            "nodes": [
                {"id": "start", "kind": "start", "fields": {"amount": "read"}},
                {"id": "mgr", "kind": "approve", "assignees": {"users": [self.manager.0]}, "mode": "any",
                 "fields": {"amount": "read", "terms": "edit", "cost": "hidden"},
                 "timeout": {"hours": 24, "then": "escalate", "to": self.boss.0}},
                {"id": "finance", "kind": "approve", "assignees": {"users": [self.fin1.0, self.fin2.0]}, "mode": "all",
                 "fields": {"terms": "edit", "amount": "read"}},
                {"id": "end", "kind": "end"}
            ],
            "edges": [
                {"from": "start", "to": "mgr"},
                {"from": "mgr", "to": "finance", "when": "record.amount > 100000"},
                {"from": "mgr", "to": "end", "default": true},
                {"from": "finance", "to": "end"}
            ]
        })
    }

    async fn install(&self, srv: &Server) -> String {
        let r = srv
            .post(
                &format!("/api/v1/forms/{}/workflows", self.form),
                &self.owner,
                self.flow(),
            )
            .await;
        assert_eq!(r.status, 201, "create flow: {}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn submit(&self, srv: &Server, amount: i64) -> String {
        let r = srv
            .create_record(
                &self.sales.1,
                &self.form,
                json!({"title": "Deal", "amount": amount, "terms": "30 days", "cost": 7}),
            )
            .await;
        assert_eq!(r.status, 201, "submit: {}", r.text);
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn flow_of(&self, srv: &Server, record: &str) -> Value {
        let r = srv
            .get(
                &format!("/api/v1/forms/{}/records/{record}/workflow", self.form),
                &self.owner,
            )
            .await;
        assert_eq!(r.status, 200, "instance: {}", r.text);
        r.body
    }
}

async fn todo(srv: &Server, token: &str) -> Vec<String> {
    let r = srv.get("/api/v1/tasks?box=todo", token).await;
    assert_eq!(r.status, 200, "tasks: {}", r.text);
    r.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn act(srv: &Server, token: &str, task: &str, action: &str, body: Value) -> crate::harness::Resp {
    srv.post(&format!("/api/v1/tasks/{task}/{action}"), token, body)
        .await
}

fn actions(flow: &Value) -> Vec<String> {
    flow["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap().to_owned())
        .collect()
}

e2e!(contract_approval, |srv: Server| async move {
    let c = crm(&srv).await;
    c.install(&srv).await;

    // At most 100,000: the sales manager only.
    let small = c.submit(&srv, 100_000).await;
    let flow = c.flow_of(&srv, &small).await;
    assert_eq!(flow["status"], "running");
    assert_eq!(flow["current"][0]["node"], "mgr");
    // The initiator cannot edit the amount while the record is in flow.
    srv.call(
        Method::PATCH,
        &format!("/api/v1/forms/{}/records/{small}", c.form),
        Some(&c.sales.1),
        Some(json!({"data": {"amount": 1}})),
    )
    .await
    .assert_error(409, "conflict");
    let mgr = todo(&srv, &c.manager.1).await;
    assert_eq!(mgr.len(), 1);
    // The manager's view of the record lacks the hidden cost.
    let task = srv.get(&format!("/api/v1/tasks/{}", mgr[0]), &c.manager.1).await;
    assert_eq!(task.status, 200, "{}", task.text);
    assert!(task.body["record"]["data"].get("cost").is_none(), "{}", task.text);
    assert_eq!(task.body["record"]["data"]["title"], "Deal");
    assert_eq!(task.body["fields"]["cost"], "hidden");
    let r = act(&srv, &c.manager.1, &mgr[0], "approve", json!({"comment": "fine"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "approved");
    let todo_fin = todo(&srv, &c.fin1.1).await;
    assert!(todo_fin.is_empty(), "small contracts skip finance");

    // Over 100,000: the manager, then both finance members.
    let big = c.submit(&srv, 250_000).await;
    let mgr = todo(&srv, &c.manager.1).await;
    assert_eq!(
        act(&srv, &c.manager.1, &mgr[0], "approve", json!({}))
            .await
            .status,
        200
    );
    let flow = c.flow_of(&srv, &big).await;
    assert_eq!(flow["current"][0]["node"], "finance");
    assert_eq!(flow["current"][0]["tasks"].as_array().unwrap().len(), 2);
    let f1 = todo(&srv, &c.fin1.1).await;
    let f2 = todo(&srv, &c.fin2.1).await;
    // Finance may edit only the payment terms.
    let r = act(&srv, &c.fin1.1, &f1[0], "approve", json!({"data": {"amount": 1}})).await;
    r.assert_error(403, "forbidden");
    assert_eq!(r.detail_fields(), vec!["data/amount"]);
    let r = act(
        &srv,
        &c.fin1.1,
        &f1[0],
        "approve",
        json!({"data": {"terms": "60 days"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "running", "both finance members must approve");
    let r = act(&srv, &c.fin2.1, &f2[0], "approve", json!({})).await;
    assert_eq!(r.body["status"], "approved", "{}", r.text);
    let rec = srv
        .get(&format!("/api/v1/forms/{}/records/{big}", c.form), &c.owner)
        .await;
    assert_eq!(rec.body["data"]["terms"], "60 days");
    assert_eq!(rec.body["data"]["amount"], json!(250_000));
    // Inboxes.
    let done = srv.get("/api/v1/tasks?box=done", &c.fin1.1).await;
    assert_eq!(done.body["tasks"].as_array().unwrap().len(), 1, "{}", done.text);
    let mine = srv
        .get(
            &format!("/api/v1/tasks?box=initiated&form_id={}", c.form),
            &c.sales.1,
        )
        .await;
    let mine = mine.body["tasks"].as_array().unwrap();
    assert_eq!(mine.len(), 2);
    assert!(
        mine.iter()
            .all(|t| t["form_id"] == json!(c.form) && t["record_id"].is_string())
    );
    // The initiator hears when each flow ends.
    let inbox = srv.get("/api/v1/notifications", &c.sales.1).await;
    assert!(
        inbox.body["notifications"].as_array().unwrap().len() >= 2,
        "{}",
        inbox.text
    );
});

e2e!(return_and_resubmit, |srv: Server| async move {
    let c = crm(&srv).await;
    c.install(&srv).await;
    let id = c.submit(&srv, 500_000).await;
    let mgr = todo(&srv, &c.manager.1).await;
    act(&srv, &c.manager.1, &mgr[0], "approve", json!({})).await;
    let f1 = todo(&srv, &c.fin1.1).await;
    let r = act(
        &srv,
        &c.fin1.1,
        &f1[0],
        "return",
        json!({"to": "initiator", "comment": "wrong title"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["current"][0]["node"], "start");
    let mine = todo(&srv, &c.sales.1).await;
    assert_eq!(mine.len(), 1);
    let r = act(
        &srv,
        &c.sales.1,
        &mine[0],
        "submit",
        json!({"data": {"title": "Deal, corrected"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mgr = todo(&srv, &c.manager.1).await;
    act(&srv, &c.manager.1, &mgr[0], "approve", json!({})).await;
    for who in [&c.fin1.1, &c.fin2.1] {
        let t = todo(&srv, who).await;
        assert_eq!(act(&srv, who, &t[0], "approve", json!({})).await.status, 200);
    }
    let flow = c.flow_of(&srv, &id).await;
    assert_eq!(flow["status"], "approved");
    assert_eq!(
        actions(&flow),
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
    let returned = &flow["history"][4];
    assert_eq!(returned["actor"], json!(c.fin1.0));
    assert_eq!(returned["comment"], "wrong title");
    assert_eq!(
        flow["history"][6]["detail"]["changes"]["title"]["to"],
        "Deal, corrected"
    );
});

e2e!(racing_approvers, |srv: Server| async move {
    let c = crm(&srv).await;
    let flow = json!({
        "name": "Any one of two",
        "nodes": [
            {"id": "start", "kind": "start"},
            {"id": "pair", "kind": "approve", "assignees": {"users": [c.fin1.0, c.fin2.0]}, "mode": "any"},
            {"id": "last", "kind": "approve", "assignees": {"users": [c.manager.0]}},
            {"id": "end", "kind": "end"}
        ],
        "edges": [{"from": "start", "to": "pair"}, {"from": "pair", "to": "last"}, {"from": "last", "to": "end"}]
    });
    let r = srv
        .post(&format!("/api/v1/forms/{}/workflows", c.form), &c.owner, flow)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for round in 0..4 {
        let id = c.submit(&srv, 1000 + round).await;
        let a = todo(&srv, &c.fin1.1).await;
        let b = todo(&srv, &c.fin2.1).await;
        let (ra, rb) = tokio::join!(
            act(&srv, &c.fin1.1, &a[0], "approve", json!({})),
            act(&srv, &c.fin2.1, &b[0], "approve", json!({}))
        );
        let mut statuses = [ra.status, rb.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {} / {}", ra.text, rb.text);
        let loser = if ra.status == 409 { &ra } else { &rb };
        assert_eq!(loser.code(), "conflict");
        let flow = c.flow_of(&srv, &id).await;
        assert_eq!(actions(&flow).iter().filter(|a| *a == "approved").count(), 1);
        assert_eq!(flow["current"][0]["node"], "last");
        let m = todo(&srv, &c.manager.1).await;
        assert_eq!(m.len(), 1, "the flow moved once");
        assert_eq!(
            act(&srv, &c.manager.1, &m[0], "approve", json!({})).await.status,
            200
        );
    }
});

e2e!(timeout_escalates_once, clock(), |srv: Server| async move {
    let mut srv = srv;
    let c = crm(&srv).await;
    c.install(&srv).await;
    let id = c.submit(&srv, 10).await;
    let tick = |at: chrono::DateTime<Utc>| {
        let srv = &srv;
        let owner = c.owner.clone();
        async move {
            let r = srv
                .post(
                    "/api/v1/admin/scheduler/run",
                    &owner,
                    json!({"at": at.to_rfc3339()}),
                )
                .await;
            assert_eq!(r.status, 200, "tick: {}", r.text);
        }
    };
    let now = Utc::now();
    tick(now + TimeDelta::hours(23)).await;
    assert_eq!(todo(&srv, &c.manager.1).await.len(), 1, "not yet due");
    tick(now + TimeDelta::hours(25)).await;
    tick(now + TimeDelta::hours(26)).await;
    assert!(todo(&srv, &c.manager.1).await.is_empty());
    assert_eq!(todo(&srv, &c.boss.1).await.len(), 1);
    srv.restart().await;
    let owner = srv.demo().await;
    let r = srv
        .post(
            "/api/v1/admin/scheduler/run",
            &owner,
            json!({"at": (now + TimeDelta::hours(30)).to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let boss = todo(&srv, &c.boss.1).await;
    assert_eq!(boss.len(), 1, "escalated once, also after a restart");
    let flow = c.flow_of(&srv, &id).await;
    assert_eq!(actions(&flow).iter().filter(|a| *a == "escalated").count(), 1);
    assert_eq!(
        act(&srv, &c.boss.1, &boss[0], "approve", json!({})).await.status,
        200
    );
    assert_eq!(c.flow_of(&srv, &id).await["status"], "approved");
});

e2e!(workflow_bad_input, |srv: Server| async move {
    let c = crm(&srv).await;
    // A definition with an unreachable node is refused, naming it.
    let mut bad = c.flow();
    bad["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "island", "kind": "approve", "assignees": {"users": [c.boss.0]}}));
    bad["edges"]
        .as_array_mut()
        .unwrap()
        .push(json!({"from": "island", "to": "end"}));
    let r = srv
        .post(&format!("/api/v1/forms/{}/workflows", c.form), &c.owner, bad)
        .await;
    r.assert_error(422, "validation_failed");
    assert!(
        r.detail_fields().contains(&"nodes/island".to_owned()),
        "{}",
        r.text
    );
    assert!(r.text.contains("island"));
    c.install(&srv).await;
    let fill = json!({
        "name": "Fill terms",
        "nodes": [
            {"id": "start", "kind": "start"},
            {"id": "fill", "kind": "fill", "assignees": {"users": [c.fin1.0]}, "fields": {"terms": "edit"}},
            {"id": "end", "kind": "end"}
        ],
        "edges": [{"from": "start", "to": "fill"}, {"from": "fill", "to": "end"}]
    });
    let r = srv
        .post(&format!("/api/v1/forms/{}/workflows", c.form), &c.owner, fill)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = c.submit(&srv, 50).await;
    let task = todo(&srv, &c.fin1.1).await;
    // Not yours: 404.
    act(&srv, &c.fin2.1, &task[0], "submit", json!({}))
        .await
        .assert_error(404, "not_found");
    // An invalid fill value: 422 naming the field.
    let r = act(
        &srv,
        &c.fin1.1,
        &task[0],
        "submit",
        json!({"data": {"terms": "x".repeat(50)}}),
    )
    .await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.detail_fields(), vec!["terms"]);
    let r = act(
        &srv,
        &c.fin1.1,
        &task[0],
        "submit",
        json!({"data": {"terms": "net 45"}}),
    )
    .await;
    assert_eq!(r.body["status"], "approved", "{}", r.text);
    // The instance is finished: 409.
    act(&srv, &c.fin1.1, &task[0], "submit", json!({}))
        .await
        .assert_error(409, "conflict");
    let mine = srv.get("/api/v1/tasks?box=initiated", &c.sales.1).await;
    let start = mine.body["tasks"][0]["id"].as_str().unwrap().to_owned();
    act(&srv, &c.sales.1, &start, "withdraw", json!({}))
        .await
        .assert_error(409, "conflict");
    let flow = c.flow_of(&srv, &id).await;
    assert_eq!(flow["status"], "approved");
    // Unknown task ids and actions: 404.
    act(
        &srv,
        &c.fin1.1,
        "00000000-0000-7000-8000-000000000000",
        "approve",
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    act(&srv, &c.fin1.1, &task[0], "explode", json!({}))
        .await
        .assert_error(404, "not_found");
});
