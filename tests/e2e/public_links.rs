//! Public form links (外链) over HTTP against the real binary, on SQLite and
//! PostgreSQL: a link shows and accepts only its fields, creates records
//! as nobody signed in, is limited per client address, closes when
//! switched off or past its end date, and opens nothing else: with its
//! token as a bearer token every authenticated endpoint of the OpenAPI
//! document answers 401.

use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::{Resp, Server};

fn feedback_form() -> Value {
    json!({
        "name": "Feedback",
        "description": "Tell us how we did",
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 50},
            {"key": "email", "label": "Email", "type": "email"},
            {"key": "comment", "label": "Comment", "type": "textarea"},
            {"key": "internal", "label": "Internal notes", "type": "textarea"},
            {"key": "owner", "label": "Owner", "type": "member"}
        ]
    })
}

/// An anonymous call (no credentials at all).
async fn anon(srv: &Server, method: Method, path: &str, body: Option<Value>) -> Resp {
    srv.call(method, path, None, body).await
}

async fn submit(srv: &Server, token: &str, data: Value) -> Resp {
    anon(
        srv,
        Method::POST,
        &format!("/api/v1/public/{token}/records"),
        Some(json!({ "data": data })),
    )
    .await
}

async fn count(srv: &Server, owner: &str, form: &str) -> u64 {
    let r = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            owner,
            json!({"total": true, "limit": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["total"].as_u64().unwrap()
}

/// Every authenticated operation of the OpenAPI document, called with
/// `token` as the bearer token, refuses it.
async fn token_opens_nothing(srv: &Server, token: &str, form: &str) {
    let doc = anon(srv, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let mut checked = 0;
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (verb, op) in item.as_object().unwrap() {
            if op["security"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            let url = path
                .replace("{form_id}", form)
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "0190c1f2-0000-7000-8000-000000000001"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(verb.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
            let r = srv.call(method, &url, Some(token), body).await;
            if path.starts_with("/api/v5/") {
                assert_eq!(
                    (r.status, r.body["code"].as_u64()),
                    (400, Some(17_001)),
                    "{verb} {url}: {}",
                    r.text
                );
            } else {
                assert_eq!(r.status, 401, "{verb} {url}: {}", r.text);
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} operations checked");
}

e2e!(public_links, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Service").await;
    let form = srv.create_form(&owner, &app, feedback_form()).await;
    let links = format!("/api/v1/forms/{form}/public-links");

    // Only fields a stranger may fill, and every required one.
    let r = srv
        .post(&links, &owner, json!({"fields": ["name", "owner"]}))
        .await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.detail_fields(), ["fields/1"], "{}", r.text);
    let r = srv
        .post(&links, &owner, json!({"fields": ["comment", "nope"]}))
        .await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.detail_fields(), ["fields/1", "fields"], "{}", r.text);
    let r = srv
        .post(
            &links,
            &owner,
            json!({"fields": ["name"], "rate_per_minute": 0, "expires_at": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.detail_fields(), ["rate_per_minute", "expires_at"], "{}", r.text);

    let r = srv
        .post(
            &links,
            &owner,
            json!({"name": "Website feedback", "fields": ["comment", "name", "email"], "rate_per_minute": 100}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let link_id = r.body["id"].as_str().unwrap().to_owned();
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("fwl_") && token.len() == 68, "{token}");
    assert_eq!(r.body["path"], json!(format!("/f/{token}")));

    // The visitor's page: the link's fields in the form's order.
    let page = anon(&srv, Method::GET, &format!("/api/v1/public/{token}"), None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["name"], json!("Feedback"));
    let keys: Vec<&str> = page.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["name", "email", "comment"]);
    let html = anon(&srv, Method::GET, &format!("/f/{token}"), None).await;
    assert_eq!(html.status, 200);
    assert!(html.text.contains("<html"), "{}", html.text);

    // A submission creates one record, authored by nobody signed in.
    let r = submit(&srv, &token, json!({"name": "张三", "comment": "很好"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["data"], json!({"name": "张三", "comment": "很好"}));
    let id = r.body["id"].as_str().unwrap().to_owned();
    let rec = srv
        .get(&format!("/api/v1/forms/{form}/records/{id}"), &owner)
        .await;
    assert_eq!(rec.status, 200);
    assert_eq!(
        rec.body["created_by"],
        json!("00000000-0000-0000-0000-000000000000")
    );

    // Fields outside the link are refused by name; bad values by field;
    // nothing is written either way.
    let r = submit(
        &srv,
        &token,
        json!({"name": "李四", "internal": "vip", "owner": null}),
    )
    .await;
    r.assert_error(403, "forbidden");
    let mut fields = r.detail_fields();
    fields.sort();
    assert_eq!(fields, ["internal", "owner"], "{}", r.text);
    let r = submit(&srv, &token, json!({"email": "not-an-email"})).await;
    r.assert_error(422, "validation_failed");
    let mut fields = r.detail_fields();
    fields.sort();
    assert_eq!(fields, ["email", "name"], "{}", r.text);
    assert_eq!(count(&srv, &owner, &form).await, 1);

    // The token opens nothing else.
    token_opens_nothing(&srv, &token, &form).await;
    let r = anon(
        &srv,
        Method::GET,
        &format!("/api/v1/public/{token}/records/{id}"),
        None,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = anon(
        &srv,
        Method::GET,
        &format!("/api/v1/public/{token}/records"),
        None,
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.text);
    let r = anon(&srv, Method::GET, "/api/v1/public/fwl_0000", None).await;
    r.assert_error(404, "not_found");

    // Its managers see the count; another tenant cannot see or change it.
    let list = srv.get(&links, &owner).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body[0]["submissions"], json!(1));
    assert!(list.body[0]["last_submitted_at"].is_string());
    let other = srv.tenant("other").await;
    let r = srv
        .call(
            Method::PUT,
            &format!("/api/v1/public-links/{link_id}"),
            Some(&other),
            Some(json!({})),
        )
        .await;
    r.assert_error(404, "not_found");
    let r = srv.get(&links, &other).await;
    r.assert_error(404, "not_found");

    // Members do not manage links.
    let r = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "m@demo.test", "password": "password-123", "role": "member"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let member = srv.login("demo", "m@demo.test", "password-123").await;
    srv.get(&links, &member).await.assert_error(403, "forbidden");
    srv.post(&links, &member, json!({}))
        .await
        .assert_error(403, "forbidden");
    srv.call(
        Method::DELETE,
        &format!("/api/v1/public-links/{link_id}"),
        Some(&member),
        None,
    )
    .await
    .assert_error(403, "forbidden");

    // A per-address rate: the third submission within the minute waits.
    let r = srv
        .post(&links, &owner, json!({"fields": ["name"], "rate_per_minute": 2}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let slow = r.body["token"].as_str().unwrap().to_owned();
    for n in 0..2 {
        let r = submit(&srv, &slow, json!({"name": format!("n{n}")})).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = submit(&srv, &slow, json!({"name": "n2"})).await;
    r.assert_error(429, "too_many_requests");
    assert!(r.headers.contains_key("retry-after"));
    // The other link's bucket is its own.
    assert_eq!(submit(&srv, &token, json!({"name": "王五"})).await.status, 201);

    // Switched off, then past its end date: closed, and nothing is written.
    let r = srv
        .call(
            Method::PUT,
            &format!("/api/v1/public-links/{link_id}"),
            Some(&owner),
            Some(json!({"fields": ["name", "comment"], "enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["token"], json!(token));
    anon(&srv, Method::GET, &format!("/api/v1/public/{token}"), None)
        .await
        .assert_error(410, "link_closed");
    submit(&srv, &token, json!({"name": "赵六"}))
        .await
        .assert_error(410, "link_closed");
    let soon = (chrono::Utc::now() + chrono::TimeDelta::milliseconds(1500)).to_rfc3339();
    let r = srv
        .call(
            Method::PUT,
            &format!("/api/v1/public-links/{link_id}"),
            Some(&owner),
            Some(json!({"fields": ["name"], "expires_at": soon})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(submit(&srv, &token, json!({"name": "孙七"})).await.status, 201);
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    submit(&srv, &token, json!({"name": "周八"}))
        .await
        .assert_error(410, "link_closed");
    assert_eq!(count(&srv, &owner, &form).await, 5);

    // Deleted: the token is unknown at once. Every change is audited.
    let r = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/public-links/{link_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    submit(&srv, &token, json!({"name": "吴九"}))
        .await
        .assert_error(404, "not_found");
    let audit = srv.get("/api/v1/audit?limit=200", &owner).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let actions: Vec<&str> = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target_id"] == json!(link_id))
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "public_link.deleted",
            "public_link.updated",
            "public_link.updated",
            "public_link.created"
        ]
    );
    assert!(!audit.text.contains(&token), "the audit log shows the token");
});
