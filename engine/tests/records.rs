//! Record use cases on real SQLite and real PostgreSQL.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::TestDb;
use engine::ctx::Ctx;
use engine::error::{ErrorCode, HasCode};
use engine::ids::{AppId, FormId};
use engine::meta::app::AppInput;
use engine::meta::form::UpdateFormOptions;
use engine::meta::tag::TagInput;
use engine::record::RecordInput;
use serde_json::{Map, Value, json};

fn data(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn input(v: Value) -> RecordInput {
    RecordInput { data: data(v) }
}

async fn app(db: &TestDb, ctx: &Ctx) -> AppId {
    db.engine
        .create_app(
            ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .expect("app")
        .id
}

async fn customers(db: &TestDb, ctx: &Ctx) -> FormId {
    let app = app(db, ctx).await;
    let def = json!({
        "name": "Customers",
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 50},
            {"key": "email", "label": "Email", "type": "email", "unique": true},
            {"key": "tier", "label": "Tier", "type": "select", "indexed": true,
             "options": [{"value": "VIP", "label": "VIP", "color": "#ff0000"}, {"value": "普通", "label": "普通", "color": "#888888"}]},
            {"key": "total_spent", "label": "Total spent", "type": "number", "min": 0, "default": {"value": 0}},
            {"key": "code", "label": "Code", "type": "serial", "pattern": "KH-{yyyy}{seq:5}"},
            {"key": "double_spent", "label": "Double", "type": "formula", "expr": "record.total_spent * 2"}
        ]
    });
    db.engine.create_form(ctx, app, def).await.expect("form").id
}

async fn create_read_update(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let r = db
        .engine
        .create_record(
            &ctx,
            form,
            input(json!({"name": "Ann", "total_spent": 120})),
            None,
        )
        .await
        .expect("create");
    assert_eq!(r.version, 1);
    assert_eq!(r.data["double_spent"], json!(240));
    assert!(r.data["code"].as_str().expect("serial").starts_with("KH-"));
    assert!(r.data["code"].as_str().expect("serial").ends_with("00001"));
    let got = db.engine.get_record(&ctx, form, r.id).await.expect("get");
    assert_eq!(got.data, r.data);

    let u = db
        .engine
        .update_record(&ctx, form, r.id, data(json!({"total_spent": 10})), Some(1))
        .await
        .expect("update");
    assert_eq!(u.version, 2);
    assert_eq!(u.data["double_spent"], json!(20));
    assert_eq!(u.data["name"], json!("Ann"));

    let stale = db
        .engine
        .update_record(&ctx, form, r.id, data(json!({"total_spent": 11})), Some(1))
        .await;
    assert_eq!(stale.expect_err("stale").code(), ErrorCode::VersionMismatch);

    let history = db.engine.record_history(&ctx, form, r.id).await.expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].changes["total_spent"], json!({"from": 120, "to": 10}));
    // The create row shows the first values, rebuilt from later changes.
    assert_eq!(history[0].action, "create");
    assert_eq!(
        history[0].changes["total_spent"],
        json!({"from": null, "to": 120})
    );
    assert_eq!(history[0].changes["name"], json!({"from": null, "to": "Ann"}));
}
both_backends!(create_read_update_t, create_read_update);

async fn bad_input(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"total_spent": "lots"})), None)
        .await
        .expect_err("bad");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    let fields: Vec<String> = e.details().into_iter().map(|d| d.field).collect();
    assert!(fields.contains(&"total_spent".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"name".to_owned()),
        "missing required: {fields:?}"
    );

    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "x", "nope": 1})), None)
        .await
        .expect_err("unknown");
    assert_eq!(e.details()[0].field, "nope");

    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "x".repeat(51)})), None)
        .await
        .expect_err("long");
    assert_eq!(e.details()[0].field, "name");

    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "x", "code": "KH-1"})), None)
        .await
        .expect_err("computed");
    assert_eq!(e.details()[0].field, "code");

    let big = "x".repeat(1024 * 1024 + 10);
    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": big})), None)
        .await
        .expect_err("too big");
    assert_eq!(e.code(), ErrorCode::PayloadTooLarge);

    let sql = "Robert'); DROP TABLE records;--";
    let r = db
        .engine
        .create_record(&ctx, form, input(json!({"name": sql})), None)
        .await
        .expect("verbatim");
    assert_eq!(
        db.engine.get_record(&ctx, form, r.id).await.expect("get").data["name"],
        json!(sql)
    );
}
both_backends!(bad_input_t, bad_input);

