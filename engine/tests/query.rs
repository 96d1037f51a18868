//! The query module on real databases: SQLite in memory always, PostgreSQL
//! when `FORMWORK_TEST_PG` is set or one answers at the default URL (a fresh
//! `fw_q_<hex>` database per test, dropped afterwards).

// Helpers outside `#[test]` fns are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use engine::error::{ErrorCode, HasCode};
use engine::ids::{AppId, FormId, RecordId, TagId, TenantId, UserId};
use engine::meta::field_type::{FieldType, FieldTypes, Kinded, SqlCast};
use engine::meta::model::{FieldDef, FormDef};
use engine::query::model::QueryEnv;
use engine::query::{
    AggregateRequest, AggregateResult, Page, QueryError, QueryRequest, RecordScope, aggregate_records,
    list_records,
};
use engine::store::entity::{record, record_tag, tag};
use engine::store::form_index::{self, FieldIndex, IndexPurpose};
use engine::store::{Backend, Db};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::{Value, json};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

// ---------------------------------------------------------------- registry

struct TestType {
    kind: &'static str,
    cast: SqlCast,
    searchable: bool,
    schema: Value,
}

impl Kinded for TestType {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

impl FieldType for TestType {
    fn config_schema(&self) -> &Value {
        &self.schema
    }
    fn value_schema(&self, _field: &FieldDef) -> Value {
        json!({})
    }
    fn sql_cast(&self) -> SqlCast {
        self.cast
    }
    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        Ok(Value::from(cell))
    }
    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        value.to_string()
    }
    fn is_searchable(&self) -> bool {
        self.searchable
    }
}

fn types() -> FieldTypes {
    let mut r = FieldTypes::default();
    for (kind, cast, searchable) in [
        ("checkbox", SqlCast::Bool, false),
        ("date", SqlCast::Date, false),
        ("datetime", SqlCast::DateTime, false),
        ("multiselect", SqlCast::Array, false),
        ("number", SqlCast::Numeric, false),
        ("select", SqlCast::Text, true),
        ("subform", SqlCast::None, false),
        ("text", SqlCast::Text, true),
    ] {
        r.register(Arc::new(TestType {
            kind,
            cast,
            searchable,
            schema: json!({}),
        }))
        .unwrap();
    }
    r
}

