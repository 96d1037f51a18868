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
