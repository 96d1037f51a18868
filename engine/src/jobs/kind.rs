//! The handler registry: one [`JobKind`] per job kind, and the [`JobCtx`]
//! a handler runs with.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{DatabaseTransaction, EntityTrait};
use serde_json::Value;

use super::{JobError, LeasedJob, RunOutcome, complete_in, fail_final_in};
use crate::meta::field_type::{Kinded, Registry};
use crate::store::{Db, WriteGuard};

/// A boxed, sendable future (what [`JobKind::run`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The registry of job handlers, built once at start-up and then frozen.
pub type JobKinds = Registry<dyn JobKind>;

/// A job handler. Kind strings are `snake_case` constants and never change
/// (they are stored in `jobs.kind`).
///
/// A handler either returns [`JobOutcome::Succeeded`]/[`JobOutcome::Skipped`]
/// and the worker completes the job afterwards (at-least-once for effects
/// outside the database), or applies its database writes through
/// [`JobCtx::begin`] and finishes with [`JobTx::commit`], which completes
/// the job in the same transaction (exactly once).
///
/// # Example
/// ```
/// use engine::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobKinds, JobOutcome};
/// use engine::meta::field_type::Kinded;
/// use serde_json::{Value, json};
/// use std::sync::Arc;
///
/// struct Echo;
/// impl Kinded for Echo {
///     fn kind(&self) -> &'static str { "echo" }
/// }
/// impl JobKind for Echo {
///     fn run<'a>(&'a self, _ctx: JobCtx, payload: &'a Value)
///         -> BoxFuture<'a, Result<JobOutcome, JobError>> {
///         Box::pin(async move { Ok(JobOutcome::Succeeded(json!({ "echo": payload }))) })
///     }
/// }
///
/// let mut kinds = JobKinds::default();
/// kinds.register(Arc::new(Echo)).unwrap();
/// assert!(kinds.get("echo").is_ok());
/// ```
pub trait JobKind: Kinded + Send + Sync + 'static {
    /// Runs one attempt. An `Err` fails the attempt (retried with backoff);
    /// a panic or running past the time budget does too.
    fn run<'a>(&'a self, ctx: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>>;

    /// This kind's time budget; `None` uses the worker's default. Keep it
    /// below the worker's lease time.
    fn time_budget(&self) -> Option<Duration> {
        None
    }

    /// Whether a job of this kind still runs when it is older than the
    /// misfire window (a step timeout must act even after a long outage);
    /// by default such jobs are skipped as missed.
    fn runs_late(&self) -> bool {
        false
    }

    /// Called once when a job of this kind is dead-lettered (its last
    /// attempt failed, panicked, overran its budget, or its worker died),
    /// after the job is marked dead, so the kind can undo what an
    /// interrupted attempt left. Errors are the hook's to log. By default
    /// nothing happens.
    fn on_dead<'a>(&'a self, ctx: JobCtx, payload: &'a Value) -> BoxFuture<'a, ()> {
        let _ = (ctx, payload);
        Box::pin(async {})
    }
}

/// What a handler reports.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done; the detail (effects applied, log lines) goes to the run log.
    Succeeded(Value),
    /// Nothing to do (the condition did not hold); logged as skipped.
    Skipped(Value),
    /// Already completed inside the handler's transaction by
    /// [`JobTx::commit`]; only that function builds it.
    Committed(Completed),
}

/// Proof that [`JobTx::commit`] completed the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed(());

/// What a handler runs with: the database, its leased job and the worker's
/// clock.
#[derive(Clone)]
pub struct JobCtx {
    db: Db,
    job: LeasedJob,
    now: DateTime<Utc>,
    started: Instant,
}

impl JobCtx {
    /// Builds a context (the worker does; tests of handlers may too). The
    /// run is timed from this call.
    #[must_use]
    pub fn new(db: Db, job: LeasedJob, now: DateTime<Utc>) -> Self {
        Self {
            db,
            job,
            now,
            started: Instant::now(),
        }
    }

    /// `now` plus the wall time measured since the run started: the run's
    /// end on the worker's clock.
    #[must_use]
    pub fn finished_at(&self) -> DateTime<Utc> {
        self.now + TimeDelta::from_std(self.started.elapsed()).unwrap_or_default()
    }

    /// The database, for reads.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The job being run.
    #[must_use]
    pub fn job(&self) -> &LeasedJob {
        &self.job
    }

    /// The worker's clock for this run: use it instead of `Utc::now()`.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Opens the transaction for this run's writes (taking the SQLite write
    /// lock first). Write through [`JobTx::tx`], then call
    /// [`JobTx::commit`]; dropping it rolls everything back.
    ///
    /// The transaction's first statement touches the job row under its
    /// lease: a lost lease shows at once, and on SQLite the transaction is a
    /// write transaction from its start, so a commit by another process
    /// in between cannot make its later upgrade fail.
    ///
    /// # Errors
    /// `conflict` ([`JobError::LeaseLost`]); `internal`.
    pub async fn begin(&self) -> Result<JobTx<'_>, JobError> {
        let guard = self.db.write_lock().await;
        let tx = self.db.begin().await?;
        let touched = super::lease::held(crate::store::entity::job::Entity::update_many(), &self.job)
            .col_expr(
                crate::store::entity::job::Column::UpdatedAt,
                sea_query::Expr::value(self.now),
            )
            .exec(&tx)
            .await?;
        if touched.rows_affected != 1 {
            return Err(JobError::LeaseLost(self.job.id));
        }
        Ok(JobTx {
            _guard: guard,
            tx,
            ctx: self,
        })
    }
}

/// A handler's transaction that ends by completing its job.
pub struct JobTx<'a> {
    _guard: WriteGuard<'a>,
    tx: DatabaseTransaction,
    ctx: &'a JobCtx,
}

impl JobTx<'_> {
    /// The transaction to write through. Do not use the pool (`db.conn()`)
    /// while it is open: on SQLite that deadlocks.
    #[must_use]
    pub fn tx(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// Completes the job as `succeeded` or `skipped` with `detail` in this
    /// transaction, then commits: the writes and the completion happen
    /// together or not at all. Return the answer from the handler.
    ///
    /// # Errors
    /// `conflict` ([`JobError::LeaseLost`]): the lease was lost and nothing
    /// was written; `validation_failed` for [`RunOutcome::Failed`];
    /// `internal`.
    pub async fn commit(self, outcome: RunOutcome, detail: Value) -> Result<JobOutcome, JobError> {
        let finished = self.ctx.finished_at();
        complete_in(&self.tx, &self.ctx.job, outcome, detail, finished).await?;
        self.tx.commit().await?;
        Ok(JobOutcome::Committed(Completed(())))
    }

    /// Fails the job for good (no retry: `dead`) with `error` and `detail`
    /// in this transaction, then commits, keeping whatever else the handler
    /// wrote in it (its bookkeeping, never its effects).
    ///
    /// # Errors
    /// `conflict` ([`JobError::LeaseLost`]); `internal`.
    pub async fn fail_final(self, error: &str, detail: Value) -> Result<JobOutcome, JobError> {
        let finished = self.ctx.finished_at();
        fail_final_in(&self.tx, &self.ctx.job, error, detail, finished).await?;
        self.tx.commit().await?;
        Ok(JobOutcome::Committed(Completed(())))
    }
}