async fn unique_is_enforced(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let a = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A", "email": "a@x.com"})), None)
        .await
        .expect("a");
    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "B", "email": "a@x.com"})), None)
        .await
        .expect_err("dup");
    assert_eq!(e.code(), ErrorCode::DuplicateValue);
    assert_eq!(e.details()[0].field, "email");
    // Deleting frees the value; restoring while it is taken again is refused.
    db.engine
        .delete_record(&ctx, form, a.id, None)
        .await
        .expect("delete");
    db.engine
        .create_record(&ctx, form, input(json!({"name": "B", "email": "a@x.com"})), None)
        .await
        .expect("b");
    let e = db
        .engine
        .restore_record(&ctx, form, a.id)
        .await
        .expect_err("restore dup");
    assert_eq!(e.code(), ErrorCode::DuplicateValue);
}
both_backends!(unique_is_enforced_t, unique_is_enforced);

async fn recycle_bin(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let r = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A"})), None)
        .await
        .expect("a");
    let e = db.engine.purge_record(&ctx, form, r.id).await.expect_err("live");
    assert_eq!(e.code(), ErrorCode::Conflict);
    db.engine
        .delete_record(&ctx, form, r.id, None)
        .await
        .expect("delete");
    assert_eq!(
        db.engine
            .get_record(&ctx, form, r.id)
            .await
            .expect_err("gone")
            .code(),
        ErrorCode::NotFound
    );
    let restored = db.engine.restore_record(&ctx, form, r.id).await.expect("restore");
    assert_eq!(restored.version, 3);
    db.engine
        .delete_record(&ctx, form, r.id, None)
        .await
        .expect("delete");
    db.engine.purge_record(&ctx, form, r.id).await.expect("purge");
    assert_eq!(
        db.engine
            .record_history(&ctx, form, r.id)
            .await
            .expect_err("purged")
            .code(),
        ErrorCode::NotFound
    );
}
both_backends!(recycle_bin_t, recycle_bin);

async fn batch_is_all_or_nothing(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let items = vec![
        input(json!({"name": "A"})),
        input(json!({"total_spent": -1})),
        input(json!({"name": "C"})),
    ];
    let e = db
        .engine
        .batch_create_records(&ctx, form, items)
        .await
        .expect_err("bad item");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    assert!(
        e.details().iter().any(|d| d.field == "1/total_spent"),
        "{:?}",
        e.details()
    );
    let page = db
        .engine
        .query_records(&ctx, form, Default::default(), false)
        .await
        .expect("list");
    assert!(page.records.is_empty(), "nothing written");

    let items: Vec<_> = (0..300)
        .map(|i| input(json!({"name": format!("n{i}")})))
        .collect();
    let made = db
        .engine
        .batch_create_records(&ctx, form, items)
        .await
        .expect("batch");
    assert_eq!(made.len(), 300);
    let codes: std::collections::BTreeSet<_> = made.iter().map(|r| r.data["code"].to_string()).collect();
    assert_eq!(codes.len(), 300, "serials are distinct");
    let too_many: Vec<_> = (0..1001).map(|_| input(json!({"name": "x"}))).collect();
    let e = db
        .engine
        .batch_create_records(&ctx, form, too_many)
        .await
        .expect_err("over limit");
    assert_eq!(e.code(), ErrorCode::PayloadTooLarge);
}
both_backends!(batch_is_all_or_nothing_t, batch_is_all_or_nothing);

