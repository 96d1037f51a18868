//! The 简道云-compatible v5 API over HTTP against the real binary: lists,
//! writes with value wrapping, `transaction_id`, filters, field errors, and
//! tenant isolation; on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::{Resp, Server, customers_form};

async fn v5(srv: &Server, token: &str, op: &str, body: Value) -> Resp {
    srv.call(Method::POST, &format!("/api/v5/{op}"), Some(token), Some(body))
        .await
}

e2e!(v5_basics_and_isolation, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv.create_form(&owner, &app, customers_form()).await;
    let apps = v5(&srv, &owner, "app/list", json!({"skip": 0, "limit": 10})).await;
    assert_eq!(apps.status, 200, "{}", apps.text);
    assert!(
        apps.body["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["app_id"] == app.as_str())
    );
    let entries = v5(&srv, &owner, "app/entry/list", json!({"app_id": app})).await;
    assert_eq!(entries.status, 200, "{}", entries.text);
    assert_eq!(entries.body["forms"][0]["entry_id"], form.as_str());
    let widgets = v5(
        &srv,
        &owner,
        "app/entry/widget/list",
        json!({"app_id": app, "entry_id": form}),
    )
    .await;
    assert_eq!(widgets.status, 200, "{}", widgets.text);
    assert!(widgets.text.contains("\"name\""), "{}", widgets.text);
    // Create with wrapped values and a transaction id; a repeat writes nothing.
    let body = json!({"app_id": app, "entry_id": form, "transaction_id": "t-1",
        "data": {"name": {"value": "Ann"}, "tier": {"value": "VIP"}}});
    let created = v5(&srv, &owner, "app/entry/data/create", body.clone()).await;
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.body["data"]["_id"].as_str().unwrap().to_owned();
    let again = v5(&srv, &owner, "app/entry/data/create", body).await;
    assert_eq!(again.body["data"]["_id"], id.as_str(), "{}", again.text);
    let plain = json!({"app_id": app, "entry_id": form, "data": {"name": {"value": "Bob"}, "tier": {"value": "regular"}}});
    assert_eq!(v5(&srv, &owner, "app/entry/data/create", plain).await.status, 200);
    // A missing required field is refused naming it.
    let bad = v5(
        &srv,
        &owner,
        "app/entry/data/create",
        json!({"app_id": app, "entry_id": form, "data": {}}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.body["code"].is_u64() && bad.body["msg"].as_str().unwrap().contains("name"),
        "{}",
        bad.text
    );
    // Get and a filtered list.
    let got = v5(
        &srv,
        &owner,
        "app/entry/data/get",
        json!({"app_id": app, "entry_id": form, "data_id": id}),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["data"]["name"], "Ann");
    let all = v5(
        &srv,
        &owner,
        "app/entry/data/list",
        json!({"app_id": app, "entry_id": form, "limit": 10}),
    )
    .await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 2, "{}", all.text);
    let vip = v5(&srv, &owner, "app/entry/data/list", json!({"app_id": app, "entry_id": form, "limit": 10,
        "filter": {"rel": "and", "cond": [{"field": "tier", "type": "combo", "method": "eq", "value": ["VIP"]}]}})).await;
    assert_eq!(vip.status, 200, "{}", vip.text);
    assert_eq!(vip.body["data"].as_array().unwrap().len(), 1, "{}", vip.text);
    assert_eq!(vip.body["data"][0]["_id"], id.as_str());
    // Another tenant's token reaches none of it, reading or writing.
    let other = srv.tenant("other").await;
    let apps = v5(&srv, &other, "app/list", json!({})).await;
    assert!(!apps.text.contains(&app), "{}", apps.text);
    for (op, body) in [
        ("app/entry/list", json!({"app_id": app})),
        ("app/entry/widget/list", json!({"app_id": app, "entry_id": form})),
        (
            "app/entry/data/get",
            json!({"app_id": app, "entry_id": form, "data_id": id}),
        ),
        ("app/entry/data/list", json!({"app_id": app, "entry_id": form})),
        (
            "app/entry/data/create",
            json!({"app_id": app, "entry_id": form, "data": {"name": {"value": "X"}}}),
        ),
        (
            "app/entry/data/update",
            json!({"app_id": app, "entry_id": form, "data_id": id, "data": {"name": {"value": "X"}}}),
        ),
        (
            "app/entry/data/delete",
            json!({"app_id": app, "entry_id": form, "data_id": id}),
        ),
        (
            "app/entry/data/batch_delete",
            json!({"app_id": app, "entry_id": form, "data_ids": [id]}),
        ),
    ] {
        let r = v5(&srv, &other, op, body).await;
        assert_eq!(r.status, 400, "{op}: {}", r.text);
        assert!(!r.text.contains("Ann"), "{op}: {}", r.text);
    }
    let got = v5(
        &srv,
        &owner,
        "app/entry/data/get",
        json!({"app_id": app, "entry_id": form, "data_id": id}),
    )
    .await;
    assert_eq!(got.body["data"]["name"], "Ann", "{}", got.text);
    let entries = v5(&srv, &other, "app/entry/list", json!({"app_id": app})).await;
    assert!(!entries.text.contains(&form), "{}", entries.text);
});

