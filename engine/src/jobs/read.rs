//! Reading side: one job, and the run log. Tenant-scoped.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::enqueue::key_starts_with;
use super::{JobError, JobStatus, JobView, MAX_RUNS_PAGE, RunFilter, RunOutcome, RunPage, RunView};
use crate::ids::{JobId, RunId, TenantId};
use crate::store::entity::{job, job_run};
use crate::store::{Db, StoreError, parse_id};

/// One job of the tenant.
///
/// # Errors
/// `not_found` (also for another tenant's job), `internal`.
pub async fn get_job(db: &Db, tenant: TenantId, id: JobId) -> Result<JobView, JobError> {
    let row = job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant.to_string()))
        .filter(job::Column::Id.eq(id.to_string()))
        .one(db.conn())
        .await?
        .ok_or(JobError::JobNotFound(id))?;
    job_view(row)
}

/// The tenant's run log, newest first, `limit` (1 to
/// [`MAX_RUNS_PAGE`]) per page, after `cursor` (the previous page's
/// `next_cursor`).
///
/// # Errors
/// `internal`.
pub async fn list_runs(
    db: &Db,
    tenant: TenantId,
    filter: &RunFilter,
    limit: u64,
    cursor: Option<RunId>,
) -> Result<RunPage, JobError> {
    let limit = limit.clamp(1, MAX_RUNS_PAGE);
    let mut q = job_run::Entity::find().filter(job_run::Column::TenantId.eq(tenant.to_string()));
    if let Some(kind) = &filter.kind {
        q = q.filter(job_run::Column::Kind.eq(kind.as_str()));
    }
    if let Some(job_id) = filter.job_id {
        q = q.filter(job_run::Column::JobId.eq(job_id.to_string()));
    }
    if let Some(prefix) = filter.key_prefix.as_deref().filter(|p| !p.is_empty()) {
        q = q.filter(key_starts_with(job_run::Column::IdempotencyKey, prefix));
    }
    if let Some(cursor) = cursor {
        q = q.filter(job_run::Column::Id.lt(cursor.to_string()));
    }
    let mut rows = q
        .order_by_desc(job_run::Column::Id)
        .limit(limit + 1)
        .all(db.conn())
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let runs = rows.into_iter().map(run_view).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if more { runs.last().map(|r| r.id) } else { None };
    Ok(RunPage { runs, next_cursor })
}

fn job_view(r: job::Model) -> Result<JobView, JobError> {
    Ok(JobView {
        id: parse_id(&r.id)?,
        tenant: parse_id(&r.tenant_id)?,
        status: JobStatus::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("job status `{}`", r.status)))?,
        kind: r.kind,
        payload: r.payload,
        idempotency_key: r.idempotency_key,
        run_at: r.run_at,
        attempts: r.attempts,
        max_attempts: r.max_attempts,
        locked_by: r.locked_by,
        locked_until: r.locked_until,
        last_error: r.last_error,
        created_at: r.created_at,
        updated_at: r.updated_at,
        finished_at: r.finished_at,
    })
}

fn run_view(r: job_run::Model) -> Result<RunView, JobError> {
    Ok(RunView {
        id: parse_id(&r.id)?,
        tenant: parse_id(&r.tenant_id)?,
        job_id: parse_id(&r.job_id)?,
        outcome: RunOutcome::parse(&r.outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("run outcome `{}`", r.outcome)))?,
        kind: r.kind,
        idempotency_key: r.idempotency_key,
        attempt: r.attempt,
        started_at: r.started_at,
        finished_at: r.finished_at,
        duration_ms: r.duration_ms,
        detail: r.detail,
        error: r.error,
    })
}

#[derive(sea_orm::FromQueryResult)]
struct StatusCount {
    status: String,
    n: i64,
}

/// How many of the tenant's jobs whose key starts with `key_prefix` are in
/// each status.
///
/// # Errors
/// `internal`.
pub async fn count_by_status(
    db: &Db,
    tenant: TenantId,
    key_prefix: &str,
) -> Result<Vec<(String, u64)>, JobError> {
    let rows = job::Entity::find()
        .select_only()
        .column(job::Column::Status)
        .column_as(
            sea_query::ExprTrait::count(sea_query::Expr::col(job::Column::Id)),
            "n",
        )
        .filter(job::Column::TenantId.eq(tenant.to_string()))
        .filter(super::enqueue::key_starts_with(
            job::Column::IdempotencyKey,
            key_prefix,
        ))
        .group_by(job::Column::Status)
        .into_model::<StatusCount>()
        .all(db.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.status, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}