async fn serials_are_gap_free_under_concurrency(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (engine, ctx) = (db.engine.clone(), ctx.clone());
        // Every fourth write fails validation after nothing was reserved.
        let body = if i % 4 == 0 {
            json!({"total_spent": -5})
        } else {
            json!({"name": format!("c{i}")})
        };
        tasks.push(tokio::spawn(async move {
            engine.create_record(&ctx, form, input(body), None).await
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await.expect("join") {
            codes.push(r.data["code"].as_str().expect("code").to_owned());
        }
    }
    codes.sort();
    let seqs: Vec<u32> = codes
        .iter()
        .map(|c| c[c.len() - 5..].parse().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
}
both_backends!(serials_gap_free_t, serials_are_gap_free_under_concurrency);

async fn idempotent_create(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let key = Some("req-1".to_owned());
    let a = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A"})), key.clone())
        .await
        .expect("first");
    let b = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A"})), key.clone())
        .await
        .expect("replay");
    assert_eq!(a.id, b.id);
    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "B"})), key)
        .await
        .expect_err("reused");
    assert_eq!(e.code(), ErrorCode::IdempotencyKeyReused);
    let page = db
        .engine
        .query_records(&ctx, form, Default::default(), false)
        .await
        .expect("list");
    assert_eq!(page.records.len(), 1);
}
both_backends!(idempotent_create_t, idempotent_create);

async fn removed_field_keeps_data(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let r = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A", "email": "a@x.com"})), None)
        .await
        .expect("a");
    let mut def =
        serde_json::to_value(db.engine.get_form(&ctx, form).await.expect("form").definition).expect("json");
    let fields = def["fields"].as_array().expect("fields").clone();
    let without: Vec<Value> = fields.iter().filter(|f| f["key"] != "email").cloned().collect();
    def["fields"] = json!(without);
    def.as_object_mut().expect("obj").remove("removed_fields");
    let v2 = db
        .engine
        .update_form(&ctx, form, def.clone(), UpdateFormOptions::default())
        .await
        .expect("v2");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.definition.removed_fields[0].key, "email");
    let hidden = db.engine.get_record(&ctx, form, r.id).await.expect("get");
    assert!(!hidden.data.contains_key("email"));
    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "B", "email": "b@x.com"})), None)
        .await
        .expect_err("gone");
    assert_eq!(e.details()[0].field, "email");
    def["fields"] = json!(fields);
    db.engine
        .update_form(&ctx, form, def, UpdateFormOptions::default())
        .await
        .expect("v3");
    let back = db.engine.get_record(&ctx, form, r.id).await.expect("get");
    assert_eq!(back.data["email"], json!("a@x.com"));
    let versions = db.engine.form_versions(&ctx, form).await.expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
}
both_backends!(removed_field_keeps_data_t, removed_field_keeps_data);

async fn type_change_refused_or_converted(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let app = app(db, &ctx).await;
    let def = json!({"name": "T", "fields": [{"key": "amount", "label": "Amount", "type": "text"}]});
    let form = db.engine.create_form(&ctx, app, def).await.expect("form").id;
    let ok = db
        .engine
        .create_record(&ctx, form, input(json!({"amount": "1,200"})), None)
        .await
        .expect("a");
    let bad = db
        .engine
        .create_record(&ctx, form, input(json!({"amount": "many"})), None)
        .await
        .expect("b");
    let to_number = json!({"name": "T", "fields": [{"key": "amount", "label": "Amount", "type": "number"}]});
    let e = db
        .engine
        .update_form(&ctx, form, to_number.clone(), UpdateFormOptions::default())
        .await
        .expect_err("refused");
    assert_eq!(e.code(), ErrorCode::IncompatibleChange);
    assert!(e.to_string().contains("2 record(s)"), "{e}");
    let e = db
        .engine
        .update_form(&ctx, form, to_number.clone(), UpdateFormOptions { convert: true })
        .await
        .expect_err("not all convert");
    assert!(e.to_string().contains(&bad.id.to_string()), "{e}");
    assert_eq!(
        db.engine.get_form(&ctx, form).await.expect("form").version,
        1,
        "nothing changed"
    );
    db.engine
        .purge_record(&ctx, form, bad.id)
        .await
        .expect_err("live");
    db.engine
        .delete_record(&ctx, form, bad.id, None)
        .await
        .expect("delete");
    db.engine.purge_record(&ctx, form, bad.id).await.expect("purge");
    let v2 = db
        .engine
        .update_form(&ctx, form, to_number, UpdateFormOptions { convert: true })
        .await
        .expect("converted");
    assert_eq!(v2.version, 2);
    let r = db.engine.get_record(&ctx, form, ok.id).await.expect("get");
    assert_eq!(r.data["amount"].as_f64(), Some(1200.0));
    let h = db
        .engine
        .record_history(&ctx, form, ok.id)
        .await
        .expect("history");
    assert_eq!(h.last().expect("row").changes["amount"]["from"], json!("1,200"));
}
both_backends!(type_change_t, type_change_refused_or_converted);