fn form_def() -> FormDef {
    serde_json::from_value(json!({
        "name": "customers",
        "fields": [
            {"key": "name", "label": "Name", "type": "text"},
            {"key": "tier", "label": "Tier", "type": "select"},
            {"key": "spent", "label": "Spent", "type": "number"},
            {"key": "vip", "label": "VIP", "type": "checkbox"},
            {"key": "birthday", "label": "Birthday", "type": "date"},
            {"key": "last_order", "label": "Last order", "type": "datetime"},
            {"key": "interests", "label": "Interests", "type": "multiselect"},
            {"key": "note", "label": "Note", "type": "text"},
            {"key": "items", "label": "Items", "type": "subform"}
        ]
    }))
    .unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

// ---------------------------------------------------------------- databases

/// A migrated database for one test; on Postgres, dropped by `finish`.
struct TestDb {
    db: Db,
    pg: Option<(Db, String)>,
}

async fn sqlite() -> TestDb {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    db.migrate().await.unwrap();
    TestDb { db, pg: None }
}

/// A fresh Postgres database, or `None` when none is configured or reachable.
async fn postgres() -> Option<TestDb> {
    let configured = std::env::var("FORMWORK_TEST_PG").ok();
    let base_url = configured.clone().unwrap_or_else(|| DEFAULT_PG.to_owned());
    let base = match Db::connect(&base_url).await {
        Ok(db) => db,
        Err(e) if configured.is_none() => {
            eprintln!("postgres not reachable ({e}); skipping the postgres run");
            return None;
        }
        Err(e) => panic!("FORMWORK_TEST_PG is set but unreachable: {e}"),
    };
    let name = format!("fw_q_{}", uuid::Uuid::new_v4().simple());
    base.conn()
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (prefix, _) = base_url.rsplit_once('/').unwrap();
    let db = Db::connect(&format!("{prefix}/{name}")).await.unwrap();
    db.migrate().await.unwrap();
    Some(TestDb {
        db,
        pg: Some((base, name)),
    })
}

impl TestDb {
    async fn finish(self) {
        if let Some((base, name)) = self.pg {
            drop(self.db);
            base.conn()
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
}

/// Runs `body` on SQLite, then on Postgres when available. The body runs
/// as its own task so a failing assertion still drops the Postgres database.
async fn on_both<F, Fut>(body: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let t = sqlite().await;
    body(t.db.clone()).await;
    t.finish().await;
    if let Some(t) = postgres().await {
        let outcome = tokio::spawn(body(t.db.clone())).await;
        t.finish().await;
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

// ---------------------------------------------------------------- fixtures

struct Fixture {
    db: Db,
    tenant: TenantId,
    form: FormId,
    types: FieldTypes,
    def: FormDef,
}

async fn insert_record(
    db: &Db,
    tenant: TenantId,
    form: FormId,
    data: Value,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
) -> String {
    let id = RecordId::new().to_string();
    let user = UserId::new().to_string();
    record::ActiveModel {
        id: Set(id.clone()),
        tenant_id: Set(tenant.to_string()),
        app_id: Set(AppId::new().to_string()),
        form_id: Set(form.to_string()),
        form_version: Set(1),
        data: Set(data),
        version: Set(1),
        created_by: Set(user.clone()),
        updated_by: Set(user),
        created_at: Set(created_at),
        updated_at: Set(created_at),
        deleted_at: Set(deleted_at),
    }
    .insert(db.conn())
    .await
    .unwrap();
    id
}

async fn tag_record(db: &Db, tenant: TenantId, record_id: &str, name: &str) {
    let existing = tag::Entity::find_by_name(db, tenant, name).await;
    let tag_id = match existing {
        Some(id) => id,
        None => {
            let id = TagId::new().to_string();
            tag::ActiveModel {
                id: Set(id.clone()),
                tenant_id: Set(tenant.to_string()),
                name: Set(name.to_owned()),
                color: Set("red".to_owned()),
                description: Set(String::new()),
                created_at: Set(now()),
            }
            .insert(db.conn())
            .await
            .unwrap();
            id
        }
    };
    record_tag::ActiveModel {
        record_id: Set(record_id.to_owned()),
        tag_id: Set(tag_id),
        tenant_id: Set(tenant.to_string()),
        created_at: Set(now()),
    }
    .insert(db.conn())
    .await
    .unwrap();
}

trait FindByName {
    async fn find_by_name(db: &Db, tenant: TenantId, name: &str) -> Option<String>;
}

impl FindByName for tag::Entity {
    async fn find_by_name(db: &Db, tenant: TenantId, name: &str) -> Option<String> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        tag::Entity::find()
            .filter(tag::Column::TenantId.eq(tenant.to_string()))
            .filter(tag::Column::Name.eq(name))
            .one(db.conn())
            .await
            .unwrap()
            .map(|t| t.id)
    }
}

/// Five customers (plus a deleted one and another tenant's look-alike).
async fn customers(db: Db) -> Fixture {
    let tenant = TenantId::new();
    let form = FormId::new();
    let day = |n: i64| now() - Duration::days(n);
    let rows = [
        json!({"name": "Alice", "tier": "VIP", "spent": 1200.5, "vip": true,
               "birthday": "1990-05-01", "last_order": "2026-11-20T10:00:00.000Z",
               "interests": ["golf", "wine"], "note": "said '; DROP TABLE records; --"}),
        json!({"name": "Bob", "tier": "Regular", "spent": 300, "vip": false,
               "birthday": "1985-12-01", "last_order": "2026-09-01T08:00:00.000Z",
               "interests": ["wine"], "note": "o'brien"}),
        json!({"name": "Carol", "tier": "VIP", "spent": 5000, "vip": true,
               "last_order": "2026-11-25T09:00:00.000Z", "interests": [],
               "items": [{"sku": "a"}]}),
        json!({"name": "Dan", "note": "100%_off"}),
        json!({"name": "Eve", "tier": "Regular", "spent": 300, "vip": false,
               "birthday": "2000-02-29", "last_order": "2025-01-01T00:00:00.000Z",
               "interests": ["golf"], "note": ""}),
    ];
    let mut ids = Vec::new();
    for (i, data) in rows.into_iter().enumerate() {
        let created = day(5 - i64::try_from(i).unwrap());
        ids.push(insert_record(&db, tenant, form, data, created, None).await);
    }
    tag_record(&db, tenant, &ids[0], "VIP").await;
    tag_record(&db, tenant, &ids[2], "VIP").await;
    tag_record(&db, tenant, &ids[1], "churn").await;
    // Deleted: only in the recycle bin.
    insert_record(
        &db,
        tenant,
        form,
        json!({"name": "Zed", "tier": "VIP", "spent": 1}),
        day(10),
        Some(day(1)),
    )
    .await;
    // Another tenant, same form id and tag name: never visible.
    let other = TenantId::new();
    let stranger = insert_record(
        &db,
        other,
        form,
        json!({"name": "Mallory", "tier": "VIP"}),
        day(1),
        None,
    )
    .await;
    tag_record(&db, other, &stranger, "VIP").await;
    Fixture {
        db,
        tenant,
        form,
        types: types(),
        def: form_def(),
    }
}

impl Fixture {
    async fn list(&self, req: Value) -> Result<Page, QueryError> {
        self.list_scope(req, RecordScope::Live).await
    }

    async fn list_scope(&self, req: Value, scope: RecordScope) -> Result<Page, QueryError> {
        self.list_in(req, scope, QueryEnv::at(now())).await
    }

    async fn list_in(&self, req: Value, scope: RecordScope, env: QueryEnv) -> Result<Page, QueryError> {
        let req: QueryRequest = serde_json::from_value(req).unwrap();
        list_records(
            &self.db,
            self.tenant,
            self.form,
            &self.types,
            &self.def,
            &req,
            scope,
            env,
        )
        .await
    }

    /// Names matching `filter`, A–Z.
    async fn names(&self, filter: Value) -> Vec<String> {
        let page = self
            .list(json!({"filter": filter, "limit": 1000}))
            .await
            .unwrap_or_else(|e| panic!("{filter}: {e}"));
        let mut names = names(&page);
        names.sort();
        names
    }

    async fn aggregate(&self, req: Value) -> Result<AggregateResult, QueryError> {
        let req: AggregateRequest = serde_json::from_value(req).unwrap();
        aggregate_records(
            &self.db,
            self.tenant,
            self.form,
            &self.types,
            &self.def,
            &req,
            QueryEnv::at(now()),
        )
        .await
    }
}

fn names(page: &Page) -> Vec<String> {
    page.rows
        .iter()
        .map(|r| r.data["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn v(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn invalid(err: &QueryError) -> (String, String) {
    assert_eq!(err.code(), ErrorCode::InvalidQuery, "{err}");
    let details = err.details();
    assert_eq!(details.len(), 1);
    (details[0].field.clone(), details[0].message.clone())
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn every_op() {
    on_both(|db| async move {
        let f = customers(db).await;
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!({"field": "tier", "op": "eq", "value": "VIP"}),
                vec!["Alice", "Carol"],
            ),
            (
                json!({"field": "tier", "op": "ne", "value": "VIP"}),
                vec!["Bob", "Dan", "Eve"],
            ),
            (
                json!({"field": "tier", "op": "in", "value": ["VIP", "Regular"]}),
                vec!["Alice", "Bob", "Carol", "Eve"],
            ),
            (
                json!({"field": "tier", "op": "nin", "value": ["VIP"]}),
                vec!["Bob", "Dan", "Eve"],
            ),
            (json!({"field": "tier", "op": "in", "value": []}), vec![]),
            (
                json!({"field": "spent", "op": "eq", "value": 300}),
                vec!["Bob", "Eve"],
            ),
            (
                json!({"field": "spent", "op": "gt", "value": 300}),
                vec!["Alice", "Carol"],
            ),
            (
                json!({"field": "spent", "op": "gte", "value": 300}),
                vec!["Alice", "Bob", "Carol", "Eve"],
            ),
            (
                json!({"field": "spent", "op": "lt", "value": 1200.5}),
                vec!["Bob", "Eve"],
            ),
            (
                json!({"field": "spent", "op": "lte", "value": 1200.5}),
                vec!["Alice", "Bob", "Eve"],
            ),
            (
                json!({"field": "spent", "op": "between", "value": [300, 1200.5]}),
                vec!["Alice", "Bob", "Eve"],
            ),
            (
                json!({"field": "spent", "op": "in", "value": [5000, 1]}),
                vec!["Carol"],
            ),
            (
                json!({"field": "name", "op": "gt", "value": "Carol"}),
                vec!["Dan", "Eve"],
            ),
            (
                json!({"field": "name", "op": "contains", "value": "AR"}),
                vec!["Carol"],
            ),
            (
                json!({"field": "name", "op": "starts_with", "value": "ca"}),
                vec!["Carol"],
            ),
            (
                json!({"field": "note", "op": "contains", "value": "%"}),
                vec!["Dan"],
            ),
            (
                json!({"field": "note", "op": "contains", "value": "_"}),
                vec!["Dan"],
            ),
            (
                json!({"field": "note", "op": "contains", "value": "'"}),
                vec!["Alice", "Bob"],
            ),
            (
                json!({"field": "note", "op": "eq", "value": "said '; DROP TABLE records; --"}),
                vec!["Alice"],
            ),
            (
                json!({"field": "interests", "op": "contains", "value": "golf"}),
                vec!["Alice", "Eve"],
            ),
            (
                json!({"field": "interests", "op": "in", "value": ["wine", "golf"]}),
                vec!["Alice", "Bob", "Eve"],
            ),
            (
                json!({"field": "interests", "op": "nin", "value": ["golf"]}),
                vec!["Bob", "Carol", "Dan"],
            ),
            (json!({"field": "interests", "op": "empty"}), vec!["Carol", "Dan"]),
            (
                json!({"field": "interests", "op": "not_empty"}),
                vec!["Alice", "Bob", "Eve"],
            ),
            (json!({"field": "birthday", "op": "empty"}), vec!["Carol", "Dan"]),
            (json!({"field": "note", "op": "empty"}), vec!["Carol", "Eve"]),
            (json!({"field": "spent", "op": "empty"}), vec!["Dan"]),
            (
                json!({"field": "spent", "op": "not_empty"}),
                vec!["Alice", "Bob", "Carol", "Eve"],
            ),
            (
                json!({"field": "vip", "op": "eq", "value": true}),
                vec!["Alice", "Carol"],
            ),
            (
                json!({"field": "vip", "op": "eq", "value": false}),
                vec!["Bob", "Eve"],
            ),
            (
                json!({"field": "vip", "op": "ne", "value": true}),
                vec!["Bob", "Dan", "Eve"],
            ),
            (json!({"field": "vip", "op": "empty"}), vec!["Dan"]),
            (
                json!({"field": "birthday", "op": "gt", "value": "1989-01-01"}),
                vec!["Alice", "Eve"],
            ),
            (
                json!({"field": "birthday", "op": "between", "value": ["1985-12-01", "1990-05-01"]}),
                vec!["Alice", "Bob"],
            ),
            (
                json!({"field": "birthday", "op": "starts_with", "value": "2000-"}),
                vec!["Eve"],
            ),
            (
                json!({"field": "last_order", "op": "days_ago", "value": 30}),
                vec!["Bob", "Eve"],
            ),
            (
                json!({"field": "last_order", "op": "within_days", "value": 7}),
                vec!["Alice"],
            ),
            (
                json!({"field": "last_order", "op": "within_days", "value": {"next": 7}}),
                vec!["Carol"],
            ),
            (
                json!({"field": "last_order", "op": "gte", "value": "2026-11-20T11:00:00+01:00"}),
                vec!["Alice", "Carol"],
            ),
            (
                json!({"field": "last_order", "op": "lt", "value": "2026-01-01"}),
                vec!["Eve"],
            ),
            (
                json!({"field": "birthday", "op": "days_ago", "value": 36500}),
                vec![],
            ),
            (
                json!({"field": "_created_at", "op": "within_days", "value": 2}),
                vec!["Dan", "Eve"],
            ),
            (
                json!({"field": "_created_at", "op": "lt", "value": "2026-11-20T00:00:00Z"}),
                vec!["Alice", "Bob"],
            ),
            (
                json!({"field": "_updated_at", "op": "days_ago", "value": 4}),
                vec!["Alice", "Bob"],
            ),
            (
                json!({"field": "_created_by", "op": "not_empty"}),
                vec!["Alice", "Bob", "Carol", "Dan", "Eve"],
            ),
            (json!({"tag": "VIP"}), vec!["Alice", "Carol"]),
            (json!({"not": {"tag": "VIP"}}), vec!["Bob", "Dan", "Eve"]),
            (json!({"tag": "nobody"}), vec![]),
            (
                json!({"and": [{"tag": "VIP"}, {"field": "spent", "op": "gt", "value": 2000}]}),
                vec!["Carol"],
            ),
            (
                json!({"or": [{"tag": "churn"}, {"field": "spent", "op": "gt", "value": 2000}]}),
                vec!["Bob", "Carol"],
            ),
            (
                json!({"not": {"and": [
                    {"field": "tier", "op": "eq", "value": "VIP"},
                    {"field": "spent", "op": "gt", "value": 2000}
                ]}}),
                vec!["Alice", "Bob", "Dan", "Eve"],
            ),
            (
                json!({"not": {"or": [
                    {"field": "tier", "op": "eq", "value": "VIP"},
                    {"field": "spent", "op": "lt", "value": 1000}
                ]}}),
                vec!["Dan"],
            ),
            (json!({"not": {"not": {"tag": "VIP"}}}), vec!["Alice", "Carol"]),
            (
                json!({"not": {"field": "spent", "op": "between", "value": [300, 1200.5]}}),
                vec!["Carol", "Dan"],
            ),
            (
                json!({"not": {"field": "last_order", "op": "within_days", "value": 7}}),
                vec!["Bob", "Carol", "Dan", "Eve"],
            ),
            (
                json!({"not": {"field": "name", "op": "contains", "value": "a"}}),
                vec!["Bob", "Eve"],
            ),
            (
                json!({"not": {"field": "vip", "op": "eq", "value": true}}),
                vec!["Bob", "Dan", "Eve"],
            ),
            (
                json!({"not": {"field": "tier", "op": "empty"}}),
                vec!["Alice", "Bob", "Carol", "Eve"],
            ),
            (json!({"and": []}), vec!["Alice", "Bob", "Carol", "Dan", "Eve"]),
            (json!({"or": []}), vec![]),
            (
                json!({"not": {"or": []}}),
                vec!["Alice", "Bob", "Carol", "Dan", "Eve"],
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(f.names(filter.clone()).await, v(&want), "filter {filter}");
        }
        // `_id` equality.
        let all = f.list(json!({})).await.unwrap();
        let carol = all.rows.iter().find(|r| r.data["name"] == "Carol").unwrap();
        assert_eq!(
            f.names(json!({"field": "_id", "op": "eq", "value": carol.id}))
                .await,
            v(&["Carol"])
        );
    })
    .await;
}

#[tokio::test]
async fn default_order_scope_and_recycle_bin() {
    on_both(|db| async move {
        let f = customers(db).await;
        let page = f.list(json!({"total": true})).await.unwrap();
        // Newest first (UUIDv7 ids), other tenants and deleted rows absent.
        assert_eq!(names(&page), v(&["Eve", "Dan", "Carol", "Bob", "Alice"]));
        assert_eq!(page.total, Some(5));
        assert_eq!(page.next_cursor, None);
        let page = f.list(json!({"total": false})).await.unwrap();
        assert_eq!(page.total, None);
        let bin = f
            .list_scope(json!({"total": true}), RecordScope::Deleted)
            .await
            .unwrap();
        assert_eq!(names(&bin), v(&["Zed"]));
        assert_eq!(bin.total, Some(1));
        // Most recently deleted first, paged by cursor, ties by `_id`.
        for (name, days) in [("Y1", 3), ("Y2", 0), ("Y3", 3)] {
            let deleted = now() - Duration::days(days);
            insert_record(
                &f.db,
                f.tenant,
                f.form,
                json!({"name": name}),
                now(),
                Some(deleted),
            )
            .await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = json!({"limit": 1});
            if let Some(c) = &cursor {
                req["cursor"] = json!(c);
            }
            let page = f.list_scope(req, RecordScope::Deleted).await.unwrap();
            seen.extend(names(&page));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, v(&["Y2", "Zed", "Y1", "Y3"]));
        let page = f
            .list(json!({"filter": {"field": "tier", "op": "eq", "value": "VIP"}, "limit": 1, "total": true}))
            .await
            .unwrap();
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.total, Some(2));
        assert!(page.next_cursor.is_some());
    })
    .await;
}

#[tokio::test]
async fn sorts_put_missing_values_first() {
    on_both(|db| async move {
        let f = customers(db).await;
        let sorted = |sort: Value| {
            let f = &f;
            async move { names(&f.list(json!({"sort": sort})).await.unwrap()) }
        };
        // Ties (Bob, Eve at 300) break by `_id` ascending (insertion order).
        assert_eq!(
            sorted(json!([{"field": "spent"}])).await,
            v(&["Dan", "Bob", "Eve", "Alice", "Carol"])
        );
        assert_eq!(
            sorted(json!([{"field": "spent", "dir": "desc"}])).await,
            v(&["Carol", "Alice", "Bob", "Eve", "Dan"])
        );
        assert_eq!(
            sorted(json!([{"field": "tier", "dir": "desc"}, {"field": "name", "dir": "desc"}])).await,
            v(&["Carol", "Alice", "Eve", "Bob", "Dan"])
        );
        assert_eq!(
            sorted(json!([{"field": "birthday"}])).await,
            v(&["Carol", "Dan", "Bob", "Alice", "Eve"])
        );
        assert_eq!(
            sorted(json!([{"field": "vip", "dir": "desc"}])).await,
            v(&["Alice", "Carol", "Bob", "Eve", "Dan"])
        );
        assert_eq!(
            sorted(json!([{"field": "_created_at", "dir": "desc"}])).await,
            v(&["Eve", "Dan", "Carol", "Bob", "Alice"])
        );
        assert_eq!(
            sorted(json!([{"field": "_id"}, {"field": "spent"}])).await,
            v(&["Alice", "Bob", "Carol", "Dan", "Eve"])
        );
    })
    .await;
}

#[tokio::test]
async fn cursor_pages_through_everything_once() {
    on_both(|db| async move {
        let f = customers(db).await;
        // More rows with ties and missing values.
        for i in 0..17 {
            let data = match i % 4 {
                0 => json!({"name": format!("n{i:02}"), "spent": 300, "tier": "VIP"}),
                1 => json!({"name": format!("n{i:02}")}),
                2 => json!({"name": format!("n{i:02}"), "spent": i, "vip": true}),
                _ => json!({"name": format!("n{i:02}"), "spent": 300, "birthday": "1990-05-01"}),
            };
            insert_record(&f.db, f.tenant, f.form, data, now(), None).await;
        }
        let sorts = [
            json!([]),
            json!([{"field": "spent"}]),
            json!([{"field": "spent", "dir": "desc"}]),
            json!([{"field": "tier"}, {"field": "spent", "dir": "desc"}]),
            json!([{"field": "vip", "dir": "desc"}, {"field": "birthday"}]),
            json!([{"field": "_created_at"}]),
            json!([{"field": "name", "dir": "desc"}]),
        ];
        for sort in sorts {
            let full = names(&f.list(json!({"sort": sort, "limit": 1000})).await.unwrap());
            assert_eq!(full.len(), 22);
            for limit in [1, 2, 3, 7] {
                let mut seen = Vec::new();
                let mut cursor: Option<String> = None;
                for _ in 0..100 {
                    let mut req = json!({"sort": sort, "limit": limit});
                    if let Some(c) = &cursor {
                        req["cursor"] = json!(c);
                    }
                    let page = f.list(req).await.unwrap();
                    assert!(page.rows.len() <= limit);
                    seen.extend(names(&page));
                    cursor = page.next_cursor;
                    if cursor.is_none() {
                        break;
                    }
                }
                assert_eq!(seen, full, "sort {sort} limit {limit}");
            }
        }
        // A cursor is bound to its sort, and must be well-formed.
        let page = f
            .list(json!({"sort": [{"field": "spent"}], "limit": 2}))
            .await
            .unwrap();
        let cursor = page.next_cursor.unwrap();
        let err = f
            .list(json!({"sort": [{"field": "name"}], "cursor": cursor}))
            .await
            .unwrap_err();
        assert_eq!(
            invalid(&err),
            (
                "cursor".to_owned(),
                "cursor was made for a different sort; start again without `cursor`".to_owned()
            )
        );
        let err = f.list(json!({"cursor": "not a cursor!"})).await.unwrap_err();
        assert_eq!(invalid(&err).1, "cursor is invalid");
    })
    .await;
}

#[tokio::test]
async fn text_search_matches_verbatim() {
    on_both(|db| async move {
        let f = customers(db).await;
        let q = |q: &str| {
            let f = &f;
            let q = q.to_owned();
            async move {
                let mut n = names(&f.list(json!({"q": q, "limit": 1000})).await.unwrap());
                n.sort();
                n
            }
        };
        assert_eq!(q("alice").await, v(&["Alice"]));
        assert_eq!(q("vip").await, v(&["Alice", "Carol"]));
        assert_eq!(q("'; DROP TABLE records; --").await, v(&["Alice"]));
        assert_eq!(q("%").await, v(&["Dan"]));
        assert_eq!(q("_").await, v(&["Dan"]));
        assert_eq!(q("o'b").await, v(&["Bob"]));
        assert_eq!(q("   ").await, v(&["Alice", "Bob", "Carol", "Dan", "Eve"]));
        assert_eq!(q("nobody here").await, Vec::<String>::new());
        // The table is still there.
        assert_eq!(f.list(json!({"total": true})).await.unwrap().total, Some(5));
        // Search combines with a filter.
        let page = f
            .list(json!({"q": "o", "filter": {"field": "tier", "op": "eq", "value": "VIP"}}))
            .await
            .unwrap();
        assert_eq!(names(&page), v(&["Carol", "Alice"]));
    })
    .await;
}

#[tokio::test]
async fn aggregates_group_and_bucket() {
    on_both(|db| async move {
        let f = customers(db).await;
        let r = f
            .aggregate(json!({
                "group_by": [{"field": "tier"}],
                "metrics": [
                    {"op": "count"},
                    {"op": "sum", "field": "spent"},
                    {"op": "avg", "field": "spent", "as": "avg"},
                    {"op": "max", "field": "birthday"}
                ]
            }))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"groups": [
                {"key": {"tier": null}, "values": {"count": 1, "sum_spent": null, "avg": null, "max_birthday": null}},
                {"key": {"tier": "Regular"}, "values": {"count": 2, "sum_spent": 600, "avg": 300, "max_birthday": "2000-02-29"}},
                {"key": {"tier": "VIP"}, "values": {"count": 2, "sum_spent": 6200.5, "avg": 3100.25, "max_birthday": "1990-05-01"}}
            ]})
        );
        // No group-by: one group; a filter applies.
        let r = f
            .aggregate(json!({
                "filter": {"tag": "VIP"},
                "metrics": [{"op": "count"}, {"op": "min", "field": "spent"}, {"op": "count", "field": "birthday"}]
            }))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"groups": [{"key": {}, "values": {"count": 1 + 1, "min_spent": 1200.5, "count_birthday": 1}}]})
        );
        // Buckets: month and ISO week of a datetime, week of a date, day of `_created_at`.
        let r = f
            .aggregate(json!({
                "group_by": [{"field": "last_order", "bucket": "month"}],
                "metrics": [{"op": "count"}]
            }))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap()["groups"],
            json!([
                {"key": {"last_order": null}, "values": {"count": 1}},
                {"key": {"last_order": "2025-01"}, "values": {"count": 1}},
                {"key": {"last_order": "2026-09"}, "values": {"count": 1}},
                {"key": {"last_order": "2026-11"}, "values": {"count": 2}}
            ])
        );
        let r = f
            .aggregate(json!({
                "group_by": [{"field": "last_order", "bucket": "week"}, {"field": "vip"}],
                "metrics": [{"op": "count"}]
            }))
            .await
            .unwrap();
        // 2026-11-20 (Fri) and 2026-11-25 (Wed) are in the weeks of Mondays
        // 11-16 and 11-23; 2025-01-01 (Wed) in the week of 2024-12-30;
        // 2026-09-01 (Tue) in the week of 08-31.
        assert_eq!(
            serde_json::to_value(&r).unwrap()["groups"],
            json!([
                {"key": {"last_order": null, "vip": null}, "values": {"count": 1}},
                {"key": {"last_order": "2024-12-30", "vip": false}, "values": {"count": 1}},
                {"key": {"last_order": "2026-08-31", "vip": false}, "values": {"count": 1}},
                {"key": {"last_order": "2026-11-16", "vip": true}, "values": {"count": 1}},
                {"key": {"last_order": "2026-11-23", "vip": true}, "values": {"count": 1}}
            ])
        );
        let r = f
            .aggregate(json!({
                "group_by": [{"field": "birthday", "bucket": "week"}],
                "metrics": [{"op": "count"}]
            }))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap()["groups"],
            json!([
                {"key": {"birthday": null}, "values": {"count": 2}},
                {"key": {"birthday": "1985-11-25"}, "values": {"count": 1}},
                {"key": {"birthday": "1990-04-30"}, "values": {"count": 1}},
                {"key": {"birthday": "2000-02-28"}, "values": {"count": 1}}
            ])
        );
        let r = f
            .aggregate(json!({
                "group_by": [{"field": "_created_at", "bucket": "day"}],
                "metrics": [{"op": "count"}]
            }))
            .await
            .unwrap();
        let keys: Vec<Value> = r.groups.iter().map(|g| g.key["_created_at"].clone()).collect();
        assert_eq!(
            keys,
            vec![
                json!("2026-11-18"),
                json!("2026-11-19"),
                json!("2026-11-20"),
                json!("2026-11-21"),
                json!("2026-11-22")
            ]
        );
        let r = f
            .aggregate(json!({
                "group_by": [{"field": "spent"}],
                "metrics": [{"op": "count"}]
            }))
            .await
            .unwrap();
        let keys: Vec<Value> = r.groups.iter().map(|g| g.key["spent"].clone()).collect();
        assert_eq!(keys, vec![json!(null), json!(300), json!(1200.5), json!(5000)]);
    })
    .await;
}

