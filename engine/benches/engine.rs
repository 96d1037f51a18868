//! Engine micro-benchmarks (criterion): `cargo bench -p engine`.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use engine::ids::{FormId, TenantId};
use engine::meta::field_type::builtin;
use engine::meta::model::FormDef;
use engine::query::model::QueryEnv;
use engine::query::run::plan_list;
use engine::query::{QueryRequest, RecordScope};
use engine::store::Backend;
use sea_orm::{DbBackend, QueryTrait};
use serde_json::json;

/// Compiling a 10-condition nested filter (plus a sort and `q`) to SQL text
/// and bound values, on both dialects.
#[allow(clippy::expect_used)] // set-up of constant fixtures
fn compile_filter(c: &mut Criterion) {
    let types = builtin().expect("builtin registry");
    let def: FormDef = serde_json::from_value(json!({
        "name": "customers",
        "fields": [
            {"key": "name", "label": "Name", "type": "text"},
            {"key": "tier", "label": "Tier", "type": "select", "options": ["VIP", "Regular"]},
            {"key": "spent", "label": "Spent", "type": "number"},
            {"key": "vip", "label": "VIP", "type": "checkbox"},
            {"key": "birthday", "label": "Birthday", "type": "date"},
            {"key": "last_order", "label": "Last order", "type": "datetime"},
            {"key": "interests", "label": "Interests", "type": "multiselect", "options": ["golf", "wine"]}
        ]
    }))
    .expect("form definition");
    let req: QueryRequest = serde_json::from_value(json!({
        "filter": {"and": [
            {"field": "tier", "op": "in", "value": ["VIP", "Regular"]},
            {"field": "spent", "op": "between", "value": [100, 5000]},
            {"or": [
                {"field": "vip", "op": "eq", "value": true},
                {"field": "name", "op": "contains", "value": "li"},
                {"not": {"field": "birthday", "op": "empty"}}
            ]},
            {"not": {"or": [
                {"tag": "churn"},
                {"field": "last_order", "op": "days_ago", "value": 90}
            ]}},
            {"field": "interests", "op": "contains", "value": "golf"},
            {"field": "_created_at", "op": "within_days", "value": 30},
            {"field": "name", "op": "starts_with", "value": "A"}
        ]},
        "sort": [{"field": "spent", "dir": "desc"}, {"field": "name"}],
        "q": "alice",
        "limit": 50
    }))
    .expect("request");
    let (tenant, form) = (TenantId::new(), FormId::new());
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("now");
    for (name, backend, db_backend) in [
        ("compile_filter/sqlite", Backend::Sqlite, DbBackend::Sqlite),
        ("compile_filter/postgres", Backend::Postgres, DbBackend::Postgres),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                let plan = plan_list(
                    backend,
                    tenant,
                    form,
                    &types,
                    &def,
                    black_box(&req),
                    RecordScope::Live,
                    QueryEnv::at(now),
                )
                .expect("valid request");
                black_box(plan.select.build(db_backend))
            });
        });
    }
}

