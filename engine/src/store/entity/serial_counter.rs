//! Entity for the `serial_counters` table.

use sea_orm::entity::prelude::*;

/// One row of `serial_counters`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "serial_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub form_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub field_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period: String,
    pub value: i64,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