async fn references_stay_in_tenant(db: &TestDb) {
    let acme = db.tenant("acme").await;
    let other = db.tenant("other").await;
    let acme_customers = customers(db, &acme).await;
    let other_customers = customers(db, &other).await;
    let theirs = db
        .engine
        .create_record(&other, other_customers, input(json!({"name": "Z"})), None)
        .await
        .expect("z");
    let mine = db
        .engine
        .create_record(&acme, acme_customers, input(json!({"name": "A"})), None)
        .await
        .expect("a");
    let app = app(db, &acme).await;
    let def = json!({"name": "Orders", "fields": [
        {"key": "customer", "label": "Customer", "type": "relation", "form_id": acme_customers.to_string()},
        {"key": "owner", "label": "Owner", "type": "member"}
    ]});
    let orders = db.engine.create_form(&acme, app, def).await.expect("orders").id;
    db.engine
        .create_record(
            &acme,
            orders,
            input(json!({"customer": mine.id.to_string(), "owner": acme.actor.to_string()})),
            None,
        )
        .await
        .expect("ok refs");
    let e = db
        .engine
        .create_record(
            &acme,
            orders,
            input(json!({"customer": theirs.id.to_string()})),
            None,
        )
        .await
        .expect_err("foreign");
    assert_eq!(e.details()[0].field, "customer");
    let e = db
        .engine
        .create_record(
            &acme,
            orders,
            input(json!({"owner": other.actor.to_string()})),
            None,
        )
        .await
        .expect_err("foreign member");
    assert_eq!(e.details()[0].field, "owner");
    // Another tenant's form and record are simply not found.
    assert_eq!(
        db.engine
            .get_form(&acme, other_customers)
            .await
            .expect_err("nf")
            .code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        db.engine
            .get_record(&acme, other_customers, theirs.id)
            .await
            .expect_err("nf")
            .code(),
        ErrorCode::NotFound
    );
    // A relation to another tenant's form is refused at design time.
    let def = json!({"name": "X", "fields": [{"key": "c", "label": "C", "type": "relation", "form_id": other_customers.to_string()}]});
    assert_eq!(
        db.engine
            .create_form(&acme, app, def)
            .await
            .expect_err("foreign form")
            .code(),
        ErrorCode::ValidationFailed
    );
}
both_backends!(references_stay_in_tenant_t, references_stay_in_tenant);

async fn tags_on_records(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    db.engine
        .create_tag(
            &ctx,
            TagInput {
                name: "VIP".into(),
                color: Some("#ff0000".into()),
                description: String::new(),
            },
        )
        .await
        .expect("tag");
    let e = db
        .engine
        .create_tag(
            &ctx,
            TagInput {
                name: "VIP".into(),
                color: None,
                description: String::new(),
            },
        )
        .await
        .expect_err("dup");
    assert_eq!(e.code(), ErrorCode::Conflict);
    let r = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A"})), None)
        .await
        .expect("a");
    let t = db
        .engine
        .add_record_tag(&ctx, form, r.id, "VIP")
        .await
        .expect("tag");
    assert_eq!(t.tags, vec!["VIP".to_owned()]);
    let t = db
        .engine
        .add_record_tag(&ctx, form, r.id, "VIP")
        .await
        .expect("again");
    assert_eq!(t.tags.len(), 1);
    let t = db
        .engine
        .remove_record_tag(&ctx, form, r.id, "VIP")
        .await
        .expect("untag");
    assert!(t.tags.is_empty());
    let e = db
        .engine
        .add_record_tag(&ctx, form, r.id, "nope")
        .await
        .expect_err("no tag");
    assert_eq!(e.code(), ErrorCode::NotFound);
}
both_backends!(tags_on_records_t, tags_on_records);

