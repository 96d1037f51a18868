//! Worker side: lease due jobs, complete or fail them under the lease, and
//! sweep missed firings. Every state change after the lease is conditional
//! on `(locked_by, attempts)`, the lease's fencing token.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect,
};
use sea_query::{Expr, ExprTrait};
use serde::Serialize;
use serde_json::{Value, json};

use super::{JobError, JobStatus, LeasedJob, RunOutcome, bounded};
use crate::error::FieldError;
use crate::ids::RunId;
use crate::store::entity::{job, job_run};
use crate::store::{Backend, Db, StoreError, parse_id};

/// First retry delay.
pub const BACKOFF_BASE_SECS: i64 = 10;
/// Longest retry delay.
pub const BACKOFF_CAP_SECS: i64 = 3600;
/// Rows handled per transaction by [`skip_missed`].
const SKIP_BATCH: u64 = 500;

/// What [`fail`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum FailOutcome {
    /// Retried at this instant (status `failed`).
    Retry {
        /// The next `run_at`.
        at: DateTime<Utc>,
    },
    /// Out of attempts (status `dead`).
    Dead,
}

/// The delay before retrying after failed attempt number `attempt` (from
/// 1): 10 s, 20 s, 40 s, ... doubling, capped at 1 h, without jitter so the
/// schedule is deterministic.
#[must_use]
pub fn backoff(attempt: i32) -> TimeDelta {
    let exp = Ord::min(u32::try_from(attempt.saturating_sub(1)).unwrap_or(0), 20);
    let secs = Ord::min(BACKOFF_BASE_SECS.saturating_mul(1_i64 << exp), BACKOFF_CAP_SECS);
    TimeDelta::seconds(secs)
}

/// Due and not held: pending or retrying with `run_at <= now`, or running
/// under an expired lease (its worker crashed or stalled).
fn leasable(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(job::Column::Status.is_in([JobStatus::Pending.as_str(), JobStatus::Failed.as_str()]))
                .add(job::Column::RunAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(job::Column::Status.eq(JobStatus::Running.as_str()))
                .add(job::Column::LockedUntil.lt(now)),
        )
}

/// Leases up to `batch` due jobs of any tenant for `lease_for`, oldest
/// `run_at` first, incrementing each one's attempt count.
///
/// This scan is deliberately not tenant-scoped: one worker pool serves every
/// tenant, and fairness between tenants is by `run_at` order. PostgreSQL
/// locks the chosen rows with `FOR UPDATE SKIP LOCKED`, so concurrent
/// workers (other tasks or other processes) take disjoint sets; SQLite does
/// it in one `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`, atomic
/// across processes on the same file.
///
/// # Errors
/// `validation_failed` (`batch` 0 or `lease_for` out of range), `internal`.
pub async fn lease(
    db: &Db,
    worker_id: &str,
    now: DateTime<Utc>,
    batch: u32,
    lease_for: Duration,
) -> Result<Vec<LeasedJob>, JobError> {
    if batch == 0 || worker_id.is_empty() {
        return Err(invalid("batch", "batch and worker id must not be empty"));
    }
    let until = now + delta(lease_for, "lease_for")?;
    let mark = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Running.as_str()))
        .col_expr(job::Column::LockedBy, Expr::value(worker_id))
        .col_expr(job::Column::LockedUntil, Expr::value(until))
        .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).add(1))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    let mut rows = match db.backend() {
        // One statement: atomic even against another process on the file.
        Backend::Sqlite => {
            let _w = db.write_lock().await;
            claim(db.conn(), Backend::Sqlite, leasable(now), u64::from(batch), mark).await?
        }
        Backend::Postgres => {
            let tx = db.begin().await?;
            db.relax_commit(&tx).await?;
            let rows = claim(&tx, Backend::Postgres, leasable(now), u64::from(batch), mark).await?;
            tx.commit().await?;
            rows
        }
    };
    rows.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    rows.into_iter().map(|r| leased(r, now)).collect()
}

/// Completes a held job as `succeeded` or `skipped` and writes its run-log
/// row, in one transaction of its own. The run spans `job.leased_at` to
/// `now`.
///
/// # Errors
/// `conflict` ([`JobError::LeaseLost`]) when this worker no longer holds the
/// lease; `validation_failed` for [`RunOutcome::Failed`] (use [`fail`]);
/// `internal`.
pub async fn complete(
    db: &Db,
    job: &LeasedJob,
    outcome: RunOutcome,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let _w = db.write_lock().await;
    let tx = db.begin().await?;
    complete_in(&tx, job, outcome, detail, now).await?;
    tx.commit().await?;
    Ok(())
}

/// [`complete`] on the caller's connection: call it in the transaction that
/// applies the handler's effects, then commit. If the lease was lost the
/// error tells the caller to roll back, so the effects and the completion
/// happen together exactly once. On SQLite the caller holds the write lock.
///
/// # Errors
/// As [`complete`].
pub async fn complete_in<C: ConnectionTrait>(
    conn: &C,
    job: &LeasedJob,
    outcome: RunOutcome,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    if outcome == RunOutcome::Failed {
        return Err(invalid("outcome", "a failed run is recorded with `fail`"));
    }
    let res = held(job::Entity::update_many(), job)
        .col_expr(job::Column::Status, Expr::value(outcome.job_status().as_str()))
        .col_expr(job::Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
        .col_expr(job::Column::LastError, Expr::value(None::<String>))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Err(JobError::LeaseLost(job.id));
    }
    insert_run(conn, job, outcome, detail, None, now).await
}

