//! Entity for the `workflow_events` table.

use sea_orm::entity::prelude::*;

/// One step of an instance's history: who did what, when, with which
/// comment and field changes.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub instance_id: String,
    pub seq: i32,
    pub at: DateTimeUtc,
    pub actor: Option<String>,
    pub action: String,
    pub node_id: Option<String>,
    pub task_id: Option<String>,
    pub comment: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub detail: Option<Json>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
