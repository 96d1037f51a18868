//! App packages over HTTP and the CLI against the real binary: the gallery,
//! a queued CRM install with sample data polled to the end, export, import
//! into another tenant giving the same package back, refusals with their
//! codes, and `formwork template export|install` through a directory; on
//! SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{Value, json};

use crate::e2e;
use crate::harness::{Resp, Server};

/// Polls a queued install until it ends (bounded: 120 s).
async fn wait_install(srv: &Server, token: &str, job: &str) -> Resp {
    for _ in 0..1200 {
        let r = srv.get(&format!("/api/v1/jobs/{job}"), token).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let status = r.body["status"].as_str().unwrap_or_default().to_owned();
        if status != "pending" && status != "running" {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the install did not finish in 120 s");
}

async fn export(srv: &Server, token: &str, app: &str) -> Value {
    let r = srv.get(&format!("/api/v1/apps/{app}/export"), token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

e2e!(templates_install_export_import, |srv: Server| async move {
    let a = srv.demo().await;
    let gallery = srv.get("/api/v1/templates", &a).await;
    assert_eq!(gallery.status, 200, "{}", gallery.text);
    let crm = gallery
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "crm")
        .unwrap()
        .clone();
    assert_eq!(crm["counts"]["forms"], 17);
    assert!(crm["counts"]["rules"].as_u64().unwrap() >= 20);
    assert!(crm["hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(crm["sample_data"], true);

    // Queued install with sample data.
    let queued = srv
        .post(
            "/api/v1/templates/crm/install",
            &a,
            json!({"name": "我的 CRM", "sample_data": true}),
        )
        .await;
    assert_eq!(queued.status, 202, "{}", queued.text);
    let job = queued.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        queued.headers["location"].to_str().unwrap(),
        format!("/api/v1/jobs/{job}")
    );
    let done = wait_install(&srv, &a, &job).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.text);
    let app = done.body["app_id"].as_str().unwrap().to_owned();
    assert_eq!(app, job, "the app is named after its job");
    assert_eq!(done.body["result"]["forms"], 17);
    assert!(
        done.body["result"]["records"].as_u64().unwrap() > 100,
        "{}",
        done.text
    );
    assert_eq!(
        srv.get(&format!("/api/v1/apps/{app}"), &a).await.body["name"],
        "我的 CRM"
    );
    let forms = srv.get(&format!("/api/v1/apps/{app}/forms"), &a).await;
    let forms = forms
        .body
        .as_array()
        .cloned()
        .unwrap_or_else(|| forms.body["forms"].as_array().unwrap().clone());
    assert_eq!(forms.len(), 17);
    let customers = forms.iter().find(|f| f["name"] == "客户 Customers").unwrap();
    let list = srv
        .get(
            &format!(
                "/api/v1/forms/{}/records?limit=5",
                customers["id"].as_str().unwrap()
            ),
            &a,
        )
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("\"name\""), "{}", list.text);

    // Export.
    let r = srv.get(&format!("/api/v1/apps/{app}/export"), &a).await;
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("crm-1.0.0.formwork.json")
    );
    let first = export(&srv, &a, &app).await;
    assert_eq!(first["format"], "formwork.package/1");
    assert_eq!(first["files"]["manifest.json"]["name"], "我的 CRM");
    assert!(
        first["files"]["rules/churn_alert.rhai"]
            .as_str()
            .unwrap()
            .contains("流失")
    );
    assert!(!first.to_string().contains(&app));

    // Already the newest version of its template.
    let plan = srv.get(&format!("/api/v1/apps/{app}/upgrade"), &a).await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    assert_eq!(plan.body["up_to_date"], true);
    assert_eq!(plan.body["from_version"], "1.0.0");
    let applied = srv
        .call(
            Method::POST,
            &format!("/api/v1/apps/{app}/upgrade"),
            Some(&a),
            None,
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert_eq!(applied.body["changes"], json!([]));

    // Import into another tenant, then export again: the same package.
    let b = srv.tenant("copy").await;
    let imported = srv.post("/api/v1/apps/import", &b, first.clone()).await;
    assert_eq!(imported.status, 201, "{}", imported.text);
    let b_app = imported.body["app"].as_str().unwrap().to_owned();
    assert_ne!(b_app, app);
    // An imported app upgrades against its own package key and version.
    assert_eq!(
        srv.get(&format!("/api/v1/apps/{b_app}/upgrade"), &b).await.body["template"],
        "crm"
    );
    let second = export(&srv, &b, &b_app).await;
    assert_eq!(second["files"], first["files"]);
    assert_eq!(second["hash"], first["hash"]);
    // Tenant A does not see it, and B does not see A's.
    srv.get(&format!("/api/v1/apps/{b_app}/export"), &a)
        .await
        .assert_error(404, "not_found");
    srv.get(&format!("/api/v1/jobs/{job}"), &b)
        .await
        .assert_error(404, "not_found");

    // Refusals: a changed bundle, a broken script, an unknown template, a member.
    let mut tampered = first.clone();
    tampered["files"]["forms/tasks.json"]["name"] = json!("Changed");
    let r = srv.post("/api/v1/apps/import", &b, tampered).await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.detail_fields(), vec!["hash".to_owned()]);
    let mut broken = first.clone();
    broken.as_object_mut().unwrap().remove("hash");
    broken["files"]["rules/welcome_coupon.rhai"] = json!("let x = ;");
    let apps_before = srv.get("/api/v1/apps", &b).await.body;
    let r = srv.post("/api/v1/apps/import", &b, broken).await;
    r.assert_error(422, "script_syntax");
    assert!(
        r.detail_fields()
            .iter()
            .any(|f| f.starts_with("rules/welcome_coupon.json")),
        "{}",
        r.text
    );
    assert_eq!(
        srv.get("/api/v1/apps", &b).await.body,
        apps_before,
        "a refused import leaves nothing"
    );
    srv.post("/api/v1/templates/nope/install", &a, json!({}))
        .await
        .assert_error(404, "not_found");
    // A name the app could not take is refused before anything is queued.
    for name in ["   ".to_owned(), "x".repeat(201)] {
        let r = srv
            .post("/api/v1/templates/crm/install", &a, json!({ "name": name }))
            .await;
        r.assert_error(422, "validation_failed");
        assert_eq!(r.detail_fields(), vec!["name"]);
    }
    let member = srv
        .post(
            "/api/v1/members",
            &a,
            json!({"email": "m@demo.test", "password": "password-123"}),
        )
        .await;
    assert_eq!(member.status, 201, "{}", member.text);
    let m = srv.login("demo", "m@demo.test", "password-123").await;
    srv.post("/api/v1/templates/crm/install", &m, json!({}))
        .await
        .assert_error(403, "forbidden");
    srv.call(Method::GET, &format!("/api/v1/apps/{app}/export"), Some(&m), None)
        .await
        .assert_error(403, "forbidden");

    // With its records, as the package's sample data.
    let with = srv
        .get(&format!("/api/v1/apps/{app}/export?records=true"), &a)
        .await;
    assert_eq!(with.status, 200, "{}", with.text);
    let n = with.body["files"]["sample/records.json"]
        .as_array()
        .unwrap()
        .len() as u64;
    assert_eq!(n, done.body["result"]["records"].as_u64().unwrap());
    let copy = srv
        .post(
            "/api/v1/apps/import?sample_data=true&name=copy",
            &b,
            with.body.clone(),
        )
        .await;
    assert_eq!(copy.status, 201, "{}", copy.text);
    assert_eq!(copy.body["records"].as_u64().unwrap(), n);

    // The CLI: export to a directory, install it into a third tenant.
    let cli_token = srv.tenant("cli").await;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("crm-copy");
    let out = srv.cli(&[
        "template",
        "export",
        "--tenant",
        "demo",
        "--email",
        "admin@demo.local",
        "--app",
        &app,
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap(),
        first["hash"].as_str().unwrap()
    );
    assert!(out_dir.join("rules/churn_alert.rhai").is_file());
    assert!(out_dir.join("forms/customers.json").is_file());
    let out = srv.cli(&[
        "template",
        "install",
        "--tenant",
        "cli",
        "--email",
        "owner@cli.test",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("17 forms"), "{stdout}");
    // The app is there in the tenant, with its forms, for the tenant's own
    // API.
    let cli_app = stdout.lines().next().unwrap().trim().to_owned();
    let apps = srv.get("/api/v1/apps", &cli_token).await;
    assert_eq!(apps.status, 200, "{}", apps.text);
    let listed = apps
        .body
        .as_array()
        .or_else(|| apps.body["apps"].as_array())
        .unwrap();
    assert!(
        listed.iter().any(|a| a["id"] == cli_app.as_str()),
        "{cli_app} not in {}",
        apps.text
    );
    let forms = srv
        .get(&format!("/api/v1/apps/{cli_app}/forms"), &cli_token)
        .await;
    assert_eq!(forms.status, 200, "{}", forms.text);
    let forms = forms
        .body
        .as_array()
        .or_else(|| forms.body["forms"].as_array())
        .unwrap();
    assert_eq!(forms.len(), 17, "forms of the CLI-installed app");
    assert!(
        forms
            .iter()
            .any(|f| f["name"].as_str().is_some_and(|n| n.contains("客户")))
    );
    let out = srv.cli(&["template", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("crm\t1.0.0\t"));
});
