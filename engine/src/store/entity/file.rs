//! Entity for the `files` table: one uploaded file (its bytes are under the
//! data directory, see `crate::files`).

use sea_orm::entity::prelude::*;

/// One row of `files`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub tenant_id: String,
    /// The uploader's file name, cleaned of paths and control characters.
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// The media type sniffed from the content (never the client's claim).
    pub mime: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    /// The form, record and field that hold it; null until a record write
    /// claims it.
    pub form_id: Option<String>,
    pub record_id: Option<String>,
    pub field_key: Option<String>,
    /// When the record stopped holding it (a changed value or a purge).
    pub detached_at: Option<DateTimeUtc>,
}

/// No relations are declared: joins are written in the repositories.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