/// A 20-field form: compile once (cached per version), then validate one
/// valid record and one with three faults against the compiled schema.
#[allow(clippy::expect_used, clippy::indexing_slicing)] // set-up of constant fixtures
fn validate_record(c: &mut Criterion) {
    use engine::meta::compile::{Validators, validate};
    let types = builtin().expect("builtin registry");
    let opt = |v: &str| json!({"value": v, "label": v, "color": "#1677ff"});
    let def: FormDef = serde_json::from_value(json!({
        "name": "customers",
        "fields": [
            {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 100},
            {"key": "company", "label": "Company", "type": "text"},
            {"key": "email", "label": "Email", "type": "email"},
            {"key": "phone", "label": "Phone", "type": "phone"},
            {"key": "website", "label": "Website", "type": "url"},
            {"key": "tier", "label": "Tier", "type": "select", "options": [opt("VIP"), opt("普通"), opt("沉睡")]},
            {"key": "interests", "label": "Interests", "type": "multiselect", "options": [opt("golf"), opt("wine"), opt("tea")]},
            {"key": "total_spent", "label": "Total", "type": "money", "min": 0},
            {"key": "orders", "label": "Orders", "type": "number", "min": 0, "precision": 0},
            {"key": "score", "label": "Score", "type": "rating", "max": 5},
            {"key": "birthday", "label": "Birthday", "type": "date"},
            {"key": "last_order_at", "label": "Last order", "type": "datetime"},
            {"key": "is_member", "label": "Member", "type": "checkbox"},
            {"key": "address", "label": "Address", "type": "textarea"},
            {"key": "city", "label": "City", "type": "text"},
            {"key": "province", "label": "Province", "type": "text"},
            {"key": "source", "label": "Source", "type": "select", "options": [opt("web"), opt("store")]},
            {"key": "note", "label": "Note", "type": "textarea", "max_length": 2000},
            {"key": "referrer", "label": "Referrer", "type": "text"},
            {"key": "discount", "label": "Discount", "type": "number", "min": 0, "max": 100}
        ]
    }))
    .expect("form definition");
    let good = json!({
        "name": "王小明", "company": "Acme", "email": "wang@example.com", "phone": "+86 138 0000 0000",
        "website": "https://example.com", "tier": "VIP", "interests": ["golf", "tea"], "total_spent": 12345.5,
        "orders": 17, "score": 4, "birthday": "1990-02-28", "last_order_at": "2026-11-01T08:00:00.000Z",
        "is_member": true, "address": "上海市浦东新区", "city": "上海", "province": "上海", "source": "web",
        "note": "季度回访", "referrer": "李雷", "discount": 5
    });
    let mut bad = good.clone();
    bad["total_spent"] = json!("lots");
    bad["tier"] = json!("Gold");
    bad["email"] = json!("not-an-email");
    let validators = Validators::new();
    let form = FormId::new();
    let check = validators.get(form, 1, &types, &def).expect("validator");
    assert!(
        validate(&check, &good).is_empty(),
        "the good record must be valid"
    );
    assert_eq!(validate(&check, &bad).len(), 3, "the bad record has three faults");
    c.bench_function("validate_record/compile_20_fields", |b| {
        b.iter(|| black_box(engine::meta::compile::compile_form(&types, black_box(&def))));
    });
    c.bench_function("validate_record/valid_20_fields", |b| {
        b.iter(|| {
            let v = validators.get(form, 1, &types, &def).expect("validator");
            black_box(validate(&v, black_box(&good)))
        });
    });
    c.bench_function("validate_record/invalid_20_fields", |b| {
        b.iter(|| {
            let v = validators.get(form, 1, &types, &def).expect("validator");
            black_box(validate(&v, black_box(&bad)))
        });
    });
}

/// A precompiled rule condition over one record, with `today()` from the
/// run state: the target is 300,000 evaluations per second.
#[allow(clippy::expect_used)] // set-up of constant fixtures
fn rule_condition(c: &mut Criterion) {
    use engine::script::{RunState, Sandbox, convert};
    let sandbox = Sandbox::default();
    let ast = sandbox
        .compile_rule("record.total_spent > 1000 && days_between(record.last_order_at, today()) > 90")
        .expect("compiles");
    let record = json!({"name": "Ada", "total_spent": 1200.5, "last_order_at": "2026-06-01", "tier": "VIP"});
    let map = convert::shared_map(record.as_object().expect("object"));
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
        .single()
        .expect("now");
    let today = now.date_naive();
    c.bench_function("rule_condition", |b| {
        b.iter(|| {
            let state = RunState::new(now, today, None);
            let (v, _) = sandbox.run_rule(&ast, Some(black_box(&map)), None, state);
            black_box(v.expect("runs"))
        });
    });
}

criterion_group!(benches, compile_filter, validate_record, rule_condition);
criterion_main!(benches);
