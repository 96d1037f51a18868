//! Every bad input of the issue: answered with the error body, nothing changed.

use reqwest::Method;
use serde_json::json;

use crate::e2e;
use crate::harness::{Opts, Resp, Server, customers_form};

async fn setup(srv: &Server) -> (String, String) {
    let token = srv.demo().await;
    let app = srv.create_app(&token, "CRM").await;
    let form = srv.create_form(&token, &app, customers_form()).await;
    (token, form)
}

async fn count(srv: &Server, token: &str, form: &str) -> u64 {
    let r = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            token,
            json!({"total": true}),
        )
        .await;
    r.body["total"].as_u64().unwrap()
}

fn assert_names(r: &Resp, field: &str) {
    assert!(
        r.detail_fields()
            .iter()
            .any(|f| f == field || f.ends_with(&format!("/{field}"))),
        "{}",
        r.text
    );
}

e2e!(bad_record_values, |srv: Server| async move {
    let (token, form) = setup(&srv).await;
    let records = format!("/api/v1/forms/{form}/records");
    let base = srv
        .create_record(&token, &form, json!({"name": "Ada", "email": "ada@example.com"}))
        .await;
    assert_eq!(base.status, 201, "{}", base.text);

    // Malformed JSON: 400 saying where.
    let r = srv
        .raw(
            Method::POST,
            &records,
            &token,
            "application/json",
            b"{\"data\": {\"name\": }".to_vec(),
        )
        .await;
    r.assert_error(400, "bad_request");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("column"),
        "{}",
        r.text
    );
    // Wrong content type: 415 with the same body shape.
    let r = srv
        .raw(Method::POST, &records, &token, "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    assert_eq!(r.code(), "bad_request");

    let cases = [
        (json!({"name": "Bob", "total_spent": "lots"}), "total_spent"),
        (json!({"name": "Bob", "no_such_field": 1}), "no_such_field"),
        (json!({"total_spent": 3}), "name"),
        (json!({"name": "x".repeat(51)}), "name"),
        (json!({"name": "Bob", "tier": "Gold"}), "tier"),
    ];
    for (data, field) in cases {
        let r = srv.create_record(&token, &form, data).await;
        r.assert_error(422, "validation_failed");
        assert_names(&r, field);
    }

    // Duplicate value in a unique field: 409 naming the field.
    let r = srv
        .create_record(&token, &form, json!({"name": "Eve", "email": "ada@example.com"}))
        .await;
    r.assert_error(409, "duplicate_value");
    assert_names(&r, "email");

    // A record over 1 MiB (the body limit is 2 MiB): refused by the engine.
    let r = srv
        .create_record(
            &token,
            &form,
            json!({"name": "Big", "notes": "x".repeat(1_300_000)}),
        )
        .await;
    r.assert_error(413, "payload_too_large");
    // A body over the server limit.
    let r = srv
        .create_record(&token, &form, json!({"name": "x".repeat(3 * 1024 * 1024)}))
        .await;
    r.assert_error(413, "payload_too_large");

    // Stale If-Match: 412; malformed If-Match: 400.
    let id = base.body["id"].as_str().unwrap();
    let path = format!("{records}/{id}");
    let patch = Some(json!({"data": {"total_spent": 5}}));
    let r = srv
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            patch.clone(),
            &[("if-match", "\"7\"")],
        )
        .await;
    r.assert_error(412, "version_mismatch");
    let r = srv
        .send(Method::PATCH, &path, Some(&token), patch, &[("if-match", "soon")])
        .await;
    r.assert_error(400, "bad_request");

    assert_eq!(count(&srv, &token, &form).await, 1, "a bad input changed data");
    let got = srv.get(&path, &token).await;
    assert_eq!(got.body["version"], 1);
});

