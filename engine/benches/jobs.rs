//! Job queue throughput (criterion): `cargo bench -p engine --bench jobs`.
//!
//! Each iteration enqueues a batch of jobs, then drains it through
//! `Worker::run_once` with a no-op handler: per round of up to 50 jobs one
//! lease statement and one completion transaction (conditional update plus
//! multi-row run-log insert).
//! Backends: SQLite in memory and on a file (one worker), and PostgreSQL
//! with two workers on two pools when `FORMWORK_TEST_PG` points at a
//! server (a scratch database is created and dropped).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use engine::ids::TenantId;
use engine::jobs::{
    self, BoxFuture, JobCtx, JobError, JobKind, JobKinds, JobOutcome, NewJob, Worker, WorkerConfig,
};
use engine::meta::field_type::Kinded;
use engine::store::Db;
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// Jobs per iteration.
const BATCH: u64 = 200;

struct Noop;

impl Kinded for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }
}

impl JobKind for Noop {
    fn run<'a>(&'a self, _ctx: JobCtx, _payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async { Ok(JobOutcome::Succeeded(Value::Null)) })
    }
}

#[allow(clippy::expect_used)] // constant fixture
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single().expect("now")
}

fn worker(db: &Db, kinds: &Arc<JobKinds>, id: &str) -> Worker {
    let cfg = WorkerConfig {
        worker_id: id.to_owned(),
        batch: 50,
        lease_for: Duration::from_secs(60),
        time_budget: Duration::from_secs(10),
        poll_interval: Duration::from_millis(10),
        misfire_window: None,
    };
    Worker::new(db.clone(), Arc::clone(kinds), cfg)
}

/// Enqueues `BATCH` jobs, then drains them with the given workers running
/// concurrently.
async fn round(db: &Db, workers: &[Worker], tenant: TenantId, seq: &mut u64) {
    plan(db, tenant, seq).await;
    drain(workers).await;
}

/// Enqueues `BATCH` jobs in one transaction, as a planner does.
#[allow(clippy::expect_used)] // a failing benchmark should stop loudly
async fn plan(db: &Db, tenant: TenantId, seq: &mut u64) {
    let _w = db.write_lock().await;
    let tx = db.conn().begin().await.expect("begin");
    for _ in 0..BATCH {
        *seq += 1;
        let job = NewJob {
            tenant,
            kind: "noop".into(),
            payload: json!({"n": *seq}),
            idempotency_key: format!("bench:{seq}"),
            run_at: now(),
            max_attempts: 3,
        };
        jobs::enqueue(&tx, job, now()).await.expect("enqueue");
    }
    tx.commit().await.expect("commit");
}

/// Drains the queue with the workers running concurrently.
#[allow(clippy::expect_used)] // a failing benchmark should stop loudly
async fn drain(workers: &[Worker]) {
    let mut tasks = Vec::new();
    for w in workers {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while let Ok(got) = w.run_once(now()).await {
                if got == 0 {
                    break;
                }
                n += got;
            }
            n
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await.expect("worker");
    }
    black_box(done);
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, name: &str, dbs: &[Db]) {
    let mut kinds = JobKinds::default();
    if kinds.register(Arc::new(Noop)).is_err() {
        return;
    }
    let kinds = Arc::new(kinds);
    let Some(first) = dbs.first() else { return };
    let workers: Vec<Worker> = dbs
        .iter()
        .enumerate()
        .map(|(i, db)| worker(db, &kinds, &format!("bench-{i}")))
        .collect();
    let tenant = TenantId::new();
    let mut seq = 0;
    let mut group = c.benchmark_group("jobs");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.bench_function(format!("{name}/enqueue_lease_complete"), |b| {
        b.iter(|| rt.block_on(round(first, &workers, tenant, &mut seq)));
    });
    // Lease + run + complete only: planning happens outside the timing.
    group.bench_function(format!("{name}/lease_complete"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                rt.block_on(plan(first, tenant, &mut seq));
                let start = std::time::Instant::now();
                rt.block_on(drain(&workers));
                total += start.elapsed();
            }
            total
        });
    });
    group.finish();
}

#[allow(clippy::expect_used)] // set-up
fn enqueue_lease_complete(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let memory = rt.block_on(open("sqlite::memory:"));
    bench_backend(c, &rt, "sqlite_memory_1_worker", &[memory]);

    let path = std::env::temp_dir().join(format!("fw_bench_jobs_{}.db", uuid::Uuid::new_v4().simple()));
    let file = rt.block_on(open(&format!("sqlite://{}?mode=rwc", path.display())));
    bench_backend(c, &rt, "sqlite_file_1_worker", &[file]);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    let Ok(base) = std::env::var("FORMWORK_TEST_PG") else {
        return;
    };
    let Ok(admin) = rt.block_on(Database::connect(&base)) else {
        return;
    };
    let name = format!("fw_bench_{}", uuid::Uuid::new_v4().simple());
    let Some(slash) = base.rfind('/') else { return };
    let url = format!("{}/{name}", base.get(..slash).unwrap_or_default());
    rt.block_on(admin.execute_unprepared(&format!("CREATE DATABASE {name}")))
        .expect("create database");
    let one = rt.block_on(open(&url));
    let two = rt.block_on(async { Db::connect(&url).await.expect("second pool") });
    bench_backend(c, &rt, "postgres_2_workers", &[one, two]);
    let _ = rt.block_on(admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
}

#[allow(clippy::expect_used)] // set-up
async fn open(url: &str) -> Db {
    let db = Db::connect(url).await.expect("connect");
    db.migrate().await.expect("migrate");
    db
}

criterion_group!(benches, enqueue_lease_complete);
criterion_main!(benches);