/// Records a failed attempt that must not be retried (the handler's input
/// is at fault, so another attempt would fail the same way): the job is
/// `dead` at once, with a run-log row carrying `detail`. On the caller's
/// connection, like [`complete_in`], so the handler's own bookkeeping
/// commits with it.
///
/// # Errors
/// `conflict` ([`JobError::LeaseLost`]); `internal`.
pub async fn fail_final_in<C: ConnectionTrait>(
    conn: &C,
    job: &LeasedJob,
    error: &str,
    detail: Value,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let error = bounded(error);
    let res = held(job::Entity::update_many(), job)
        .col_expr(job::Column::Status, Expr::value(JobStatus::Dead.as_str()))
        .col_expr(job::Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
        .col_expr(job::Column::LastError, Expr::value(error.as_str()))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .exec(conn)
        .await?;
    if res.rows_affected != 1 {
        return Err(JobError::LeaseLost(job.id));
    }
    insert_run(conn, job, RunOutcome::Failed, detail, Some(error), now).await
}

/// Records a failed attempt of a held job: retried after [`backoff`] (status
/// `failed`), or `dead` once `max_attempts` attempts were made. Writes the
/// run-log row in the same transaction.
///
/// # Errors
/// `conflict` ([`JobError::LeaseLost`]) when this worker no longer holds the
/// lease; `internal`.
pub async fn fail(
    db: &Db,
    job: &LeasedJob,
    error: &str,
    now: DateTime<Utc>,
) -> Result<FailOutcome, JobError> {
    let error = bounded(error);
    let outcome = if job.attempt >= job.max_attempts {
        FailOutcome::Dead
    } else {
        FailOutcome::Retry {
            at: now + backoff(job.attempt),
        }
    };
    let mut update = held(job::Entity::update_many(), job)
        .col_expr(job::Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
        .col_expr(job::Column::LastError, Expr::value(error.as_str()))
        .col_expr(job::Column::UpdatedAt, Expr::value(now));
    update = match outcome {
        FailOutcome::Dead => update
            .col_expr(job::Column::Status, Expr::value(JobStatus::Dead.as_str()))
            .col_expr(job::Column::FinishedAt, Expr::value(now)),
        FailOutcome::Retry { at } => update
            .col_expr(job::Column::Status, Expr::value(JobStatus::Failed.as_str()))
            .col_expr(job::Column::RunAt, Expr::value(at)),
    };
    let _w = db.write_lock().await;
    let tx = db.begin().await?;
    if update.exec(&tx).await?.rows_affected != 1 {
        return Err(JobError::LeaseLost(job.id));
    }
    let detail = json!({ "next": outcome });
    insert_run(&tx, job, RunOutcome::Failed, detail, Some(error), now).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The misfire policy: pending jobs of any tenant whose `run_at` is older
/// than `now - window` are marked `skipped` with a run-log row
/// (`detail.reason = "missed"`) instead of running late, so a server that
/// was down for days does not fire thousands of stale runs. Retries
/// (status `failed`) are not affected, nor jobs of the kinds in `late`
/// (those that must run however late). Spans tenants like [`lease`].
/// Returns how many were skipped.
///
/// # Errors
/// `validation_failed` (`window` out of range), `internal`.
pub async fn skip_missed(
    db: &Db,
    now: DateTime<Utc>,
    window: Duration,
    late: &[&str],
) -> Result<u64, JobError> {
    let cutoff = now - delta(window, "window")?;
    let mut total = 0;
    loop {
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let missed = Condition::all()
            .add(job::Column::Status.eq(JobStatus::Pending.as_str()))
            .add(job::Column::RunAt.lt(cutoff))
            .add(job::Column::Kind.is_not_in(late.iter().copied()));
        let mark = job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(JobStatus::Skipped.as_str()))
            .col_expr(job::Column::UpdatedAt, Expr::value(now))
            .col_expr(job::Column::FinishedAt, Expr::value(now));
        // The update comes first in the transaction, so SQLite takes the
        // write lock at once instead of upgrading a read (which can fail
        // against another process).
        let rows = claim(&tx, db.backend(), missed, SKIP_BATCH, mark).await?;
        let count = rows.len() as u64;
        if count == 0 {
            tx.commit().await?;
            return Ok(total);
        }
        let runs = rows.into_iter().map(|r| job_run::ActiveModel {
            id: Set(RunId::new().to_string()),
            tenant_id: Set(r.tenant_id),
            job_id: Set(r.id),
            kind: Set(r.kind),
            idempotency_key: Set(r.idempotency_key),
            attempt: Set(0),
            started_at: Set(now),
            finished_at: Set(now),
            duration_ms: Set(0),
            outcome: Set(RunOutcome::Skipped.as_str().to_owned()),
            detail: Set(json!({
                "reason": "missed",
                "run_at": r.run_at,
                "window_secs": window.as_secs(),
            })),
            error: Set(None),
        });
        job_run::Entity::insert_many(runs)
            .exec_without_returning(&tx)
            .await?;
        tx.commit().await?;
        total += count;
        if count < SKIP_BATCH {
            return Ok(total);
        }
    }
}

/// Picks up to `limit` rows matching `cond`, oldest `run_at` first, and
/// applies `mark` to them, returning the updated rows. SQLite: one
/// `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING *`. PostgreSQL:
/// `SELECT ... FOR UPDATE SKIP LOCKED`, then the update of exactly those
/// locked rows; `conn` must be a transaction so the locks hold in between.
async fn claim<C: ConnectionTrait>(
    conn: &C,
    backend: Backend,
    cond: Condition,
    limit: u64,
    mark: sea_orm::UpdateMany<job::Entity>,
) -> Result<Vec<job::Model>, JobError> {
    match backend {
        Backend::Sqlite => {
            let pick = Query::select()
                .column(job::Column::Id)
                .from(job::Entity)
                .cond_where(cond)
                .order_by(job::Column::RunAt, Order::Asc)
                .order_by(job::Column::Id, Order::Asc)
                .limit(limit)
                .to_owned();
            Ok(mark
                .filter(job::Column::Id.in_subquery(pick))
                .exec_with_returning(conn)
                .await?)
        }
        Backend::Postgres => {
            let ids: Vec<String> = job::Entity::find()
                .select_only()
                .column(job::Column::Id)
                .filter(cond)
                .order_by_asc(job::Column::RunAt)
                .order_by_asc(job::Column::Id)
                .limit(limit)
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .into_tuple()
                .all(conn)
                .await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            Ok(mark
                .filter(job::Column::Id.is_in(ids))
                .exec_with_returning(conn)
                .await?)
        }
    }
}

/// Restricts an update to the job while this worker holds its lease.
pub(super) fn held(
    update: sea_orm::UpdateMany<job::Entity>,
    job: &LeasedJob,
) -> sea_orm::UpdateMany<job::Entity> {
    update
        .filter(job::Column::TenantId.eq(job.tenant.to_string()))
        .filter(job::Column::Id.eq(job.id.to_string()))
        .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
        .filter(job::Column::LockedBy.eq(job.locked_by.as_str()))
        .filter(job::Column::Attempts.eq(job.attempt))
}

/// Writes one run-log row for a held job; the run spans its lease time to
/// `now`.
async fn insert_run<C: ConnectionTrait>(
    conn: &C,
    job: &LeasedJob,
    outcome: RunOutcome,
    detail: Value,
    error: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), JobError> {
    let row = run_row(job, outcome, detail, error, now);
    job_run::Entity::insert(row).exec_without_returning(conn).await?;
    Ok(())
}

/// The run-log row of one attempt of a held job, spanning its lease time to
/// `now`.
pub(super) fn run_row(
    job: &LeasedJob,
    outcome: RunOutcome,
    detail: Value,
    error: Option<String>,
    now: DateTime<Utc>,
) -> job_run::ActiveModel {
    job_run::ActiveModel {
        id: Set(RunId::new().to_string()),
        tenant_id: Set(job.tenant.to_string()),
        job_id: Set(job.id.to_string()),
        kind: Set(job.kind.clone()),
        idempotency_key: Set(job.idempotency_key.clone()),
        attempt: Set(job.attempt),
        started_at: Set(job.leased_at),
        finished_at: Set(now),
        duration_ms: Set(Ord::max((now - job.leased_at).num_milliseconds(), 0)),
        outcome: Set(outcome.as_str().to_owned()),
        detail: Set(detail),
        error: Set(error),
    }
}

fn leased(r: job::Model, now: DateTime<Utc>) -> Result<LeasedJob, JobError> {
    Ok(LeasedJob {
        id: parse_id(&r.id)?,
        tenant: parse_id(&r.tenant_id)?,
        locked_by: r
            .locked_by
            .ok_or_else(|| StoreError::Corrupt(format!("leased job `{}` has no holder", r.id)))?,
        locked_until: r
            .locked_until
            .ok_or_else(|| StoreError::Corrupt(format!("leased job `{}` has no expiry", r.id)))?,
        kind: r.kind,
        payload: r.payload,
        idempotency_key: r.idempotency_key,
        run_at: r.run_at,
        attempt: r.attempts,
        max_attempts: r.max_attempts,
        leased_at: now,
    })
}

fn delta(d: Duration, field: &str) -> Result<TimeDelta, JobError> {
    TimeDelta::from_std(d)
        .ok()
        .filter(|t| *t > TimeDelta::zero() && *t <= TimeDelta::days(3650))
        .ok_or_else(|| invalid(field, "must be between 1 ms and 10 years"))
}

fn invalid(field: &str, message: &str) -> JobError {
    JobError::Invalid(vec![FieldError::new(field, message)])
}
