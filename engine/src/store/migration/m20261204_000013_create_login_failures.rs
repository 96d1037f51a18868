//! Failed logins (`login_failures`), for the lockout backoff: kept in the
//! database so every server replica refuses the same attempts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, timestamp_with_time_zone, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    TenantSlug,
    Email,
    Failures,
    LockedUntil,
    LastFailedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LoginFailures::Table)
                .col(string(LoginFailures::TenantSlug))
                .col(string(LoginFailures::Email))
                .col(integer(LoginFailures::Failures))
                .col(timestamp_with_time_zone_null(LoginFailures::LockedUntil))
                .col(timestamp_with_time_zone(LoginFailures::LastFailedAt))
                .primary_key(
                    Index::create()
                        .col(LoginFailures::TenantSlug)
                        .col(LoginFailures::Email),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LoginFailures::Table).to_owned())
            .await
    }
}
