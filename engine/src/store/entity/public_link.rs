//! Entity for the `public_links` table: a form's public link (外链).

use sea_orm::entity::prelude::*;

/// One row of `public_links`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "public_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub form_id: String,
    /// The link's secret part, as published (unique).
    pub token: String,
    pub name: String,
    /// JSON array of the field keys it shows; null for every field a
    /// visitor can fill.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub fields: Option<Json>,
    pub rate_per_minute: i32,
    pub expires_at: Option<DateTimeUtc>,
    pub enabled: bool,
    /// Records created through it.
    pub submissions: i32,
    pub last_submitted_at: Option<DateTimeUtc>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
