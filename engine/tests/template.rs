//! App packages on real SQLite and real PostgreSQL: the embedded CRM
//! installed twice gives two independent apps; export then import into
//! another tenant gives the same package back (files and hash); a package
//! refused halfway leaves the tenant as it was; malformed packages are
//! refused naming the file; what belongs to the tenant is left out of an
//! export and reported.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::TestDb;
use engine::automation::TickOptions;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::jobs::{Worker, WorkerConfig};
use engine::meta::form::UpdateFormOptions;
use engine::query::model::QueryRequest;
use engine::record::RecordInput;
use engine::template::{InstallOptions, Package, builtin};
use serde_json::{Map, Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).single().unwrap()
}

fn no_sample() -> InstallOptions {
    InstallOptions::default()
}

async fn install(t: &TestDb, ctx: &Ctx, pkg: &Package, opts: &InstallOptions) -> engine::template::Installed {
    t.engine
        .install_package(ctx, pkg, opts)
        .await
        .unwrap_or_else(|e| panic!("install: {e} {:?}", e.details()))
}

async fn install_twice(t: &TestDb) {
    let ctx = t.tenant("twice").await.at(t0());
    let crm = builtin("crm").unwrap();
    let a = install(t, &ctx, &crm, &no_sample()).await;
    let b = install(
        t,
        &ctx,
        &crm,
        &InstallOptions {
            name: Some("第二个 CRM".into()),
            ..no_sample()
        },
    )
    .await;
    assert_ne!(a.app, b.app);
    assert_eq!(a.forms.len(), 17);
    assert_eq!(b.forms.len(), 17);
    assert!(a.rules.len() >= 20, "{}", a.rules.len());
    for (key, id) in &a.forms {
        assert_ne!(*id, b.forms[key], "{key}");
    }
    assert_eq!(t.engine.get_app(&ctx, b.app).await.unwrap().name, "第二个 CRM");
    // Tags are the tenant's: the second install reuses them.
    assert_eq!(t.engine.list_tags(&ctx).await.unwrap().len(), 5);
    assert_eq!(a.tags, b.tags);

    // References point inside each app.
    for (installed, other) in [(&a, &b), (&b, &a)] {
        let contacts = t.engine.get_form(&ctx, installed.form("contacts")).await.unwrap();
        let rel = contacts
            .definition
            .fields
            .iter()
            .find(|f| f.key == "customer")
            .unwrap();
        assert_eq!(
            rel.config["form_id"],
            json!(installed.form("customers").to_string())
        );
        for r in t.engine.list_rules(&ctx, installed.app).await.unwrap() {
            assert!(installed.forms.values().any(|f| *f == r.form_id), "{}", r.name);
            assert!(!other.forms.values().any(|f| *f == r.form_id), "{}", r.name);
        }
    }

    // An edit of one app leaves the other alone.
    let mut def = serde_json::to_value(
        &t.engine
            .get_form(&ctx, a.form("customers"))
            .await
            .unwrap()
            .definition,
    )
    .unwrap();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "wechat", "label": "微信 WeChat", "type": "text"}));
    t.engine
        .update_form(&ctx, a.form("customers"), def, UpdateFormOptions::default())
        .await
        .unwrap();
    let other = t.engine.get_form(&ctx, b.form("customers")).await.unwrap();
    assert!(other.definition.fields.iter().all(|f| f.key != "wechat"));
    assert_eq!(other.version, 1);

    // A script names forms by package key (`create("coupons", ...)`) and
    // reaches its own app's form: the welcome coupon lands in app A only.
    t.engine
        .create_record(
            &ctx,
            a.form("customers"),
            RecordInput {
                data: obj(json!({"name": "甲公司", "type": "B2B"})),
            },
            None,
        )
        .await
        .unwrap();
    let worker = job_worker(t);
    for s in 1..=3 {
        t.engine
            .scheduler_tick(&worker, t0() + TimeDelta::seconds(s), TickOptions::default())
            .await
            .unwrap();
    }
    let count = |form| {
        let engine = &t.engine;
        let ctx = &ctx;
        async move {
            engine
                .query_records(ctx, form, QueryRequest::default(), false)
                .await
                .unwrap()
                .records
                .len()
        }
    };
    assert_eq!(count(a.form("coupons")).await, 1);
    assert_eq!(count(b.form("coupons")).await, 0);
}

both_backends!(crm_installs_twice_as_independent_apps, install_twice);

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

