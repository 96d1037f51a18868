//! Scripts at work and going wrong: a churn alert over order histories,
//! refused and stopped scripts, tenant isolation, atomic effects, and
//! manual runs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Timelike, Utc};
use serde_json::{Value, json};

use super::{clock, count, create_rule, crm, day_text, insert_all, records, runs, tick, utc};
use crate::e2e;
use crate::harness::{Server, customers_form};

const CHURN_SCRIPT: &str = r#"
let customers = find("customers", (), 1000);
for c in customers {
    if c.tags.contains("流失风险") { continue; }
    let orders = find("orders", #{field: "customer", op: "eq", value: c.id}, 1000);
    if orders.len() < 2 { continue; }
    let days = [];
    for o in orders { days.push(days_between("2000-01-01", o.ordered_at)); }
    days.sort();
    let first = days[0];
    let last = days[days.len() - 1];
    let average_gap = (last - first).to_float() / (days.len() - 1).to_float();
    let since = days_between("2000-01-01", today()) - last;
    log(`${c.name}: average gap ${average_gap}, ${since} days since the last order`);
    if since.to_float() > 2.0 * average_gap && since >= 60 {
        tag(c.id, "流失风险");
        create("tasks", #{title: "Call " + c.name, customer: c.id, owner: c.owner, due: add_days(today(), 3)});
    }
}
"#;

e2e!(churn_alert, clock(), |srv: Server| async move {
    let started = Instant::now();
    let token = srv.tenant("churn").await;
    let app = srv.create_app(&token, "Sales").await;
    let customers = srv
        .create_form(
            &token,
            &app,
            json!({"name": "customers", "fields": [
                {"key": "name", "label": "Name", "type": "text", "required": true},
                {"key": "owner", "label": "Owner", "type": "text"}
            ]}),
        )
        .await;
    let orders = srv
        .create_form(
            &token,
            &app,
            json!({"name": "orders", "fields": [
                {"key": "customer", "label": "Customer", "type": "relation", "form_id": customers, "required": true},
                {"key": "ordered_at", "label": "Ordered", "type": "date", "required": true},
                {"key": "amount", "label": "Amount", "type": "number"}
            ]}),
        )
        .await;
    let tasks = srv
        .create_form(
            &token,
            &app,
            json!({"name": "tasks", "fields": [
                {"key": "title", "label": "Title", "type": "text", "required": true},
                {"key": "customer", "label": "Customer", "type": "relation", "form_id": customers},
                {"key": "owner", "label": "Owner", "type": "text"},
                {"key": "due", "label": "Due", "type": "date"}
            ]}),
        )
        .await;
    // The daily run fires at the top of the hour one to two hours from now,
    // so no occurrence falls between the rule's creation and the first day
    // the test drives, whatever the time of day the test runs at.
    let first = Utc::now() + TimeDelta::hours(2);
    let hour = first.hour();
    let t0 = first.date_naive();
    let daily = create_rule(
        &srv,
        &token,
        &app,
        json!({"name": "churn alert", "form_id": customers,
               "trigger": {"kind": "schedule", "cron": format!("0 {hour} * * *")},
               "script": CHURN_SCRIPT}),
    )
    .await;
    create_rule(
        &srv,
        &token,
        &app,
        json!({"name": "back again", "form_id": orders, "trigger": {"kind": "record_created"},
               "script": "untag(record.customer, \"流失风险\");"}),
    )
    .await;

    // Order histories relative to the first day the schedule fires:
    // (name, gap between orders, orders, days since the last, at risk).
    let profiles: [(&str, i64, i64, i64, bool); 9] = [
        ("steady-gone", 30, 6, 70, true), // 70 > 60 and ≥ 60
        ("weekly-gone", 7, 8, 61, true),  // 61 > 14 and ≥ 60
        ("fortnight-gone", 14, 5, 200, true),
        ("steady-recent", 30, 6, 10, false), // bought lately
        ("slow-buyer", 100, 4, 150, false),  // 150 < 2 × 100
        ("almost", 20, 5, 50, false),        // 50 > 40 but < 60
        ("just-under", 40, 3, 75, false),    // 75 < 80, and 78 on the last day
        ("one-order", 0, 1, 300, false),     // no gap to compare
        ("no-orders", 0, 0, 0, false),
    ];
    let people: Vec<Value> = profiles
        .iter()
        .map(|p| json!({"name": p.0, "owner": format!("{}@owners.test", p.0)}))
        .collect();
    let ids = insert_all(&srv, &token, &customers, people).await;
    let mut order_rows = Vec::new();
    for (id, (_, gap, n, since, _)) in ids.iter().zip(&profiles) {
        for k in 0..*n {
            let on = t0 - TimeDelta::days(since + gap * k);
            order_rows.push(json!({"customer": id, "ordered_at": day_text(on), "amount": 10 + k}));
        }
    }
    insert_all(&srv, &token, &orders, order_rows).await;
    let at_risk: BTreeSet<String> = ids
        .iter()
        .zip(&profiles)
        .filter(|(_, p)| p.4)
        .map(|(id, _)| id.clone())
        .collect();

    // The order rule runs over the history first (in one tick with the
    // schedule its untags would race the tags).
    tick(&srv, &token, Utc::now() + TimeDelta::seconds(1)).await;
    // Three days: the first run tags and makes tasks, the next ones see the
    // tag and do nothing more.
    for d in 0..3 {
        let report = tick(&srv, &token, utc(t0 + TimeDelta::days(d), hour, 30)).await;
        assert!(report["ran"].as_u64().unwrap() >= 1, "{report}");
    }
    let tagged: BTreeSet<String> = records(&srv, &token, &customers, json!({"tag": "流失风险"}))
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tagged, at_risk, "exactly the at-risk customers are tagged");
    let made = records(&srv, &token, &tasks, Value::Null).await;
    assert_eq!(made.len(), at_risk.len(), "one task each: {made:#?}");
    for t in &made {
        let customer = t["data"]["customer"].as_str().unwrap();
        assert!(at_risk.contains(customer));
        let i = ids.iter().position(|id| id == customer).unwrap();
        assert_eq!(t["data"]["owner"], format!("{}@owners.test", profiles[i].0));
        assert_eq!(t["data"]["title"], format!("Call {}", profiles[i].0));
        assert_eq!(t["data"]["due"], day_text(t0 + TimeDelta::days(3)));
    }
    let daily_runs = runs(&srv, &token, &daily).await;
    assert_eq!(daily_runs.len(), 3, "one run a day");
    assert!(
        daily_runs.iter().all(|r| r["outcome"] == "succeeded"),
        "{daily_runs:#?}"
    );

    // A new order brings one back.
    let back = &ids[0];
    let r = srv
        .create_record(
            &token,
            &orders,
            json!({"customer": back, "ordered_at": day_text(t0 + TimeDelta::days(2)), "amount": 99}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    tick(&srv, &token, utc(t0 + TimeDelta::days(2), hour, 45)).await;
    let tagged: BTreeSet<String> = records(&srv, &token, &customers, json!({"tag": "流失风险"}))
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = at_risk.clone();
    expected.remove(back);
    assert_eq!(tagged, expected, "the returning customer lost the tag");
    // The next morning's run leaves it untagged: it just ordered.
    tick(&srv, &token, utc(t0 + TimeDelta::days(3), hour, 30)).await;
    assert_eq!(
        count(&srv, &token, &customers, json!({"tag": "流失风险"})).await,
        expected.len() as u64
    );
    assert_eq!(
        count(&srv, &token, &tasks, Value::Null).await,
        at_risk.len() as u64
    );
    eprintln!("churn_alert: total {:?}", started.elapsed());
});

e2e!(bad_scripts, clock(), |srv: Server| async move {
    let started = Instant::now();
    let c = crm(&srv, "bad").await;
    let token = c.token.as_str();
    let rules = format!("/api/v1/apps/{}/rules", c.app);

    // A syntax error is refused with its position.
    let r = srv
        .post(
            &rules,
            token,
            json!({"name": "broken", "form_id": c.customers, "trigger": {"kind": "record_created"},
                   "script": "let a = 1;\nlet b = ;"}),
        )
        .await;
    r.assert_error(422, "script_syntax");
    let detail = &r.body["error"]["details"][0];
    assert_eq!(detail["field"], "script", "{}", r.text);
    assert_eq!(detail["line"], 2, "{}", r.text);
    assert!(detail["column"].as_u64().is_some_and(|c| c > 0), "{}", r.text);
    assert_eq!(srv.get(&rules, token).await.body, json!([]), "nothing was saved");

    // An endless loop is stopped, in a test-run and in a real firing; the
    // other rule on the same event still applies its effect.
    let spin = create_rule(
        &srv,
        token,
        &c.app,
        json!({"name": "spin", "form_id": c.customers, "trigger": {"kind": "record_created"}, "script": "loop {}"}),
    )
    .await;
    create_rule(
        &srv,
        token,
        &c.app,
        json!({"name": "mark", "form_id": c.customers, "trigger": {"kind": "record_created"},
               "script": "tag(record.id, \"checked\");"}),
    )
    .await;
    let t = Instant::now();
    let r = srv
        .post(
            &format!("/api/v1/rules/{spin}/test"),
            token,
            json!({"record": {"name": "x"}}),
        )
        .await;
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "script_limit", "{}", r.text);
    assert!(took < Duration::from_secs(1), "the test-run took {took:?}");
    let ann = srv
        .create_record(token, &c.customers, json!({"name": "Ann"}))
        .await;
    assert_eq!(ann.status, 201, "{}", ann.text);
    let ann = ann.body["id"].as_str().unwrap().to_owned();
    tick(&srv, token, Utc::now() + TimeDelta::minutes(1)).await;
    let spun = runs(&srv, token, &spin).await;
    assert_eq!(spun.len(), 1, "{spun:#?}");
    assert_eq!(spun[0]["outcome"], "failed", "{spun:#?}");
    assert_eq!(spun[0]["detail"]["error"]["code"], "script_limit", "{spun:#?}");
    assert_eq!(spun[0]["detail"]["record_id"], json!(ann));
    let got = srv
        .get(&format!("/api/v1/forms/{}/records/{ann}", c.customers), token)
        .await;
    assert_eq!(got.body["tags"], json!(["checked"]), "{}", got.text);

    // Another tenant's form, named by its id, finds nothing.
    let other = crm(&srv, "bad-other").await;
    insert_all(
        &srv,
        &other.token,
        &other.customers,
        vec![json!({"name": "Secret"}), json!({"name": "Hidden"})],
    )
    .await;
    let f = &other.customers;
    let peek = create_rule(
        &srv,
        token,
        &c.app,
        json!({"name": "peek", "form_id": c.customers, "trigger": {"kind": "manual"},
               "script": format!("log(count(\"{f}\", ())); log(find(\"{f}\", (), 10).len()); log(sum(\"{f}\", \"name\", ()));")}),
    )
    .await;
    let r = srv
        .post(
            &format!("/api/v1/rules/{peek}/test"),
            token,
            json!({"record": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["error"], Value::Null, "{}", r.text);
    assert_eq!(r.body["logs"][0], "0", "{}", r.text);
    assert_eq!(r.body["logs"][1], "0", "{}", r.text);
    assert_eq!(
        count(&srv, &other.token, &other.customers, Value::Null).await,
        2,
        "they are there"
    );

    // An effect that fails validation fails the run and applies nothing,
    // not even the valid effect before it.
    let leads = srv
        .create_form(
            token,
            &c.app,
            json!({"name": "leads", "fields": [
                {"key": "name", "label": "Name", "type": "text", "required": true}
            ]}),
        )
        .await;
    let half = create_rule(
        &srv,
        token,
        &c.app,
        json!({"name": "half", "form_id": leads, "trigger": {"kind": "record_created"},
               "script": "create(\"leads\", #{name: \"copy of \" + record.name});\ncreate(\"leads\", #{});"}),
    )
    .await;
    let lead = srv.create_record(token, &leads, json!({"name": "Lee"})).await;
    assert_eq!(lead.status, 201, "{}", lead.text);
    let test = srv
        .post(
            &format!("/api/v1/rules/{half}/test"),
            token,
            json!({"record_id": lead.body["id"]}),
        )
        .await;
    assert_eq!(test.body["error"]["code"], "validation_failed", "{}", test.text);
    tick(&srv, token, Utc::now() + TimeDelta::minutes(2)).await;
    let halves = runs(&srv, token, &half).await;
    assert_eq!(halves.len(), 1, "not retried: {halves:#?}");
    assert_eq!(halves[0]["outcome"], "failed");
    let error = &halves[0]["detail"]["error"];
    assert_eq!(error["code"], "validation_failed", "{error}");
    let fields: Vec<&str> = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(fields.contains(&"effects/1/name"), "{error}");
    assert_eq!(
        count(&srv, token, &leads, Value::Null).await,
        1,
        "neither lead the rule made exists"
    );
    eprintln!("bad_scripts: total {:?}", started.elapsed());
});

e2e!(manual_run, clock(), |srv: Server| async move {
    let started = Instant::now();
    let token = srv.tenant("manual").await;
    let app = srv.create_app(&token, "CRM").await;
    let customers = srv.create_form(&token, &app, customers_form()).await;
    let rule = create_rule(
        &srv,
        &token,
        &app,
        json!({"name": "big spenders", "form_id": customers, "trigger": {"kind": "manual"},
               "condition": "record.total_spent > 1000",
               "script": "tag(record.id, \"VIP\"); log(`tagged ${record.name}`);"}),
    )
    .await;
    let rows = (0..30)
        .map(|i| json!({"name": format!("p{i}"), "total_spent": i * 100, "tier": if i % 2 == 0 { "VIP" } else { "regular" }}))
        .collect();
    insert_all(&srv, &token, &customers, rows).await;
    // Over a filter: the 15 regulars (odd numbers); 10 of them (1100 …
    // 2900) spent over 1000.
    let filter = json!({"field": "tier", "op": "eq", "value": "regular"});
    let r = srv
        .post(
            &format!("/api/v1/rules/{rule}/run"),
            &token,
            json!({"filter": filter}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["total"], 15, "{}", r.text);
    let batch = r.body["batch_id"].as_str().unwrap().to_owned();
    let progress = format!("/api/v1/rules/{rule}/batches/{batch}");
    let before = srv.get(&progress, &token).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(
        (&before.body["pending"], &before.body["done"]),
        (&json!(15), &json!(false)),
        "{}",
        before.text
    );
    tick(&srv, &token, Utc::now() + TimeDelta::minutes(1)).await;
    let after = srv.get(&progress, &token).await;
    assert_eq!(
        after.body,
        json!({"batch_id": batch, "total": 15, "pending": 0, "running": 0, "succeeded": 10,
               "skipped": 5, "failed": 0, "cancelled": 0, "done": true}),
        "{}",
        after.text
    );
    let vips: BTreeSet<String> = records(&srv, &token, &customers, json!({"tag": "VIP"}))
        .await
        .iter()
        .map(|r| r["data"]["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = (11..30).step_by(2).map(|i| format!("p{i}")).collect();
    assert_eq!(vips, expected);
    // A batch of another rule id, or an unknown batch, is not found.
    srv.get(&format!("/api/v1/rules/{rule}/batches/abc123"), &token)
        .await
        .assert_error(404, "not_found");
    // Only manual rules run by hand.
    let auto = create_rule(
        &srv,
        &token,
        &app,
        json!({"name": "auto", "form_id": customers, "trigger": {"kind": "record_created"}, "script": "log(1);"}),
    )
    .await;
    srv.post(
        &format!("/api/v1/rules/{auto}/run"),
        &token,
        json!({"filter": filter}),
    )
    .await
    .assert_error(422, "validation_failed");
    eprintln!("manual_run: total {:?}", started.elapsed());
});
