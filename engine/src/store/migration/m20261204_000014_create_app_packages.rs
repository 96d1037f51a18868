//! App packages: which package an app was installed from (`app_packages`,
//! with the package as installed and each object as the engine stored it
//! then: the bases of a three-way upgrade), and the
//! package key of every object the app holds (`package_keys`), so scripts
//! can name forms by key and an export names objects as the package did.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{json_binary, string, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AppPackages {
    Table,
    AppId,
    TenantId,
    TemplateKey,
    Version,
    Hash,
    Files,
    Snapshot,
    InstalledAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PackageKeys {
    Table,
    TenantId,
    AppId,
    Kind,
    Key,
    ObjectId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AppPackages::Table)
                .col(string(AppPackages::AppId).primary_key())
                .col(string(AppPackages::TenantId))
                .col(string(AppPackages::TemplateKey))
                .col(string(AppPackages::Version))
                .col(string(AppPackages::Hash))
                .col(json_binary(AppPackages::Files))
                .col(json_binary(AppPackages::Snapshot))
                .col(timestamp_with_time_zone(AppPackages::InstalledAt))
                .col(timestamp_with_time_zone(AppPackages::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PackageKeys::Table)
                .col(string(PackageKeys::TenantId))
                .col(string(PackageKeys::AppId))
                .col(string(PackageKeys::Kind))
                .col(string(PackageKeys::Key))
                .col(string(PackageKeys::ObjectId))
                .primary_key(
                    Index::create()
                        .col(PackageKeys::AppId)
                        .col(PackageKeys::Kind)
                        .col(PackageKeys::Key),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("package_keys_object")
                .table(PackageKeys::Table)
                .col(PackageKeys::ObjectId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PackageKeys::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(AppPackages::Table).to_owned())
            .await
    }
}
