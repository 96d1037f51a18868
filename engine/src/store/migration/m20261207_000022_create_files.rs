//! Uploaded files (`files`): attachments and images. The bytes live under
//! the data directory; a row holds the name, size, sniffed type and digest,
//! and which record field holds the file. A file no record holds any more
//! (`detached_at`), or never claimed by one, is removed after a retention
//! period.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, string, string_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    TenantId,
    Name,
    Size,
    Mime,
    Sha256,
    CreatedBy,
    CreatedAt,
    FormId,
    RecordId,
    FieldKey,
    DetachedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Files::Table)
                .col(string(Files::Id).primary_key())
                .col(string(Files::TenantId))
                .col(string(Files::Name))
                .col(big_integer(Files::Size))
                .col(string(Files::Mime))
                .col(string(Files::Sha256))
                .col(string(Files::CreatedBy))
                .col(timestamp_with_time_zone(Files::CreatedAt))
                .col(string_null(Files::FormId))
                .col(string_null(Files::RecordId))
                .col(string_null(Files::FieldKey))
                .col(timestamp_with_time_zone_null(Files::DetachedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("files_tenant_record")
                .table(Files::Table)
                .col(Files::TenantId)
                .col(Files::RecordId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("files_detached_at")
                .table(Files::Table)
                .col(Files::DetachedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("files_created_at")
                .table(Files::Table)
                .col(Files::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Files::Table).to_owned()).await
    }
}
