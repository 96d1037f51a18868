//! Durable jobs: one row per planned firing in the same database as the
//! data, leased by workers, retried with backoff, dead-lettered, and logged.
//!
//! Invariants:
//! - **Each firing exists once.** `(tenant_id, idempotency_key)` is unique;
//!   [`enqueue`] on a taken key returns the existing job (`created: false`),
//!   so planners may re-plan freely (`rule:{id}:record:{rid}:2026-11-23`).
//! - **Each job completes once.** A lease is `(locked_by, attempts)`; every
//!   completion or failure is an `UPDATE ... WHERE locked_by = ? AND
//!   attempts = ?`, and a lost lease is [`JobError::LeaseLost`]. A handler
//!   that runs its writes and its completion in one transaction
//!   ([`JobCtx::begin`] → [`JobTx::commit`]) therefore applies its effects
//!   exactly once, even when a lease expires under it.
//! - **Crashes are recovered.** A lease whose `locked_until` has passed is
//!   leasable again; the crashed attempt still counts toward `max_attempts`.
//! - **The clock is a parameter.** No function here reads the wall clock
//!   for scheduling decisions (durations in the run log are measured).
//! - Every query is scoped by `TenantId` first, except the worker's side:
//!   the lease scan, the misfire sweep and the batched completion
//!   ([`lease`], [`skip_missed`], [`complete_many`]). A worker serves every
//!   tenant, so those scan by `(status, run_at)` and then act on the rows
//!   they found by primary key and lease token.
//! - **Misfires are skipped, not replayed.** A pending job older than the
//!   worker's grace window (default 24 h) is marked `skipped` with a run-log
//!   row instead of running late; retries are exempt.
//!
//! Handlers ([`JobKind`]) live in a frozen registry ([`JobKinds`]); the
//! worker runs a round's handlers concurrently, each in its own task under a
//! time budget, so a panic or an overrun fails that job only.
//!
//! Callers: the automation planner (enqueue, cancel_pending), the server's
//! background task ([`Worker::run_forever`]), the `scheduler run --at` CLI
//! and tests ([`Worker::run_once`] with a fake clock), and the run-log API
//! ([`list_runs`], [`get_job`]).
//!
//! Statement construction lives here rather than under `store/` because
//! the queue is one concern; it uses sea-orm/sea-query builders with bound
//! values only.

mod batch;
mod enqueue;
mod error;
mod kind;
mod lease;
mod read;
mod worker;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use batch::{Finished, complete_many};
pub use enqueue::{cancel_job, cancel_pending, enqueue};
pub use error::JobError;
pub use kind::{BoxFuture, Completed, JobCtx, JobKind, JobKinds, JobOutcome, JobTx};
pub use lease::{
    BACKOFF_BASE_SECS, BACKOFF_CAP_SECS, FailOutcome, backoff, complete, complete_in, fail, fail_final_in,
    lease, skip_missed,
};
pub use read::{count_by_status, get_job, list_runs};
pub use worker::{Worker, WorkerConfig, run_once};

use crate::ids::{JobId, RunId, TenantId};

/// Largest accepted serialised payload.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Longest accepted idempotency key.
pub const MAX_KEY_LEN: usize = 255;
/// Longest accepted kind string.
pub const MAX_KIND_LEN: usize = 64;
/// Highest accepted `max_attempts`.
pub const MAX_ATTEMPTS_LIMIT: i32 = 100;
/// Default `max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;
/// Longest stored error text (longer messages are cut).
pub const MAX_ERROR_LEN: usize = 4000;
/// Largest page of [`list_runs`].
pub const MAX_RUNS_PAGE: u64 = 200;

/// Where a job is in its life. A closed set: stored as its `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for `run_at`.
    Pending,
    /// Leased by a worker until `locked_until`.
    Running,
    /// Done.
    Succeeded,
    /// The last attempt failed; retried at `run_at`.
    Failed,
    /// Failed `max_attempts` times; never retried (the dead letter).
    Dead,
    /// Not run: the handler declined, or `run_at` fell outside the misfire
    /// window.
    Skipped,
    /// Cancelled before it ran.
    Cancelled,
}

