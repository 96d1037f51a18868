//! Form permissions over HTTP against the real binary, on SQLite and
//! PostgreSQL: a member limited to their own records with a hidden and a
//! read-only field meets each record endpoint's answer; bad documents are
//! refused by path.

use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::Server;

e2e!(form_permissions_over_http, |srv: Server| async move {
    let owner = srv.demo().await;
    let ann = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "ann@demo.test", "password": "password-123"}),
        )
        .await;
    assert_eq!(ann.status, 201, "{}", ann.text);
    let ann_id = ann.body["user_id"].as_str().unwrap().to_owned();
    let ann = srv.login("demo", "ann@demo.test", "password-123").await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv
        .create_form(
            &owner,
            &app,
            json!({"name": "Deals", "fields": [
                {"key": "title", "label": "Title", "type": "text"},
                {"key": "amount", "label": "Amount", "type": "number"},
                {"key": "cost", "label": "Cost", "type": "number"},
                {"key": "owner", "label": "Owner", "type": "member"}
            ]}),
        )
        .await;
    let theirs = srv
        .create_record(
            &owner,
            &form,
            json!({"title": "big deal", "amount": 900, "cost": 700}),
        )
        .await;
    let theirs = theirs.body["id"].as_str().unwrap().to_owned();
    let assigned = srv
        .create_record(
            &owner,
            &form,
            json!({"title": "assigned deal", "amount": 100, "cost": 60, "owner": ann_id}),
        )
        .await;
    let assigned = assigned.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/forms/{form}/permissions");
    // Open at first.
    let open = srv.get(&path, &owner).await;
    assert_eq!(open.status, 200, "{}", open.text);
    assert_eq!(open.body["is_restricted"], false);
    srv.get(&path, &ann).await.assert_error(403, "forbidden");
    // Bad documents name the place.
    let bad = srv
        .call(
            Method::PUT,
            &path,
            Some(&owner),
            Some(json!({"entries": [{"subject": {"role": "member"}, "actions": ["view"], "fields": {"nope": "hidden"}}]})),
        )
        .await;
    bad.assert_error(422, "validation_failed");
    assert_eq!(bad.detail_fields(), vec!["/entries/0/fields/nope"]);
    let doc = json!({"entries": [{"subject": {"role": "member"},
        "actions": ["view", "create", "edit"], "data_scope": "own",
        "fields": {"cost": "hidden", "amount": "read_only"}}]});
    let put = srv.call(Method::PUT, &path, Some(&owner), Some(doc)).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["is_restricted"], true);
    // Ann sees only the record assigned to her, without the cost.
    let records = format!("/api/v1/forms/{form}/records");
    let list = srv.get(&format!("{records}?total=true"), &ann).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["total"], 1);
    let only = &list.body["records"][0];
    assert_eq!(only["id"], Value::String(assigned.clone()));
    assert!(only["data"].get("cost").is_none(), "{}", list.text);
    assert_eq!(only["data"]["amount"], 100);
    srv.get(&format!("{records}/{theirs}"), &ann)
        .await
        .assert_error(404, "not_found");
    let got = srv.get(&format!("{records}/{assigned}"), &ann).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert!(got.body["data"].get("cost").is_none());
    let history = srv.get(&format!("{records}/{assigned}/history"), &ann).await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert!(!history.text.contains("\"cost\""), "{}", history.text);
    // The hidden field cannot be filtered, sorted, grouped or searched.
    srv.post(
        &format!("{records}/query"),
        &ann,
        json!({"filter": {"field": "cost", "op": "gt", "value": 10}}),
    )
    .await
    .assert_error(400, "invalid_query");
    srv.post(
        &format!("{records}/query"),
        &ann,
        json!({"sort": [{"field": "cost", "dir": "desc"}]}),
    )
    .await
    .assert_error(400, "invalid_query");
    srv.post(
        &format!("/api/v1/forms/{form}/aggregate"),
        &ann,
        json!({"group_by": [{"field": "cost"}], "metrics": [{"op": "count"}]}),
    )
    .await
    .assert_error(400, "invalid_query");
    let sum = srv
        .post(
            &format!("/api/v1/forms/{form}/aggregate"),
            &ann,
            json!({"metrics": [{"op": "sum", "field": "amount", "as": "total"}]}),
        )
        .await;
    assert_eq!(sum.status, 200, "{}", sum.text);
    assert_eq!(sum.body["groups"][0]["values"]["total"], 100);
    let found = srv
        .post(
            &format!("{records}/query"),
            &ann,
            json!({"q": "deal", "total": true}),
        )
        .await;
    assert_eq!(found.body["total"], 1, "{}", found.text);
    // Writes: the read-only field is refused by name; others go through.
    let patch = srv
        .call(
            Method::PATCH,
            &format!("{records}/{assigned}"),
            Some(&ann),
            Some(json!({"data": {"amount": 1}})),
        )
        .await;
    patch.assert_error(403, "forbidden");
    assert_eq!(patch.detail_fields(), vec!["amount"]);
    let patch = srv
        .call(
            Method::PATCH,
            &format!("{records}/{assigned}"),
            Some(&ann),
            Some(json!({"data": {"title": "renamed"}})),
        )
        .await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    srv.call(
        Method::PATCH,
        &format!("{records}/{theirs}"),
        Some(&ann),
        Some(json!({"data": {"title": "mine now"}})),
    )
    .await
    .assert_error(404, "not_found");
    srv.post(&records, &ann, json!({"data": {"title": "new", "cost": 1}}))
        .await
        .assert_error(403, "forbidden");
    let mine = srv
        .post(&records, &ann, json!({"data": {"title": "my own"}}))
        .await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    // Not granted: delete and export.
    srv.call(Method::DELETE, &format!("{records}/{assigned}"), Some(&ann), None)
        .await
        .assert_error(403, "forbidden");
    srv.post(
        &format!("/api/v1/forms/{form}/exports"),
        &ann,
        json!({"format": "csv"}),
    )
    .await
    .assert_error(403, "forbidden");
    // The owner still sees everything; resetting opens the form again.
    let all = srv.get(&format!("{records}?total=true"), &owner).await;
    assert_eq!(all.body["total"], 3);
    let reset = srv.call(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    let all = srv.get(&format!("{records}?total=true"), &ann).await;
    assert_eq!(all.body["total"], 3, "{}", all.text);
});
