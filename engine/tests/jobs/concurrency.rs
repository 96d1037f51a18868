//! Crash recovery, lost leases and concurrent workers (tasks, pools and
//! processes on one database): every job's effects happen exactly once.

use std::time::Duration;

use engine::error::{ErrorCode, HasCode};
use engine::ids::TenantId;
use engine::jobs::{self, JobCtx, JobError, JobStatus, NewJob, RunFilter, RunOutcome};
use engine::store::Db;
use engine::store::entity::job;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::{self, TestDb};
use crate::kit::{kit, markers, new_job, secs, status, t0, worker};

async fn crashed_worker_is_recovered_once(t: &TestDb) {
    let db = t.engine.db();
    let kit = kit();
    let a = TenantId::new();
    let id = jobs::enqueue(db.conn(), new_job(a, "tx", "c", t0()), t0())
        .await
        .expect("enqueue")
        .id;
    // Worker "crash" leases and never completes.
    let lost = jobs::lease(db, "crash", t0(), 10, Duration::from_secs(60))
        .await
        .expect("lease");
    assert_eq!(lost.len(), 1);
    let w = worker(db, &kit, "w2");
    assert_eq!(w.run_once(t0() + secs(59)).await.expect("still held"), 0);
    assert_eq!(w.run_once(t0() + secs(61)).await.expect("expired"), 1);
    assert_eq!(status(db, a, id).await, JobStatus::Succeeded);
    assert_eq!(kit.seen.lock().expect("lock").get("c"), Some(&1));
    assert_eq!(markers(db).await, 1);
    assert_eq!(jobs::get_job(db, a, id).await.expect("get").attempts, 2);

    // The crashed worker wakes up: its writes and completion are refused
    // together, so the effect exists once.
    let ctx = JobCtx::new(db.clone(), lost[0].clone(), t0() + secs(62));
    let e = kit
        .kinds
        .get("tx")
        .expect("kind")
        .run(ctx, &Value::Null)
        .await
        .expect_err("stale");
    assert_eq!(e.code(), ErrorCode::Conflict);
    assert_eq!(markers(db).await, 1);
    let e = jobs::fail(db, &lost[0], "late", t0() + secs(63))
        .await
        .expect_err("stale fail");
    assert!(matches!(e, JobError::LeaseLost(_)));
    assert_eq!(w.run_once(t0() + secs(200)).await.expect("nothing left"), 0);

    // A crash on the last attempt dead-letters the job instead of running it.
    let last = NewJob {
        max_attempts: 1,
        ..new_job(a, "ok", "last", t0())
    };
    let last = jobs::enqueue(db.conn(), last, t0()).await.expect("enqueue").id;
    jobs::lease(db, "crash", t0(), 10, Duration::from_secs(60))
        .await
        .expect("lease");
    assert_eq!(w.run_once(t0() + secs(120)).await.expect("reap"), 1);
    assert_eq!(status(db, a, last).await, JobStatus::Dead);
    assert_eq!(kit.seen.lock().expect("lock").get("last"), None);
}
both_backends!(
    crashed_worker_is_recovered_once_t,
    crashed_worker_is_recovered_once
);

async fn complete_many_skips_lost_leases(t: &TestDb) {
    let db = t.engine.db();
    let a = TenantId::new();
    let x = jobs::enqueue(db.conn(), new_job(a, "ok", "x", t0()), t0())
        .await
        .expect("x")
        .id;
    let stale = jobs::lease(db, "a", t0(), 10, Duration::from_secs(60))
        .await
        .expect("lease a");
    let y = jobs::enqueue(db.conn(), new_job(a, "ok", "y", t0()), t0())
        .await
        .expect("y")
        .id;
    let fresh = jobs::lease(db, "b", t0() + secs(61), 10, Duration::from_secs(60))
        .await
        .expect("lease b");
    assert_eq!(fresh.len(), 2);
    let finished = |job: &jobs::LeasedJob, outcome| jobs::Finished {
        job: job.clone(),
        outcome,
        detail: json!({"by": job.locked_by}),
        at: t0() + secs(62),
    };
    let lost = jobs::complete_many(db, vec![finished(&stale[0], RunOutcome::Succeeded)])
        .await
        .expect("stale");
    assert_eq!(lost, vec![x]);
    let done = fresh
        .iter()
        .map(|j| {
            finished(
                j,
                if j.id == x {
                    RunOutcome::Succeeded
                } else {
                    RunOutcome::Skipped
                },
            )
        })
        .collect();
    assert!(jobs::complete_many(db, done).await.expect("fresh").is_empty());
    assert_eq!(status(db, a, x).await, JobStatus::Succeeded);
    assert_eq!(status(db, a, y).await, JobStatus::Skipped);
    let runs = jobs::list_runs(db, a, &RunFilter::default(), 10, None)
        .await
        .expect("runs");
    assert_eq!(runs.runs.len(), 2);
    assert!(runs.runs.iter().all(|r| r.detail == json!({"by": "b"})));
}
both_backends!(complete_many_skips_lost_leases_t, complete_many_skips_lost_leases);

