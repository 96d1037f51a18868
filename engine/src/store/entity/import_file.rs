//! Entity for the `import_files` table: the bytes of an uploaded spreadsheet,
//! kept apart from `imports` so status reads never load them.

use sea_orm::entity::prelude::*;

/// One row of `import_files`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "import_files")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub import_id: String,
    pub tenant_id: String,
    #[sea_orm(column_type = "Blob")]
    pub content: Vec<u8>,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
