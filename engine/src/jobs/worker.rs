//! The worker loop: lease a batch, run each handler under a time budget
//! with panics contained, then fail each failed job and complete the rest
//! together, each under its lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio::task::JoinError;

use super::{
    FailOutcome, Finished, JobCtx, JobError, JobKinds, JobOutcome, LeasedJob, RunOutcome, complete_many,
    fail, lease, skip_missed,
};
use crate::error::HasCode;
use crate::store::Db;

/// How a worker leases and runs jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Unique per worker (host, process and a random part): the lease
    /// owner written to `locked_by`.
    pub worker_id: String,
    /// Jobs leased per round (1 to 1,000).
    pub batch: u32,
    /// How long a lease lasts; a crashed worker's jobs become leasable
    /// again after it. Longer than every time budget.
    pub lease_for: Duration,
    /// Default time budget of one handler run.
    pub time_budget: Duration,
    /// Sleep between rounds that found no full batch (10 ms to 60 s).
    pub poll_interval: Duration,
    /// The misfire grace window: pending jobs older than this are skipped
    /// and logged instead of run. `None` runs every missed job.
    pub misfire_window: Option<Duration>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            batch: 20,
            lease_for: Duration::from_secs(300),
            time_budget: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            misfire_window: Some(Duration::from_secs(24 * 3600)),
        }
    }
}

/// A job worker over one database and one frozen handler registry.
#[derive(Clone)]
pub struct Worker {
    db: Db,
    kinds: Arc<JobKinds>,
    cfg: WorkerConfig,
}

impl Worker {
    /// Builds a worker; the config is clamped to sane bounds.
    #[must_use]
    pub fn new(db: Db, kinds: Arc<JobKinds>, mut cfg: WorkerConfig) -> Self {
        cfg.batch = cfg.batch.clamp(1, 1000);
        cfg.poll_interval = cfg
            .poll_interval
            .clamp(Duration::from_millis(10), Duration::from_secs(60));
        cfg.lease_for = cfg.lease_for.max(Duration::from_secs(1));
        cfg.time_budget = cfg.time_budget.min(cfg.lease_for);
        Self { db, kinds, cfg }
    }

    /// The config in force.
    #[must_use]
    pub fn config(&self) -> &WorkerConfig {
        &self.cfg
    }