async fn round_trip(t: &TestDb) {
    let a_ctx = t.tenant("origin").await.at(t0());
    let crm = builtin("crm").unwrap();
    let a = install(t, &a_ctx, &crm, &no_sample()).await;
    // The tenant's own additions after install go along too.
    let visits = t
        .engine
        .create_form(
            &a_ctx,
            a.app,
            json!({"name": "拜访 Site visits", "fields": [
                {"key": "customer", "label": "客户", "type": "relation", "form_id": a.form("customers").to_string()},
                {"key": "visited_on", "label": "日期", "type": "date", "required": true}
            ]}),
        )
        .await
        .unwrap();
    t.engine
        .create_rule(
            &a_ctx,
            a.app,
            json!({"name": "Visit touch", "form_id": visits.id.to_string(),
                   "trigger": {"kind": "record_created"},
                   "script": "update(\"customers\", record.customer, #{last_contact_on: record.visited_on});"}),
        )
        .await
        .unwrap();
    t.engine
        .create_view(
            &a_ctx,
            visits.id,
            json!({"name": "Recent visits", "shared": true, "sort": [{"field": "visited_on", "dir": "desc"}]}),
        )
        .await
        .unwrap();
    t.engine
        .create_view(&a_ctx, visits.id, json!({"name": "Mine only"}))
        .await
        .unwrap();

    let first = t.engine.export_app(&a_ctx, a.app).await.unwrap();
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let files = first.package.files();
    assert!(
        files.contains_key("forms/site_visits.json"),
        "{:?}",
        files.keys().collect::<Vec<_>>()
    );
    assert!(files.contains_key("rules/visit_touch.json"));
    assert!(files.contains_key("rules/visit_touch.rhai"));
    assert!(files.contains_key("views/recent_visits.json"));
    assert!(
        !files.keys().any(|k| k.contains("mine_only")),
        "personal views stay"
    );
    assert_eq!(
        files["forms/site_visits.json"]["fields"][0]["form_id"],
        json!("customers")
    );
    assert_eq!(files["rules/visit_touch.json"]["form"], json!("site_visits"));
    assert_eq!(files["manifest.json"]["key"], json!("crm"));
    assert_eq!(files["manifest.json"]["forms"].as_array().unwrap().len(), 18);
    // Every shipped object comes back under its key, with its fields.
    common::assert_exports_shipped(&first.package, &crm);
    let bundle = first.to_bundle();
    assert_eq!(bundle["hash"], json!(first.package.hash()));
    let text = serde_json::to_string(&bundle).unwrap();
    assert!(!text.contains(&a_ctx.tenant.to_string()));
    assert!(!text.contains(&a.app.to_string()));
    assert!(!text.contains(&a.form("customers").to_string()));

    // Into another tenant, through the bundle's JSON text.
    let b_ctx = t.tenant("copy").await.at(t0());
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let b = t
        .engine
        .import_package(&b_ctx, &parsed, &no_sample())
        .await
        .unwrap_or_else(|e| panic!("import: {e} {:?}", e.details()));
    assert_eq!(b.forms.len(), 18);
    let second = t.engine.export_app(&b_ctx, b.app).await.unwrap();
    common::assert_same_package(&first.package, &second.package);
    // Tenant B's app is its own: nothing of it is in tenant A.
    assert!(t.engine.get_app(&a_ctx, b.app).await.is_err());
    assert_eq!(t.engine.list_apps(&a_ctx).await.unwrap().len(), 1);
}

both_backends!(export_import_round_trip, round_trip);

/// The CRM's files with one replaced.
fn crm_with(path: &str, content: Value) -> Package {
    let mut files: BTreeMap<String, Value> = builtin("crm").unwrap().files().clone();
    files.insert(path.to_owned(), content);
    Package::from_files(files)
}

/// Rows of the tenant in every table an install writes.
/// A fresh empty app named `name`.
async fn new_app(t: &TestDb, ctx: &Ctx, name: &str) -> engine::meta::app::AppView {
    t.engine
        .create_app(
            ctx,
            engine::meta::app::AppInput {
                name: name.into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
}

async fn rows(t: &TestDb, ctx: &Ctx) -> BTreeMap<&'static str, u64> {
    use engine::store::entity::{
        app, form, form_version, package_key, record, record_history, rule, tag, view, workflow,
    };
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let conn = t.engine.db().conn();
    let tenant = ctx.tenant.to_string();
    let mut out = BTreeMap::new();
    macro_rules! count {
        ($name:literal, $m:ident) => {
            out.insert(
                $name,
                $m::Entity::find()
                    .filter($m::Column::TenantId.eq(tenant.clone()))
                    .count(conn)
                    .await
                    .unwrap(),
            );
        };
    }
    count!("apps", app);
    count!("forms", form);
    count!("form_versions", form_version);
    count!("records", record);
    count!("record_history", record_history);
    count!("rules", rule);
    count!("workflows", workflow);
    count!("views", view);
    count!("tags", tag);
    count!("package_keys", package_key);
    out
}

async fn failed_install(t: &TestDb) {
    let ctx = t.tenant("failing").await.at(t0());
    let before = rows(t, &ctx).await;
    assert!(before.values().all(|n| *n == 0), "{before:?}");
    // The last rule alphabetically does not compile: everything before it
    // (tags, 17 forms, other rules) was created and must go again.
    let broken = crm_with("rules/welcome_coupon.rhai", json!("let x = ;\n"));
    let err = t
        .engine
        .install_package(&ctx, &broken, &no_sample())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ScriptCompile, "{err}");
    let details = err.details();
    assert!(
        details
            .iter()
            .any(|d| d.field.starts_with("rules/welcome_coupon.json") && d.line == Some(1)),
        "{details:?}"
    );
    assert_eq!(rows(t, &ctx).await, before);

    // Sample records refused halfway: the records written before go too.
    let mut files = BTreeMap::new();
    files.insert(
        "manifest.json".to_owned(),
        json!({"key": "tiny", "name": "Tiny", "version": "1.0.0", "forms": ["people", "notes"],
               "tags": [{"name": "新标签"}], "sample": "sample/records.json"}),
    );
    files.insert(
        "forms/people.json".to_owned(),
        json!({"key": "people", "name": "People", "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true, "unique": true},
            {"key": "no", "label": "No", "type": "serial", "pattern": "P{seq:3}"}]}),
    );
    files.insert(
        "forms/notes.json".to_owned(),
        json!({"key": "notes", "name": "Notes", "fields": [
            {"key": "person", "label": "Person", "type": "relation", "form_id": "people"},
            {"key": "body", "label": "Body", "type": "textarea", "required": true}]}),
    );
    files.insert(
        "sample/records.json".to_owned(),
        json!([
            {"form": "people", "id": "p1", "data": {"name": "Ann"}},
            {"form": "notes", "id": "n1", "data": {"person": "p1", "body": "hello"}},
            {"form": "notes", "id": "n2", "data": {"person": "p1"}}
        ]),
    );
    let tiny = Package::from_files(files.clone());
    let opts = InstallOptions {
        sample_data: true,
        ..no_sample()
    };
    let err = t.engine.install_package(&ctx, &tiny, &opts).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed, "{err}");
    assert!(
        err.details()
            .iter()
            .any(|d| d.field.starts_with("sample records of `notes`")),
        "{:?}",
        err.details()
    );
    assert_eq!(rows(t, &ctx).await, before);

    // Fixed, it installs: nothing left over collides (unique index, serial).
    files.insert(
        "sample/records.json".to_owned(),
        json!([
            {"form": "people", "id": "p1", "data": {"name": "Ann"}},
            {"form": "notes", "id": "n1", "data": {"person": "p1", "body": "hello"}}
        ]),
    );
    let ok = install(t, &ctx, &Package::from_files(files), &opts).await;
    assert_eq!(ok.records, 2);
    let person = t
        .engine
        .get_record(&ctx, ok.form("people"), ok.ids["p1"])
        .await
        .unwrap();
    assert_eq!(person.data["no"], json!("P001"));
    let note = t
        .engine
        .get_record(&ctx, ok.form("notes"), ok.ids["n1"])
        .await
        .unwrap();
    assert_eq!(note.data["person"], json!(ok.id("p1")));
}

