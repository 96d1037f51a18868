//! The README walkthrough, step by step, plus the record life cycle.

use reqwest::Method;
use serde_json::json;

use crate::e2e;
use crate::harness::{Server, customers_form};

e2e!(readme_walkthrough, |srv: Server| async move {
    // First start printed the demo login.
    let log = srv.log();
    assert!(log.contains("admin@demo.local"), "no demo banner:\n{log}");
    assert!(log.contains("/api/v1/auth/login"), "no login command:\n{log}");

    let login = srv
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({
                "tenant": "demo", "email": "admin@demo.local", "password": crate::harness::DEMO_PASSWORD
            })),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.body["token"].as_str().unwrap().to_owned();
    // The browser session: an HttpOnly, SameSite cookie that authenticates alone.
    let cookie = login.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("formwork_session={token}")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let by_cookie = srv
        .send(
            Method::GET,
            "/api/v1/me",
            None,
            None,
            &[("cookie", &format!("formwork_session={token}"))],
        )
        .await;
    assert_eq!(by_cookie.status, 200, "{}", by_cookie.text);
    let me = srv.get("/api/v1/me", &token).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], "admin@demo.local");
    assert_eq!(me.body["tenant"]["slug"], "demo");
    assert_eq!(me.body["role"], "owner");

    let app = srv.create_app(&token, "CRM").await;
    let apps = srv.get("/api/v1/apps", &token).await;
    assert_eq!(apps.body.as_array().map(Vec::len), Some(1));
    let form = srv.create_form(&token, &app, customers_form()).await;

    let rows = [
        json!({"name": "Ada", "email": "ada@example.com", "tier": "VIP", "total_spent": 1200}),
        json!({"name": "Bob", "email": "bob@example.com", "tier": "regular", "total_spent": 80}),
        json!({"name": "Cy", "email": "cy@example.com", "tier": "VIP", "total_spent": 5300}),
    ];
    for row in rows {
        let r = srv.create_record(&token, &form, row).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.headers["etag"], "\"1\"");
        for key in ["id", "data", "version", "tags", "created_at", "updated_at"] {
            assert!(!r.body[key].is_null(), "record answer lacks `{key}`: {}", r.text);
        }
    }

    let q = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            &token,
            json!({
                "filter": {"and": [{"field": "tier", "op": "eq", "value": "VIP"}]},
                "sort": [{"field": "total_spent", "dir": "desc"}],
                "limit": 10,
                "total": true
            }),
        )
        .await;
    assert_eq!(q.status, 200, "{}", q.text);
    let names: Vec<_> = q.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data"]["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Cy"), json!("Ada")]);
    assert_eq!(q.body["total"], 2);

    let bad = srv
        .create_record(&token, &form, json!({"name": "Dee", "total_spent": "lots"}))
        .await;
    bad.assert_error(422, "validation_failed");
    assert!(
        bad.detail_fields().contains(&"total_spent".to_owned()),
        "{}",
        bad.text
    );

    let list = srv
        .get(&format!("/api/v1/forms/{form}/records?limit=2"), &token)
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["records"].as_array().map(Vec::len), Some(2));
    let cursor = list.body["next_cursor"].as_str().unwrap().to_owned();
    let next = srv
        .get(
            &format!("/api/v1/forms/{form}/records?limit=2&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(
        next.body["records"].as_array().map(Vec::len),
        Some(1),
        "{}",
        next.text
    );

    for path in ["schema", "versions"] {
        let r = srv.get(&format!("/api/v1/forms/{form}/{path}"), &token).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
});

