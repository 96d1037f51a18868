//! Automation: `rules` and their `rule_versions`, and the record-event
//! outbox columns of `record_history`.
//!
//! Every record write already writes a `record_history` row in its own
//! transaction; that row doubles as the outbox of record events. A row with
//! `dispatched_at IS NULL` has not yet been turned into rule firings; the
//! partial index keeps finding those cheap however long the history grows.
//! `cause` names the rules whose effects made the write (loop protection).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, json_binary, json_binary_null, string, string_len, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

#[derive(DeriveIden)]
enum Rules {
    Table,
    Id,
    TenantId,
    AppId,
    FormId,
    Name,
    Enabled,
    Version,
    Def,
    OwnerId,
    RunAs,
    ConsecutiveFailures,
    DisabledReason,
    PlannedUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RuleVersions {
    Table,
    TenantId,
    RuleId,
    Version,
    Def,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RecordHistory {
    Table,
    Id,
    DispatchedAt,
    Cause,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Rules::Table)
                .col(id(Rules::Id).primary_key())
                .col(id(Rules::TenantId))
                .col(id(Rules::AppId))
                .col(id(Rules::FormId))
                .col(string(Rules::Name))
                .col(boolean(Rules::Enabled))
                .col(integer(Rules::Version))
                .col(json_binary(Rules::Def))
                .col(id(Rules::OwnerId))
                .col(id(Rules::RunAs))
                .col(integer(Rules::ConsecutiveFailures))
                .col(text_null(Rules::DisabledReason))
                .col(timestamp_with_time_zone_null(Rules::PlannedUntil))
                .col(timestamp_with_time_zone(Rules::CreatedAt))
                .col(timestamp_with_time_zone(Rules::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_rules_tenant_app")
                .table(Rules::Table)
                .col(Rules::TenantId)
                .col(Rules::AppId)
                .to_owned(),
        )
        .await?;
        // The dispatcher and planners look rules up by form and by state.
        m.create_index(
            Index::create()
                .name("ix_rules_tenant_form")
                .table(Rules::Table)
                .col(Rules::TenantId)
                .col(Rules::FormId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RuleVersions::Table)
                .col(id(RuleVersions::TenantId))
                .col(id(RuleVersions::RuleId))
                .col(integer(RuleVersions::Version))
                .col(json_binary(RuleVersions::Def))
                .col(id(RuleVersions::CreatedBy))
                .col(timestamp_with_time_zone(RuleVersions::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(RuleVersions::RuleId)
                        .col(RuleVersions::Version),
                )
                .to_owned(),
        )
        .await?;
        // SQLite adds one column per ALTER TABLE.
        m.alter_table(
            Table::alter()
                .table(RecordHistory::Table)
                .add_column(timestamp_with_time_zone_null(RecordHistory::DispatchedAt))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(RecordHistory::Table)
                .add_column(json_binary_null(RecordHistory::Cause))
                .to_owned(),
        )
        .await?;
        // History written before automation existed is not replayed as events.
        m.exec_stmt(
            Query::update()
                .table(RecordHistory::Table)
                .value(RecordHistory::DispatchedAt, Expr::current_timestamp())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_record_history_undispatched")
                .table(RecordHistory::Table)
                .col(RecordHistory::Id)
                .and_where(Expr::col(RecordHistory::DispatchedAt).is_null())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_record_history_undispatched")
                .table(RecordHistory::Table)
                .to_owned(),
        )
        .await?;
        for col in [RecordHistory::Cause, RecordHistory::DispatchedAt] {
            m.alter_table(
                Table::alter()
                    .table(RecordHistory::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for table in [RuleVersions::Table.into_iden(), Rules::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