fn entry(app: &str, form: &str, extra: Value) -> Value {
    let mut body = json!({"app_id": app, "entry_id": form});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body
}

async fn names(srv: &Server, token: &str, app: &str, form: &str) -> Vec<String> {
    let all = v5(
        srv,
        token,
        "app/entry/data/list",
        entry(app, form, json!({"limit": 100})),
    )
    .await;
    assert_eq!(all.status, 200, "{}", all.text);
    let mut out: Vec<String> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

e2e!(v5_writes_and_batches, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv.create_form(&owner, &app, customers_form()).await;
    // batch_create answers {status, success_count, success_ids}.
    let list: Vec<Value> = ["Ann", "Bob", "Cid"]
        .iter()
        .map(|n| json!({"name": {"value": n}, "total_spent": {"value": 10}}))
        .collect();
    let made = v5(
        &srv,
        &owner,
        "app/entry/data/batch_create",
        entry(&app, &form, json!({"data_list": list})),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.body["status"], "success", "{}", made.text);
    assert_eq!(made.body["success_count"], 3, "{}", made.text);
    let ids: Vec<String> = made.body["success_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    // A batch with one invalid item writes nothing and names the item.
    let bad = v5(
        &srv,
        &owner,
        "app/entry/data/batch_create",
        entry(
            &app,
            &form,
            json!({"data_list": [{"name": {"value": "Dan"}}, {"total_spent": {"value": 1}}]}),
        ),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(
        bad.body["msg"].as_str().unwrap().contains("1/name"),
        "{}",
        bad.text
    );
    assert_eq!(names(&srv, &owner, &app, &form).await, ["Ann", "Bob", "Cid"]);
    // More than 100 records are refused.
    let big: Vec<Value> = (0..101)
        .map(|i| json!({"name": {"value": format!("n{i}")}}))
        .collect();
    let r = v5(
        &srv,
        &owner,
        "app/entry/data/batch_create",
        entry(&app, &form, json!({"data_list": big})),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], 17008, "{}", r.text);
    // update answers the record as data/get reads it.
    let up = v5(
        &srv,
        &owner,
        "app/entry/data/update",
        entry(
            &app,
            &form,
            json!({"data_id": ids[0], "data": {"total_spent": {"value": 99}}}),
        ),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(up.body["data"]["_id"], ids[0].as_str());
    assert_eq!(up.body["data"]["total_spent"], 99);
    assert_eq!(up.body["data"]["name"], "Ann");
    // batch_update: one change to every record, same answer shape.
    let bu = v5(
        &srv,
        &owner,
        "app/entry/data/batch_update",
        entry(
            &app,
            &form,
            json!({"data_ids": ids, "data": {"tier": {"value": "VIP"}}}),
        ),
    )
    .await;
    assert_eq!(bu.status, 200, "{}", bu.text);
    assert_eq!(
        bu.body,
        json!({"status": "success", "success_count": 3, "success_ids": ids}),
        "{}",
        bu.text
    );
    // All or nothing: an unknown id among good ones changes none of them.
    let mut with_unknown = ids.clone();
    with_unknown.push("0190b8a0-0000-7000-8000-000000000000".to_owned());
    let bu = v5(
        &srv,
        &owner,
        "app/entry/data/batch_update",
        entry(
            &app,
            &form,
            json!({"data_ids": with_unknown, "data": {"tier": {"value": "regular"}}}),
        ),
    )
    .await;
    assert_eq!(bu.status, 400, "{}", bu.text);
    assert_eq!(bu.body["code"], 17004, "{}", bu.text);
    // A unique clash found by the write itself rolls back the records before it.
    let bu = v5(
        &srv,
        &owner,
        "app/entry/data/batch_update",
        entry(
            &app,
            &form,
            json!({"data_ids": ids, "data": {"email": {"value": "same@example.com"}}}),
        ),
    )
    .await;
    assert_eq!(bu.status, 400, "{}", bu.text);
    for id in &ids {
        let got = v5(
            &srv,
            &owner,
            "app/entry/data/get",
            entry(&app, &form, json!({"data_id": id})),
        )
        .await;
        assert_eq!(got.body["data"]["tier"], "VIP", "{}", got.text);
        assert!(
            got.body["data"].get("email").is_none_or(Value::is_null),
            "{}",
            got.text
        );
    }
    // delete answers {status: success}; the record is gone for get.
    let del = v5(
        &srv,
        &owner,
        "app/entry/data/delete",
        entry(&app, &form, json!({"data_id": ids[2]})),
    )
    .await;
    assert_eq!(del.status, 200, "{}", del.text);
    assert_eq!(del.body["status"], "success", "{}", del.text);
    let gone = v5(
        &srv,
        &owner,
        "app/entry/data/get",
        entry(&app, &form, json!({"data_id": ids[2]})),
    )
    .await;
    assert_eq!(gone.status, 400, "{}", gone.text);
    assert_eq!(gone.body["code"], 17004, "{}", gone.text);
    // batch_delete is all or nothing too: the deleted one makes it fail.
    let bd = v5(
        &srv,
        &owner,
        "app/entry/data/batch_delete",
        entry(&app, &form, json!({"data_ids": ids})),
    )
    .await;
    assert_eq!(bd.status, 400, "{}", bd.text);
    assert_eq!(names(&srv, &owner, &app, &form).await, ["Ann", "Bob"]);
    let bd = v5(
        &srv,
        &owner,
        "app/entry/data/batch_delete",
        entry(&app, &form, json!({"data_ids": &ids[..2]})),
    )
    .await;
    assert_eq!(bd.status, 200, "{}", bd.text);
    assert_eq!(
        bd.body,
        json!({"status": "success", "success_count": 2, "success_ids": &ids[..2]}),
        "{}",
        bd.text
    );
    assert!(names(&srv, &owner, &app, &form).await.is_empty());
});

e2e!(
    v5_rate_limit,
    crate::harness::Opts {
        env: vec![("FORMWORK_V5_RATE_LIMIT".to_owned(), "3".to_owned())],
    },
    |srv: Server| async move {
        let owner = srv.demo().await;
        // A burst beyond the bucket is refused with 8303; bounded: at 3
        // requests/s a few hundred requests cannot all pass.
        let mut limited = None;
        for _ in 0..300 {
            let r = v5(&srv, &owner, "app/list", json!({})).await;
            if r.status != 200 {
                limited = Some(r);
                break;
            }
        }
        let r = limited.expect("no request was rate limited");
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["code"], 8303, "{}", r.text);
        assert!(r.body["msg"].is_string(), "{}", r.text);
        // The limit is per token: another token still has its whole bucket.
        let other = srv.tenant("other").await;
        let r = v5(&srv, &other, "app/list", json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // The /api/v1 calls of the same token are not limited by it.
        let r = srv.get("/api/v1/apps", &owner).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

fn filter_form() -> Value {
    json!({
        "name": "People",
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true},
            {"key": "age", "label": "Age", "type": "number"},
            {"key": "tier", "label": "Tier", "type": "select",
             "options": [{"value": "VIP"}, {"value": "regular"}]},
            {"key": "hobbies", "label": "Hobbies", "type": "multiselect",
             "options": [{"value": "golf"}, {"value": "wine"}, {"value": "chess"}]},
            {"key": "phone", "label": "Phone", "type": "phone"},
            {"key": "born", "label": "Born", "type": "date"}
        ]
    })
}

e2e!(v5_filter_methods, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "People").await;
    let form = srv.create_form(&owner, &app, filter_form()).await;
    let rows = json!([
        {"name": {"value": "Ann"}, "age": {"value": 30}, "tier": {"value": "VIP"},
         "hobbies": {"value": ["golf", "wine"]}, "phone": {"value": "+86 138 0000 0001"},
         "born": {"value": "1994-05-01T00:00:00Z"}},
        {"name": {"value": "Bob"}, "age": {"value": 40}, "tier": {"value": "regular"},
         "hobbies": {"value": ["golf"]}, "born": {"value": 631152000000_i64}},
        {"name": {"value": "Cid"}, "age": {"value": 50}, "hobbies": {"value": ["chess"]}},
        {"name": {"value": "Dee"}}
    ]);
    let made = v5(
        &srv,
        &owner,
        "app/entry/data/batch_create",
        entry(&app, &form, json!({"data_list": rows})),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!([{"field": "tier", "method": "eq", "value": ["VIP"]}]),
            &["Ann"],
        ),
        (
            json!([{"field": "tier", "method": "ne", "value": ["VIP"]}]),
            &["Bob", "Cid", "Dee"],
        ),
        (
            json!([{"field": "name", "method": "in", "value": ["Ann", "Cid", "Zed"]}]),
            &["Ann", "Cid"],
        ),
        (
            json!([{"field": "name", "method": "nin", "value": ["Ann", "Cid"]}]),
            &["Bob", "Dee"],
        ),
        (
            json!([{"field": "age", "method": "range", "value": [40, 50]}]),
            &["Bob", "Cid"],
        ),
        (
            json!([{"field": "age", "method": "range", "value": [null, 40]}]),
            &["Ann", "Bob"],
        ),
        (
            json!([{"field": "age", "method": "range", "value": [45, null]}]),
            &["Cid"],
        ),
        (
            json!([{"field": "name", "method": "like", "value": ["i"]}]),
            &["Cid"],
        ),
        (json!([{"field": "age", "method": "empty"}]), &["Dee"]),
        (
            json!([{"field": "age", "method": "not_empty"}]),
            &["Ann", "Bob", "Cid"],
        ),
        (
            json!([{"field": "age", "method": "gt", "value": [30]}]),
            &["Bob", "Cid"],
        ),
        (
            json!([{"field": "age", "method": "lt", "value": [50]}]),
            &["Ann", "Bob"],
        ),
        (
            json!([{"field": "hobbies", "method": "all", "value": ["golf", "wine"]}]),
            &["Ann"],
        ),
        (
            json!([{"field": "hobbies", "method": "all", "value": ["golf"]}]),
            &["Ann", "Bob"],
        ),
        (json!([{"field": "phone", "method": "verified"}]), &[]),
        (json!([{"field": "phone", "method": "unverified"}]), &["Ann"]),
        (
            json!([{"field": "born", "method": "range", "value": ["1990-01-01T00:00:00Z", null]}]),
            &["Ann", "Bob"],
        ),
        (
            json!([{"field": "born", "method": "gt", "value": [700000000000_i64]}]),
            &["Ann"],
        ),
        (
            json!([{"field": "age", "method": "gt", "value": [35]}, {"field": "tier", "method": "eq", "value": ["VIP"]}]),
            &[],
        ),
    ];
    for (cond, want) in &cases {
        let r = v5(
            &srv,
            &owner,
            "app/entry/data/list",
            entry(
                &app,
                &form,
                json!({"limit": 100, "filter": {"rel": "and", "cond": cond}}),
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{cond}: {}", r.text);
        let mut got: Vec<&str> = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(&got, want, "{cond}");
    }
    // rel "or".
    let r = v5(&srv, &owner, "app/entry/data/list", entry(&app, &form, json!({"filter": {"rel": "or", "cond": [
        {"field": "age", "method": "gt", "value": [45]}, {"field": "tier", "method": "eq", "value": ["VIP"]}]}}))).await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 2, "{}", r.text);
    // Bad conditions name themselves: unknown method, verified on a non-phone
    // field, more than 200 `in` values.
    let many: Vec<i64> = (0..201).collect();
    for cond in [
        json!({"field": "age", "method": "between", "value": [1, 2]}),
        json!({"field": "age", "method": "verified"}),
        json!({"field": "age", "method": "in", "value": many}),
        json!({"field": "nope", "method": "eq", "value": [1]}),
    ] {
        let r = v5(
            &srv,
            &owner,
            "app/entry/data/list",
            entry(&app, &form, json!({"filter": {"cond": [cond]}})),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["code"], 17007, "{}", r.text);
        assert!(r.body["msg"].as_str().unwrap().contains("cond[0]"), "{}", r.text);
    }
    // Paging by `_id`: ascending, the last id of a page starts the next.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let r = v5(
            &srv,
            &owner,
            "app/entry/data/list",
            entry(&app, &form, json!({"limit": 3, "data_id": after})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.body["data"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for d in &page {
            seen.push(d["_id"].as_str().unwrap().to_owned());
        }
        after = seen.last().cloned();
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);
});

e2e!(v5_reads_as_v1, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv.create_form(&owner, &app, customers_form()).await;
    let widgets = v5(
        &srv,
        &owner,
        "app/entry/widget/list",
        entry(&app, &form, json!({})),
    )
    .await;
    let widget = |key: &str| -> String {
        widgets.body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == key)
            .and_then(|w| w["widget_id"].as_str())
            .unwrap()
            .to_owned()
    };
    let tier = widget("tier");
    assert!(
        tier.starts_with("_widget_") && tier.len() == "_widget_".len() + 13,
        "{tier}"
    );
    // Written through v1, read through v5.
    let v1 = srv
        .create_record(
            &owner,
            &form,
            json!({"name": "Ann", "tier": "VIP", "total_spent": 12.5, "joined": "2024-03-01", "notes": "a\nb"}),
        )
        .await;
    assert_eq!(v1.status, 201, "{}", v1.text);
    let id = v1.body["id"].as_str().unwrap().to_owned();
    // Written through v5 (one field by widget id), read through v1.
    let made = v5(
        &srv,
        &owner,
        "app/entry/data/create",
        entry(
            &app,
            &form,
            json!({"data": {"name": {"value": "Bob"}, (tier.clone()): {"value": "regular"},
                "total_spent": {"value": 7}, "joined": {"value": "2024-04-02T00:00:00.000Z"}}}),
        ),
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let id2 = made.body["data"]["_id"].as_str().unwrap().to_owned();
    for rid in [&id, &id2] {
        let a = srv
            .get(&format!("/api/v1/forms/{form}/records/{rid}"), &owner)
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let b = v5(
            &srv,
            &owner,
            "app/entry/data/get",
            entry(&app, &form, json!({"data_id": rid})),
        )
        .await;
        assert_eq!(b.status, 200, "{}", b.text);
        let (a, b) = (&a.body, &b.body["data"]);
        assert_eq!(b["_id"], a["id"]);
        assert_eq!(b["appId"], app.as_str());
        assert_eq!(b["entryId"], a["form_id"]);
        for key in ["name", "tier", "total_spent", "notes"] {
            assert_eq!(b[key], a["data"][key], "{key}: v1 {a} v5 {b}");
        }
        // Dates: v1 keeps the stored date, v5 answers the UTC ISO instant.
        let joined = a["data"]["joined"].as_str().unwrap();
        assert_eq!(b["joined"], format!("{joined}T00:00:00.000Z"), "v1 {a} v5 {b}");
        let t = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
        assert_eq!(
            t(&b["createTime"]).timestamp_millis(),
            t(&a["created_at"]).timestamp_millis()
        );
        assert_eq!(
            t(&b["updateTime"]).timestamp_millis(),
            t(&a["updated_at"]).timestamp_millis()
        );
        assert_eq!(b["creator"]["username"], "admin@demo.local", "{b}");
    }
    // A v5 update reads back through v1 with the new version.
    let up = v5(
        &srv,
        &owner,
        "app/entry/data/update",
        entry(
            &app,
            &form,
            json!({"data_id": id, "data": {"total_spent": {"value": 20}}}),
        ),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    let a = srv
        .get(&format!("/api/v1/forms/{form}/records/{id}"), &owner)
        .await;
    assert_eq!(a.body["data"]["total_spent"], 20, "{}", a.text);
    assert_eq!(a.body["version"], 2, "{}", a.text);
    // The same list through both APIs.
    let list1 = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            &owner,
            json!({"filter": {"field": "tier", "op": "eq", "value": "VIP"}}),
        )
        .await;
    assert_eq!(list1.status, 200, "{}", list1.text);
    let list5 = v5(
        &srv,
        &owner,
        "app/entry/data/list",
        entry(
            &app,
            &form,
            json!({"filter": {"cond": [
        {"field": tier, "method": "eq", "value": ["VIP"]}]}}),
        ),
    )
    .await;
    let ids1: Vec<&Value> = list1.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    let ids5: Vec<&Value> = list5.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["_id"])
        .collect();
    assert_eq!(ids1, ids5);
    assert_eq!(ids5, [&json!(id)]);
});