both_backends!(failed_install_changes_nothing, failed_install);

async fn malformed(t: &TestDb) {
    let ctx = t.tenant("malformed").await.at(t0());
    let cases: Vec<(Package, &str)> = vec![
        (
            crm_with(
                "forms/contacts.json",
                json!({"key": "contacts", "name": "Contacts", "fields": [
                    {"key": "customer", "label": "C", "type": "relation", "form_id": "clients"}]}),
            ),
            "forms/contacts.json/fields/0/form_id",
        ),
        (
            crm_with(
                "rules/churn_alert.json",
                json!({"key": "churn_alert", "name": "x", "form": "customers",
                       "trigger": {"kind": "record_created"}, "script_file": "missing.rhai"}),
            ),
            "rules/churn_alert.json/script_file",
        ),
        (
            crm_with(
                "views/vip_customers.json",
                json!({"key": "vip", "name": "x", "form": "customers"}),
            ),
            "views/vip_customers.json/key",
        ),
        (crm_with("notes.txt", json!("hello")), "notes.txt"),
        (
            crm_with(
                "dashboards/sales.json",
                json!({"key": "sales", "name": "x", "charts": [{"id": "a", "form_id": "deals"}]}),
            ),
            "dashboards/sales.json/charts/0/form_id",
        ),
    ];
    for (pkg, field) in cases {
        let err = t
            .engine
            .install_package(&ctx, &pkg, &no_sample())
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValidationFailed, "{field}: {err}");
        assert!(
            err.details().iter().any(|d| d.field == field),
            "{field}: {:?}",
            err.details()
        );
    }
    // A bundle whose files were changed after export.
    let mut bundle = builtin("crm").unwrap().to_bundle();
    bundle["files"]["forms/tasks.json"]["name"] = json!("Changed");
    let err = t
        .engine
        .import_package(&ctx, &bundle, &no_sample())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert_eq!(err.details()[0].field, "hash");
    assert!(t.engine.list_apps(&ctx).await.unwrap().is_empty());
    // Members may not install.
    let member = t.member(&ctx, Role::Member).await;
    let err = t
        .engine
        .install_package(&member, &builtin("crm").unwrap(), &no_sample())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
}

both_backends!(malformed_packages_name_the_file, malformed);

