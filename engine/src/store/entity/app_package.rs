//! Entity for the `app_packages` table: the package an app was installed
//! from, kept as installed (the base of a three-way upgrade).

use sea_orm::entity::prelude::*;

/// One row of `app_packages`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "app_packages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub app_id: String,
    pub tenant_id: String,
    /// The package's manifest key (`crm`).
    pub template_key: String,
    /// The manifest version installed or last upgraded to.
    pub version: String,
    /// The package's content hash.
    pub hash: String,
    /// The package's files as installed (`template::Package::files`).
    #[sea_orm(column_type = "JsonBinary")]
    pub files: Json,
    /// Each object as stored right after install or upgrade, by package
    /// path (scripts inlined): what the tenant's edits are measured against.
    #[sea_orm(column_type = "JsonBinary")]
    pub snapshot: Json,
    pub installed_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