async fn login_and_tokens(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let out = db
        .engine
        .login("acme", "owner@acme.test", "password123")
        .await
        .expect("login");
    let back = db.engine.authenticate(&out.token).await.expect("auth");
    assert_eq!(back.tenant, ctx.tenant);
    assert_eq!(
        db.engine
            .login("acme", "owner@acme.test", "wrong-pass")
            .await
            .expect_err("bad")
            .code(),
        ErrorCode::Unauthorized
    );
    assert_eq!(
        db.engine
            .login("nope", "owner@acme.test", "password123")
            .await
            .expect_err("bad")
            .code(),
        ErrorCode::Unauthorized
    );
    db.engine.logout(&back, &out.token).await.expect("logout");
    assert_eq!(
        db.engine
            .authenticate(&out.token)
            .await
            .expect_err("revoked")
            .code(),
        ErrorCode::Unauthorized
    );
}
both_backends!(login_and_tokens_t, login_and_tokens);

async fn relation_titles_expand(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let customers = customers(db, &ctx).await;
    let ann = db
        .engine
        .create_record(&ctx, customers, input(json!({"name": "Ann"})), None)
        .await
        .expect("ann");
    let app = app(db, &ctx).await;
    let def = json!({"name": "Orders", "fields": [
        {"key": "customer", "label": "Customer", "type": "relation", "form_id": customers.to_string()},
        {"key": "amount", "label": "Amount", "type": "number"}
    ]});
    let orders = db.engine.create_form(&ctx, app, def).await.expect("orders").id;
    for i in 0..3 {
        db.engine
            .create_record(
                &ctx,
                orders,
                input(json!({"customer": ann.id.to_string(), "amount": i})),
                None,
            )
            .await
            .expect("order");
    }
    db.engine
        .create_record(&ctx, orders, input(json!({"amount": 9})), None)
        .await
        .expect("no customer");
    let req = engine::query::QueryRequest {
        expand: vec!["customer".into()],
        ..Default::default()
    };
    let page = db
        .engine
        .query_records(&ctx, orders, req, false)
        .await
        .expect("page");
    let titled: Vec<_> = page
        .records
        .iter()
        .filter_map(|r| r.expanded.as_ref())
        .map(|e| e["customer"].clone())
        .collect();
    assert_eq!(titled.len(), 4);
    assert_eq!(titled.iter().filter(|t| t["title"] == json!("Ann")).count(), 3);
    let bad = engine::query::QueryRequest {
        expand: vec!["amount".into()],
        ..Default::default()
    };
    let e = db
        .engine
        .query_records(&ctx, orders, bad, false)
        .await
        .expect_err("not a relation");
    assert_eq!(e.code(), ErrorCode::InvalidQuery);
}
both_backends!(relation_titles_expand_t, relation_titles_expand);

async fn deleting_an_app_hides_its_forms(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let r = db
        .engine
        .create_record(&ctx, form, input(json!({"name": "A"})), None)
        .await
        .expect("a");
    let app = db.engine.get_form(&ctx, form).await.expect("form").app_id;
    db.engine.delete_app(&ctx, app).await.expect("delete app");
    assert_eq!(
        db.engine.get_form(&ctx, form).await.expect_err("gone").code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        db.engine
            .get_record(&ctx, form, r.id)
            .await
            .expect_err("gone")
            .code(),
        ErrorCode::NotFound
    );
}
both_backends!(deleting_an_app_hides_its_forms_t, deleting_an_app_hides_its_forms);