async fn tenant_parts_left_out(t: &TestDb) {
    let ctx = t.tenant("exporter").await.at(t0());
    let approver = t.member(&ctx, Role::Admin).await;
    let app = new_app(t, &ctx, "Purchasing").await;
    let other_app = new_app(t, &ctx, "Other").await;
    let vendors = t
        .engine
        .create_form(
            &ctx,
            other_app.id,
            json!({"name": "Vendors", "fields": [{"key": "name", "label": "N", "type": "text"}]}),
        )
        .await
        .unwrap();
    let orders = t
        .engine
        .create_form(
            &ctx,
            app.id,
            json!({"name": "Purchase orders", "fields": [
                {"key": "item", "label": "Item", "type": "text"},
                {"key": "vendor", "label": "Vendor", "type": "relation", "form_id": vendors.id.to_string()}]}),
        )
        .await
        .unwrap();
    t.engine
        .create_workflow(
            &ctx,
            orders.id,
            json!({"name": "PO approval", "nodes": [
                {"id": "start", "kind": "start"},
                {"id": "boss", "kind": "approve", "assignees": {"users": [approver.actor.to_string()]}, "mode": "any"},
                {"id": "end", "kind": "end"}],
              "edges": [{"from": "start", "to": "boss"}, {"from": "boss", "to": "end"}]}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let out = t.engine.export_app(&ctx, app.id).await.unwrap();
    let fields: Vec<&str> = out.warnings.iter().map(|w| w.field.as_str()).collect();
    assert!(
        fields.contains(&"forms/purchase_orders.json/vendor"),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"workflows/po_approval.json/nodes/boss/assignees/users"),
        "{fields:?}"
    );
    let files = out.package.files();
    assert_eq!(
        files["forms/purchase_orders.json"]["fields"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        files["workflows/po_approval.json"]["nodes"][1]["assignees"],
        json!({"initiator_manager": true})
    );
    assert!(
        !serde_json::to_string(&out.to_bundle())
            .unwrap()
            .contains(&approver.actor.to_string())
    );
    assert_eq!(out.to_bundle()["warnings"].as_array().unwrap().len(), 2);
    // And it installs elsewhere.
    let other = t.tenant("importer").await.at(t0());
    t.engine
        .import_package(&other, &out.to_bundle(), &no_sample())
        .await
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
}

both_backends!(tenant_parts_are_left_out_of_an_export, tenant_parts_left_out);

async fn queued_install(t: &TestDb) {
    let ctx = t.tenant("queued").await.at(t0());
    let job = t
        .engine
        .queue_template_install(&ctx, "crm", Some("排队的 CRM".into()), false)
        .await
        .unwrap();
    let status = t.engine.template_install_status(&ctx, job).await.unwrap();
    assert_eq!(serde_json::to_value(status.status).unwrap(), json!("pending"));
    assert!(status.app_id.is_none());
    let worker = job_worker(t);
    let status = tick_status(t, &worker, &ctx, job, 1).await;
    assert_eq!(
        serde_json::to_value(status.status).unwrap(),
        json!("succeeded"),
        "{status:?}"
    );
    let app = status.app_id.unwrap();
    assert_eq!(app.0, job.0);
    assert_eq!(status.result.unwrap()["forms"], json!(17));
    assert_eq!(t.engine.get_app(&ctx, app).await.unwrap().name, "排队的 CRM");

    // A second attempt with the same app id (a worker that died after the
    // install committed) answers the finished install and adds nothing.
    let before = rows(t, &ctx).await;
    let again = install(
        t,
        &ctx,
        &builtin("crm").unwrap(),
        &InstallOptions {
            app_id: Some(app),
            ..no_sample()
        },
    )
    .await;
    assert_eq!(again.app, app);
    assert_eq!(again.forms.len(), 17);
    assert_eq!(rows(t, &ctx).await, before);

    // Unknown templates and other tenants' jobs.
    let err = t
        .engine
        .queue_template_install(&ctx, "nope", None, false)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    let other = t.tenant("queued-other").await.at(t0());
    let err = t.engine.template_install_status(&other, job).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
}

both_backends!(queued_install_runs_once, queued_install);

/// A queued install acts with the role its member holds when it runs: an
/// admin demoted to member after queueing gets `forbidden`, and nothing of
/// the app is left.
async fn queued_install_uses_the_current_role(t: &TestDb) {
    let owner = t.tenant("demoted").await.at(t0());
    let admin = t.member(&owner, Role::Admin).await;
    let job = t
        .engine
        .queue_template_install(&admin, "crm", None, false)
        .await
        .unwrap();
    t.engine
        .update_member(
            &owner,
            admin.actor,
            serde_json::from_value(json!({"role": "member"})).unwrap(),
        )
        .await
        .unwrap();
    let before = rows(t, &owner).await;
    let worker = job_worker(t);
    let mut status = tick_status(t, &worker, &owner, job, 1).await;
    for hour in 1..=6 {
        if status.status == engine::jobs::JobStatus::Dead {
            break;
        }
        status = tick_status(t, &worker, &owner, job, hour * 3600).await;
    }
    assert_eq!(status.status, engine::jobs::JobStatus::Dead, "{status:?}");
    assert_eq!(
        status.error.as_ref().unwrap()["code"],
        json!("forbidden"),
        "{status:?}"
    );
    assert!(status.app_id.is_none());
    assert_eq!(rows(t, &owner).await, before);
}

both_backends!(queued_install_current_role, queued_install_uses_the_current_role);

/// Starts the install of `job`'s app and cuts it off once some forms exist,
/// as a worker that died mid-install would.
/// A job worker over the engine's job kinds.
fn job_worker(t: &TestDb) -> Worker {
    Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    )
}

/// Runs one scheduler tick `s` seconds after `t0` and answers the
/// install job's status.
async fn tick_status(
    t: &TestDb,
    worker: &Worker,
    ctx: &Ctx,
    job: engine::ids::JobId,
    s: i64,
) -> engine::template::job::InstallStatus {
    t.engine
        .scheduler_tick(worker, t0() + TimeDelta::seconds(s), TickOptions::default())
        .await
        .unwrap();
    t.engine.template_install_status(ctx, job).await.unwrap()
}

async fn cut_off_install(t: &TestDb, ctx: &Ctx, job: engine::ids::JobId) {
    let engine = t.engine.clone();
    let c = ctx.clone();
    let opts = InstallOptions {
        app_id: Some(engine::ids::AppId(job.0)),
        ..no_sample()
    };
    let task = tokio::spawn(async move { engine.install_package(&c, &builtin("crm").unwrap(), &opts).await });
    let mut forms = 0;
    for _ in 0..20_000 {
        forms = rows(t, ctx).await["forms"];
        if forms >= 3 || task.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    task.abort();
    assert!(
        !matches!(task.await, Ok(Ok(_))),
        "the install finished before it was cut off"
    );
    assert!(forms >= 3, "{forms}");
}

async fn interrupted_install(t: &TestDb) {
    use engine::store::entity::job as job_row;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
    let ctx = t.tenant("interrupted").await.at(t0());
    let before = rows(t, &ctx).await;
    let worker = job_worker(t);

    // A worker dies mid-install; the next attempt removes what it left,
    // the tags it created included, and installs once.
    let job = t
        .engine
        .queue_template_install(&ctx, "crm", None, false)
        .await
        .unwrap();
    cut_off_install(t, &ctx, job).await;
    let half = rows(t, &ctx).await;
    assert_eq!(half["apps"], 1);
    assert_eq!(half["tags"], 5, "{half:?}");
    let status = tick_status(t, &worker, &ctx, job, 1).await;
    assert_eq!(
        serde_json::to_value(status.status).unwrap(),
        json!("succeeded"),
        "{status:?}"
    );
    let done = rows(t, &ctx).await;
    assert_eq!(
        (done["apps"], done["forms"], done["tags"]),
        (1, 17, 5),
        "{done:?}"
    );

    // The last attempt is cut off (its worker's lease runs out): the job
    // goes dead and what the attempt left goes with it, the tags it
    // created too; the first tenant's app is untouched.
    let other = t.tenant("interrupted-2").await.at(t0());
    let before_other = rows(t, &other).await;
    let job = t
        .engine
        .queue_template_install(&other, "crm", None, false)
        .await
        .unwrap();
    cut_off_install(t, &other, job).await;
    assert_eq!(rows(t, &other).await["tags"], 5);
    let row = job_row::Entity::find_by_id(job.to_string())
        .one(t.engine.db().conn())
        .await
        .unwrap()
        .unwrap();
    let mut row: job_row::ActiveModel = row.into();
    row.status = Set("running".into());
    row.attempts = Set(engine::template::job::INSTALL_ATTEMPTS);
    row.locked_by = Set(Some("a worker that died".into()));
    row.locked_until = Set(Some(t0()));
    row.update(t.engine.db().conn()).await.unwrap();
    let status = tick_status(t, &worker, &other, job, 2).await;
    assert_eq!(
        serde_json::to_value(status.status).unwrap(),
        json!("dead"),
        "{status:?}"
    );
    assert_eq!(rows(t, &other).await, before_other);
    assert!(before.values().all(|n| *n == 0), "{before:?}");
    assert_eq!(rows(t, &ctx).await, done);
}

both_backends!(an_interrupted_install_leaves_nothing_behind, interrupted_install);

/// Sets a field's label in a form definition.
fn relabel(def: &mut Value, key: &str, label: &str) {
    for f in def["fields"].as_array_mut().unwrap() {
        if f["key"] == key {
            f["label"] = json!(label);
        }
    }
}

async fn upgrade(t: &TestDb) {
    let ctx = t.tenant("upgrader").await.at(t0());
    let crm = builtin("crm").unwrap();
    let app = install(t, &ctx, &crm, &no_sample()).await;
    let up = t.engine.plan_upgrade(&ctx, app.app, None).await.unwrap();
    assert!(up.up_to_date && up.changes.is_empty(), "{up:?}");

    // The tenant's edits: a label, a field of its own, a rule's description.
    let customers = app.form("customers");
    let mut def =
        serde_json::to_value(&t.engine.get_form(&ctx, customers).await.unwrap().definition).unwrap();
    relabel(&mut def, "phone", "手机 Mobile (ours)");
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "wechat", "label": "微信 WeChat", "type": "text"}));
    t.engine
        .update_form(&ctx, customers, def, UpdateFormOptions::default())
        .await
        .unwrap();
    let churn = t.engine.get_rule(&ctx, app.rules["churn_alert"]).await.unwrap();
    let mut rule = json!({"name": churn.name, "form_id": churn.form_id.to_string(), "enabled": churn.enabled,
                          "trigger": churn.trigger, "script": churn.script, "description": "ours"});
    if let Some(c) = &churn.condition {
        rule["condition"] = json!(c);
    }
    t.engine.update_rule(&ctx, churn.id, rule).await.unwrap();

    // Version 1.1.0 of the template.
    let mut files = crm.files().clone();
    files.get_mut("manifest.json").unwrap()["version"] = json!("1.1.0");
    files.get_mut("manifest.json").unwrap()["tags"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "新品偏好", "color": "#13c2c2"}));
    let form = files.get_mut("forms/customers.json").unwrap();
    relabel(form, "phone", "电话 Phone (v1.1)");
    relabel(form, "email", "电子邮箱 Email (v1.1)");
    let fields = form["fields"].as_array_mut().unwrap();
    let tier = fields.iter().position(|f| f["key"] == "tier").unwrap();
    fields.insert(
        tier + 1,
        json!({"key": "vip_since", "label": "VIP 起始 VIP since", "type": "date"}),
    );
    files.get_mut("rules/churn_alert.json").unwrap()["description"] = json!("v1.1");
    files.insert(
        "rules/birthday_coupon.rhai".into(),
        json!("// v1.1\nlog(\"birthday\");\n"),
    );
    files.insert(
        "rules/nps_follow_up.json".into(),
        json!({"key": "nps_follow_up", "name": "NPS 跟进 NPS follow-up", "form": "surveys",
               "trigger": {"kind": "record_created"}, "script_file": "nps_follow_up.rhai"}),
    );
    files.insert("rules/nps_follow_up.rhai".into(), json!("log(\"nps\");\n"));
    files.remove("views/dormant_customers.json");
    let v11 = Package::from_files(files);

    let plan = t.engine.plan_upgrade(&ctx, app.app, Some(&v11)).await.unwrap();
    assert_eq!(
        (plan.from_version.as_str(), plan.to_version.as_str()),
        ("1.0.0", "1.1.0")
    );
    assert!(!plan.up_to_date && !plan.applied);
    let outcome = |file: &str, field: Option<&str>| {
        plan.changes
            .iter()
            .find(|c| c.file == file && c.field.as_deref() == field)
            .map(|c| (c.change, c.outcome))
    };
    assert_eq!(
        outcome("forms/customers.json", Some("phone")),
        Some(("changed", "conflict"))
    );
    assert_eq!(
        outcome("forms/customers.json", Some("email")),
        Some(("changed", "apply"))
    );
    assert_eq!(
        outcome("forms/customers.json", Some("vip_since")),
        Some(("added", "apply"))
    );
    assert_eq!(outcome("forms/customers.json", Some("wechat")), None);
    assert_eq!(
        outcome("rules/churn_alert.json", None),
        Some(("changed", "conflict"))
    );
    assert_eq!(
        outcome("rules/birthday_coupon.json", None),
        Some(("changed", "apply"))
    );
    assert_eq!(
        outcome("rules/nps_follow_up.json", None),
        Some(("added", "apply"))
    );
    assert_eq!(
        outcome("views/dormant_customers.json", None),
        Some(("removed", "apply"))
    );
    assert_eq!(plan.conflicts.len(), 2, "{:?}", plan.conflicts);
    // Planning changed nothing.
    assert!(
        t.engine
            .list_rules(&ctx, app.app)
            .await
            .unwrap()
            .iter()
            .all(|r| !r.name.contains("NPS"))
    );

    let done = t.engine.apply_upgrade(&ctx, app.app, Some(&v11)).await.unwrap();
    assert!(done.applied);
    let after = t.engine.get_form(&ctx, customers).await.unwrap().definition;
    let label = |k: &str| after.fields.iter().find(|f| f.key == k).map(|f| f.label.clone());
    assert_eq!(label("phone").as_deref(), Some("手机 Mobile (ours)"));
    assert_eq!(label("email").as_deref(), Some("电子邮箱 Email (v1.1)"));
    assert_eq!(label("wechat").as_deref(), Some("微信 WeChat"));
    let keys: Vec<&str> = after.fields.iter().map(|f| f.key.as_str()).collect();
    let at = keys.iter().position(|k| *k == "vip_since").unwrap();
    assert_eq!(keys[at - 1], "tier", "{keys:?}");
    let rules = t.engine.list_rules(&ctx, app.app).await.unwrap();
    let by_name = |needle: &str| rules.iter().find(|r| r.name.contains(needle)).unwrap().clone();
    assert_eq!(by_name("流失").description, "ours");
    assert!(by_name("生日").script.unwrap().starts_with("// v1.1"));
    assert_eq!(by_name("NPS").form_id, app.form("surveys"));
    let views = t.engine.list_views(&ctx, customers).await.unwrap();
    assert!(
        views.iter().all(|v| !v.name.contains("沉睡")),
        "{:?}",
        views.iter().map(|v| &v.name).collect::<Vec<_>>()
    );
    assert!(
        t.engine
            .list_tags(&ctx)
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == "新品偏好")
    );

    // Upgraded: the same package again is up to date; the conflicts stay
    // measured against the old base, so a 1.2.0 that changes the phone
    // label again is still a conflict.
    let again = t.engine.plan_upgrade(&ctx, app.app, Some(&v11)).await.unwrap();
    assert!(again.up_to_date && again.changes.is_empty(), "{again:?}");
    let mut files = v11.files().clone();
    files.get_mut("manifest.json").unwrap()["version"] = json!("1.2.0");
    relabel(files.get_mut("forms/customers.json").unwrap(), "phone", "v1.2");
    relabel(
        files.get_mut("forms/customers.json").unwrap(),
        "vip_since",
        "v1.2",
    );
    let v12 = Package::from_files(files);
    let plan = t.engine.plan_upgrade(&ctx, app.app, Some(&v12)).await.unwrap();
    let outcome = |field: &str| {
        plan.changes
            .iter()
            .find(|c| c.field.as_deref() == Some(field))
            .map(|c| c.outcome)
    };
    assert_eq!(outcome("phone"), Some("conflict"));
    assert_eq!(outcome("vip_since"), Some("apply"));

    // Another template's package, or an app not from a template, is refused.
    let mut other = v12.files().clone();
    other.get_mut("manifest.json").unwrap()["key"] = json!("erp");
    let err = t
        .engine
        .plan_upgrade(&ctx, app.app, Some(&Package::from_files(other)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    let own = new_app(t, &ctx, "Own").await;
    let err = t.engine.plan_upgrade(&ctx, own.id, None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
}

both_backends!(upgrade_keeps_the_tenants_edits, upgrade);

async fn upgrade_edges(t: &TestDb) {
    let ctx = t.tenant("upgrade-edges").await.at(t0());
    let crm = builtin("crm").unwrap();
    let app = install(t, &ctx, &crm, &no_sample()).await;
    let customers = app.form("customers");

    // The tenant's edits: a relation to a form of another app, a form of its
    // own in the CRM app with a relation to it, the form's name, a form and
    // a rule deleted.
    let other = new_app(t, &ctx, "Purchasing").await;
    let suppliers = t
        .engine
        .create_form(
            &ctx,
            other.id,
            json!({"name": "Suppliers", "fields": [{"key": "name", "label": "Name", "type": "text"}]}),
        )
        .await
        .unwrap()
        .id;
    let partners = t
        .engine
        .create_form(
            &ctx,
            app.app,
            json!({"name": "Partners", "fields": [{"key": "name", "label": "Name", "type": "text"}]}),
        )
        .await
        .unwrap()
        .id;
    let mut def =
        serde_json::to_value(&t.engine.get_form(&ctx, customers).await.unwrap().definition).unwrap();
    def["name"] = json!("客户 Clients (ours)");
    let fields = def["fields"].as_array_mut().unwrap();
    let at = fields.iter().position(|f| f["key"] == "phone").unwrap();
    fields.insert(
        at + 1,
        json!({"key": "supplier", "label": "Supplier", "type": "relation", "form_id": suppliers.to_string()}),
    );
    fields.push(
        json!({"key": "partner", "label": "Partner", "type": "relation", "form_id": partners.to_string()}),
    );
    t.engine
        .update_form(&ctx, customers, def, UpdateFormOptions::default())
        .await
        .unwrap();
    t.engine.delete_form(&ctx, app.form("quotes")).await.unwrap();
    t.engine
        .delete_rule(&ctx, app.rules["dormant_wake_up"])
        .await
        .unwrap();

    // 1.1.0 changes the form's name and an email label, the deleted form,
    // and drops the deleted rule too.
    let mut files = crm.files().clone();
    files.get_mut("manifest.json").unwrap()["version"] = json!("1.1.0");
    let form = files.get_mut("forms/customers.json").unwrap();
    form["name"] = json!("客户 Customers (v1.1)");
    relabel(form, "email", "电子邮箱 Email (v1.1)");
    relabel(files.get_mut("forms/quotes.json").unwrap(), "amount", "v1.1");
    files.remove("rules/dormant_wake_up.json");
    files.remove("rules/dormant_wake_up.rhai");
    let v11 = Package::from_files(files);
    let plan = t.engine.plan_upgrade(&ctx, app.app, Some(&v11)).await.unwrap();
    let outcome = |plan: &engine::template::UpgradePlan, file: &str, field: Option<&str>| {
        plan.changes
            .iter()
            .find(|c| c.file == file && c.field.as_deref() == field)
            .map(|c| (c.change, c.outcome))
    };
    assert_eq!(
        outcome(&plan, "forms/customers.json", Some("name")),
        Some(("changed", "conflict"))
    );
    assert_eq!(
        outcome(&plan, "forms/quotes.json", None),
        Some(("changed", "conflict")),
        "a deleted form the template changed is listed: {:?}",
        plan.changes
    );
    assert_eq!(
        outcome(&plan, "rules/dormant_wake_up.json", None),
        Some(("removed", "same")),
        "both removed it"
    );
    let done = t.engine.apply_upgrade(&ctx, app.app, Some(&v11)).await.unwrap();
    assert!(done.applied);
    let after = t.engine.get_form(&ctx, customers).await.unwrap().definition;
    assert_eq!(after.name, "客户 Clients (ours)");
    let keys: Vec<&str> = after.fields.iter().map(|f| f.key.as_str()).collect();
    let at = keys
        .iter()
        .position(|k| *k == "supplier")
        .expect("the cross-app relation stays");
    assert_eq!(keys[at - 1], "phone", "{keys:?}");
    assert!(keys.contains(&"partner"), "{keys:?}");
    let field = |k: &str| after.fields.iter().find(|f| f.key == k).unwrap().clone();
    assert_eq!(field("email").label, "电子邮箱 Email (v1.1)");
    let rel = |k: &str| serde_json::to_value(field(k)).unwrap()["form_id"].clone();
    assert_eq!(rel("supplier"), json!(suppliers.to_string()));
    assert_eq!(rel("partner"), json!(partners.to_string()));
    assert!(
        t.engine.get_form(&ctx, app.form("quotes")).await.is_err(),
        "stays deleted"
    );

    // The form name stays the tenant's edit at the next upgrade too.
    let mut files = v11.files().clone();
    files.get_mut("manifest.json").unwrap()["version"] = json!("1.2.0");
    files.get_mut("forms/customers.json").unwrap()["name"] = json!("客户 Customers (v1.2)");
    let v12 = Package::from_files(files);
    let plan = t.engine.plan_upgrade(&ctx, app.app, Some(&v12)).await.unwrap();
    assert_eq!(
        outcome(&plan, "forms/customers.json", Some("name")),
        Some(("changed", "conflict"))
    );
}

both_backends!(upgrade_keeps_relations_deletions_and_conflicts, upgrade_edges);

async fn records_round_trip(t: &TestDb) {
    let a_ctx = t.tenant("with-data").await.at(t0());
    let a = install(
        t,
        &a_ctx,
        &builtin("crm").unwrap(),
        &InstallOptions {
            sample_data: true,
            sample_scale: 0.05,
            ..no_sample()
        },
    )
    .await;
    assert!(a.records > 50, "{}", a.records);
    let first = t.engine.export_app_with(&a_ctx, a.app, true).await.unwrap();
    let records = first.package.files()["sample/records.json"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(records.len(), a.records);
    assert_eq!(
        first.package.files()["manifest.json"]["sample"],
        json!("sample/records.json")
    );
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(&a_ctx.actor.to_string()), "members are `@owner`");
    assert!(text.contains("\"@owner\""));
    assert!(!text.contains(&a.form("customers").to_string()));

    let b_ctx = t.tenant("with-data-copy").await.at(t0());
    let opts = InstallOptions {
        sample_data: true,
        ..no_sample()
    };
    let b = t
        .engine
        .import_package(&b_ctx, &first.to_bundle(), &opts)
        .await
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_eq!(b.records, a.records);
    // Relations point at tenant B's own records.
    let contacts = t
        .engine
        .query_records(&b_ctx, b.form("contacts"), QueryRequest::default(), false)
        .await
        .unwrap()
        .records;
    assert!(!contacts.is_empty());
    for c in &contacts {
        let customer = c.data["customer"].as_str().unwrap().parse().unwrap();
        t.engine
            .get_record(&b_ctx, b.form("customers"), customer)
            .await
            .unwrap();
    }
    let second = t.engine.export_app_with(&b_ctx, b.app, true).await.unwrap();
    assert_eq!(
        second.package.files()["sample/records.json"],
        first.package.files()["sample/records.json"]
    );
    assert_eq!(second.package.hash(), first.package.hash());
}

both_backends!(export_with_records_round_trip, records_round_trip);

/// A package directory: hidden files are skipped, a symbolic link is
/// refused naming it, and writing a package never leaves its directory.
#[test]
fn package_directories_stay_inside_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("pkg");
    builtin("crm").unwrap().write_dir(&root).unwrap();
    std::fs::write(root.join(".DS_Store"), [0u8, 1, 2]).unwrap();
    std::fs::write(root.join("forms/.customers.json.swp"), "not json").unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/HEAD"), "ref: x").unwrap();
    let read = Package::from_dir(&root).unwrap();
    assert_eq!(read.hash(), builtin("crm").unwrap().hash());

    let outside = dir.path().join("secret.json");
    std::fs::write(&outside, "{}").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, root.join("views/linked.json")).unwrap();
        let err = Package::from_dir(&root).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValidationFailed);
        assert_eq!(err.details()[0].field, "views/linked.json", "{err}");
        std::fs::remove_file(root.join("views/linked.json")).unwrap();
    }
    let missing = Package::from_dir(&dir.path().join("nope")).unwrap_err();
    assert_eq!(missing.code(), ErrorCode::ValidationFailed, "{missing}");

    for bad in [
        "../escaped.json",
        "/abs.json",
        "forms/../../x.json",
        "a\\..\\b.json",
        "",
    ] {
        let mut files = builtin("crm").unwrap().files().clone();
        files.insert(bad.to_owned(), json!({}));
        let target = dir.path().join(format!("out-{}", bad.len()));
        let err = Package::from_files(files).write_dir(&target).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValidationFailed, "{bad}");
        assert_eq!(err.details()[0].field, bad);
        assert!(!target.exists(), "{bad}: nothing is written");
    }
    assert!(!dir.path().join("escaped.json").exists());
}

