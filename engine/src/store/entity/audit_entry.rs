//! Entity for the `audit_log` table: one row per audited change.

use sea_orm::entity::prelude::*;

/// One row of `audit_log`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Time-ordered id (UUID v7): the log's order and cursor.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    pub at: DateTimeUtc,
    /// The acting user.
    pub actor: String,
    /// `member.created`, `form.updated`, ...
    pub action: String,
    /// `member`, `form`, `rule`, ...
    pub target_kind: String,
    pub target_id: String,
    /// What changed (names, roles, versions), never secrets.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub detail: Option<Json>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
