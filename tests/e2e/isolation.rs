//! Tenant isolation: a second tenant walks EVERY endpoint of the route table
//! with ids of the first tenant's objects and gets 404 (never 403, never
//! data); endpoints without ids answer only its own data.

use reqwest::Method;
use serde_json::{Value, json};
use server::routes::{self, Verb};

use crate::e2e;
use crate::harness::{Server, customers_form};

fn body_for(operation_id: &str) -> Option<Value> {
    Some(match operation_id {
        "create_app" => json!({"name": "B app"}),
        "update_app" => json!({"name": "hacked"}),
        "create_form" | "update_form" => customers_form(),
        "create_record" => json!({"data": {"name": "x"}}),
        "update_record" => json!({"data": {"name": "hacked"}}),
        "batch_create_records" => json!({"records": [{"data": {"name": "x"}}]}),
        "query_records" => json!({}),
        "aggregate_records" => json!({"metrics": [{"op": "count"}]}),
        "create_tag" => json!({"name": "VIP"}),
        "create_rule" | "update_rule" => {
            json!({"name": "r", "form_id": "00000000-0000-7000-8000-000000000000",
                                               "trigger": {"kind": "manual"}, "script": "log(1);"})
        }
        "test_rule" | "task_action" => json!({}),
        "create_dashboard" | "update_dashboard" => json!({"name": "d", "charts": []}),
        "create_view" | "update_view" => json!({"name": "v"}),
        "update_tenant_settings" => json!({}),
        "create_workflow" | "update_workflow" => json!({"name": "f",
            "nodes": [{"id": "start", "kind": "start"}, {"id": "end", "kind": "end"}],
            "edges": [{"from": "start", "to": "end"}]}),
        "run_rule" => json!({"record_ids": []}),
        "preview_schedule" => json!({"cron": "0 9 * * 1"}),
        "create_member" => json!({"email": "b-new@b.test", "password": "password-123"}),
        "update_member" => json!({"role": "admin"}),
        "create_department" | "update_department" => json!({"name": "B dept"}),
        "create_role" | "update_role" => json!({"name": "b-role"}),
        "create_token" => json!({"name": "b", "scope": "read"}),
        "run_import" => json!({"dry_run": true}),
        "import_app" => json!({"files": {"manifest.json":
            {"key": "b_pkg", "name": "B package", "version": "1.0.0", "forms": []}}}),
        "create_public_link" | "update_public_link" => json!({}),
        "put_form_permissions" => json!({"entries": [{"subject": {"role": "member"}, "actions": ["view"]}]}),
        "export_records" => json!({"format": "csv"}),
        "create_webhook" | "update_webhook" => json!({"name": "hook", "url": "http://127.0.0.1:9/hook",
                                                      "secret": "b-secret-b-secret-b", "events": ["record.created"]}),
        "put_smtp_settings" => {
            json!({"host": "127.0.0.1", "port": 2525, "from_address": "b@b.test", "tls": "none"})
        }
        _ => return None,
    })
}

fn method(verb: Verb) -> Method {
    match verb {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Patch => Method::PATCH,
        Verb::Delete => Method::DELETE,
    }
}