#[tokio::test]
async fn too_many_groups_is_refused() {
    on_both(|db| async move {
        let f = customers(db).await;
        for i in 0..1001 {
            insert_record(
                &f.db,
                f.tenant,
                f.form,
                json!({"name": format!("g{i}")}),
                now(),
                None,
            )
            .await;
        }
        let err = f
            .aggregate(json!({"group_by": [{"field": "name"}], "metrics": [{"op": "count"}]}))
            .await
            .unwrap_err();
        assert_eq!(
            invalid(&err),
            (
                "group_by".to_owned(),
                "the aggregate has more than 1000 groups; narrow the filter or use a coarser bucket"
                    .to_owned()
            )
        );
    })
    .await;
}

#[tokio::test]
async fn errors_name_the_problem() {
    let f = customers(sqlite().await.db).await;
    let deep = (0..17).fold(json!({"tag": "VIP"}), |acc, _| json!({"not": acc}));
    let many: Vec<Value> = (0..201).map(|_| json!({"tag": "VIP"})).collect();
    let long_list: Vec<Value> = (0..1001).map(|i| json!(format!("v{i}"))).collect();
    let list_cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"filter": {"field": "foo", "op": "eq", "value": 1}}),
            "filter",
            "unknown field `foo` in filter",
        ),
        (
            json!({"filter": {"and": [{"tag": "x"}, {"field": "interests", "op": "gt", "value": "a"}]}}),
            "filter/and/1",
            "op `gt` does not apply to field `interests` (multiselect)",
        ),
        (
            json!({"filter": {"field": "spent", "op": "contains", "value": "1"}}),
            "filter",
            "op `contains` does not apply to field `spent` (number)",
        ),
        (
            json!({"filter": {"field": "name", "op": "days_ago", "value": 3}}),
            "filter",
            "op `days_ago` does not apply to field `name` (text)",
        ),
        (
            json!({"filter": {"field": "vip", "op": "gt", "value": true}}),
            "filter",
            "op `gt` does not apply to field `vip` (checkbox)",
        ),
        (
            json!({"filter": {"field": "items", "op": "empty"}}),
            "filter",
            "field `items` (subform) cannot be used in filter",
        ),
        (
            json!({"filter": {"field": "spent", "op": "gt", "value": "100"}}),
            "filter",
            "value for `spent` (number) must be a number",
        ),
        (
            json!({"filter": {"field": "vip", "op": "eq", "value": "yes"}}),
            "filter",
            "value for `vip` (checkbox) must be `true` or `false`",
        ),
        (
            json!({"filter": {"field": "birthday", "op": "eq", "value": "01/05/1990"}}),
            "filter",
            "value for `birthday` (date) must be a date `YYYY-MM-DD`",
        ),
        (
            json!({"filter": {"field": "last_order", "op": "gt", "value": "yesterday"}}),
            "filter",
            "value for `last_order` (datetime) must be an rfc 3339 date-time or a date `YYYY-MM-DD`",
        ),
        (
            json!({"filter": {"field": "last_order", "op": "within_days", "value": -1}}),
            "filter",
            "value for `last_order` must be a whole number of days from 0 to 36500 or `{\"next\": n}`",
        ),
        (
            json!({"filter": {"field": "spent", "op": "between", "value": [1]}}),
            "filter",
            "value for `between` on `spent` must be a list `[from, to]`",
        ),
        (
            json!({"filter": {"field": "tier", "op": "in", "value": "VIP"}}),
            "filter",
            "value for `in`/`nin` on `tier` must be a list",
        ),
        (
            json!({"filter": {"field": "tier", "op": "in", "value": long_list}}),
            "filter",
            "an `in`/`nin` list may hold at most 1000 values",
        ),
        (
            json!({"sort": [{"field": "nope"}]}),
            "sort/0",
            "unknown field `nope` in sort",
        ),
        (
            json!({"sort": [{"field": "interests"}]}),
            "sort/0",
            "field `interests` (multiselect) cannot be sorted",
        ),
        (
            json!({"sort": (0..9).map(|_| json!({"field": "name"})).collect::<Vec<_>>()}),
            "sort",
            "at most 8 sort keys are allowed",
        ),
        (
            json!({"sort": [{"field": "name"}, {"field": "name", "dir": "desc"}]}),
            "sort/1",
            "field `name` appears twice in sort",
        ),
        (json!({"limit": 1001}), "limit", "limit must be at most 1000"),
        (json!({"limit": 0}), "limit", "limit must be at least 1"),
        (
            json!({"q": "x".repeat(201)}),
            "q",
            "`q` must be at most 200 characters",
        ),
    ];
    for (req, path, message) in list_cases {
        let err = f.list(req.clone()).await.unwrap_err();
        assert_eq!(invalid(&err), (path.to_owned(), message.to_owned()), "{req}");
    }
    // Shape errors surface while parsing the request.
    for (req, message) in [
        (json!({"filter": deep}), "filter nesting is deeper than 16 levels"),
        (
            json!({"filter": {"or": many}}),
            "a filter may hold at most 200 conditions",
        ),
        (
            json!({"filter": {"field": "tier", "op": "like", "value": "x"}}),
            "unknown op `like` in filter",
        ),
        (
            json!({"filter": {"field": "tier", "op": "empty", "value": "x"}}),
            "op `empty` takes no `value`",
        ),
        (
            json!({"filter": {"field": "tier", "op": "eq"}}),
            "op `eq` needs a `value`",
        ),
        (
            json!({"filter": {"and": [], "or": []}}),
            "unexpected key `or` beside `and` in filter",
        ),
        (
            json!({"filter": {"tag": ""}}),
            "`tag` must be a non-empty tag name",
        ),
        (
            json!({"filter": {"tier": "VIP"}}),
            "a filter node needs one of `and`, `or`, `not`, `field` or `tag`",
        ),
        (json!({"limits": 3}), "unknown field `limits`"),
    ] {
        let err = serde_json::from_value::<QueryRequest>(req.clone()).unwrap_err();
        assert!(err.to_string().contains(message), "{req}: {err}");
    }
    // `from_json` keeps the path.
    let err = QueryRequest::from_json(
        &json!({"filter": {"or": [{"tag": "a"}, {"field": "x", "op": "near", "value": 1}]}}),
    )
    .unwrap_err();
    assert_eq!(
        invalid(&err),
        ("x".to_owned(), "unknown op `near` in filter".to_owned())
    );
    let err = QueryRequest::from_json(&json!({"filter": {"and": [{"nor": []}]}})).unwrap_err();
    assert_eq!(invalid(&err).0, "filter/and/0");
    let err = QueryRequest::from_json(&json!({"limit": "ten"})).unwrap_err();
    assert_eq!(invalid(&err).0, "request");
    let err = AggregateRequest::from_json(&json!({"metrics": [{"op": "median"}]})).unwrap_err();
    assert_eq!(invalid(&err).0, "request");
    let ok = QueryRequest::from_json(&json!({"filter": {"tag": "VIP"}, "limit": 5})).unwrap();
    assert_eq!(ok.filter, Some(engine::query::Filter::Tag("VIP".into())));
    assert_eq!(ok.limit, Some(5));

    // A filter built in code is checked by the compiler too.
    let deep = (0..17).fold(engine::query::Filter::Tag("VIP".into()), |acc, _| {
        engine::query::Filter::Not(Box::new(acc))
    });
    let req = QueryRequest {
        filter: Some(deep),
        ..QueryRequest::default()
    };
    let err = list_records(
        &f.db,
        f.tenant,
        f.form,
        &f.types,
        &f.def,
        &req,
        RecordScope::Live,
        QueryEnv::at(now()),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid(&err).1, "filter nesting is deeper than 16 levels");

    let agg_cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"group_by": [{"field": "a"}, {"field": "b"}, {"field": "c"}], "metrics": [{"op": "count"}]}),
            "group_by",
            "at most 2 group-by fields are allowed",
        ),
        (
            json!({"metrics": (0..11).map(|i| json!({"op": "count", "as": format!("c{i}")})).collect::<Vec<_>>()}),
            "metrics",
            "at most 10 metrics are allowed",
        ),
        (
            json!({"metrics": []}),
            "metrics",
            "at least one metric is required",
        ),
        (
            json!({"group_by": [{"field": "spent", "bucket": "day"}], "metrics": [{"op": "count"}]}),
            "group_by/0",
            "a bucket applies only to date and datetime fields, not `spent` (number)",
        ),
        (
            json!({"group_by": [{"field": "_created_at"}], "metrics": [{"op": "count"}]}),
            "group_by/0",
            "group by `_created_at` needs a `bucket` (day, week or month)",
        ),
        (
            json!({"group_by": [{"field": "interests"}], "metrics": [{"op": "count"}]}),
            "group_by/0",
            "cannot group by field `interests` (multiselect)",
        ),
        (
            json!({"metrics": [{"op": "sum", "field": "name"}]}),
            "metrics/0",
            "metric `sum` does not apply to field `name` (text)",
        ),
        (
            json!({"metrics": [{"op": "avg"}]}),
            "metrics/0",
            "metric `avg` needs a `field`",
        ),
        (
            json!({"metrics": [{"op": "count"}, {"op": "count"}]}),
            "metrics/1",
            "metric name `count` is used twice; set `as`",
        ),
        (
            json!({"metrics": [{"op": "max", "field": "ghost"}]}),
            "metrics/0",
            "unknown field `ghost` in metrics",
        ),
    ];
    for (req, path, message) in agg_cases {
        let err = f.aggregate(req.clone()).await.unwrap_err();
        assert_eq!(invalid(&err), (path.to_owned(), message.to_owned()), "{req}");
    }
}

