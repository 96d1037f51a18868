//! Public form links (`public_links`): a random token that lets anonymous
//! visitors create records of one form, with the fields it shows, a rate
//! per client address and an optional end date.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, json_binary_null, string, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PublicLinks {
    Table,
    Id,
    TenantId,
    FormId,
    Token,
    Name,
    Fields,
    RatePerMinute,
    ExpiresAt,
    Enabled,
    Submissions,
    LastSubmittedAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PublicLinks::Table)
                .col(string(PublicLinks::Id).primary_key())
                .col(string(PublicLinks::TenantId))
                .col(string(PublicLinks::FormId))
                .col(string(PublicLinks::Token))
                .col(string(PublicLinks::Name))
                .col(json_binary_null(PublicLinks::Fields))
                .col(integer(PublicLinks::RatePerMinute))
                .col(timestamp_with_time_zone_null(PublicLinks::ExpiresAt))
                .col(boolean(PublicLinks::Enabled))
                .col(integer(PublicLinks::Submissions))
                .col(timestamp_with_time_zone_null(PublicLinks::LastSubmittedAt))
                .col(string(PublicLinks::CreatedBy))
                .col(timestamp_with_time_zone(PublicLinks::CreatedAt))
                .col(timestamp_with_time_zone(PublicLinks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("public_links_token")
                .table(PublicLinks::Table)
                .col(PublicLinks::Token)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("public_links_tenant_form")
                .table(PublicLinks::Table)
                .col(PublicLinks::TenantId)
                .col(PublicLinks::FormId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(PublicLinks::Table).to_owned())
            .await
    }
}
