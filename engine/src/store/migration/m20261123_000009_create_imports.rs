//! Spreadsheet imports: one `imports` row per uploaded file (its columns,
//! the mapping and mode of the last run, status, progress and the per-row
//! errors found), and the uploaded bytes in `import_files`, so that any
//! server sharing the database can validate or run the import.
//!
//! Both tables are scoped by `tenant_id`; ids are UUID text like the others.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, json_binary, json_binary_null, string, string_len, string_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
    TenantId,
    FormId,
    CreatedBy,
    Format,
    FileName,
    Columns,
    Rows,
    Mapping,
    Mode,
    KeyField,
    Status,
    Phase,
    JobId,
    Processed,
    Total,
    ErrorCount,
    Errors,
    Summary,
    CreatedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ImportFiles {
    Table,
    ImportId,
    TenantId,
    Content,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Imports::Table)
                .col(id(Imports::Id).primary_key())
                .col(id(Imports::TenantId))
                .col(id(Imports::FormId))
                .col(id(Imports::CreatedBy))
                .col(string(Imports::Format))
                .col(string(Imports::FileName))
                .col(json_binary(Imports::Columns))
                .col(big_integer(Imports::Rows))
                .col(json_binary(Imports::Mapping))
                .col(string(Imports::Mode))
                .col(string_null(Imports::KeyField))
                .col(string(Imports::Status))
                .col(string(Imports::Phase))
                .col(string_null(Imports::JobId))
                .col(big_integer(Imports::Processed))
                .col(big_integer(Imports::Total))
                .col(big_integer(Imports::ErrorCount))
                .col(json_binary(Imports::Errors))
                .col(json_binary_null(Imports::Summary))
                .col(timestamp_with_time_zone(Imports::CreatedAt))
                .col(timestamp_with_time_zone(Imports::UpdatedAt))
                .col(timestamp_with_time_zone_null(Imports::FinishedAt))
                .to_owned(),
        )
        .await?;
        // A form's imports, newest first.
        m.create_index(
            Index::create()
                .name("ix_imports_tenant_form_id")
                .table(Imports::Table)
                .col(Imports::TenantId)
                .col(Imports::FormId)
                .col(Imports::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ImportFiles::Table)
                .col(id(ImportFiles::ImportId).primary_key())
                .col(id(ImportFiles::TenantId))
                .col(blob(ImportFiles::Content))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [ImportFiles::Table.into_iden(), Imports::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
