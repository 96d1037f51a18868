//! The durable job queue on real SQLite and real PostgreSQL: idempotent
//! enqueue, leases, crash recovery, backoff and dead letter, misfires,
//! cancellation, tenant scoping, and exactly-once under concurrent workers.

// Helpers outside `#[test]` fns are test code too: clippy's in-test
// allowances do not reach them.
#![allow(clippy::expect_used, clippy::indexing_slicing)]

mod common;
#[path = "jobs/concurrency.rs"]
mod concurrency;
#[path = "jobs/kit.rs"]
mod kit;

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use common::TestDb;
use engine::error::{ErrorCode, HasCode};
use engine::ids::TenantId;
use engine::jobs::{self, FailOutcome, JobStatus, NewJob, RunFilter, RunOutcome, Worker, WorkerConfig};
use kit::{assert_near, kit, new_job, secs, status, t0, worker};
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

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
            .is_some_and(|e| e.starts_with("script_error: boom"))
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
        jobs::skip_missed(db, t0(), Duration::from_secs(60), &[])
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
