//! Entity for the `workflow_versions` table.

use sea_orm::entity::prelude::*;

/// One saved version of a flow definition; instances run the version they
/// started with.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_versions")]
pub struct Model {
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub def: Json,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
