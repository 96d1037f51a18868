//! Entity for the `webhooks` table: an outgoing webhook of a tenant.

use sea_orm::entity::prelude::*;

/// One row of `webhooks`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    /// The signing secret, as given (needed to sign each delivery).
    pub secret: String,
    /// JSON array of subscribed event names.
    #[sea_orm(column_type = "JsonBinary")]
    pub events: Json,
    /// JSON array of form ids, or null for every form.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub form_ids: Option<Json>,
    pub enabled: bool,
    /// `formwork` or `jdy`.
    pub format: String,
    /// Whether events of API (v5) and batch writes are delivered.
    pub push_api_writes: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
