//! Entity for the `job_runs` table: the run log, one row per attempt or skip.

use sea_orm::entity::prelude::*;

/// One row of `job_runs`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub job_id: String,
    pub kind: String,
    pub idempotency_key: String,
    pub attempt: i32,
    pub started_at: DateTimeUtc,
    pub finished_at: DateTimeUtc,
    pub duration_ms: i64,
    pub outcome: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub detail: Json,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
