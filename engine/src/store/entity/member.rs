//! Entity for the whole `memberships` row, with the columns added by the
//! members migration (status, department, manager, custom role, invite).
//! [`super::membership`] maps the original columns only; inserts through it
//! get the defaults (an active member without department).

use sea_orm::entity::prelude::*;

/// One row of `memberships`, every column.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// `owner`, `admin` or `member` (holders of a custom role are `member`).
    pub role: String,
    pub created_at: DateTimeUtc,
    /// `active`, `invited` or `deactivated`.
    pub status: String,
    pub department_id: Option<String>,
    pub manager_id: Option<String>,
    /// The custom role held, if any.
    pub role_id: Option<String>,
    /// SHA-256 of a pending invite's one-time token.
    pub invite_hash: Option<String>,
    pub invite_expires_at: Option<DateTimeUtc>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