    /// One round at `now`: sweeps missed firings (when a window is set),
    /// leases a batch, runs the handlers concurrently, and completes or fails
    /// each job, writing its run-log row. Returns how many jobs were leased.
    /// A handler that fails, panics or overruns its budget fails its job;
    /// the worker carries on.
    ///
    /// # Errors
    /// `internal` when sweeping or leasing fails; failures to record one
    /// job's result are logged and that job is retried after its lease.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<usize, JobError> {
        if let Some(window) = self.cfg.misfire_window {
            let late: Vec<&str> = self
                .kinds
                .kinds()
                .filter(|k| self.kinds.get(k).is_ok_and(|h| h.runs_late()))
                .collect();
            skip_missed(&self.db, now, window, &late).await?;
        }
        let jobs = lease(
            &self.db,
            &self.cfg.worker_id,
            now,
            self.cfg.batch,
            self.cfg.lease_for,
        )
        .await?;
        let count = jobs.len();
        let mut running = Vec::with_capacity(count);
        let mut finished = Vec::with_capacity(count);
        for job in jobs {
            if job.attempt > job.max_attempts {
                // The previous holder's lease expired on the last attempt.
                self.record(&job, Err(JobError::Abandoned), now, &mut finished)
                    .await;
                continue;
            }
            let kind = match self.kinds.get(&job.kind) {
                Ok(kind) => Arc::clone(kind),
                Err(_) => {
                    let err = JobError::UnknownKind(job.kind.clone());
                    self.record(&job, Err(err), now, &mut finished).await;
                    continue;
                }
            };
            let budget = kind
                .time_budget()
                .unwrap_or(self.cfg.time_budget)
                .min(self.cfg.lease_for);
            let ctx = JobCtx::new(self.db.clone(), job.clone(), now);
            let payload = job.payload.clone();
            let started = Instant::now();
            let handle = tokio::spawn(async move { kind.run(ctx, &payload).await });
            running.push((job, handle, started, budget));
        }
        for (job, mut handle, started, budget) in running {
            let deadline = tokio::time::Instant::from_std(started) + budget;
            let result = match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(result)) => result,
                Ok(Err(join)) => Err(JobError::Panicked(panic_message(join))),
                Err(_) => {
                    handle.abort();
                    Err(JobError::Timeout(budget))
                }
            };
            let at = now + TimeDelta::from_std(started.elapsed()).unwrap_or_default();
            self.record(&job, result, at, &mut finished).await;
        }
        // One commit for every plain completion of the round.
        match complete_many(&self.db, finished).await {
            Ok(lost) => {
                for id in lost {
                    tracing::warn!(worker = %self.cfg.worker_id, job = %id, "lease lost before completion");
                }
            }
            Err(e) => tracing::warn!(
                worker = %self.cfg.worker_id,
                code = e.code().as_str(),
                "could not complete the round's jobs: {e}"
            ),
        }
        Ok(count)
    }

    /// Runs rounds until `shutdown` turns true (or its sender is dropped),
    /// reading the time from `clock` each round. Sleeps `poll_interval`
    /// after a round that leased less than a full batch; errors are logged
    /// and retried after the same pause.
    pub async fn run_forever<F>(&self, clock: F, mut shutdown: watch::Receiver<bool>)
    where
        F: Fn() -> DateTime<Utc> + Send,
    {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let leased = match self.run_once(clock()).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(worker = %self.cfg.worker_id, code = e.code().as_str(), "job round failed: {e}");
                    0
                }
            };
            if leased >= self.cfg.batch as usize {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.cfg.poll_interval) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Fails one job now, or queues its completion for the round's batch; a
    /// lost lease or a database error is logged (the job's lease expires and
    /// it is retried).
    async fn record(
        &self,
        job: &LeasedJob,
        result: Result<JobOutcome, JobError>,
        at: DateTime<Utc>,
        finished: &mut Vec<Finished>,
    ) {
        let (outcome, detail) = match result {
            Ok(JobOutcome::Succeeded(detail)) => (RunOutcome::Succeeded, detail),
            Ok(JobOutcome::Skipped(detail)) => (RunOutcome::Skipped, detail),
            Ok(JobOutcome::Committed(_)) => return,
            Err(err) => {
                let message = format!("{}: {err}", err.code().as_str());
                match fail(&self.db, job, &message, at).await {
                    Ok(FailOutcome::Dead) => {
                        if let Ok(kind) = self.kinds.get(&job.kind) {
                            let ctx = JobCtx::new(self.db.clone(), job.clone(), at);
                            kind.on_dead(ctx, &job.payload).await;
                        }
                    }
                    Ok(FailOutcome::Retry { .. }) => {}
                    Err(e) => tracing::warn!(
                        worker = %self.cfg.worker_id,
                        job = %job.id,
                        code = e.code().as_str(),
                        "could not record the job's failure: {e}"
                    ),
                }
                return;
            }
        };
        finished.push(Finished {
            job: job.clone(),
            outcome,
            detail,
            at,
        });
    }
}

/// One round with the default config under `worker_id` (see
/// [`Worker::run_once`]).
///
/// # Errors
/// As [`Worker::run_once`].
pub async fn run_once(
    db: &Db,
    kinds: &Arc<JobKinds>,
    worker_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, JobError> {
    let cfg = WorkerConfig {
        worker_id: worker_id.to_owned(),
        ..WorkerConfig::default()
    };
    Worker::new(db.clone(), Arc::clone(kinds), cfg)
        .run_once(now)
        .await
}

fn panic_message(join: JoinError) -> String {
    if !join.is_panic() {
        return "the handler task was cancelled".to_owned();
    }
    let payload = join.into_panic();
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-text panic".to_owned()
    }
}
