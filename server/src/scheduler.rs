//! The server's scheduler: one job worker plus the tick that dispatches
//! record events, plans clock-driven rules and runs due jobs.
//!
//! `formwork serve` runs a background loop (every
//! `--scheduler-interval-ms`) at the real time. With
//! `--allow-clock-override` the loop is off and time moves only through
//! `POST /api/v1/admin/scheduler/run` (`{"at": ...}`), so tests and demos
//! step the clock instead of sleeping; `formwork scheduler run --at` does
//! the same from the command line. Ticks never overlap within a process;
//! across processes the job table's leases and keys keep each firing once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use engine::Engine;
use engine::automation::{AutomationError, SchedulerReport, TickOptions};
use engine::jobs::{Worker, WorkerConfig};
use tokio::sync::{Mutex, watch};

/// One process's scheduler.
pub struct Scheduler {
    engine: Engine,
    worker: Worker,
    allow_clock_override: bool,
    tick_lock: Mutex<()>,
}

impl Scheduler {
    /// A scheduler over `engine` with the given misfire window.
    #[must_use]
    pub fn new(engine: Engine, allow_clock_override: bool, misfire_window: Duration) -> Self {
        let worker = Worker::new(
            engine.db().clone(),
            Arc::new(engine.job_kinds()),
            WorkerConfig {
                batch: 50,
                misfire_window: Some(misfire_window),
                ..WorkerConfig::default()
            },
        );
        Self {
            engine,
            worker,
            allow_clock_override,
            tick_lock: Mutex::new(()),
        }
    }

    /// Whether the clock may be set through the API.
    #[must_use]
    pub fn allows_clock_override(&self) -> bool {
        self.allow_clock_override
    }

    /// Runs everything due at `at`.
    ///
    /// # Errors
    /// `internal`.
    pub async fn tick(&self, at: DateTime<Utc>) -> Result<SchedulerReport, AutomationError> {
        let _one = self.tick_lock.lock().await;
        self.engine
            .scheduler_tick(&self.worker, at, TickOptions::default())
            .await
    }

    /// The API's clock override: refused unless the server allows it.
    ///
    /// # Errors
    /// `forbidden` when the override is off; as [`Scheduler::tick`].
    pub async fn tick_at(&self, at: DateTime<Utc>) -> Result<SchedulerReport, AutomationError> {
        if !self.allow_clock_override {
            return Err(AutomationError::ClockOverrideRefused);
        }
        self.tick(at).await
    }

    /// Ticks at the real time every `interval` until `shutdown` turns true.
    pub async fn run_forever(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(e) = self.tick(Utc::now()).await {
                        tracing::warn!(error = %e, "scheduler tick failed");
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
            }
        }
    }
}
