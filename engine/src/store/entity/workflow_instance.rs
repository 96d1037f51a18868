//! Entity for the `workflow_instances` table.

use sea_orm::entity::prelude::*;

/// A record's journey through a flow. `version` guards every change, so two
/// people acting at once cannot both move it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub form_id: String,
    pub record_id: String,
    pub workflow_id: String,
    pub workflow_version: i32,
    pub status: String,
    pub initiator: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub state: Json,
    pub version: i32,
    pub started_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
