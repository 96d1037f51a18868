//! Saved views (`views`: a named query over a form, personal or shared) and
//! dashboards (`dashboards`: charts over an app's forms, as data).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, json_binary, string, string_len, string_len_null, timestamp_with_time_zone,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

#[derive(DeriveIden)]
enum Views {
    Table,
    Id,
    TenantId,
    AppId,
    FormId,
    Name,
    OwnerId,
    Def,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Dashboards {
    Table,
    Id,
    TenantId,
    AppId,
    Name,
    Version,
    Def,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Views::Table)
                .col(id(Views::Id).primary_key())
                .col(id(Views::TenantId))
                .col(id(Views::AppId))
                .col(id(Views::FormId))
                .col(string(Views::Name))
                .col(string_len_null(Views::OwnerId, 36))
                .col(json_binary(Views::Def))
                .col(id(Views::CreatedBy))
                .col(timestamp_with_time_zone(Views::CreatedAt))
                .col(timestamp_with_time_zone(Views::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_views_tenant_form")
                .table(Views::Table)
                .col(Views::TenantId)
                .col(Views::FormId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Dashboards::Table)
                .col(id(Dashboards::Id).primary_key())
                .col(id(Dashboards::TenantId))
                .col(id(Dashboards::AppId))
                .col(string(Dashboards::Name))
                .col(integer(Dashboards::Version))
                .col(json_binary(Dashboards::Def))
                .col(id(Dashboards::CreatedBy))
                .col(timestamp_with_time_zone(Dashboards::CreatedAt))
                .col(timestamp_with_time_zone(Dashboards::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_dashboards_tenant_app")
                .table(Dashboards::Table)
                .col(Dashboards::TenantId)
                .col(Dashboards::AppId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Dashboards::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Views::Table).to_owned()).await?;
        Ok(())
    }
}
