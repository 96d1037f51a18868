//! Webhook delivery formats: `format` (`formwork`, the default, or `jdy`
//! for 简道云's 数据推送 shape and signature) and `push_api_writes` (false
//! keeps events of API and batch writes from the hook, as 简道云 does).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Format,
    PushApiWrites,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        m.alter_table(
            Table::alter()
                .table(Webhooks::Table)
                .add_column(string(Webhooks::Format).default("formwork"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Webhooks::Table)
                .add_column(boolean(Webhooks::PushApiWrites).default(true))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Webhooks::Table)
                .drop_column(Webhooks::PushApiWrites)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Webhooks::Table)
                .drop_column(Webhooks::Format)
                .to_owned(),
        )
        .await
    }
}
