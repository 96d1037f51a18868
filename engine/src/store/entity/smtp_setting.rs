//! Entity for the `smtp_settings` table: one tenant's outgoing mail server.

use sea_orm::entity::prelude::*;

/// One row of `smtp_settings`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "smtp_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub host: String,
    pub port: i32,
    pub username: Option<String>,
    /// Stored as given (needed to log in); shown only masked.
    pub password: Option<String>,
    pub from_address: String,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
