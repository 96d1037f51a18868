//! The durable job queue on real SQLite and real PostgreSQL: idempotent
//! enqueue, leases, crash recovery, backoff and dead letter, misfires,
//! cancellation, tenant scoping, and exactly-once under concurrent workers.

// Helpers outside `#[test]` fns are test code too: clippy's in-test
// allowances do not reach them.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::TestDb;
use engine::error::{ErrorCode, HasCode};
use engine::ids::{JobId, TenantId};
use engine::jobs::{
    self, BoxFuture, FailOutcome, JobCtx, JobError, JobKind, JobKinds, JobOutcome, JobStatus, NewJob,
    RunFilter, RunOutcome, Worker, WorkerConfig,
};
use engine::meta::field_type::Kinded;
use engine::store::Db;
use engine::store::entity::job;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single().expect("t0")
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn new_job(tenant: TenantId, kind: &str, key: &str, run_at: DateTime<Utc>) -> NewJob {
    NewJob {
        tenant,
        kind: kind.to_owned(),
        payload: json!({"key": key}),
        idempotency_key: key.to_owned(),
        run_at,
        max_attempts: 3,
    }
}

/// Counts handler invocations per job key, and optionally writes a marker
/// job (`done:{id}`) in the same transaction as its completion.
struct Counting {
    kind: &'static str,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    transactional: bool,
}

impl Kinded for Counting {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

impl JobKind for Counting {
    fn run<'a>(&'a self, ctx: JobCtx, _payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            *self
                .seen
                .lock()
                .expect("lock")
                .entry(ctx.job().idempotency_key.clone())
                .or_default() += 1;
            if !self.transactional {
                return Ok(JobOutcome::Succeeded(json!({"effects": []})));
            }
            let tx = ctx.begin().await?;
            let marker = NewJob {
                max_attempts: 1,
                ..new_job(
                    ctx.job().tenant,
                    "marker",
                    &format!("done:{}", ctx.job().id),
                    t0() + TimeDelta::days(36500),
                )
            };
            jobs::enqueue(tx.tx(), marker, ctx.now()).await?;
            tx.commit(RunOutcome::Succeeded, json!({"effects": ["marker"]}))
                .await
        })
    }
}

/// Misbehaving handlers: `fail` errs, `panic` panics, `slow` overruns.
struct Bad(&'static str);

impl Kinded for Bad {
    fn kind(&self) -> &'static str {
        self.0
    }
}

impl JobKind for Bad {
    fn run<'a>(&'a self, _ctx: JobCtx, _payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            match self.0 {
                "fail" => Err(JobError::Handler {
                    code: ErrorCode::ScriptRuntime,
                    message: "boom".into(),
                }),
                "panic" => panic!("handler exploded"),
                _ => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(JobOutcome::Succeeded(Value::Null))
                }
            }
        })
    }

    fn time_budget(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }
}

