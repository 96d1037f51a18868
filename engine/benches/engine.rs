//! Engine micro-benchmarks (criterion): `cargo bench -p engine`.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use engine::ids::{FormId, TenantId};
use engine::meta::field_type::builtin;
use engine::meta::model::FormDef;
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
                    now,
                )
                .expect("valid request");
                black_box(plan.select.build(db_backend))
            });
        });
    }
}

criterion_group!(benches, compile_filter);
criterion_main!(benches);