impl JobStatus {
    /// The stored and wire form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            "skipped" => Self::Skipped,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// How one run ended, as logged in `job_runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The handler finished its work.
    Succeeded,
    /// The handler (or the worker on its behalf) failed.
    Failed,
    /// Nothing was done: the handler declined, or the firing was missed.
    Skipped,
}

impl RunOutcome {
    /// The stored and wire form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }

    /// The job status a completion with this outcome leaves.
    const fn job_status(self) -> JobStatus {
        match self {
            Self::Succeeded => JobStatus::Succeeded,
            Self::Failed => JobStatus::Failed,
            Self::Skipped => JobStatus::Skipped,
        }
    }
}

/// A job to plan.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The owning tenant.
    pub tenant: TenantId,
    /// The handler's kind (`rule_firing`, `webhook_delivery`).
    pub kind: String,
    /// Handler input, at most [`MAX_PAYLOAD_BYTES`] serialised.
    pub payload: Value,
    /// Unique per tenant; names the firing (`rule:{id}:record:{rid}:2026-11-23`).
    /// Use a fresh UUID for work that has no natural key.
    pub idempotency_key: String,
    /// Not before this instant.
    pub run_at: DateTime<Utc>,
    /// Attempts before the job is dead, 1 to [`MAX_ATTEMPTS_LIMIT`].
    pub max_attempts: i32,
}

/// The answer of [`enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Enqueued {
    /// The job with this key (new or existing).
    pub id: JobId,
    /// False when the key was already taken and nothing was inserted.
    pub created: bool,
}

/// A job this worker holds. Its lease is `(locked_by, attempt)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeasedJob {
    /// The job.
    pub id: JobId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its handler kind.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// The firing's key.
    pub idempotency_key: String,
    /// The planned time.
    pub run_at: DateTime<Utc>,
    /// This attempt's number, from 1 (may exceed `max_attempts` only when the
    /// previous holder's lease expired on its last attempt).
    pub attempt: i32,
    /// Attempts before the job is dead.
    pub max_attempts: i32,
    /// The worker holding the lease.
    pub locked_by: String,
    /// When the lease expires.
    pub locked_until: DateTime<Utc>,
    /// When it was leased (the worker's `now`).
    pub leased_at: DateTime<Utc>,
}

/// A job as stored, for the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    /// The job.
    pub id: JobId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its handler kind.
    pub kind: String,
    /// Handler input.
    pub payload: Value,
    /// The firing's key.
    pub idempotency_key: String,
    /// Where it is.
    pub status: JobStatus,
    /// Planned (or next retry) time.
    pub run_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: i32,
    /// Attempts before it is dead.
    pub max_attempts: i32,
    /// The last worker to lease it.
    pub locked_by: Option<String>,
    /// Lease expiry while running.
    pub locked_until: Option<DateTime<Utc>>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Planned at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One run-log row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunView {
    /// The run.
    pub id: RunId,
    /// Its tenant.
    pub tenant: TenantId,
    /// The job run.
    pub job_id: JobId,
    /// The job's kind.
    pub kind: String,
    /// The job's key (rule, record, date).
    pub idempotency_key: String,
    /// Which attempt (0 for a missed firing that never ran).
    pub attempt: i32,
    /// Start (the worker's clock).
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Measured wall time.
    pub duration_ms: i64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What the handler reported: effects applied, log lines.
    pub detail: Value,
    /// The failure, when it failed.
    pub error: Option<String>,
}

/// Which runs [`list_runs`] returns; every set filter must match.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs whose idempotency key starts with this (`rule:{id}:`).
    pub key_prefix: Option<String>,
    /// Only this job.
    pub job_id: Option<JobId>,
}

/// A page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunView>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<RunId>,
}

/// Cuts an error message to [`MAX_ERROR_LEN`] characters.
fn bounded(message: &str) -> String {
    if message.chars().count() <= MAX_ERROR_LEN {
        message.to_owned()
    } else {
        message.chars().take(MAX_ERROR_LEN).collect()
    }
}