struct Kit {
    kinds: Arc<JobKinds>,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

fn kit() -> Kit {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let mut kinds = JobKinds::default();
    for (kind, transactional) in [("ok", false), ("tx", true)] {
        kinds
            .register(Arc::new(Counting {
                kind,
                seen: Arc::clone(&seen),
                transactional,
            }))
            .expect("register");
    }
    for kind in ["fail", "panic", "slow"] {
        kinds.register(Arc::new(Bad(kind))).expect("register");
    }
    Kit {
        kinds: Arc::new(kinds),
        seen,
    }
}

fn worker(db: &Db, kit: &Kit, id: &str) -> Worker {
    let cfg = WorkerConfig {
        worker_id: id.to_owned(),
        batch: 25,
        lease_for: Duration::from_secs(60),
        time_budget: Duration::from_secs(10),
        poll_interval: Duration::from_millis(10),
        misfire_window: None,
    };
    Worker::new(db.clone(), Arc::clone(&kit.kinds), cfg)
}

fn assert_near(actual: DateTime<Utc>, expected: DateTime<Utc>) {
    let off = actual - expected;
    assert!(
        off >= TimeDelta::zero() && off < secs(2),
        "{actual} is not just after {expected}"
    );
}

async fn status(db: &Db, tenant: TenantId, id: JobId) -> JobStatus {
    jobs::get_job(db, tenant, id).await.expect("get job").status
}

async fn markers(db: &Db) -> u64 {
    job::Entity::find()
        .filter(job::Column::Kind.eq("marker"))
        .count(db.conn())
        .await
        .expect("count")
}

async fn enqueue_is_idempotent(t: &TestDb) {
    let db = t.engine.db();
    let (a, b) = (TenantId::new(), TenantId::new());
    let key = "rule:r1:record:x:2026-11-23";
    let first = jobs::enqueue(db.conn(), new_job(a, "ok", key, t0()), t0())
        .await
        .expect("first");
    let again = jobs::enqueue(db.conn(), new_job(a, "ok", key, t0() + secs(5)), t0())
        .await
        .expect("again");
    assert!(first.created);
    assert!(!again.created);
    assert_eq!(first.id, again.id);
    // Inside a caller's transaction too, without aborting it.
    let _w = db.write_lock().await;
    let tx = db.conn().begin().await.expect("begin");
    let in_tx = jobs::enqueue(&tx, new_job(a, "ok", key, t0()), t0())
        .await
        .expect("in tx");
    assert_eq!((in_tx.id, in_tx.created), (first.id, false));
    let other = jobs::enqueue(&tx, new_job(b, "ok", key, t0()), t0())
        .await
        .expect("other tenant");
    assert!(other.created, "keys are unique per tenant only");
    tx.commit().await.expect("commit");
    drop(_w);

    let bad = NewJob {
        kind: String::new(),
        max_attempts: 0,
        ..new_job(a, "ok", "k", t0())
    };
    let e = jobs::enqueue(db.conn(), bad, t0()).await.expect_err("invalid");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    assert_eq!(e.details().len(), 2);
    let big = NewJob {
        payload: json!("x".repeat(jobs::MAX_PAYLOAD_BYTES)),
        ..new_job(a, "ok", "big", t0())
    };
    let e = jobs::enqueue(db.conn(), big, t0()).await.expect_err("too large");
    assert_eq!(e.code(), ErrorCode::PayloadTooLarge);
}
both_backends!(enqueue_is_idempotent_t, enqueue_is_idempotent);

async fn lease_complete_and_scope(t: &TestDb) {
    let db = t.engine.db();
    let (a, b) = (TenantId::new(), TenantId::new());
    let due = jobs::enqueue(db.conn(), new_job(a, "ok", "due", t0() - secs(1)), t0())
        .await
        .expect("due");
    let later = jobs::enqueue(db.conn(), new_job(a, "ok", "later", t0() + secs(60)), t0())
        .await
        .expect("later");
    let leased = jobs::lease(db, "w1", t0(), 10, Duration::from_secs(30))
        .await
        .expect("lease");
    assert_eq!(leased.len(), 1);
    let held = &leased[0];
    assert_eq!(
        (held.id, held.attempt, held.locked_by.as_str()),
        (due.id, 1, "w1")
    );
    assert_eq!(held.locked_until, t0() + secs(30));
    assert_eq!(status(db, a, due.id).await, JobStatus::Running);
    assert!(
        jobs::lease(db, "w2", t0(), 10, Duration::from_secs(30))
            .await
            .expect("lease")
            .is_empty()
    );

    jobs::complete(
        db,
        held,
        RunOutcome::Succeeded,
        json!({"effects": 2}),
        t0() + secs(2),
    )
    .await
    .expect("complete");
    let view = jobs::get_job(db, a, due.id).await.expect("get");
    assert_eq!(
        (view.status, view.finished_at),
        (JobStatus::Succeeded, Some(t0() + secs(2)))
    );
    assert_eq!((view.locked_until, view.locked_by.as_deref()), (None, Some("w1")));
    let e = jobs::complete(db, held, RunOutcome::Succeeded, Value::Null, t0())
        .await
        .expect_err("twice");
    assert_eq!(e.code(), ErrorCode::Conflict);
    assert_eq!(status(db, a, later.id).await, JobStatus::Pending);

    let runs = jobs::list_runs(db, a, &RunFilter::default(), 10, None)
        .await
        .expect("runs");
    assert_eq!(runs.runs.len(), 1);
    let run = &runs.runs[0];
    assert_eq!(
        (run.outcome, run.attempt, run.duration_ms),
        (RunOutcome::Succeeded, 1, 2000)
    );
    assert_eq!(run.detail, json!({"effects": 2}));

    // Another tenant sees nothing.
    let e = jobs::get_job(db, b, due.id).await.expect_err("scoped");
    assert_eq!(e.code(), ErrorCode::NotFound);
    let none = jobs::list_runs(db, b, &RunFilter::default(), 10, None)
        .await
        .expect("runs");
    assert!(none.runs.is_empty());
}
both_backends!(lease_complete_and_scope_t, lease_complete_and_scope);

async fn backoff_then_dead(t: &TestDb) {
    let db = t.engine.db();
    let kit = kit();
    let w = worker(db, &kit, "w1");
    let a = TenantId::new();
    let id = jobs::enqueue(db.conn(), new_job(a, "fail", "f", t0()), t0())
        .await
        .expect("enqueue")
        .id;
    assert_eq!(w.run_once(t0()).await.expect("round 1"), 1);
    let v = jobs::get_job(db, a, id).await.expect("get");
    assert_eq!((v.status, v.attempts), (JobStatus::Failed, 1));
    // Backoff counts from the failure: the round's clock plus the measured run.
    assert_near(v.run_at, t0() + secs(10));
    assert!(
        v.last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("script_runtime: boom"))
    );
    assert_eq!(w.run_once(t0() + secs(9)).await.expect("early"), 0);
    assert_eq!(w.run_once(v.run_at).await.expect("round 2"), 1);
    let v2 = jobs::get_job(db, a, id).await.expect("get");
    assert_eq!(v2.status, JobStatus::Failed);
    assert_near(v2.run_at, v.run_at + secs(20));
    assert_eq!(w.run_once(v2.run_at).await.expect("round 3"), 1);
    let v = jobs::get_job(db, a, id).await.expect("get");
    assert_eq!((v.status, v.attempts), (JobStatus::Dead, 3));
    assert_eq!(
        w.run_once(t0() + TimeDelta::days(1)).await.expect("never again"),
        0
    );
    let runs = jobs::list_runs(db, a, &RunFilter::default(), 10, None)
        .await
        .expect("runs");
    assert_eq!(runs.runs.len(), 3);
    assert!(runs.runs.iter().all(|r| r.outcome == RunOutcome::Failed));
    assert_eq!(runs.runs[0].detail, json!({"next": {"result": "dead"}}));

