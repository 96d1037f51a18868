//! Entity for the `workflows` table.

use sea_orm::entity::prelude::*;

/// One approval flow of a form: its current definition.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub form_id: String,
    pub name: String,
    pub active: bool,
    pub version: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub def: Json,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