e2e!(bad_ids_and_queries, |srv: Server| async move {
    let (token, form) = setup(&srv).await;
    let query = format!("/api/v1/forms/{form}/records/query");

    // A non-UUID id: 404 naming it.
    let r = srv.get("/api/v1/forms/abc/records", &token).await;
    r.assert_error(404, "not_found");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("`abc`"),
        "{}",
        r.text
    );
    srv.get(&format!("/api/v1/forms/{form}/records/not-a-uuid"), &token)
        .await
        .assert_error(404, "not_found");
    // A well-formed id that does not exist.
    let missing = "0190f1a2-0000-7000-8000-000000000000";
    srv.get(&format!("/api/v1/forms/{missing}"), &token)
        .await
        .assert_error(404, "not_found");

    // Unknown field, unknown op, limit over 1000.
    let r = srv
        .post(
            &query,
            &token,
            json!({"filter": {"field": "nope", "op": "eq", "value": 1}}),
        )
        .await;
    r.assert_error(400, "invalid_query");
    let r = srv
        .post(
            &query,
            &token,
            json!({"filter": {"field": "tier", "op": "like", "value": "V%"}}),
        )
        .await;
    r.assert_error(400, "invalid_query");
    srv.post(&query, &token, json!({"limit": 1001}))
        .await
        .assert_error(400, "invalid_query");
    let r = srv
        .get(&format!("/api/v1/forms/{form}/records?limit=1001"), &token)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = srv
        .get(&format!("/api/v1/forms/{form}/records?limit=ten"), &token)
        .await;
    r.assert_error(400, "bad_request");

    // SQL-looking text is stored and matched verbatim.
    let evil = "Robert'); DROP TABLE records;--";
    let r = srv.create_record(&token, &form, json!({"name": evil})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"]["name"], evil);
    let r = srv
        .post(
            &query,
            &token,
            json!({"filter": {"field": "name", "op": "eq", "value": evil}}),
        )
        .await;
    assert_eq!(r.body["records"].as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = srv
        .post(
            &query,
            &token,
            json!({"filter": {"field": "name", "op": "contains", "value": "' OR 1=1 --"}}),
        )
        .await;
    assert_eq!(r.body["records"].as_array().map(Vec::len), Some(0), "{}", r.text);
    let r = srv
        .get(
            &format!("/api/v1/forms/{form}/records?q=%25%27%20OR%201%3D1"),
            &token,
        )
        .await;
    assert_eq!(r.body["records"].as_array().map(Vec::len), Some(0), "{}", r.text);

    // No credentials; a bad token.
    srv.call(Method::GET, "/api/v1/apps", None, None)
        .await
        .assert_error(401, "unauthorized");
    srv.get("/api/v1/apps", "not-a-token")
        .await
        .assert_error(401, "unauthorized");
});

e2e!(bad_login_is_401, |srv: Server| async move {
    let r = srv
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({
                "tenant": "demo", "email": "admin@demo.local", "password": "wrong-password"
            })),
        )
        .await;
    r.assert_error(401, "unauthorized");
});

e2e!(bad_form_definitions, |srv: Server| async move {
    let token = srv.demo().await;
    let app = srv.create_app(&token, "CRM").await;
    let forms = format!("/api/v1/apps/{app}/forms");
    // Fails the meta schema: the JSON path of the fault is in the details.
    let r = srv
        .post(
            &forms,
            &token,
            json!({"name": "F", "fields": [
                {"key": "ok", "label": "Ok", "type": "text"},
                {"key": "Bad Key", "label": "Bad", "type": "text"}
            ]}),
        )
        .await;
    r.assert_error(422, "validation_failed");
    assert!(
        r.detail_fields().iter().any(|f| f.contains("fields/1/key")),
        "{}",
        r.text
    );
    let r = srv
        .post(
            &forms,
            &token,
            json!({"name": "F", "fields": [{"key": "a", "label": "A", "type": "teleport"}]}),
        )
        .await;
    assert!(
        matches!(r.code(), "unknown_kind" | "validation_failed"),
        "{}",
        r.text
    );
    assert_eq!(r.status, 422);
    let r = srv.post(&forms, &token, json!({"fields": []})).await;
    r.assert_error(422, "validation_failed");
    let list = srv.get(&forms, &token).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(0), "{}", list.text);
});

e2e!(
    small_body_limit,
    Opts {
        env: vec![("FORMWORK_MAX_BODY".into(), "1024".into())]
    },
    |srv: Server| async move {
        let token = srv.demo().await;
        let r = srv
            .post("/api/v1/apps", &token, json!({"name": "x".repeat(2000)}))
            .await;
        r.assert_error(413, "payload_too_large");
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains("1024"),
            "{}",
            r.text
        );
    }
);