e2e!(tenant_isolation_on_every_endpoint, |srv: Server| async move {
    let a = srv.demo().await;
    let app = srv.create_app(&a, "Secret app A").await;
    let form = srv.create_form(&a, &app, customers_form()).await;
    let rec = srv
        .create_record(
            &a,
            &form,
            json!({"name": "Secret customer A", "email": "a@a.test"}),
        )
        .await;
    let id = rec.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        srv.post("/api/v1/tags", &a, json!({"name": "VIP"})).await.status,
        201
    );
    let tag_path = format!("/api/v1/forms/{form}/records/{id}/tags/VIP");
    assert_eq!(
        srv.call(Method::POST, &tag_path, Some(&a), None).await.status,
        200
    );
    let rule = srv
        .post(
            &format!("/api/v1/apps/{app}/rules"),
            &a,
            json!({"name": "Secret rule", "form_id": form, "trigger": {"kind": "manual"}, "script": "log(1);"}),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text);
    let rule = rule.body["id"].as_str().unwrap().to_owned();
    let batch = srv
        .post(
            &format!("/api/v1/rules/{rule}/run"),
            &a,
            json!({"record_ids": [id]}),
        )
        .await;
    assert_eq!(batch.status, 202, "{}", batch.text);
    let batch = batch.body["batch_id"].as_str().unwrap().to_owned();
    let hook = srv
        .post(
            "/api/v1/webhooks",
            &a,
            json!({"name": "Secret hook", "url": "http://127.0.0.1:9/a", "secret": "a-secret-a-secret-a", "events": ["record.created"]}),
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let hook = hook.body["id"].as_str().unwrap().to_owned();
    // An approval flow on a second form, with a record waiting at a step.
    let flow_form = srv
        .create_form(
            &a,
            &app,
            json!({"name": "approvals", "fields": [{"key": "title", "label": "Title", "type": "text"}]}),
        )
        .await;
    let flow = srv
        .post(
            &format!("/api/v1/forms/{flow_form}/workflows"),
            &a,
            json!({"name": "Secret flow", "nodes": [{"id": "start", "kind": "start"},
                {"id": "ok", "kind": "approve", "assignees": {"initiator": true}}, {"id": "end", "kind": "end"}],
                "edges": [{"from": "start", "to": "ok"}, {"from": "ok", "to": "end"}]}),
        )
        .await;
    assert_eq!(flow.status, 201, "{}", flow.text);
    let flow = flow.body["id"].as_str().unwrap().to_owned();
    let in_flow = srv
        .create_record(&a, &flow_form, json!({"title": "Secret deal"}))
        .await;
    assert_eq!(in_flow.status, 201, "{}", in_flow.text);
    let in_flow = in_flow.body["id"].as_str().unwrap().to_owned();
    let task = srv.get("/api/v1/tasks", &a).await;
    let task = task.body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let dash = srv
        .post(
            &format!("/api/v1/apps/{app}/dashboards"),
            &a,
            json!({"name": "Secret dashboard", "charts": [{"id": "n", "kind": "number", "form_id": form,
                   "measure": {"op": "count"}}]}),
        )
        .await;
    assert_eq!(dash.status, 201, "{}", dash.text);
    let dash = dash.body["id"].as_str().unwrap().to_owned();
    let view = srv
        .post(
            &format!("/api/v1/forms/{form}/views"),
            &a,
            json!({"name": "Secret view", "shared": true}),
        )
        .await;
    assert_eq!(view.status, 201, "{}", view.text);
    let view = view.body["id"].as_str().unwrap().to_owned();
    // An uploaded spreadsheet waiting to be imported.
    let import = srv
        .raw(
            Method::POST,
            &format!("/api/v1/forms/{form}/imports"),
            &a,
            "text/csv",
            b"name\nSecret import row\n".to_vec(),
        )
        .await;
    assert_eq!(import.status, 201, "{}", import.text);
    let import = import.body["id"].as_str().unwrap().to_owned();
    // A member, a department, a custom role and an API token.
    let member = srv
        .post(
            "/api/v1/members",
            &a,
            json!({"email": "m@a.test", "password": "password-123", "display_name": "Secret member"}),
        )
        .await;
    assert_eq!(member.status, 201, "{}", member.text);
    let member = member.body["user_id"].as_str().unwrap().to_owned();
    let dept = srv
        .post("/api/v1/departments", &a, json!({"name": "Secret dept"}))
        .await;
    assert_eq!(dept.status, 201, "{}", dept.text);
    let dept = dept.body["id"].as_str().unwrap().to_owned();
    let role = srv
        .post("/api/v1/roles", &a, json!({"name": "Secret role"}))
        .await;
    assert_eq!(role.status, 201, "{}", role.text);
    let role = role.body["id"].as_str().unwrap().to_owned();
    let api_token = srv
        .post(
            "/api/v1/tokens",
            &a,
            json!({"name": "Secret token", "scope": "read"}),
        )
        .await;
    assert_eq!(api_token.status, 201, "{}", api_token.text);
    let api_token = api_token.body["id"].as_str().unwrap().to_owned();
    // A queued template install.
    let job = srv
        .post("/api/v1/templates/crm/install", &a, json!({"name": "Secret CRM"}))
        .await;
    assert_eq!(job.status, 202, "{}", job.text);
    let job = job.body["job_id"].as_str().unwrap().to_owned();
    let link = srv
        .post(
            &format!("/api/v1/forms/{form}/public-links"),
            &a,
            json!({"name": "Secret link"}),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.text);
    let link = link.body["id"].as_str().unwrap().to_owned();
    // A file, unclaimed (only its uploader sees it).
    let file = srv
        .upload(&a, "Secret plan.txt", "text/plain", b"Secret plan".to_vec())
        .await;
    assert_eq!(file.status, 201, "{}", file.text);
    let file = file.body["id"].as_str().unwrap().to_owned();
    let secrets = [app.as_str(), form.as_str(), id.as_str(), "Secret"];

    let b = srv.tenant("other").await;
    let mut walked = 0;
    for e in routes::all() {
        if e.tag == "system" || e.tag == "auth" && e.operation_id != "me" {
            continue;
        }
        // The v5 API takes its ids in the body and answers 400 with its own
        // codes; its tenant isolation is tested on its own terms.
        if e.tag == "v5" {
            continue;
        }
        // A public link's token is the whole credential: whoever holds it
        // reaches that link's form, whatever tenant they belong to
        // (tests/e2e/public_links.rs).
        if e.path.starts_with("/api/v1/public/") {
            continue;
        }
        // An upload creates B's own file (multipart; tests/e2e/files.rs).
        if e.operation_id == "upload_file" {
            continue;
        }
        // Tenant B's own settings (none yet) and the clock override (off).
        if e.operation_id == "get_smtp_settings" || e.operation_id == "scheduler_run" {
            continue;
        }
        let own_id = if e.path.starts_with("/api/v1/webhooks/") {
            hook.as_str()
        } else if e.path.starts_with("/api/v1/public-links/") {
            link.as_str()
        } else if e.path.starts_with("/api/v1/departments/") {
            dept.as_str()
        } else if e.path.starts_with("/api/v1/roles/") {
            role.as_str()
        } else if e.path.starts_with("/api/v1/tokens/") {
            api_token.as_str()
        } else if e.path.ends_with("/workflow") {
            in_flow.as_str()
        } else {
            id.as_str()
        };
        let path = e
            .path
            .replace("{rule_id}", &rule)
            .replace("{workflow_id}", &flow)
            .replace("{task_id}", &task)
            .replace("{action}", "approve")
            .replace("{dashboard_id}", &dash)
            .replace("{view_id}", &view)
            .replace("{batch_id}", &batch)
            .replace("{import_id}", &import)
            .replace("{job_id}", &job)
            .replace("{file_id}", &file)
            .replace("{user_id}", &member)
            .replace("{app_id}", &app)
            .replace("{form_id}", &form)
            .replace("{id}", own_id)
            .replace("{tag}", "VIP");
        let r = srv
            .call(method(e.verb), &path, Some(&b), body_for(e.operation_id))
            .await;
        walked += 1;
        // A 404 may echo the id the caller sent; nothing else of A's may show.
        let checked = if r.status == 404 {
            &secrets[3..]
        } else {
            &secrets[..]
        };
        for s in checked {
            assert!(
                !r.text.contains(s),
                "{} {} leaked `{s}`: {}",
                e.verb.as_lower(),
                e.path,
                r.text
            );
        }
        if e.path.contains('{') {
            assert_eq!(
                r.status,
                404,
                "{} {} answered {}: {}",
                e.verb.as_lower(),
                e.path,
                r.status,
                r.text
            );
            assert_eq!(r.code(), "not_found");
        } else {
            assert!(
                r.status < 300,
                "{} {} answered {}: {}",
                e.verb.as_lower(),
                e.path,
                r.status,
                r.text
            );
        }
    }
    assert!(walked >= 20, "only {walked} endpoints walked");
    // Without --allow-clock-override nobody may set the scheduler's clock.
    srv.post(
        "/api/v1/admin/scheduler/run",
        &b,
        json!({"at": "2027-01-01T00:00:00Z"}),
    )
    .await
    .assert_error(403, "forbidden");

    // Tenant A's data is unchanged.
    let got = srv.get(&format!("/api/v1/forms/{form}/records/{id}"), &a).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["version"], rec.body["version"]);
    assert_eq!(got.body["data"]["name"], "Secret customer A");
    assert_eq!(got.body["tags"], json!(["VIP"]));
    let app_now = srv.get(&format!("/api/v1/apps/{app}"), &a).await;
    assert_eq!(app_now.body["name"], "Secret app A");
    let form_now = srv.get(&format!("/api/v1/forms/{form}"), &a).await;
    assert_eq!(form_now.body["version"], 1, "{}", form_now.text);
});