e2e!(record_life_cycle, |srv: Server| async move {
    let token = srv.demo().await;
    let app = srv.create_app(&token, "CRM").await;
    let form = srv.create_form(&token, &app, customers_form()).await;
    let created = srv
        .create_record(&token, &form, json!({"name": "Ada", "total_spent": 10}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/forms/{form}/records/{id}");

    let got = srv.get(&path, &token).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers["etag"], "\"1\"");

    let patched = srv
        .send(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"data": {"total_spent": 20}})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.body["data"]["total_spent"], 20);
    assert_eq!(patched.headers["etag"], "\"2\"");

    let by_body = srv
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"data": {"total_spent": 30}, "version": 2})),
        )
        .await;
    assert_eq!(by_body.status, 200, "{}", by_body.text);

    let history = srv.get(&format!("{path}/history"), &token).await;
    assert_eq!(history.status, 200, "{}", history.text);
    assert!(
        history.body.as_array().map(Vec::len).unwrap_or(0) >= 3,
        "{}",
        history.text
    );

    // Tags: define, attach, filter by, detach.
    let tag = srv
        .post("/api/v1/tags", &token, json!({"name": "VIP", "color": "#d4380d"}))
        .await;
    assert_eq!(tag.status, 201, "{}", tag.text);
    let tagged = srv
        .call(Method::POST, &format!("{path}/tags/VIP"), Some(&token), None)
        .await;
    assert_eq!(tagged.status, 200, "{}", tagged.text);
    assert_eq!(tagged.body["tags"], json!(["VIP"]));
    let by_tag = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            &token,
            json!({"filter": {"tag": "VIP"}}),
        )
        .await;
    assert_eq!(
        by_tag.body["records"].as_array().map(Vec::len),
        Some(1),
        "{}",
        by_tag.text
    );
    let untagged = srv
        .call(Method::DELETE, &format!("{path}/tags/VIP"), Some(&token), None)
        .await;
    assert_eq!(untagged.body["tags"], json!([]), "{}", untagged.text);

    // Idempotent create: the same key replays the first answer.
    let key = [("idempotency-key", "create-bob-1")];
    let body = Some(json!({"data": {"name": "Bob"}}));
    let records = format!("/api/v1/forms/{form}/records");
    let first = srv
        .send(Method::POST, &records, Some(&token), body.clone(), &key)
        .await;
    let again = srv.send(Method::POST, &records, Some(&token), body, &key).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(first.body["id"], again.body["id"]);
    let other = Some(json!({"data": {"name": "Not Bob"}}));
    let reused = srv.send(Method::POST, &records, Some(&token), other, &key).await;
    reused.assert_error(409, "idempotency_key_reused");
    let long_key = "k".repeat(201);
    let too_long = srv
        .send(
            Method::POST,
            &records,
            Some(&token),
            Some(json!({"data": {"name": "Z"}})),
            &[("idempotency-key", &long_key)],
        )
        .await;
    too_long.assert_error(400, "bad_request");

    // Batch, all or nothing.
    let batch = format!("/api/v1/forms/{form}/records/batch");
    let ok = srv
        .post(
            &batch,
            &token,
            json!({"records": [{"data": {"name": "B1"}}, {"data": {"name": "B2"}}]}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let bad = srv
        .post(
            &batch,
            &token,
            json!({"records": [{"data": {"name": "B3"}}, {"data": {"total_spent": 1}}]}),
        )
        .await;
    bad.assert_error(422, "validation_failed");
    assert!(
        bad.detail_fields().iter().any(|f| f.starts_with("1/")),
        "{}",
        bad.text
    );
    let too_many: Vec<_> = (0..1001)
        .map(|i| json!({"data": {"name": format!("n{i}")}}))
        .collect();
    srv.post(&batch, &token, json!({"records": too_many}))
        .await
        .assert_error(413, "payload_too_large");

    let agg = srv
        .post(
            &format!("/api/v1/forms/{form}/aggregate"),
            &token,
            json!({"metrics": [{"op": "count"}]}),
        )
        .await;
    assert_eq!(agg.status, 200, "{}", agg.text);
    assert_eq!(agg.body["groups"][0]["values"]["count"], 4, "{}", agg.text);

    // Recycle bin: delete, list deleted, restore, delete again, purge.
    assert_eq!(
        srv.call(Method::DELETE, &path, Some(&token), None).await.status,
        204
    );
    assert_eq!(srv.get(&path, &token).await.status, 404);
    let bin = srv.get(&format!("{records}?deleted=true"), &token).await;
    assert_eq!(
        bin.body["records"].as_array().map(Vec::len),
        Some(1),
        "{}",
        bin.text
    );
    let restored = srv
        .call(Method::POST, &format!("{path}/restore"), Some(&token), None)
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(
        srv.call(Method::DELETE, &path, Some(&token), None).await.status,
        204
    );
    let purged = srv
        .call(Method::DELETE, &format!("{path}?purge=true"), Some(&token), None)
        .await;
    assert_eq!(purged.status, 204, "{}", purged.text);
    let bin = srv.get(&format!("{records}?deleted=true"), &token).await;
    assert_eq!(
        bin.body["records"].as_array().map(Vec::len),
        Some(0),
        "{}",
        bin.text
    );

    // Logout revokes the token.
    assert_eq!(
        srv.call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
            .await
            .status,
        204
    );
    srv.get("/api/v1/me", &token)
        .await
        .assert_error(401, "unauthorized");
});

