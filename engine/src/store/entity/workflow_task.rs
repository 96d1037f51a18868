//! Entity for the `workflow_tasks` table.

use sea_orm::entity::prelude::*;

/// One assignee's part in one activation of a node.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub instance_id: String,
    pub app_id: String,
    pub form_id: String,
    pub record_id: String,
    pub node_id: String,
    pub kind: String,
    pub assignee: String,
    pub status: String,
    pub activation: i32,
    pub result: Option<String>,
    pub comment: Option<String>,
    pub created_at: DateTimeUtc,
    pub acted_at: Option<DateTimeUtc>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
