//! Entity for the `record_history` table.

use sea_orm::entity::prelude::*;

/// One row of `record_history`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "record_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub form_id: String,
    pub record_id: String,
    pub version: i32,
    pub action: String,
    pub actor: String,
    pub at: DateTimeUtc,
    #[sea_orm(column_type = "JsonBinary")]
    pub changes: Json,
    /// Set once the dispatcher has turned this event into rule firings.
    pub dispatched_at: Option<DateTimeUtc>,
    /// The rules whose effects made this write (`{"rules": [...]}`).
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub cause: Option<Json>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