    let schedule: Vec<i64> = (1..=12).map(|n| jobs::backoff(n).num_seconds()).collect();
    assert_eq!(
        schedule,
        [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
    );
}
both_backends!(backoff_then_dead_t, backoff_then_dead);

async fn panics_and_timeouts_fail_the_job(t: &TestDb) {
    let db = t.engine.db();
    let kit = kit();
    let w = worker(db, &kit, "w1");
    let a = TenantId::new();
    let p = jobs::enqueue(db.conn(), new_job(a, "panic", "p", t0()), t0())
        .await
        .expect("p")
        .id;
    let s = jobs::enqueue(db.conn(), new_job(a, "slow", "s", t0()), t0())
        .await
        .expect("s")
        .id;
    let u = jobs::enqueue(db.conn(), new_job(a, "nope", "u", t0()), t0())
        .await
        .expect("u")
        .id;
    let ok = jobs::enqueue(db.conn(), new_job(a, "ok", "ok", t0()), t0())
        .await
        .expect("ok")
        .id;
    assert_eq!(w.run_once(t0()).await.expect("round"), 4);
    for (id, needle) in [(p, "handler exploded"), (s, "time budget"), (u, "unknown_kind")] {
        let v = jobs::get_job(db, a, id).await.expect("get");
        assert_eq!(v.status, JobStatus::Failed);
        assert!(
            v.last_error.as_deref().is_some_and(|e| e.contains(needle)),
            "{:?}",
            v.last_error
        );
    }
    assert_eq!(status(db, a, ok).await, JobStatus::Succeeded);
}
both_backends!(
    panics_and_timeouts_fail_the_job_t,
    panics_and_timeouts_fail_the_job
);

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

async fn fail_returns_schedule(t: &TestDb) {
    let db = t.engine.db();
    let a = TenantId::new();
    jobs::enqueue(db.conn(), new_job(a, "ok", "x", t0()), t0())
        .await
        .expect("enqueue");
    let held = jobs::lease(db, "w", t0(), 1, Duration::from_secs(60))
        .await
        .expect("lease");
    let next = jobs::fail(db, &held[0], "nope", t0() + secs(1))
        .await
        .expect("fail");
    assert_eq!(next, FailOutcome::Retry { at: t0() + secs(11) });
}
both_backends!(fail_returns_schedule_t, fail_returns_schedule);

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

async fn cancel_pending_by_prefix(t: &TestDb) {
    let db = t.engine.db();
    let a = TenantId::new();
    for key in ["rule:A:r1", "rule:A:r2", "rule:A:run", "rule:AB:r1", "rule:a:r1"] {
        jobs::enqueue(db.conn(), new_job(a, "ok", key, t0()), t0())
            .await
            .expect("enqueue");
    }
    // One of rule A's firings is running: it is left to finish.
    let held = jobs::lease(db, "w", t0(), 1, Duration::from_secs(60))
        .await
        .expect("lease");
    assert_eq!(held[0].idempotency_key, "rule:A:r1");
    let other = TenantId::new();
    jobs::enqueue(db.conn(), new_job(other, "ok", "rule:A:r2", t0()), t0())
        .await
        .expect("other");

    let _w = db.write_lock().await;
    let tx = db.conn().begin().await.expect("begin");
    let removed = jobs::cancel_pending(&tx, a, "rule:A:").await.expect("cancel");
    tx.commit().await.expect("commit");
    drop(_w);
    assert_eq!(
        removed, 2,
        "rule:A:r2 and rule:A:run, not rule:AB:, rule:a: or the running one"
    );
    let again = jobs::enqueue(db.conn(), new_job(a, "ok", "rule:A:r2", t0()), t0())
        .await
        .expect("replan");
    assert!(again.created, "re-enabling the rule plans its firings afresh");
    let kept = jobs::enqueue(db.conn(), new_job(other, "ok", "rule:A:r2", t0()), t0())
        .await
        .expect("other");
    assert!(!kept.created, "another tenant's firings are untouched");
    let e = jobs::cancel_pending(db.conn(), a, "")
        .await
        .expect_err("empty prefix");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);

