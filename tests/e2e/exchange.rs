//! Spreadsheet exchange over HTTP: upload, guessed mapping, dry run with
//! per-row errors, a real import through the job queue (all or nothing),
//! upsert by phone, the error report, streamed exports that round-trip, the
//! 413 on oversized uploads, and `formwork import` on the command line.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::{Resp, Server};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn customers() -> Value {
    json!({
        "name": "客户",
        "fields": [
            {"key": "name", "label": "客户 Customer", "type": "text", "required": true},
            {"key": "phone", "label": "电话 Phone", "type": "phone", "unique": true},
            {"key": "tier", "label": "等级 Tier", "type": "select",
             "options": [{"value": "vip", "label": "贵宾"}, {"value": "regular", "label": "普通"}]},
            {"key": "total_spent", "label": "Total spent", "type": "number", "min": 0},
            {"key": "joined", "label": "Joined", "type": "date"}
        ]
    })
}

async fn upload(srv: &Server, token: &str, form: &str, ct: &str, body: Vec<u8>) -> Resp {
    srv.raw(
        Method::POST,
        &format!("/api/v1/forms/{form}/imports?file_name=c.csv"),
        token,
        ct,
        body,
    )
    .await
}

/// Polls an import until its run ends.
async fn wait(srv: &Server, token: &str, form: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = srv
            .get(&format!("/api/v1/forms/{form}/imports/{id}"), token)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let status = r.body["status"].as_str().unwrap_or_default().to_owned();
        if status == "succeeded" || status == "failed" {
            return r.body;
        }
        assert!(Instant::now() < deadline, "import did not finish: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn records(srv: &Server, token: &str, form: &str) -> Vec<Value> {
    let r = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            token,
            json!({"sort": [{"field": "phone"}], "limit": 1000}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["data"].clone())
        .collect()
}

const BAD: &str = "客户,电话,Tier,Total spent,Joined\n\
Ann,13800000001,贵宾,\"1,234.50\",2026年1月5日\n\
Bob,bad-phone,普通,5,2026-01-06\n\
Cy,13800000003,gold,\"12,000\",2026/03/04\n\
Di,13800000004,regular,7,2026-02-30\n";

const FIXED: &str = "客户,电话,Tier,Total spent,Joined\n\
Ann,13800000001,贵宾,\"1,234.50\",2026年1月5日\n\
Bob,13800000002,普通,5,2026-01-06\n\
Cy,13800000003,贵宾,\"12,000\",2026/03/04\n\
Di,13800000004,regular,7,2026-02-28\n";

e2e!(
    import_dry_run_all_or_nothing_and_upsert,
    |srv: Server| async move {
        let t = srv.demo().await;
        let app = srv.create_app(&t, "CRM").await;
        let form = srv.create_form(&t, &app, customers()).await;

        let up = upload(&srv, &t, &form, "text/csv", BAD.as_bytes().to_vec()).await;
        assert_eq!(up.status, 201, "{}", up.text);
        assert_eq!(up.body["rows"], 4);
        assert_eq!(up.body["format"], "csv");
        let fields: Vec<Value> = up.body["mapping"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["field"].clone())
            .collect();
        assert_eq!(
            fields,
            vec![
                json!("name"),
                json!("phone"),
                json!("tier"),
                json!("total_spent"),
                json!("joined")
            ]
        );
        let id = up.body["id"].as_str().unwrap().to_owned();
        let run = format!("/api/v1/forms/{form}/imports/{id}/run");

        let dry = srv.post(&run, &t, json!({"dry_run": true})).await;
        assert_eq!(dry.status, 200, "{}", dry.text);
        let rows: Vec<u64> = dry.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["row"].as_u64().unwrap())
            .collect();
        assert_eq!(rows, vec![3, 4, 5], "{}", dry.text);
        assert_eq!(dry.body["summary"]["failed_rows"], 3);
        let report = srv
            .get(&format!("/api/v1/forms/{form}/imports/{id}/errors"), &t)
            .await;
        assert_eq!(report.status, 200);
        assert!(
            report.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert_eq!(report.text.lines().count(), 4, "{}", report.text);
        assert!(report.text.contains("3,电话,phone,bad-phone,"), "{}", report.text);

        let real = srv.post(&run, &t, json!({"dry_run": false})).await;
        assert_eq!(real.status, 202, "{}", real.text);
        let done = wait(&srv, &t, &form, &id).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["error_count"], 3);
        assert!(
            records(&srv, &t, &form).await.is_empty(),
            "a failed import changes nothing"
        );

        let up = upload(&srv, &t, &form, "text/csv", FIXED.as_bytes().to_vec()).await;
        let id = up.body["id"].as_str().unwrap().to_owned();
        let run = format!("/api/v1/forms/{form}/imports/{id}/run");
        assert_eq!(srv.post(&run, &t, json!({})).await.status, 202);
        let done = wait(&srv, &t, &form, &id).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["summary"]["inserted"], 4);
        assert_eq!(done["progress"]["processed"], 4);
        let recs = records(&srv, &t, &form).await;
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0]["joined"], "2026-01-05");
        assert_eq!(recs[0]["total_spent"], json!(1234.5));
        assert_eq!(recs[2]["tier"], "vip");
        // A second run of the same file is busy-checked and upserts cleanly.
        let again = "电话 Phone,Total spent\n13800000002,99\n13800000005,1\n";
        let up = upload(
            &srv,
            &t,
            &form,
            "text/csv; charset=utf-8",
            again.as_bytes().to_vec(),
        )
        .await;
        let id = up.body["id"].as_str().unwrap().to_owned();
        let run = format!("/api/v1/forms/{form}/imports/{id}/run");
        let r = srv
            .post(&run, &t, json!({"mode": "upsert", "dry_run": false}))
            .await;
        r.assert_error(422, "validation_failed");
        let map = json!([{"column": 0, "field": "phone"}, {"column": 1, "field": "total_spent"}, {"column": 0, "field": "name"}]);
        let r = srv
            .post(
                &run,
                &t,
                json!({"mode": "upsert", "key": "phone", "mapping": map}),
            )
            .await;
        r.assert_error(422, "validation_failed");
        let map = json!([{"column": 0, "field": "phone"}, {"column": 1, "field": "total_spent"}]);
        let r = srv
            .post(
                &run,
                &t,
                json!({"mode": "upsert", "key": "phone", "mapping": map}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        // Busy while queued (or already done and queued again: same outcome).
        let second = srv
            .post(&run, &t, json!({"mode": "upsert", "key": "phone"}))
            .await;
        assert!(second.status == 409 || second.status == 202, "{}", second.text);
        let done = wait(&srv, &t, &form, &id).await;
        // The new phone has no name (required): the whole upsert is refused.
        assert_eq!(done["status"], "failed", "{done}");
        assert_eq!(done["errors"][0]["row"], 3);
        assert_eq!(records(&srv, &t, &form).await[1]["total_spent"], json!(5));
        let only_known = "电话 Phone,Total spent\n13800000002,99\n";
        let up = upload(&srv, &t, &form, "text/csv", only_known.as_bytes().to_vec()).await;
        let id = up.body["id"].as_str().unwrap().to_owned();
        let r = srv
            .post(
                &format!("/api/v1/forms/{form}/imports/{id}/run"),
                &t,
                json!({"mode": "upsert", "key": "phone"}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let done = wait(&srv, &t, &form, &id).await;
        assert_eq!(done["summary"]["updated"], 1, "{done}");
        let recs = records(&srv, &t, &form).await;
        assert_eq!(recs.len(), 4, "upsert by phone does not duplicate");
        assert_eq!(recs[1]["total_spent"], json!(99));
        assert_eq!(recs[1]["name"], "Bob");
    }
);

e2e!(export_round_trips_and_limits, |srv: Server| async move {
    let t = srv.demo().await;
    let app = srv.create_app(&t, "CRM").await;
    let form = srv.create_form(&t, &app, customers()).await;
    let mut csv = String::from("name,phone,tier,total_spent,joined\n");
    for i in 0..40 {
        let tier = if i % 2 == 0 { "贵宾" } else { "普通" };
        csv.push_str(&format!(
            "N{i},1390000{i:04},{tier},{},2026-05-{:02}\n",
            i * 100,
            i % 28 + 1
        ));
    }
    let up = upload(&srv, &t, &form, "text/csv", csv.into_bytes()).await;
    let id = up.body["id"].as_str().unwrap().to_owned();
    srv.post(&format!("/api/v1/forms/{form}/imports/{id}/run"), &t, json!({}))
        .await;
    assert_eq!(wait(&srv, &t, &form, &id).await["status"], "succeeded");

    let query = json!({"filter": {"field": "total_spent", "op": "gte", "value": 2000}, "sort": [{"field": "total_spent", "dir": "desc"}]});
    for (format, ct) in [("csv", "text/csv"), ("xlsx", XLSX)] {
        let mut body = query.clone();
        body["format"] = json!(format);
        let res = srv
            .client
            .post(format!("{}/api/v1/forms/{form}/exports", srv.base))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(ct));
        assert!(
            res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("attachment")
        );
        let bytes = res.bytes().await.unwrap().to_vec();
        if format == "csv" {
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert_eq!(text.lines().count(), 21, "{text}");
            assert!(
                text.lines()
                    .nth(1)
                    .unwrap()
                    .starts_with("N39,13900000039,普通,3900,"),
                "{text}"
            );
        }
        let copy = srv.create_form(&t, &app, customers()).await;
        let up = upload(&srv, &t, &copy, ct, bytes).await;
        assert_eq!(up.status, 201, "{}", up.text);
        let id = up.body["id"].as_str().unwrap().to_owned();
        srv.post(&format!("/api/v1/forms/{copy}/imports/{id}/run"), &t, json!({}))
            .await;
        assert_eq!(wait(&srv, &t, &copy, &id).await["status"], "succeeded");
        let want: Vec<Value> = records(&srv, &t, &form)
            .await
            .into_iter()
            .filter(|r| r["total_spent"].as_f64().unwrap() >= 2000.0)
            .collect();
        assert_eq!(records(&srv, &t, &copy).await, want, "{format}");
    }
    srv.post(
        &format!("/api/v1/forms/{form}/exports"),
        &t,
        json!({"filter": {"field": "nope", "op": "eq", "value": 1}}),
    )
    .await
    .assert_error(400, "invalid_query");
    upload(&srv, &t, &form, "application/json", b"{}".to_vec())
        .await
        .assert_error(400, "bad_request");
    let huge = vec![b'a'; 64 * 1024 * 1024 + 1];
    upload(&srv, &t, &form, "text/csv", huge)
        .await
        .assert_error(413, "payload_too_large");
});

e2e!(cli_import, |srv: Server| async move {
    let t = srv.demo().await;
    let app = srv.create_app(&t, "CRM").await;
    let form = srv.create_form(&t, &app, customers()).await;
    let dir = std::env::temp_dir().join(format!("fw-cli-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, BAD).unwrap();
    let good = dir.join("good.csv");
    std::fs::write(&good, FIXED).unwrap();
    let base = [
        "import",
        "--tenant",
        "demo",
        "--email",
        "admin@demo.local",
        "--form",
        form.as_str(),
    ];
    let run = |file: &std::path::Path, extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        let f = file.to_str().unwrap().to_owned();
        args.push("--file");
        args.push(Box::leak(f.into_boxed_str()));
        args.extend_from_slice(extra);
        srv.cli(&args)
    };
    let out = run(&bad, &["--dry-run"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rows with errors 3"), "{stdout}");
    assert!(stdout.contains("row 3 "), "{stdout}");
    let out = run(&bad, &[]);
    assert!(!out.status.success());
    assert!(records(&srv, &t, &form).await.is_empty());
    let out = run(&good, &["--mode", "upsert", "--key", "phone"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("inserted 4"));
    let out = run(&good, &["--mode", "upsert", "--key", "phone"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unchanged 4"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(records(&srv, &t, &form).await.len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
});
