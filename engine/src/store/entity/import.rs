//! Entity for the `imports` table: one uploaded spreadsheet and the state of
//! its validation or run.

use sea_orm::entity::prelude::*;

/// One row of `imports`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "imports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub form_id: String,
    pub created_by: String,
    /// `csv` or `xlsx`.
    pub format: String,
    pub file_name: String,
    /// JSON array of the header cells.
    #[sea_orm(column_type = "JsonBinary")]
    pub columns: Json,
    /// Data rows in the file.
    pub rows: i64,
    /// JSON array of `{column, header, field}` (guessed, then as last run).
    #[sea_orm(column_type = "JsonBinary")]
    pub mapping: Json,
    /// `insert`, `upsert` or `update`.
    pub mode: String,
    pub key_field: Option<String>,
    /// `uploaded`, `validated`, `queued`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// `idle`, `reading`, `validating`, `writing`, `done`.
    pub phase: String,
    pub job_id: Option<String>,
    pub processed: i64,
    pub total: i64,
    pub error_count: i64,
    /// JSON array of row errors (at most the stored maximum).
    #[sea_orm(column_type = "JsonBinary")]
    pub errors: Json,
    /// What the last run did (`inserted`, `updated`, `unchanged`) or would do.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub summary: Option<Json>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