/// With per-form indexes on a number and a select field, SQLite plans a
/// filtered + sorted first page through them: the query's expressions and
/// the index's partial predicate match.
#[tokio::test]
async fn sqlite_uses_the_per_form_indexes() {
    let f = customers(sqlite().await.db).await;
    let wanted = [
        FieldIndex {
            key: "spent".into(),
            cast: SqlCast::Numeric,
            purpose: IndexPurpose::Lookup,
        },
        FieldIndex {
            key: "tier".into(),
            cast: SqlCast::Text,
            purpose: IndexPurpose::Lookup,
        },
    ];
    form_index::sync(f.db.conn(), Backend::Sqlite, f.form, &[], &wanted)
        .await
        .unwrap();
    // A realistic spread, and statistics (as `PRAGMA optimize` keeps them):
    // without them SQLite guesses that `(tenant_id, form_id)` is as good.
    for i in 0..300 {
        let data = json!({"name": format!("c{i}"), "tier": format!("t{}", i % 50), "spent": i});
        insert_record(&f.db, f.tenant, f.form, data, now(), None).await;
    }
    f.db.conn().execute_unprepared("ANALYZE").await.unwrap();
    let spent_ix = wanted[0].name(f.form);
    let tier_ix = wanted[1].name(f.form);

    let plan_of = |req: Value| {
        let f = &f;
        async move {
            let req: QueryRequest = serde_json::from_value(req).unwrap();
            let plan = engine::query::run::plan_list(
                Backend::Sqlite,
                f.tenant,
                f.form,
                &f.types,
                &f.def,
                &req,
                RecordScope::Live,
                QueryEnv::at(now()),
            )
            .unwrap();
            let stmt = sea_orm::QueryTrait::build(&plan.select, sea_orm::DbBackend::Sqlite);
            let explain = Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                format!("EXPLAIN QUERY PLAN {}", stmt.sql),
                stmt.values.map(|v| v.0).unwrap_or_default(),
            );
            let rows = f.db.conn().query_all_raw(explain).await.unwrap();
            rows.iter()
                .map(|r| r.try_get::<String>("", "detail").unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let plan = plan_of(json!({
        "filter": {"field": "spent", "op": "gt", "value": 290},
        "sort": [{"field": "spent", "dir": "desc"}],
        "limit": 20
    }))
    .await;
    assert!(plan.contains(&spent_ix), "{plan}");
    assert!(!plan.contains("USE TEMP B-TREE FOR ORDER BY"), "{plan}");
    let plan = plan_of(json!({
        "filter": {"and": [{"field": "tier", "op": "eq", "value": "VIP"}]},
        "limit": 20
    }))
    .await;
    assert!(plan.contains(&tier_ix), "{plan}");
    // And the page itself is right.
    let page = f
        .list(json!({
            "filter": {"field": "spent", "op": "gt", "value": 296},
            "sort": [{"field": "spent", "dir": "desc"}]
        }))
        .await
        .unwrap();
    assert_eq!(
        names(&page),
        v(&["Carol", "Alice", "Bob", "Eve", "c299", "c298", "c297"])
    );
}

#[test]
fn filter_json_round_trips() {
    let raw = json!({"and": [
        {"field": "tier", "op": "eq", "value": "VIP"},
        {"not": {"tag": "churn"}},
        {"or": [{"field": "spent", "op": "empty"}, {"field": "last_order", "op": "within_days", "value": {"next": 7}}]}
    ]});
    let filter = engine::query::Filter::from_json(&raw).unwrap();
    assert_eq!(filter.to_json(), raw);
    assert_eq!(filter.depth(), 3);
    assert_eq!(filter.condition_count(), 4);
    let req: QueryRequest =
        serde_json::from_value(json!({"filter": raw, "sort": [{"field": "spent"}]})).unwrap();
    assert_eq!(req.sort[0].dir, engine::query::SortDir::Asc);
    assert_eq!(req.limit, None);
    assert!(!req.total);
}

/// Operands never reach the SQL text: they are bound, on both dialects.
#[test]
fn operands_are_bound_not_spliced() {
    let evil = "x'; DROP TABLE records; --";
    let req: QueryRequest = serde_json::from_value(json!({
        "filter": {"and": [
            {"field": "note", "op": "eq", "value": evil},
            {"field": "note", "op": "contains", "value": evil},
            {"field": "tier", "op": "in", "value": [evil, "VIP"]},
            {"field": "interests", "op": "contains", "value": evil},
            {"tag": evil},
            {"not": {"field": "spent", "op": "gt", "value": 10}},
            {"not": {"field": "spent", "op": "between", "value": [1, 2]}}
        ]},
        "q": evil,
        "sort": [{"field": "spent", "dir": "desc"}],
        "total": true
    }))
    .unwrap();
    let (types, def) = (types(), form_def());
    for (backend, db_backend) in [
        (Backend::Sqlite, sea_orm::DbBackend::Sqlite),
        (Backend::Postgres, sea_orm::DbBackend::Postgres),
    ] {
        let plan = engine::query::run::plan_list(
            backend,
            TenantId::new(),
            FormId::new(),
            &types,
            &def,
            &req,
            RecordScope::Live,
            QueryEnv::at(now()),
        )
        .unwrap();
        let stmt = sea_orm::QueryTrait::build(&plan.select, db_backend);
        assert!(!stmt.sql.contains("DROP"), "{}", stmt.sql);
        assert!(stmt.sql.contains("\"tenant_id\" = "), "{}", stmt.sql);
        let values = format!("{:?}", stmt.values);
        assert!(values.contains("DROP TABLE"), "{values}");
        eprintln!("{backend:?}: {}", stmt.sql);
    }
}

/// The built-in field type registry plugs in the same way as the test one.
#[tokio::test]
async fn builtin_registry_works_the_same() {
    on_both(|db| async move {
        let mut f = customers(db).await;
        f.types = engine::meta::field_type::builtin().unwrap();
        assert_eq!(
            f.names(json!({"and": [
                {"field": "tier", "op": "eq", "value": "VIP"},
                {"field": "spent", "op": "gt", "value": 2000},
                {"field": "vip", "op": "eq", "value": true},
                {"field": "interests", "op": "empty"},
                {"field": "last_order", "op": "within_days", "value": {"next": 3}}
            ]}))
            .await,
            v(&["Carol"])
        );
        let page = f
            .list(json!({"q": "drop table", "sort": [{"field": "birthday"}]}))
            .await
            .unwrap();
        assert_eq!(names(&page), v(&["Alice"]));
        let r = f
            .aggregate(json!({"group_by": [{"field": "vip"}], "metrics": [{"op": "sum", "field": "spent"}]}))
            .await
            .unwrap();
        assert_eq!(
            serde_json::to_value(&r).unwrap()["groups"],
            json!([
                {"key": {"vip": null}, "values": {"sum_spent": null}},
                {"key": {"vip": false}, "values": {"sum_spent": 600}},
                {"key": {"vip": true}, "values": {"sum_spent": 6200.5}}
            ])
        );
    })
    .await;
}

/// `in_period` counts calendar periods in the zone the environment gives
/// (weeks from Monday), on dates and instants; `$me` stands for the asking
/// member on user fields only.
#[tokio::test]
async fn calendar_periods_and_me() {
    on_both(|db| async move {
        let tenant = TenantId::new();
        let form = FormId::new();
        let rows = [
            ("A", "2026-11-22T23:30:00.000Z", "2026-11-23"),
            ("B", "2026-11-23T00:00:00.000Z", "2026-11-29"),
            ("C", "2026-11-29T23:59:00.000Z", "2026-11-30"),
            ("D", "2026-11-01T00:00:00.000Z", "2026-11-16"),
            ("E", "2026-10-31T20:00:00.000Z", "2026-10-01"),
            ("F", "2025-12-31T12:00:00.000Z", "2026-12-31"),
        ];
        for (name, order, birthday) in rows {
            let data = json!({"name": name, "last_order": order, "birthday": birthday});
            insert_record(&db, tenant, form, data, now(), None).await;
        }
        let f = Fixture {
            db,
            tenant,
            form,
            types: types(),
            def: form_def(),
        };
        let shanghai: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let env = |zone| QueryEnv {
            zone,
            ..QueryEnv::at(now())
        };
        let names_in = |filter: Value, env: QueryEnv| {
            let f = &f;
            async move {
                let page = f
                    .list_in(json!({"filter": filter, "limit": 100}), RecordScope::Live, env)
                    .await
                    .unwrap_or_else(|e| panic!("{filter}: {e}"));
                let mut n = names(&page);
                n.sort();
                n
            }
        };
        // (zone, unit, offset, last_order matches, birthday matches); now
        // is Monday 2026-11-23 12:00 UTC (20:00 in Shanghai).
        type Case<'a> = (chrono_tz::Tz, &'a str, i64, &'a [&'a str], &'a [&'a str]);
        let cases: [Case; 18] = [
            (chrono_tz::Tz::UTC, "day", 0, &["B"], &["A"]),
            (chrono_tz::Tz::UTC, "week", 0, &["B", "C"], &["A", "B"]),
            (chrono_tz::Tz::UTC, "week", -1, &["A"], &["D"]),
            (chrono_tz::Tz::UTC, "week", 1, &[], &["C"]),
            (
                chrono_tz::Tz::UTC,
                "month",
                0,
                &["A", "B", "C", "D"],
                &["A", "B", "C", "D"],
            ),
            (chrono_tz::Tz::UTC, "month", -1, &["E"], &["E"]),
            (
                chrono_tz::Tz::UTC,
                "quarter",
                0,
                &["A", "B", "C", "D", "E"],
                &["A", "B", "C", "D", "E", "F"],
            ),
            (
                chrono_tz::Tz::UTC,
                "year",
                0,
                &["A", "B", "C", "D", "E"],
                &["A", "B", "C", "D", "E", "F"],
            ),
            (chrono_tz::Tz::UTC, "year", -1, &["F"], &[]),
            (shanghai, "day", 0, &["A", "B"], &["A"]),
            (shanghai, "week", 0, &["A", "B"], &["A", "B"]),
            (shanghai, "week", -1, &[], &["D"]),
            (shanghai, "week", 1, &["C"], &["C"]),
            (
                shanghai,
                "month",
                0,
                &["A", "B", "C", "D", "E"],
                &["A", "B", "C", "D"],
            ),
            (shanghai, "month", -1, &[], &["E"]),
            (
                shanghai,
                "quarter",
                0,
                &["A", "B", "C", "D", "E"],
                &["A", "B", "C", "D", "E", "F"],
            ),
            (
                shanghai,
                "year",
                0,
                &["A", "B", "C", "D", "E"],
                &["A", "B", "C", "D", "E", "F"],
            ),
            (shanghai, "year", -1, &["F"], &[]),
        ];
        for (zone, unit, offset, orders, birthdays) in cases {
            let value = json!({"unit": unit, "offset": offset});
            let got = names_in(
                json!({"field": "last_order", "op": "in_period", "value": value}),
                env(zone),
            )
            .await;
            assert_eq!(got, v(orders), "last_order in {unit} {offset} ({zone})");
            let got = names_in(
                json!({"field": "birthday", "op": "in_period", "value": value}),
                env(zone),
            )
            .await;
            assert_eq!(got, v(birthdays), "birthday in {unit} {offset} ({zone})");
        }
        // The offset defaults to 0, and `not` takes the complement.
        let this_week = names_in(
            json!({"not": {"field": "birthday", "op": "in_period", "value": {"unit": "week"}}}),
            env(chrono_tz::Tz::UTC),
        )
        .await;
        assert_eq!(this_week, v(&["C", "D", "E", "F"]));

        // `$me`: the member asking, on `_created_by`; literal elsewhere.
        let all = f.list(json!({"limit": 100})).await.unwrap();
        let a = all.rows.iter().find(|r| r.data["name"] == "A").unwrap();
        let me: UserId = a.created_by.parse().unwrap();
        let as_me = QueryEnv {
            me: Some(me),
            ..QueryEnv::at(now())
        };
        let mine = names_in(json!({"field": "_created_by", "op": "eq", "value": "$me"}), as_me).await;
        assert_eq!(mine, v(&["A"]));
        let listed = names_in(
            json!({"field": "_created_by", "op": "in", "value": ["$me"]}),
            as_me,
        )
        .await;
        assert_eq!(listed, v(&["A"]));
        let others = names_in(json!({"field": "_created_by", "op": "ne", "value": "$me"}), as_me).await;
        assert_eq!(others, v(&["B", "C", "D", "E", "F"]));
        let literal = names_in(json!({"field": "name", "op": "eq", "value": "$me"}), as_me).await;
        assert!(literal.is_empty(), "a text field compares `$me` as text");

        // Errors name the problem.
        let err = |filter: Value| {
            let f = &f;
            async move {
                let e = f
                    .list_in(json!({"filter": filter}), RecordScope::Live, QueryEnv::at(now()))
                    .await
                    .unwrap_err();
                invalid(&e)
            }
        };
        let (field, msg) = err(json!({"field": "_created_by", "op": "eq", "value": "$me"})).await;
        assert_eq!(field, "filter");
        assert!(msg.contains("`$me` stands for the member asking"), "{msg}");
        let (_, msg) =
            err(json!({"field": "birthday", "op": "in_period", "value": {"unit": "fortnight"}})).await;
        assert!(msg.contains("not `fortnight`"), "{msg}");
        let (_, msg) =
            err(json!({"field": "birthday", "op": "in_period", "value": {"unit": "day", "offset": 5000}}))
                .await;
        assert!(msg.contains("offset"), "{msg}");
        let (_, msg) = err(json!({"field": "birthday", "op": "in_period", "value": "week"})).await;
        assert!(msg.contains("must be"), "{msg}");
        let (_, msg) = err(json!({"field": "spent", "op": "in_period", "value": {"unit": "week"}})).await;
        assert_eq!(msg, "op `in_period` does not apply to field `spent` (number)");
    })
    .await;
}
