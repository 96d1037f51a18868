//! Approval workflows: `workflows` (the current definition per flow) and
//! their `workflow_versions`, `workflow_instances` (one per record that went
//! into a flow), `workflow_tasks` (one per assignee of an active node) and
//! `workflow_events` (the instance's history, in order).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, json_binary, json_binary_null, string, string_len, string_len_null, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

#[derive(DeriveIden)]
enum Workflows {
    Table,
    Id,
    TenantId,
    AppId,
    FormId,
    Name,
    Active,
    Version,
    Def,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkflowVersions {
    Table,
    TenantId,
    WorkflowId,
    Version,
    Def,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WorkflowInstances {
    Table,
    Id,
    TenantId,
    AppId,
    FormId,
    RecordId,
    WorkflowId,
    WorkflowVersion,
    Status,
    Initiator,
    State,
    Version,
    StartedAt,
    UpdatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum WorkflowTasks {
    Table,
    Id,
    TenantId,
    InstanceId,
    AppId,
    FormId,
    RecordId,
    NodeId,
    Kind,
    Assignee,
    Status,
    Activation,
    Result,
    Comment,
    CreatedAt,
    ActedAt,
}

#[derive(DeriveIden)]
enum WorkflowEvents {
    Table,
    Id,
    TenantId,
    InstanceId,
    Seq,
    At,
    Actor,
    Action,
    NodeId,
    TaskId,
    Comment,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Workflows::Table)
                .col(id(Workflows::Id).primary_key())
                .col(id(Workflows::TenantId))
                .col(id(Workflows::AppId))
                .col(id(Workflows::FormId))
                .col(string(Workflows::Name))
                .col(boolean(Workflows::Active))
                .col(integer(Workflows::Version))
                .col(json_binary(Workflows::Def))
                .col(id(Workflows::CreatedBy))
                .col(timestamp_with_time_zone(Workflows::CreatedAt))
                .col(timestamp_with_time_zone(Workflows::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_workflows_tenant_form")
                .table(Workflows::Table)
                .col(Workflows::TenantId)
                .col(Workflows::FormId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkflowVersions::Table)
                .col(id(WorkflowVersions::TenantId))
                .col(id(WorkflowVersions::WorkflowId))
                .col(integer(WorkflowVersions::Version))
                .col(json_binary(WorkflowVersions::Def))
                .col(id(WorkflowVersions::CreatedBy))
                .col(timestamp_with_time_zone(WorkflowVersions::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(WorkflowVersions::WorkflowId)
                        .col(WorkflowVersions::Version),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkflowInstances::Table)
                .col(id(WorkflowInstances::Id).primary_key())
                .col(id(WorkflowInstances::TenantId))
                .col(id(WorkflowInstances::AppId))
                .col(id(WorkflowInstances::FormId))
                .col(id(WorkflowInstances::RecordId))
                .col(id(WorkflowInstances::WorkflowId))
                .col(integer(WorkflowInstances::WorkflowVersion))
                .col(string_len(WorkflowInstances::Status, 16))
                .col(id(WorkflowInstances::Initiator))
                .col(json_binary(WorkflowInstances::State))
                .col(integer(WorkflowInstances::Version))
                .col(timestamp_with_time_zone(WorkflowInstances::StartedAt))
                .col(timestamp_with_time_zone(WorkflowInstances::UpdatedAt))
                .col(timestamp_with_time_zone_null(WorkflowInstances::FinishedAt))
                .to_owned(),
        )
        .await?;
        // One instance per record: a second start finds the first.
        m.create_index(
            Index::create()
                .name("ux_workflow_instances_record")
                .table(WorkflowInstances::Table)
                .col(WorkflowInstances::TenantId)
                .col(WorkflowInstances::RecordId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkflowTasks::Table)
                .col(id(WorkflowTasks::Id).primary_key())
                .col(id(WorkflowTasks::TenantId))
                .col(id(WorkflowTasks::InstanceId))
                .col(id(WorkflowTasks::AppId))
                .col(id(WorkflowTasks::FormId))
                .col(id(WorkflowTasks::RecordId))
                .col(string_len(WorkflowTasks::NodeId, 64))
                .col(string_len(WorkflowTasks::Kind, 16))
                .col(id(WorkflowTasks::Assignee))
                .col(string_len(WorkflowTasks::Status, 16))
                .col(integer(WorkflowTasks::Activation))
                .col(string_len_null(WorkflowTasks::Result, 16))
                .col(text_null(WorkflowTasks::Comment))
                .col(timestamp_with_time_zone(WorkflowTasks::CreatedAt))
                .col(timestamp_with_time_zone_null(WorkflowTasks::ActedAt))
                .to_owned(),
        )
        .await?;
        // The inbox: a member's tasks by state, newest first.
        m.create_index(
            Index::create()
                .name("ix_workflow_tasks_inbox")
                .table(WorkflowTasks::Table)
                .col(WorkflowTasks::TenantId)
                .col(WorkflowTasks::Assignee)
                .col(WorkflowTasks::Status)
                .col(WorkflowTasks::CreatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_workflow_tasks_instance")
                .table(WorkflowTasks::Table)
                .col(WorkflowTasks::InstanceId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WorkflowEvents::Table)
                .col(id(WorkflowEvents::Id).primary_key())
                .col(id(WorkflowEvents::TenantId))
                .col(id(WorkflowEvents::InstanceId))
                .col(integer(WorkflowEvents::Seq))
                .col(timestamp_with_time_zone(WorkflowEvents::At))
                .col(string_len_null(WorkflowEvents::Actor, 36))
                .col(string_len(WorkflowEvents::Action, 32))
                .col(string_len_null(WorkflowEvents::NodeId, 64))
                .col(string_len_null(WorkflowEvents::TaskId, 36))
                .col(text_null(WorkflowEvents::Comment))
                .col(json_binary_null(WorkflowEvents::Detail))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_workflow_events_seq")
                .table(WorkflowEvents::Table)
                .col(WorkflowEvents::InstanceId)
                .col(WorkflowEvents::Seq)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WorkflowEvents::Table.into_iden(),
            WorkflowTasks::Table.into_iden(),
            WorkflowInstances::Table.into_iden(),
            WorkflowVersions::Table.into_iden(),
            Workflows::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
