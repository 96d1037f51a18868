//! Planning side: `enqueue` (idempotent per key) and `cancel_pending`.
//! Both take any connection, so they run inside the caller's transaction.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use sea_query::{Expr, ExprTrait, Func};

use super::{
    Enqueued, JobError, JobStatus, MAX_ATTEMPTS_LIMIT, MAX_KEY_LEN, MAX_KIND_LEN, MAX_PAYLOAD_BYTES, NewJob,
};
use crate::error::FieldError;
use crate::ids::{JobId, TenantId};
use crate::store::entity::job;
use crate::store::parse_id;

/// Plans a job. A key already taken for this tenant is not an error: the
/// existing job is returned with `created: false`, whatever its status, so
/// a planner can re-plan freely and each firing exists once.
///
/// Runs on `conn`, so it joins the caller's transaction; it never aborts
/// that transaction (the insert is `ON CONFLICT DO NOTHING`, not a caught
/// unique violation, which PostgreSQL would turn into an aborted
/// transaction). On SQLite, hold [`crate::store::Db::write_lock`] when
/// `conn` is a transaction.
///
/// # Errors
/// `validation_failed` (empty or long kind/key, `max_attempts` out of
/// range), `payload_too_large`, `internal`.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    job: NewJob,
    now: DateTime<Utc>,
) -> Result<Enqueued, JobError> {
    check(&job)?;
    let id = JobId::new();
    let row = job::ActiveModel {
        id: Set(id.to_string()),
        tenant_id: Set(job.tenant.to_string()),
        kind: Set(job.kind),
        payload: Set(job.payload),
        idempotency_key: Set(job.idempotency_key.clone()),
        status: Set(JobStatus::Pending.as_str().to_owned()),
        run_at: Set(job.run_at),
        attempts: Set(0),
        max_attempts: Set(job.max_attempts),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    };
    let inserted = job::Entity::insert(row)
        .on_conflict_do_nothing_on([job::Column::TenantId, job::Column::IdempotencyKey])
        .exec_without_returning(conn)
        .await?;
    if matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
        return Ok(Enqueued { id, created: true });
    }
    let existing: Option<String> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::TenantId.eq(job.tenant.to_string()))
        .filter(job::Column::IdempotencyKey.eq(job.idempotency_key.as_str()))
        .into_tuple()
        .one(conn)
        .await?;
    match existing {
        Some(id) => Ok(Enqueued {
            id: parse_id(&id)?,
            created: false,
        }),
        // The conflicting row was removed between the two statements
        // (cancel_pending in another transaction): the caller may retry.
        None => Err(JobError::KeyRace(job.idempotency_key)),
    }
}

/// Removes the tenant's not-yet-run firings (`pending`, or `failed` and
/// waiting for a retry) whose key starts with `key_prefix`: used when a rule
/// is disabled or deleted, in the same transaction. Rows are deleted rather
/// than marked, so re-enabling the rule plans the same keys afresh. Running
/// jobs are left to finish. Returns how many were removed.
///
/// # Errors
/// `validation_failed` (empty prefix), `internal`.
pub async fn cancel_pending<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    key_prefix: &str,
) -> Result<u64, JobError> {
    if key_prefix.is_empty() || key_prefix.len() > MAX_KEY_LEN {
        return Err(JobError::Invalid(vec![FieldError::new(
            "key_prefix",
            format!("must be 1 to {MAX_KEY_LEN} bytes"),
        )]));
    }
    let res = job::Entity::delete_many()
        .filter(job::Column::TenantId.eq(tenant.to_string()))
        .filter(job::Column::Status.is_in([JobStatus::Pending.as_str(), JobStatus::Failed.as_str()]))
        .filter(key_starts_with(job::Column::IdempotencyKey, key_prefix))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Cancels one job of the tenant that has not run yet (`pending`, or
/// `failed` and waiting for a retry): it becomes `cancelled` and keeps its
/// key, so the same firing is not planned again. Returns false when the job
/// is running or already finished.
///
/// # Errors
/// `not_found` (also another tenant's job), `internal`.
pub async fn cancel_job<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: JobId,
    now: DateTime<Utc>,
) -> Result<bool, JobError> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobStatus::Cancelled.as_str()))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .col_expr(job::Column::FinishedAt, Expr::value(now))
        .filter(job::Column::TenantId.eq(tenant.to_string()))
        .filter(job::Column::Id.eq(id.to_string()))
        .filter(job::Column::Status.is_in([JobStatus::Pending.as_str(), JobStatus::Failed.as_str()]))
        .exec(conn)
        .await?;
    if res.rows_affected == 1 {
        return Ok(true);
    }
    let exists = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::TenantId.eq(tenant.to_string()))
        .filter(job::Column::Id.eq(id.to_string()))
        .into_tuple::<String>()
        .one(conn)
        .await?;
    match exists {
        Some(_) => Ok(false),
        None => Err(JobError::JobNotFound(id)),
    }
}

/// `SUBSTR(col, 1, n) = prefix`: an exact, case-sensitive prefix test that
/// renders the same on both backends (`LIKE` is case-insensitive on SQLite
/// and would need `%`/`_` escaping).
pub(super) fn key_starts_with<C: sea_query::IntoColumnRef>(col: C, prefix: &str) -> Expr {
    // `i32`: PostgreSQL has `substr(text, integer, integer)`, no bigint form.
    let len = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    Expr::expr(Func::cust("SUBSTR").arg(Expr::col(col)).arg(1_i32).arg(len)).eq(prefix)
}

fn check(job: &NewJob) -> Result<(), JobError> {
    let mut errs = Vec::new();
    if job.kind.is_empty() || job.kind.len() > MAX_KIND_LEN {
        errs.push(FieldError::new(
            "kind",
            format!("must be 1 to {MAX_KIND_LEN} bytes"),
        ));
    }
    if job.idempotency_key.is_empty() || job.idempotency_key.len() > MAX_KEY_LEN {
        errs.push(FieldError::new(
            "idempotency_key",
            format!("must be 1 to {MAX_KEY_LEN} bytes"),
        ));
    }
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&job.max_attempts) {
        errs.push(FieldError::new(
            "max_attempts",
            format!("must be 1 to {MAX_ATTEMPTS_LIMIT}"),
        ));
    }
    if !errs.is_empty() {
        return Err(JobError::Invalid(errs));
    }
    let size = serde_json::to_vec(&job.payload).map_or(usize::MAX, |b| b.len());
    if size > MAX_PAYLOAD_BYTES {
        return Err(JobError::PayloadTooLarge {
            size,
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(())
}
