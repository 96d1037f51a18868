//! Entity for the `views` table.

use sea_orm::entity::prelude::*;

/// A saved view: a named query over a form; `owner_id` null means shared
/// with everyone in the tenant.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "views")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub form_id: String,
    pub name: String,
    pub owner_id: Option<String>,
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