e2e!(relation_expand, |srv: Server| async move {
    let token = srv.demo().await;
    let app = srv.create_app(&token, "CRM").await;
    let customers = srv.create_form(&token, &app, customers_form()).await;
    let orders = srv
        .create_form(
            &token,
            &app,
            json!({"name": "Orders", "fields": [
                {"key": "customer", "label": "Customer", "type": "relation", "form_id": customers},
                {"key": "amount", "label": "Amount", "type": "number"}
            ]}),
        )
        .await;
    let ada = srv
        .create_record(&token, &customers, json!({"name": "Ada"}))
        .await;
    let ada_id = ada.body["id"].as_str().unwrap().to_owned();
    let order = srv
        .create_record(&token, &orders, json!({"customer": ada_id, "amount": 5}))
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    let dangling = srv
        .create_record(
            &token,
            &orders,
            json!({"customer": "0190f1a2-0000-7000-8000-000000000000"}),
        )
        .await;
    dangling.assert_error(422, "validation_failed");

    let listed = srv
        .get(&format!("/api/v1/forms/{orders}/records?expand=customer"), &token)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let expanded = &listed.body["records"][0]["expanded"]["customer"];
    assert_eq!(expanded["title"], "Ada", "{}", listed.text);
    let queried = srv
        .post(
            &format!("/api/v1/forms/{orders}/records/query"),
            &token,
            json!({"expand": ["customer"]}),
        )
        .await;
    assert_eq!(
        queried.body["records"][0]["expanded"]["customer"]["title"], "Ada",
        "{}",
        queried.text
    );
});

// The script the README quotes, run as written against a real server, so it
// cannot go stale: every call answers, the VIP query sorts the biggest
// spender first, and the bad record is refused naming both fields.
e2e!(walkthrough_script_runs, |srv: Server| async move {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/walkthrough.sh");
    // The server is another process, so blocking this test's thread is harmless.
    let out = std::process::Command::new("bash")
        .arg(&script)
        .env("FW", &srv.base)
        .env("PW", crate::harness::DEMO_PASSWORD)
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for step in ["== me", "== app ", "== VIP customers", "== a bad record"] {
        assert!(stdout.contains(step), "no `{step}` step:\n{stdout}");
    }
    let (_, after_query) = stdout.split_once("== VIP customers").unwrap();
    let (query, bad) = after_query.split_once("== a bad record").unwrap();
    let body = query
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("the query's answer");
    let page: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let names: Vec<&str> = page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["data"]["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["Cy", "Ada"], "{body}");
    assert_eq!(page["total"], 2, "{body}");
    assert!(bad.contains("HTTP 422"), "{bad}");
    let refusal = bad.lines().find(|l| l.starts_with('{')).expect("the refusal");
    let refusal: serde_json::Value = serde_json::from_str(refusal).expect("JSON");
    let mut fields: Vec<&str> = refusal["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["name", "total_spent"], "{refusal}");
});
