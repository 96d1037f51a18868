//! Entity for the `form_versions` table.

use sea_orm::entity::prelude::*;

/// One row of `form_versions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "form_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub form_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub tenant_id: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub definition: Json,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