/// Two workers drain 500 jobs concurrently; every job runs exactly once.
async fn drain_concurrently(a: &Db, b: &Db) {
    let kit = kit();
    let tenant = TenantId::new();
    for i in 0..500 {
        jobs::enqueue(a.conn(), new_job(tenant, "tx", &format!("k{i}"), t0()), t0())
            .await
            .expect("enqueue");
    }
    let mut tasks = Vec::new();
    for (db, id) in [(a, "w1"), (b, "w2")] {
        let w = worker(db, &kit, id);
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            loop {
                let got = w.run_once(t0()).await.expect("round");
                if got == 0 {
                    return n;
                }
                n += got;
            }
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("worker task");
    }
    assert_eq!(total, 500);
    let seen = kit.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 500);
    assert!(seen.values().all(|n| *n == 1), "a job ran twice");
    assert_eq!(markers(a).await, 500);
    let runs = job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant.to_string()))
        .filter(job::Column::Status.eq("succeeded"))
        .count(a.conn())
        .await
        .expect("count");
    assert_eq!(runs, 500);
}

async fn two_workers_exactly_once(t: &TestDb) {
    drain_concurrently(t.engine.db(), t.engine.db()).await;
}
both_backends!(two_workers_exactly_once_t, two_workers_exactly_once);

/// Two separate pools (two "processes") on one PostgreSQL database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_on_postgres_exactly_once() {
    let base = common::pg_base();
    let Ok(admin) = sea_orm::Database::connect(&base).await else {
        assert!(!common::pg_required(), "Postgres at {base} is unreachable");
        return;
    };
    let name = format!("fw_t_{}", uuid::Uuid::new_v4().simple());
    use sea_orm::ConnectionTrait;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    let url = format!("{}/{name}", &base[..base.rfind('/').expect("db path")]);
    let one = Db::connect(&url).await.expect("pool one");
    one.migrate().await.expect("migrate");
    let two = Db::connect(&url).await.expect("pool two");
    drain_concurrently(&one, &two).await;
    drop((one, two));
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
}

/// Two handles (two "processes", each with its own write lock) on one
/// SQLite file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_sqlite_file_exactly_once() {
    let path = std::env::temp_dir().join(format!("fw_jobs_{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let one = Db::connect(&url).await.expect("handle one");
    one.migrate().await.expect("migrate");
    let two = Db::connect(&url).await.expect("handle two");
    drain_concurrently(&one, &two).await;
    drop((one, two));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// `run_forever` stops on the shutdown signal.
#[tokio::test]
async fn run_forever_stops_on_shutdown() {
    let t = TestDb::sqlite().await;
    let db = t.engine.db();
    let kit = kit();
    let a = TenantId::new();
    let id = jobs::enqueue(db.conn(), new_job(a, "ok", "x", t0()), t0())
        .await
        .expect("enqueue")
        .id;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let w = worker(db, &kit, "w");
    let task = tokio::spawn(async move { w.run_forever(t0, shutdown).await });
    for _ in 0..200 {
        if status(db, a, id).await == JobStatus::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status(db, a, id).await, JobStatus::Succeeded);
    stop.send(true).expect("signal");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stopped")
        .expect("task");
}
