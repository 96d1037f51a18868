//! Notifications and outgoing messages: the in-app inbox (`notifications`),
//! outgoing webhooks (`webhooks`), the delivery log of webhooks and email
//! (`deliveries`) and each tenant's SMTP settings (`smtp_settings`).
//!
//! Every table is scoped by `tenant_id`; ids are UUID text like the others.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, integer_null, json_binary, json_binary_null, string, string_len,
    string_null, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    TenantId,
    UserId,
    Title,
    Body,
    Source,
    ReadAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    TenantId,
    Name,
    Url,
    Secret,
    Events,
    FormIds,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Deliveries {
    Table,
    Id,
    TenantId,
    Channel,
    Target,
    Event,
    JobId,
    Attempt,
    Status,
    ResponseStatus,
    Response,
    Error,
    DurationMs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SmtpSettings {
    Table,
    TenantId,
    Host,
    Port,
    Username,
    Password,
    FromAddress,
    Tls,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .col(id(Notifications::Id).primary_key())
                .col(id(Notifications::TenantId))
                .col(id(Notifications::UserId))
                .col(string(Notifications::Title))
                .col(text(Notifications::Body))
                .col(json_binary(Notifications::Source))
                .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .to_owned(),
        )
        .await?;
        // A member's inbox, newest first.
        m.create_index(
            Index::create()
                .name("ix_notifications_tenant_user_created")
                .table(Notifications::Table)
                .col(Notifications::TenantId)
                .col(Notifications::UserId)
                .col(Notifications::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Webhooks::Table)
                .col(id(Webhooks::Id).primary_key())
                .col(id(Webhooks::TenantId))
                .col(string(Webhooks::Name))
                .col(text(Webhooks::Url))
                .col(string(Webhooks::Secret))
                .col(json_binary(Webhooks::Events))
                .col(json_binary_null(Webhooks::FormIds))
                .col(boolean(Webhooks::Enabled))
                .col(timestamp_with_time_zone(Webhooks::CreatedAt))
                .col(timestamp_with_time_zone(Webhooks::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // Rules name webhooks: a name is unique in its tenant.
        m.create_index(
            Index::create()
                .name("ux_webhooks_tenant_name")
                .table(Webhooks::Table)
                .col(Webhooks::TenantId)
                .col(Webhooks::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deliveries::Table)
                .col(id(Deliveries::Id).primary_key())
                .col(id(Deliveries::TenantId))
                .col(string(Deliveries::Channel))
                .col(string(Deliveries::Target))
                .col(string_null(Deliveries::Event))
                .col(id(Deliveries::JobId))
                .col(integer(Deliveries::Attempt))
                .col(string(Deliveries::Status))
                .col(integer_null(Deliveries::ResponseStatus))
                .col(text_null(Deliveries::Response))
                .col(text_null(Deliveries::Error))
                .col(big_integer(Deliveries::DurationMs))
                .col(timestamp_with_time_zone(Deliveries::CreatedAt))
                .to_owned(),
        )
        .await?;
        // The log of one webhook (or of email), newest first.
        m.create_index(
            Index::create()
                .name("ix_deliveries_tenant_channel_target_id")
                .table(Deliveries::Table)
                .col(Deliveries::TenantId)
                .col(Deliveries::Channel)
                .col(Deliveries::Target)
                .col(Deliveries::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_deliveries_tenant_channel_id")
                .table(Deliveries::Table)
                .col(Deliveries::TenantId)
                .col(Deliveries::Channel)
                .col(Deliveries::Id)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SmtpSettings::Table)
                .col(id(SmtpSettings::TenantId).primary_key())
                .col(string(SmtpSettings::Host))
                .col(integer(SmtpSettings::Port))
                .col(string_null(SmtpSettings::Username))
                .col(string_null(SmtpSettings::Password))
                .col(string(SmtpSettings::FromAddress))
                .col(string(SmtpSettings::Tls))
                .col(timestamp_with_time_zone(SmtpSettings::UpdatedAt))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SmtpSettings::Table.into_iden(),
            Deliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
            Notifications::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
