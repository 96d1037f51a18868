//! SQLite transactions begin `IMMEDIATE`: a transaction that reads, then
//! writes, while another connection writes in between, waits for its turn
//! instead of failing with "database is locked" (`SQLITE_BUSY_SNAPSHOT`,
//! which a deferred transaction cannot wait out). Found by the API fuzz run:
//! a role update racing a token's last-use stamp answered 500.

// The scratch table is not one of the store's: raw SQL keeps it out of the schema.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::Duration;

use engine::{Engine, EngineConfig};
use sea_orm::ConnectionTrait;

#[tokio::test]
async fn a_read_then_write_transaction_survives_a_concurrent_writer() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("lock.db").display());
    let engine = Engine::open(&url, EngineConfig::default()).await.unwrap();
    let db = engine.db().clone();
    db.conn()
        .execute_unprepared("CREATE TABLE counter (n INTEGER NOT NULL)")
        .await
        .unwrap();
    db.conn()
        .execute_unprepared("INSERT INTO counter VALUES (0)")
        .await
        .unwrap();

    let tx = db.begin().await.unwrap();
    tx.execute_unprepared("SELECT n FROM counter").await.unwrap();
    // Another connection of the pool writes while the transaction is open.
    let other = {
        let db = db.clone();
        tokio::spawn(async move {
            db.conn()
                .execute_unprepared("UPDATE counter SET n = n + 10")
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.execute_unprepared("UPDATE counter SET n = n + 1")
        .await
        .expect("the transaction's own write is not refused");
    tx.commit().await.unwrap();
    other
        .await
        .unwrap()
        .expect("the other writer waited and then wrote");
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT n FROM counter",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 11);
}
