//! Per-form permissions (`forms.permissions`): who may view, create, edit,
//! delete and export a form's records, over which records, and which fields
//! they may not see or change. `NULL` means the form is open to every member.
//! Kept on the form row, so loading a form loads its permissions with it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::json_binary_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Forms {
    Table,
    Permissions,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Forms::Table)
                .add_column(json_binary_null(Forms::Permissions))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Forms::Table)
                .drop_column(Forms::Permissions)
                .to_owned(),
        )
        .await
    }
}