    // One job cancelled by id keeps its key: the firing is not re-planned.
    let solo = jobs::enqueue(db.conn(), new_job(a, "ok", "solo", t0()), t0())
        .await
        .expect("solo")
        .id;
    let e = jobs::cancel_job(db.conn(), other, solo, t0())
        .await
        .expect_err("scoped");
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert!(jobs::cancel_job(db.conn(), a, solo, t0()).await.expect("cancel"));
    assert_eq!(status(db, a, solo).await, JobStatus::Cancelled);
    assert!(!jobs::cancel_job(db.conn(), a, solo, t0()).await.expect("again"));
    let replan = jobs::enqueue(db.conn(), new_job(a, "ok", "solo", t0()), t0())
        .await
        .expect("replan");
    assert!(!replan.created);
    assert!(
        !jobs::cancel_job(db.conn(), a, held[0].id, t0())
            .await
            .expect("running")
    );
}
both_backends!(cancel_pending_by_prefix_t, cancel_pending_by_prefix);

async fn missed_firings_are_skipped(t: &TestDb) {
    let db = t.engine.db();
    let kit = kit();
    let cfg = WorkerConfig {
        misfire_window: Some(Duration::from_secs(24 * 3600)),
        ..worker(db, &kit, "w").config().clone()
    };
    let w = Worker::new(db.clone(), Arc::clone(&kit.kinds), cfg);
    let a = TenantId::new();
    let old = jobs::enqueue(
        db.conn(),
        new_job(a, "ok", "old", t0() - TimeDelta::days(3)),
        t0(),
    )
    .await
    .expect("old")
    .id;
    let recent = jobs::enqueue(
        db.conn(),
        new_job(a, "ok", "recent", t0() - TimeDelta::hours(23)),
        t0(),
    )
    .await
    .expect("recent")
    .id;
    assert_eq!(w.run_once(t0()).await.expect("round"), 1);
    assert_eq!(status(db, a, old).await, JobStatus::Skipped);
    assert_eq!(status(db, a, recent).await, JobStatus::Succeeded);
    assert_eq!(kit.seen.lock().expect("lock").get("old"), None);
    let filter = RunFilter {
        job_id: Some(old),
        ..RunFilter::default()
    };
    let runs = jobs::list_runs(db, a, &filter, 10, None).await.expect("runs");
    assert_eq!(runs.runs.len(), 1);
    assert_eq!(
        (runs.runs[0].outcome, runs.runs[0].attempt),
        (RunOutcome::Skipped, 0)
    );
    assert_eq!(runs.runs[0].detail["reason"], json!("missed"));
    assert_eq!(
        jobs::skip_missed(db, t0(), Duration::from_secs(60))
            .await
            .expect("again"),
        0
    );
}
both_backends!(missed_firings_are_skipped_t, missed_firings_are_skipped);

async fn run_log_pages_and_filters(t: &TestDb) {
    let db = t.engine.db();
    let kit = kit();
    let w = worker(db, &kit, "w");
    let a = TenantId::new();
    for i in 0..7 {
        let key = if i < 5 {
            format!("rule:one:{i}")
        } else {
            format!("rule:two:{i}")
        };
        jobs::enqueue(db.conn(), new_job(a, "ok", &key, t0()), t0())
            .await
            .expect("enqueue");
    }
    assert_eq!(w.run_once(t0()).await.expect("round"), 7);
    let filter = RunFilter {
        key_prefix: Some("rule:one:".into()),
        kind: Some("ok".into()),
        ..RunFilter::default()
    };
    let p1 = jobs::list_runs(db, a, &filter, 3, None).await.expect("page 1");
    assert_eq!(p1.runs.len(), 3);
    let p2 = jobs::list_runs(db, a, &filter, 3, p1.next_cursor)
        .await
        .expect("page 2");
    assert_eq!(p2.runs.len(), 2);
    assert!(p2.next_cursor.is_none());
    assert!(
        p1.runs
            .iter()
            .chain(&p2.runs)
            .all(|r| r.idempotency_key.starts_with("rule:one:"))
    );
    assert!(p1.runs.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}
both_backends!(run_log_pages_and_filters_t, run_log_pages_and_filters);

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