async fn concurrent_creates_fail_alone(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (engine, ctx) = (db.engine.clone(), ctx.clone());
        // Creates 0, 8 and 16 all claim the same unique email.
        let email = if i % 8 == 0 {
            "same@x.com".to_owned()
        } else {
            format!("c{i}@x.com")
        };
        let body = json!({"name": format!("c{i}"), "email": email});
        tasks.push(tokio::spawn(async move {
            engine.create_record(&ctx, form, input(body), None).await
        }));
    }
    let (mut ok, mut dup) = (0, 0);
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::DuplicateValue, "{e}");
                dup += 1;
            }
        }
    }
    assert_eq!((ok, dup), (22, 2));
    let page = db
        .engine
        .query_records(&ctx, form, Default::default(), false)
        .await
        .expect("list");
    assert_eq!(page.records.len(), 22);
}
both_backends!(concurrent_creates_fail_alone_t, concurrent_creates_fail_alone);

async fn unknown_key_does_not_hide_other_faults(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let e = db
        .engine
        .create_record(&ctx, form, input(json!({"total_spent": "lots", "nope": 1})), None)
        .await
        .expect_err("both");
    let fields: Vec<String> = e.details().into_iter().map(|d| d.field).collect();
    for f in ["nope", "total_spent", "name"] {
        assert!(fields.contains(&f.to_owned()), "{f} missing from {fields:?}");
    }
}
both_backends!(
    unknown_key_does_not_hide_other_faults_t,
    unknown_key_does_not_hide_other_faults
);

async fn batch_names_the_items_that_clash(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    db.engine
        .create_record(
            &ctx,
            form,
            input(json!({"name": "A", "email": "taken@x.com"})),
            None,
        )
        .await
        .expect("a");
    let items = vec![
        input(json!({"name": "B", "email": "b@x.com"})),
        input(json!({"name": "C", "email": "taken@x.com"})),
        input(json!({"name": "D", "email": "b@x.com"})),
        input(json!({"name": "E", "email": "e@x.com"})),
    ];
    let e = db
        .engine
        .batch_create_records(&ctx, form, items)
        .await
        .expect_err("clashes");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    let fields: Vec<String> = e.details().into_iter().map(|d| d.field).collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert!(
        fields.contains(&"1/email".to_owned()) && fields.contains(&"2/email".to_owned()),
        "{fields:?}"
    );
    let page = db
        .engine
        .query_records(&ctx, form, Default::default(), false)
        .await
        .expect("list");
    assert_eq!(page.records.len(), 1, "nothing of the batch was written");
}
both_backends!(
    batch_names_the_items_that_clash_t,
    batch_names_the_items_that_clash
);

/// A create whose request is dropped mid-flight (its client went away) never
/// fails the creates committed in the same group, and serial numbers stay
/// gap-free among the records that exist.
///
/// On a SQLite file: a request dropped in the middle of a query makes sqlx
/// close that connection, which for an in-memory database would be the
/// database itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_creates_leave_their_group_whole() {
    let dir = std::env::temp_dir().join(format!("fw-drops-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let engine = engine::Engine::open(&url, engine::EngineConfig::default())
        .await
        .expect("open");
    let db = TestDb::from_engine(engine);
    let ctx = db.tenant("drops").await;
    let form = customers(&db, &ctx).await;
    for round in 0..40 {
        let handles: Vec<_> = (0..24)
            .map(|i| {
                let engine = db.engine.clone();
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    engine
                        .create_record(&ctx, form, input(json!({"name": format!("r{round}-{i}")})), None)
                        .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        for h in handles.iter().step_by(3) {
            h.abort();
        }
        for h in handles {
            match h.await {
                Ok(r) => {
                    r.expect("a create that was not dropped succeeds");
                }
                Err(e) => assert!(e.is_cancelled(), "{e}"),
            }
        }
    }
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(&dir);
}
