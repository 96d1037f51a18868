//! Members, departments, custom roles and API tokens.
//!
//! `memberships` gains a status (`active`, `invited`, `deactivated`), a
//! department, a direct manager, a custom role and a pending invite (stored
//! as the SHA-256 of its one-time token). Every new column has a default, so
//! a membership inserted without them is an active member with no
//! department. `tokens` gains a scope (`read`, `write`, `admin`; null for
//! browser sessions, which carry the caller's full role). New tables:
//! `departments` (a tree per tenant, each with an optional manager) and
//! `roles` (a tenant's custom role names).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    string, string_len, string_len_null, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 36)
}

fn id_null<T: IntoIden>(col: T) -> ColumnDef {
    string_len_null(col, 36)
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    TenantId,
    Status,
    DepartmentId,
    ManagerId,
    RoleId,
    InviteHash,
    InviteExpiresAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Scope,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
    TenantId,
    Name,
    ParentId,
    ManagerId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    TenantId,
    Name,
    Description,
    CreatedAt,
}

/// The columns added to `memberships`, in order.
fn member_columns() -> Vec<ColumnDef> {
    vec![
        string(Memberships::Status).default("active").to_owned(),
        id_null(Memberships::DepartmentId),
        id_null(Memberships::ManagerId),
        id_null(Memberships::RoleId),
        string_null(Memberships::InviteHash),
        timestamp_with_time_zone_null(Memberships::InviteExpiresAt),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for mut col in member_columns() {
            m.alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Tokens::Table)
                .add_column(string_null(Tokens::Scope))
                .to_owned(),
        )
        .await?;
        // An invite is found by its token's hash.
        m.create_index(
            Index::create()
                .name("ux_memberships_invite_hash")
                .table(Memberships::Table)
                .col(Memberships::InviteHash)
                .unique()
                .to_owned(),
        )
        .await?;
        // Members of a department (emptiness check, org lookups).
        m.create_index(
            Index::create()
                .name("ix_memberships_tenant_department")
                .table(Memberships::Table)
                .col(Memberships::TenantId)
                .col(Memberships::DepartmentId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Departments::Table)
                .col(id(Departments::Id).primary_key())
                .col(id(Departments::TenantId))
                .col(string(Departments::Name))
                .col(id_null(Departments::ParentId))
                .col(id_null(Departments::ManagerId))
                .col(timestamp_with_time_zone(Departments::CreatedAt))
                .col(timestamp_with_time_zone(Departments::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_departments_tenant_parent")
                .table(Departments::Table)
                .col(Departments::TenantId)
                .col(Departments::ParentId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Roles::Table)
                .col(id(Roles::Id).primary_key())
                .col(id(Roles::TenantId))
                .col(string(Roles::Name))
                .col(text(Roles::Description))
                .col(timestamp_with_time_zone(Roles::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_roles_tenant_name")
                .table(Roles::Table)
                .col(Roles::TenantId)
                .col(Roles::Name)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Roles::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(Departments::Table).to_owned())
            .await?;
        for name in ["ix_memberships_tenant_department", "ux_memberships_invite_hash"] {
            m.drop_index(Index::drop().name(name).table(Memberships::Table).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Tokens::Table)
                .drop_column(Tokens::Scope)
                .to_owned(),
        )
        .await?;
        for col in [
            Memberships::InviteExpiresAt,
            Memberships::InviteHash,
            Memberships::RoleId,
            Memberships::ManagerId,
            Memberships::DepartmentId,
            Memberships::Status,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
