//! Process life cycle: graceful shutdown on SIGTERM loses no committed
//! record; the operational endpoints; the OpenAPI document.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::{Server, customers_form};

e2e!(sigterm_loses_no_committed_record, |mut srv: Server| async move {
    let token = srv.demo().await;
    let app = srv.create_app(&token, "CRM").await;
    let form = srv.create_form(&token, &app, customers_form()).await;
    // Writers keep creating records while SIGTERM arrives: every record the
    // server acknowledged (201) must be there after a restart.
    let url = format!("{}/api/v1/forms/{form}/records", srv.base);
    let acked = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, url, token, acked) = (srv.client.clone(), url.clone(), token.clone(), acked.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..500 {
                    let body = json!({"data": {"name": format!("w{w}-{i}")}});
                    let Ok(r) = client.post(&url).bearer_auth(&token).json(&body).send().await else {
                        break;
                    };
                    if r.status().as_u16() != 201 {
                        break;
                    }
                    let Ok(v) = r.json::<Value>().await else { break };
                    ids.push(v["id"].as_str().unwrap().to_owned());
                    acked.fetch_add(1, Ordering::SeqCst);
                }
                ids
            })
        })
        .collect();
    while acked.load(Ordering::SeqCst) < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    srv.sigterm();
    let code = srv.wait_exit().await;
    let mut ids = Vec::new();
    for w in writers {
        ids.extend(w.await.unwrap());
    }
    assert_eq!(code, Some(0), "unclean exit:\n{}", srv.log());
    if let Some(file) = srv.sqlite_file() {
        // The pool was closed: SQLite folded its write-ahead log back in.
        let wal = file.with_extension("db-wal");
        assert!(file.exists() && !wal.exists(), "{} left behind", wal.display());
    }
    assert!(ids.len() >= 40 && ids.len() < 2000, "{} acknowledged", ids.len());

    srv.restart().await;
    assert!(!srv.log().contains("Formwork is ready"), "demo seeded twice");
    let token = srv.demo().await;
    let q = format!("/api/v1/forms/{form}/records/query");
    let all = srv.post(&q, &token, json!({"limit": 1, "total": true})).await;
    let total = all.body["total"].as_u64().unwrap();
    assert!(
        total >= ids.len() as u64,
        "{total} stored < {} acknowledged",
        ids.len()
    );
    for id in ids {
        let r = srv
            .get(&format!("/api/v1/forms/{form}/records/{id}"), &token)
            .await;
        assert_eq!(r.status, 200, "acknowledged record {id} lost: {}", r.text);
    }
});

e2e!(operational_endpoints, |srv: Server| async move {
    let health = srv.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body, json!({"status": "ok"}));
    assert!(health.headers.contains_key("x-request-id"));
    let echoed = srv
        .send(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "abc-123");
    assert_eq!(srv.call(Method::GET, "/readyz", None, None).await.status, 200);

    let token = srv.demo().await;
    for _ in 0..3 {
        assert_eq!(srv.get("/api/v1/apps", &token).await.status, 200);
    }
    let missing = srv.get("/api/v1/nothing-here", &token).await;
    missing.assert_error(404, "not_found");
    let wrong = srv.call(Method::PUT, "/api/v1/apps", Some(&token), None).await;
    assert_eq!(wrong.status, 405);

    let metrics = srv.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(metrics.status, 200);
    let line = "formwork_http_requests_total{method=\"GET\",route=\"/api/v1/apps\",status=\"200\"} 3";
    assert!(metrics.text.contains(line), "{}", metrics.text);
    assert!(
        metrics
            .text
            .contains("formwork_http_request_duration_seconds_bucket{"),
        "{}",
        metrics.text
    );

    // The document covers the API paths.
    let doc = srv.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    let expected = [
        ("post", "/api/v1/auth/login"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/apps"),
        ("post", "/api/v1/apps"),
        ("get", "/api/v1/apps/{app_id}"),
        ("patch", "/api/v1/apps/{app_id}"),
        ("delete", "/api/v1/apps/{app_id}"),
        ("get", "/api/v1/apps/{app_id}/forms"),
        ("post", "/api/v1/apps/{app_id}/forms"),
        ("get", "/api/v1/forms/{form_id}"),
        ("put", "/api/v1/forms/{form_id}"),
        ("delete", "/api/v1/forms/{form_id}"),
        ("get", "/api/v1/forms/{form_id}/schema"),
        ("get", "/api/v1/forms/{form_id}/versions"),
        ("get", "/api/v1/forms/{form_id}/records"),
        ("post", "/api/v1/forms/{form_id}/records"),
        ("post", "/api/v1/forms/{form_id}/records/batch"),
        ("post", "/api/v1/forms/{form_id}/records/query"),
        ("get", "/api/v1/forms/{form_id}/records/{id}"),
        ("patch", "/api/v1/forms/{form_id}/records/{id}"),
        ("delete", "/api/v1/forms/{form_id}/records/{id}"),
        ("get", "/api/v1/forms/{form_id}/records/{id}/history"),
        ("post", "/api/v1/forms/{form_id}/records/{id}/restore"),
        ("post", "/api/v1/forms/{form_id}/aggregate"),
        ("get", "/api/v1/tags"),
        ("post", "/api/v1/tags"),
        ("post", "/api/v1/forms/{form_id}/records/{id}/tags/{tag}"),
        ("delete", "/api/v1/forms/{form_id}/records/{id}/tags/{tag}"),
    ];
    for (m, p) in expected {
        assert!(
            doc.body["paths"][p][m].is_object(),
            "{m} {p} missing from openapi.json"
        );
    }

    // The registries, as the UI's palette and rule editor read them.
    let kinds = srv.call(Method::GET, "/api/v1/kinds", None, None).await;
    assert_eq!(kinds.status, 200, "{}", kinds.text);
    let fields: Vec<&str> = engine::meta::field_type::builtin().unwrap().kinds().collect();
    assert!(fields.len() >= 20, "{fields:?}");
    let triggers: Vec<&str> = engine::automation::trigger::builtin().unwrap().kinds().collect();
    let actions: Vec<&str> = engine::automation::action::builtin().unwrap().kinds().collect();
    use engine::automation::trigger::{FLOW_STATUSES, WORKFLOW_EVENTS};
    for (key, want) in [
        ("field_types", serde_json::json!(fields)),
        ("trigger_kinds", serde_json::json!(triggers)),
        ("action_kinds", serde_json::json!(actions)),
        ("workflow_events", serde_json::json!(WORKFLOW_EVENTS)),
        ("flow_statuses", serde_json::json!(FLOW_STATUSES)),
    ] {
        assert_eq!(kinds.body[key], want, "{key}");
    }
});

e2e!(cli_migrate_and_admin, |srv: Server| async move {
    let out = srv.cli(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = srv.tenant("acme").await;
    let me = srv.get("/api/v1/me", &token).await;
    assert_eq!(me.body["tenant"]["slug"], "acme");
    let dup = srv.cli(&[
        "admin",
        "create",
        "--tenant",
        "acme",
        "--email",
        "x@acme.test",
        "--password",
        "password-123",
    ]);
    assert!(!dup.status.success());
});

/// Start-up against an unreachable database fails fast with a clear message
/// (backend-independent, so it has no SQLite/PostgreSQL pair).
#[test]
fn unreachable_database_fails_fast() {
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_formwork"))
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere")
        .env("FORMWORK_BIND", "127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to the database"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
