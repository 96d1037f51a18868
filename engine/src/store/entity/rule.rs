//! Entity for the `rules` table.

use sea_orm::entity::prelude::*;

/// One row of `rules`: the current version of an automation rule.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub form_id: String,
    pub name: String,
    pub enabled: bool,
    pub version: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub def: Json,
    pub owner_id: String,
    pub run_as: String,
    pub consecutive_failures: i32,
    pub disabled_reason: Option<String>,
    pub planned_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
