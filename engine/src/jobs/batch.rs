//! Completing many held jobs at once: one conditional `UPDATE` per outcome
//! and one multi-row run-log insert in a single transaction, so a worker
//! pays one commit per round instead of one per job.

use chrono::{DateTime, Utc};
use std::collections::HashSet;

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde_json::Value;

use super::lease::run_row;
use super::{JobError, JobStatus, LeasedJob, RunOutcome};
use crate::error::FieldError;
use crate::ids::JobId;
use crate::store::Db;
use crate::store::entity::{job, job_run};

/// Jobs per statement (bounded bind-parameter count).
const CHUNK: usize = 200;

/// A held job whose handler finished without taking care of completion.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The job, as leased.
    pub job: LeasedJob,
    /// `Succeeded` or `Skipped`.
    pub outcome: RunOutcome,
    /// What the handler reported, for the run log.
    pub detail: Value,
    /// When the run ended on the worker's clock.
    pub at: DateTime<Utc>,
}

/// [`super::complete`] for many jobs in one transaction. Each job is
/// completed only while its lease is still held (`id`, `attempts` and
/// `locked_by` all match a running row); jobs whose lease was lost are left
/// alone, get no run-log row, and are returned. The jobs' `finished_at` is
/// the latest `at` of the batch; each run-log row keeps its own.
///
/// # Errors
/// `validation_failed` when an outcome is [`RunOutcome::Failed`] (use
/// [`super::fail`]); `internal`. On error nothing is written.
pub async fn complete_many(db: &Db, done: Vec<Finished>) -> Result<Vec<JobId>, JobError> {
    if done.iter().any(|f| f.outcome == RunOutcome::Failed) {
        return Err(JobError::Invalid(vec![FieldError::new(
            "outcome",
            "a failed run is recorded with `fail`",
        )]));
    }
    let mut lost = Vec::new();
    if done.is_empty() {
        return Ok(lost);
    }
    let _w = db.write_lock().await;
    let tx = db.begin().await?;
    db.relax_commit(&tx).await?;
    for chunk in done.chunks(CHUNK) {
        let mut completed: HashSet<String> = HashSet::with_capacity(chunk.len());
        for outcome in [RunOutcome::Succeeded, RunOutcome::Skipped] {
            let group: Vec<&Finished> = chunk.iter().filter(|f| f.outcome == outcome).collect();
            let Some(at) = group.iter().map(|f| f.at).max() else {
                continue;
            };
            // Spans tenants like the lease that produced these jobs: each
            // row is named by primary key and its lease token.
            let held = group.iter().fold(Condition::any(), |cond, f| {
                cond.add(
                    Condition::all()
                        .add(job::Column::Id.eq(f.job.id.to_string()))
                        .add(job::Column::Attempts.eq(f.job.attempt))
                        .add(job::Column::LockedBy.eq(f.job.locked_by.as_str())),
                )
            });
            let ids = job::Entity::update_many()
                .col_expr(job::Column::Status, Expr::value(outcome_status(outcome).as_str()))
                .col_expr(job::Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
                .col_expr(job::Column::LastError, Expr::value(None::<String>))
                .col_expr(job::Column::UpdatedAt, Expr::value(at))
                .col_expr(job::Column::FinishedAt, Expr::value(at))
                .filter(job::Column::Status.eq(JobStatus::Running.as_str()))
                .filter(held)
                .exec_with_returning(&tx)
                .await?
                .into_iter()
                .map(|r| r.id);
            completed.extend(ids);
        }
        let mut runs = Vec::with_capacity(completed.len());
        for f in chunk {
            if completed.contains(&f.job.id.to_string()) {
                runs.push(run_row(&f.job, f.outcome, f.detail.clone(), None, f.at));
            } else {
                lost.push(f.job.id);
            }
        }
        if !runs.is_empty() {
            job_run::Entity::insert_many(runs)
                .exec_without_returning(&tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(lost)
}

fn outcome_status(outcome: RunOutcome) -> JobStatus {
    match outcome {
        RunOutcome::Skipped => JobStatus::Skipped,
        RunOutcome::Succeeded | RunOutcome::Failed => JobStatus::Succeeded,
    }
}
