//! The durable job queue (`jobs`) and its run log (`job_runs`).
//!
//! `jobs` holds one row per planned firing, unique per tenant by
//! idempotency key; workers lease due rows through `(status, run_at)`.
//! `job_runs` holds one row per attempt (or skip), listed newest first.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, json_binary, string, string_len, string_null, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    TenantId,
    Kind,
    Payload,
    IdempotencyKey,
    Status,
    RunAt,
    Attempts,
    MaxAttempts,
    LockedBy,
    LockedUntil,
    LastError,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum JobRuns {
    Table,
    Id,
    TenantId,
    JobId,
    Kind,
    IdempotencyKey,
    Attempt,
    StartedAt,
    FinishedAt,
    DurationMs,
    Outcome,
    Detail,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Jobs::Table)
                .col(id(Jobs::Id).primary_key())
                .col(id(Jobs::TenantId))
                .col(string(Jobs::Kind))
                .col(json_binary(Jobs::Payload))
                .col(string(Jobs::IdempotencyKey))
                .col(string(Jobs::Status))
                .col(timestamp_with_time_zone(Jobs::RunAt))
                .col(integer(Jobs::Attempts))
                .col(integer(Jobs::MaxAttempts))
                .col(string_null(Jobs::LockedBy))
                .col(timestamp_with_time_zone_null(Jobs::LockedUntil))
                .col(text_null(Jobs::LastError))
                .col(timestamp_with_time_zone(Jobs::CreatedAt))
                .col(timestamp_with_time_zone(Jobs::UpdatedAt))
                .col(timestamp_with_time_zone_null(Jobs::FinishedAt))
                .to_owned(),
        )
        .await?;
        // Each firing exists once: enqueue is `ON CONFLICT DO NOTHING` on it.
        m.create_index(
            Index::create()
                .name("ux_jobs_tenant_key")
                .table(Jobs::Table)
                .col(Jobs::TenantId)
                .col(Jobs::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        // The worker's lease scan (across tenants, by design).
        m.create_index(
            Index::create()
                .name("ix_jobs_status_run_at")
                .table(Jobs::Table)
                .col(Jobs::Status)
                .col(Jobs::RunAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_jobs_tenant_kind_status")
                .table(Jobs::Table)
                .col(Jobs::TenantId)
                .col(Jobs::Kind)
                .col(Jobs::Status)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(JobRuns::Table)
                .col(id(JobRuns::Id).primary_key())
                .col(id(JobRuns::TenantId))
                .col(id(JobRuns::JobId))
                .col(string(JobRuns::Kind))
                .col(string(JobRuns::IdempotencyKey))
                .col(integer(JobRuns::Attempt))
                .col(timestamp_with_time_zone(JobRuns::StartedAt))
                .col(timestamp_with_time_zone(JobRuns::FinishedAt))
                .col(big_integer(JobRuns::DurationMs))
                .col(string(JobRuns::Outcome))
                .col(json_binary(JobRuns::Detail))
                .col(text_null(JobRuns::Error))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_job_runs_tenant_job")
                .table(JobRuns::Table)
                .col(JobRuns::TenantId)
                .col(JobRuns::JobId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_job_runs_tenant_kind_id")
                .table(JobRuns::Table)
                .col(JobRuns::TenantId)
                .col(JobRuns::Kind)
                .col(JobRuns::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_job_runs_tenant_key")
                .table(JobRuns::Table)
                .col(JobRuns::TenantId)
                .col(JobRuns::IdempotencyKey)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [JobRuns::Table.into_iden(), Jobs::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