/// A new member of the demo tenant: `(username, token, user id)`.
async fn member(srv: &Server, owner: &str, name: &str) -> (String, String, String) {
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
    let token = srv.login("demo", &email, "password-123").await;
    (email, token, id)
}

async fn tasks_of(srv: &Server, token: &str, username: &str) -> Vec<Value> {
    let r = v5(
        srv,
        token,
        "workflow/task/list",
        json!({"username": username, "skip": 0, "limit": 10}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["has_more"], false, "{}", r.text);
    r.body["tasks"].as_array().unwrap().clone()
}

e2e!(v5_workflow, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv.create_form(&owner, &app, customers_form()).await;
    let (mgr, mgr_token, mgr_id) = member(&srv, &owner, "mgr").await;
    let (boss, boss_token, _) = member(&srv, &owner, "boss").await;
    let flow = srv
        .post(
            &format!("/api/v1/forms/{form}/workflows"),
            &owner,
            json!({"name": "Customer approval", "nodes": [
                {"id": "start", "kind": "start"},
                {"id": "check", "name": "Manager check", "kind": "approve", "assignees": {"users": [mgr_id]}, "mode": "any"},
                {"id": "end", "kind": "end"}
            ], "edges": [{"from": "start", "to": "check"}, {"from": "check", "to": "end"}]}),
        )
        .await;
    assert_eq!(flow.status, 201, "{}", flow.text);
    let create = |name: &str| {
        entry(
            &app,
            &form,
            json!({"is_start_workflow": true, "data": {"name": {"value": name}}}),
        )
    };
    let made = v5(&srv, &owner, "app/entry/data/create", create("Ann")).await;
    assert_eq!(made.status, 200, "{}", made.text);
    let id = made.body["data"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(made.body["data"]["flowState"], 0, "{}", made.text);
    // The manager's task, listed by username with an admin's key.
    let tasks = tasks_of(&srv, &owner, &mgr).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let t = &tasks[0];
    assert_eq!(t["instance_id"], id.as_str());
    assert_eq!(t["app_id"], app.as_str());
    assert_eq!(t["form_id"], form.as_str());
    assert_eq!(t["flow_id"], "check");
    assert_eq!(t["flow_name"], "Manager check");
    assert_eq!(t["form_title"], "Customers");
    assert_eq!(t["assignee"]["username"], mgr.as_str());
    assert_eq!(t["creator"]["username"], "admin@demo.local");
    let task = t["task_id"].as_str().unwrap().to_owned();
    // The instance, by its data id, with its tasks.
    let inst = v5(
        &srv,
        &owner,
        "workflow/instance/get",
        json!({"instance_id": id, "tasks_type": 1}),
    )
    .await;
    assert_eq!(inst.status, 200, "{}", inst.text);
    assert_eq!(inst.body["instance_id"], id.as_str());
    assert_eq!(inst.body["status"], 0, "{}", inst.text);
    assert_eq!(inst.body["tasks"][0]["task_id"], task.as_str(), "{}", inst.text);
    let without = v5(&srv, &owner, "workflow/instance/get", json!({"instance_id": id})).await;
    assert!(without.body.get("tasks").is_none(), "{}", without.text);
    // A member's key acts only as its own user.
    let r = v5(&srv, &boss_token, "workflow/task/list", json!({"username": mgr})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], 17002, "{}", r.text);
    // Transfer: the manager hands the task to the boss (own key, own name).
    let r = v5(
        &srv,
        &mgr_token,
        "workflow/task/transfer",
        json!({"username": mgr, "instance_id": id,
        "task_id": task, "transfer_username": boss, "comment": "over to you"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "success");
    assert!(tasks_of(&srv, &owner, &mgr).await.is_empty());
    let tasks = tasks_of(&srv, &boss_token, &boss).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = tasks[0]["task_id"].as_str().unwrap().to_owned();
    // A task of another instance is refused.
    let r = v5(
        &srv,
        &boss_token,
        "workflow/task/approve",
        json!({"username": boss,
        "instance_id": "0190b8a0-0000-7000-8000-000000000000", "task_id": task}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], 17004, "{}", r.text);
    // Rollback to the initiator, who submits again.
    let r = v5(
        &srv,
        &owner,
        "workflow/task/rollback",
        json!({"username": boss, "instance_id": id,
        "task_id": task, "comment": "needs work"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mine = tasks_of(&srv, &owner, "admin@demo.local").await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["instance_id"], id.as_str());
    let r = v5(
        &srv,
        &owner,
        "workflow/task/approve",
        json!({"instance_id": id,
        "task_id": mine[0]["task_id"], "comment": "fixed"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Back at the manager's step; the manager approves.
    let tasks = tasks_of(&srv, &owner, &mgr).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let r = v5(
        &srv,
        &owner,
        "workflow/task/approve",
        json!({"username": mgr, "instance_id": id,
        "task_id": tasks[0]["task_id"], "comment": "ok"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let inst = v5(&srv, &owner, "workflow/instance/get", json!({"instance_id": id})).await;
    assert_eq!(inst.body["status"], 1, "{}", inst.text);
    let got = v5(
        &srv,
        &owner,
        "app/entry/data/get",
        entry(&app, &form, json!({"data_id": id})),
    )
    .await;
    assert_eq!(got.body["data"]["flowState"], 1, "{}", got.text);
    // The approval comments, in order, with who wrote them.
    let c = v5(
        &srv,
        &owner,
        "app/entry/data/approval_comments",
        entry(&app, &form, json!({"data_id": id})),
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    let list = c.body["approveCommentList"].as_array().unwrap();
    let texts: Vec<&str> = list.iter().map(|x| x["comment"].as_str().unwrap()).collect();
    assert_eq!(texts, ["over to you", "needs work", "fixed", "ok"], "{}", c.text);
    assert_eq!(list[0]["creator"]["username"], mgr.as_str());
    assert_eq!(list[3]["creator"]["username"], mgr.as_str());
    // Close: members may not, owners may; the tasks go away.
    let made = v5(&srv, &owner, "app/entry/data/create", create("Bob")).await;
    let id2 = made.body["data"]["_id"].as_str().unwrap().to_owned();
    assert_eq!(tasks_of(&srv, &owner, &mgr).await.len(), 1);
    let r = v5(
        &srv,
        &mgr_token,
        "workflow/instance/close",
        json!({"instance_id": id2}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], 17002, "{}", r.text);
    let r = v5(
        &srv,
        &owner,
        "workflow/instance/close",
        json!({"instance_id": id2}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(tasks_of(&srv, &owner, &mgr).await.is_empty());
    let inst = v5(&srv, &owner, "workflow/instance/get", json!({"instance_id": id2})).await;
    assert_eq!(inst.body["status"], 2, "{}", inst.text);
    assert_eq!(inst.body["flow_status"], "closed", "{}", inst.text);
    let r = v5(
        &srv,
        &owner,
        "workflow/instance/close",
        json!({"instance_id": id2}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], 17011, "{}", r.text);
    // Closed, the record is editable again.
    let up = v5(
        &srv,
        &owner,
        "app/entry/data/update",
        entry(
            &app,
            &form,
            json!({"data_id": id2, "data": {"notes": {"value": "closed"}}}),
        ),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    // Another tenant sees no instance.
    let other = srv.tenant("other").await;
    let r = v5(&srv, &other, "workflow/instance/get", json!({"instance_id": id})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["code"], 17004, "{}", r.text);
});
