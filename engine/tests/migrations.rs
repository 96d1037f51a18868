//! Migrations run up → down → up on SQLite and Postgres and give the same
//! schema both times.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::TestDb;
use engine::store::Backend;
use engine::store::migration::Migrator;
use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::MigratorTrait;

// Fixed introspection SQL with no input in it.
#[allow(clippy::disallowed_methods)]
async fn schema(db: &TestDb) -> Vec<String> {
    let conn = db.engine.db().conn();
    let (backend, sql) = match db.engine.db().backend() {
        Backend::Sqlite => (
            sea_orm::DbBackend::Sqlite,
            "SELECT name || ':' || COALESCE(sql, '') FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations' ORDER BY name",
        ),
        Backend::Postgres => (
            sea_orm::DbBackend::Postgres,
            "SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable \
             FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name <> 'seaql_migrations' ORDER BY table_name, column_name",
        ),
    };
    conn.query_all_raw(Statement::from_string(backend, sql))
        .await
        .expect("schema")
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

async fn up_down_up(db: &TestDb) {
    let first = schema(db).await;
    assert!(first.iter().any(|t| t.starts_with("records")), "{first:?}");
    Migrator::down(db.engine.db().conn(), None).await.expect("down");
    assert!(schema(db).await.is_empty(), "down removes every table");
    Migrator::up(db.engine.db().conn(), None).await.expect("up again");
    assert_eq!(schema(db).await, first);
}
both_backends!(up_down_up_t, up_down_up);
