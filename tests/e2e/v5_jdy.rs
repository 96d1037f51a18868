//! Webhooks in 简道云's `jdy` format against a receiver on 127.0.0.1: the
//! `{op, opTime, data}` body, `nonce` and `timestamp` in the query, the
//! `x-jdy-signature` SHA-1 checked here independently, a reply other than
//! `success` logged as a failed delivery, and the per-hook switch that
//! keeps API and batch writes out; on SQLite and PostgreSQL.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha1::Digest;

use crate::e2e;
use crate::harness::{Server, customers_form};

/// One request the receiver took.
#[derive(Debug, Clone)]
struct Got {
    path: String,
    query: HashMap<String, String>,
    headers: HashMap<String, String>,
    body: String,
}

/// A tiny HTTP receiver: answers `success` on paths starting `/ok`, `ok`
/// elsewhere. Serves at most `max` requests, then its thread ends.
fn receiver(max: usize) -> (String, Arc<Mutex<Vec<Got>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut headers = HashMap::new();
            for _ in 0..100 {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.insert(k.trim().to_lowercase(), v.trim().to_owned());
                }
            }
            let len: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len.min(1 << 20)];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let (path, q) = target.split_once('?').unwrap_or((&target, ""));
            let query = q
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let reply = if path.starts_with("/ok") { "success" } else { "ok" };
            sink.lock().unwrap().push(Got {
                path: path.to_owned(),
                query,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (base, got)
}

fn on(got: &Arc<Mutex<Vec<Got>>>, path: &str) -> Vec<Got> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|g| g.path == path)
        .cloned()
        .collect()
}

async fn v5(srv: &Server, token: &str, app: &str, form: &str, op: &str, body: Value) -> crate::harness::Resp {
    let mut b = json!({"app_id": app, "entry_id": form});
    b.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    let path = format!("/api/v5/app/entry/data/{op}");
    srv.call(Method::POST, &path, Some(token), Some(b)).await
}

const SECRET: &str = "jdy-secret-0123456789";

e2e!(v5_jdy_webhooks, |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Sales").await;
    let form = srv.create_form(&owner, &app, customers_form()).await;
    let (base, got) = receiver(200);
    let hook = |name: &str, path: &str, push: bool, events: Value| {
        json!({"name": name, "url": format!("{base}{path}"), "secret": SECRET, "events": events,
            "format": "jdy", "push_api_writes": push})
    };
    let all = json!(["record.created", "record.updated", "record.deleted"]);
    for body in [
        hook("all", "/ok-all?team=sales", true, all),
        hook("no-api", "/ok-quiet", false, json!(["record.created"])),
        hook("bad-reply", "/bad", true, json!(["record.created"])),
    ] {
        let r = srv.post("/api/v1/webhooks", &owner, body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["format"], "jdy", "{}", r.text);
    }
    let bad_id = srv
        .get("/api/v1/webhooks", &owner)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "bad-reply")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A person's write (v1), then API writes (v5): create, update, delete;
    // then a restore from the recycle bin.
    let ann = srv.create_record(&owner, &form, json!({"name": "Ann"})).await;
    assert_eq!(ann.status, 201, "{}", ann.text);
    let ann = ann.body["id"].as_str().unwrap().to_owned();
    let bob = v5(
        &srv,
        &owner,
        &app,
        &form,
        "create",
        json!({"data": {"name": {"value": "Bob"}}}),
    )
    .await;
    assert_eq!(bob.status, 200, "{}", bob.text);
    let bob = bob.body["data"]["_id"].as_str().unwrap().to_owned();
    let r = v5(
        &srv,
        &owner,
        &app,
        &form,
        "update",
        json!({"data_id": bob, "data": {"tier": {"value": "VIP"}}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = v5(&srv, &owner, &app, &form, "delete", json!({"data_id": bob})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = srv
        .post(
            &format!("/api/v1/forms/{form}/records/{bob}/restore"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Bounded wait for the deliveries (the job queue runs them).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let deliveries = srv
            .get(&format!("/api/v1/webhooks/{bad_id}/deliveries"), &owner)
            .await;
        let bad_logged = deliveries.body["deliveries"]
            .as_array()
            .is_some_and(|d| !d.is_empty());
        if on(&got, "/ok-all").len() >= 5
            && on(&got, "/ok-quiet").len() >= 2
            && on(&got, "/bad").len() >= 2
            && bad_logged
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries missing: {:?}\n{}",
            got.lock().unwrap(),
            srv.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ops = Vec::new();
    for g in on(&got, "/ok-all") {
        // The hook's own query is kept; nonce and timestamp are added.
        assert_eq!(g.query.get("team").map(String::as_str), Some("sales"), "{g:?}");
        let nonce = g.query.get("nonce").expect("nonce");
        let timestamp = g.query.get("timestamp").expect("timestamp");
        assert!(timestamp.parse::<i64>().is_ok(), "{g:?}");
        let expected = hex::encode(sha1::Sha1::digest(
            format!("{nonce}:{}:{SECRET}:{timestamp}", g.body).as_bytes(),
        ));
        assert_eq!(g.headers.get("x-jdy-signature"), Some(&expected), "{g:?}");
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert!(body["opTime"].is_i64(), "{body}");
        assert_eq!(body["data"]["appId"], app.as_str(), "{body}");
        assert_eq!(body["data"]["entryId"], form.as_str(), "{body}");
        ops.push((
            body["op"].as_str().unwrap().to_owned(),
            body["data"]["_id"].as_str().unwrap().to_owned(),
            body["data"]["name"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    ops.sort();
    let mut want = vec![
        ("data_create".to_owned(), ann.clone(), "Ann".to_owned()),
        ("data_create".to_owned(), bob.clone(), "Bob".to_owned()),
        ("data_update".to_owned(), bob.clone(), "Bob".to_owned()),
        ("data_remove".to_owned(), bob.clone(), "Bob".to_owned()),
        ("data_recover".to_owned(), bob.clone(), "Bob".to_owned()),
    ];
    want.sort();
    assert_eq!(ops, want);
    // The hook with push_api_writes off heard only the person's writes
    // (the v1 create and the v1 restore), none of the v5 ones.
    let mut quiet: Vec<(String, String)> = on(&got, "/ok-quiet")
        .iter()
        .map(|g| {
            let body: Value = serde_json::from_str(&g.body).unwrap();
            (
                body["op"].as_str().unwrap().to_owned(),
                body["data"]["_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    quiet.sort();
    assert_eq!(
        quiet,
        [
            ("data_create".to_owned(), ann.clone()),
            ("data_recover".to_owned(), bob.clone())
        ]
    );
    // A 200 without `success` is a failed delivery, kept for retry.
    let deliveries = srv
        .get(&format!("/api/v1/webhooks/{bad_id}/deliveries"), &owner)
        .await;
    let first = &deliveries.body["deliveries"][0];
    assert_eq!(first["status"], "failed", "{}", deliveries.text);
    assert!(
        first["error"].as_str().unwrap().contains("success"),
        "{}",
        deliveries.text
    );
});