/// Records that name a record exported after them (a customer's first
/// order, where orders come after customers) and multi-member values keep
/// those values through export and import: the relation points at the
/// importing tenant's own record, the exporter becomes the importer.
async fn forward_relations_and_member_lists_round_trip(t: &TestDb) {
    let ctx = t.tenant("forward").await.at(t0());
    let colleague = t.member(&ctx, Role::Member).await;
    let app = new_app(t, &ctx, "Shop").await;
    let customers = t
        .engine
        .create_form(
            &ctx,
            app.id,
            json!({"name": "Customers", "fields": [{"key": "name", "label": "N", "type": "text"}]}),
        )
        .await
        .unwrap();
    let orders = t
        .engine
        .create_form(
            &ctx,
            app.id,
            json!({"name": "Orders", "fields": [
                {"key": "item", "label": "Item", "type": "text"},
                {"key": "customer", "label": "Customer", "type": "relation", "form_id": customers.id.to_string()},
                {"key": "handlers", "label": "Handlers", "type": "member", "multiple": true}]}),
        )
        .await
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let mut def = serde_json::to_value(&customers.definition).unwrap();
    def["fields"].as_array_mut().unwrap().push(
        json!({"key": "first_order", "label": "First order", "type": "relation", "form_id": orders.id.to_string()}),
    );
    t.engine
        .update_form(&ctx, customers.id, def, UpdateFormOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let create = |form, data: Value| {
        let engine = t.engine.clone();
        let ctx = ctx.clone();
        async move {
            engine
                .create_record(
                    &ctx,
                    form,
                    RecordInput {
                        data: data.as_object().unwrap().clone(),
                    },
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("{e} {:?}", e.details()))
        }
    };
    let ann = create(customers.id, json!({"name": "Ann"})).await;
    let order = create(
        orders.id,
        json!({"item": "tea", "customer": ann.id.to_string(),
               "handlers": [colleague.actor.to_string(), ctx.actor.to_string()]}),
    )
    .await;
    let mut patch = Map::new();
    patch.insert("first_order".into(), json!(order.id.to_string()));
    t.engine
        .update_record(&ctx, customers.id, ann.id, patch, None)
        .await
        .unwrap();

    let out = t.engine.export_app_with(&ctx, app.id, true).await.unwrap();
    let records = &out.package.files()["sample/records.json"];
    assert_eq!(records[0]["data"]["first_order"], json!("orders-1"), "{records}");
    assert_eq!(records[1]["data"]["handlers"], json!(["@owner"]), "{records}");
    let warned: Vec<&str> = out.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        warned.iter().any(|m| m.starts_with("1 member values")),
        "{warned:?}"
    );
    assert!(!warned.iter().any(|m| m.contains("later record")), "{warned:?}");

    let other = t.tenant("forward-copy").await.at(t0());
    let b = t
        .engine
        .import_package(
            &other,
            &out.to_bundle(),
            &InstallOptions {
                sample_data: true,
                ..no_sample()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let b_ann = t
        .engine
        .get_record(&other, b.form("customers"), b.ids["customers-1"])
        .await
        .unwrap();
    assert_eq!(b_ann.data["first_order"], json!(b.id("orders-1")));
    let b_order = t
        .engine
        .get_record(&other, b.form("orders"), b.ids["orders-1"])
        .await
        .unwrap();
    assert_eq!(b_order.data["customer"], json!(b.id("customers-1")));
    assert_eq!(b_order.data["handlers"], json!([other.actor.to_string()]));
}

both_backends!(
    forward_relations_round_trip,
    forward_relations_and_member_lists_round_trip
);

/// Issue acceptance: a tenant adds a field to its customers form, edits a
/// rule and deletes a form; a second tenant's CRM and the template are
/// unchanged; the edited app exported and imported into a third tenant is
/// the same app.
async fn edits_stay_in_their_tenant(t: &TestDb) {
    let crm = builtin("crm").unwrap();
    let template_hash = crm.hash();
    let a_ctx = t.tenant("edits-a").await.at(t0());
    let b_ctx = t.tenant("edits-b").await.at(t0());
    let a = install(t, &a_ctx, &crm, &no_sample()).await;
    let b = install(t, &b_ctx, &crm, &no_sample()).await;
    let b_before = t.engine.export_app(&b_ctx, b.app).await.unwrap();

    // Tenant A's edits.
    let customers = a.form("customers");
    let mut def =
        serde_json::to_value(&t.engine.get_form(&a_ctx, customers).await.unwrap().definition).unwrap();
    def["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "wechat", "label": "微信 WeChat", "type": "text"}));
    t.engine
        .update_form(&a_ctx, customers, def, UpdateFormOptions::default())
        .await
        .unwrap();
    let rule = t
        .engine
        .get_rule(&a_ctx, a.rules["birthday_coupon"])
        .await
        .unwrap();
    let script = format!("log(\"ours\");\n{}", rule.script.clone().unwrap());
    let mut edited = json!({"name": rule.name, "form_id": rule.form_id.to_string(), "enabled": rule.enabled,
                            "trigger": rule.trigger, "script": script});
    if let Some(c) = &rule.condition {
        edited["condition"] = json!(c);
    }
    t.engine.update_rule(&a_ctx, rule.id, edited).await.unwrap();
    t.engine.delete_form(&a_ctx, a.form("quotes")).await.unwrap();

    // The template and tenant B did not move.
    assert_eq!(
        builtin("crm").unwrap().hash(),
        template_hash,
        "the embedded template"
    );
    let b_after = t.engine.export_app(&b_ctx, b.app).await.unwrap();
    assert_eq!(b_after.package.hash(), b_before.package.hash(), "tenant B's app");
    let b_customers = t.engine.get_form(&b_ctx, b.form("customers")).await.unwrap();
    assert!(!b_customers.definition.fields.iter().any(|f| f.key == "wechat"));
    assert!(t.engine.get_form(&b_ctx, b.form("quotes")).await.is_ok());
    let b_rule = t
        .engine
        .get_rule(&b_ctx, b.rules["birthday_coupon"])
        .await
        .unwrap();
    assert_eq!(
        b_rule.script, rule.script,
        "tenant B's rule keeps the template's script"
    );

    // Tenant A's export carries the edits; imported into C it is the same app.
    let first = t.engine.export_app(&a_ctx, a.app).await.unwrap();
    let files = first.package.files();
    assert!(
        !files.contains_key("forms/quotes.json"),
        "the deleted form is not exported"
    );
    assert!(
        files["forms/customers.json"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "wechat")
    );
    assert!(
        files["rules/birthday_coupon.rhai"]
            .as_str()
            .unwrap()
            .starts_with("log(\"ours\");")
    );
    let c_ctx = t.tenant("edits-c").await.at(t0());
    let c = t
        .engine
        .import_package(&c_ctx, &first.to_bundle(), &no_sample())
        .await
        .unwrap_or_else(|e| panic!("import: {e} {:?}", e.details()));
    assert_eq!(c.forms.len(), a.forms.len() - 1);
    let second = t.engine.export_app(&c_ctx, c.app).await.unwrap();
    common::assert_same_package(&first.package, &second.package);
}

both_backends!(tenant_edits_stay_in_their_tenant, edits_stay_in_their_tenant);
