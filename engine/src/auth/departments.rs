//! Departments: a tree per tenant, each with an optional manager (used by
//! approval flows as "the initiator's manager", see [`super::org`]).
//!
//! Invariants: a department never sits under itself (moves that would make
//! a cycle answer `department_cycle`); a department with sub-departments or
//! members cannot be deleted (`department_not_empty`); the tree is at most
//! [`super::org::MAX_DEPTH`] levels deep.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use super::AuthError;
use super::members::present;
use super::org::MAX_DEPTH;
use super::policy::{Action, require};
use crate::Engine;
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{DepartmentId, TenantId, UserId};
use crate::store::entity::{department, member};
use crate::store::parse_id;

/// `POST /departments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentInput {
    /// 1 to 100 characters.
    pub name: String,
    /// The parent department; none for a top-level one.
    #[serde(default)]
    pub parent_id: Option<DepartmentId>,
    /// The department's manager (a member of the tenant).
    #[serde(default)]
    pub manager_id: Option<UserId>,
}

/// `PATCH /departments/{id}`: absent keys stay, `null` clears.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New parent, or `null` to make it top-level.
    #[serde(default, deserialize_with = "present")]
    pub parent_id: Option<Option<DepartmentId>>,
    /// New manager, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    pub manager_id: Option<Option<UserId>>,
}

/// A department as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DepartmentView {
    /// Id.
    pub id: DepartmentId,
    /// Name.
    pub name: String,
    /// Parent, none at the top.
    pub parent_id: Option<DepartmentId>,
    /// Manager.
    pub manager_id: Option<UserId>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

fn view(d: department::Model) -> Result<DepartmentView, AuthError> {
    Ok(DepartmentView {
        id: parse_id(&d.id)?,
        name: d.name,
        parent_id: d.parent_id.as_deref().map(parse_id).transpose()?,
        manager_id: d.manager_id.as_deref().map(parse_id).transpose()?,
        created_at: d.created_at,
        updated_at: d.updated_at,
    })
}

fn not_found(id: DepartmentId) -> AuthError {
    AuthError::NotFound {
        what: "department",
        id: id.to_string(),
    }
}

async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    id: DepartmentId,
) -> Result<Option<department::Model>, AuthError> {
    Ok(department::Entity::find()
        .filter(department::Column::TenantId.eq(tenant.to_string()))
        .filter(department::Column::Id.eq(id.to_string()))
        .one(conn)
        .await?)
}

fn check_name(name: &str, errs: &mut Vec<FieldError>) {
    let n = name.trim().chars().count();
    if n == 0 || n > 100 {
        errs.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
}

/// Checks the parent exists and, for a move of `moving`, that the parent is
/// not `moving` itself or inside it.
async fn check_parent<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    parent: DepartmentId,
    moving: Option<DepartmentId>,
) -> Result<(), AuthError> {
    let cycle = |d: DepartmentId| AuthError::DepartmentCycle {
        department: d.to_string(),
        parent: parent.to_string(),
    };
    let mut next = Some(parent);
    let mut depth = 0;
    while let Some(at) = next {
        if Some(at) == moving {
            return Err(cycle(at));
        }
        let Some(row) = find(conn, tenant, at).await? else {
            return Err(AuthError::Invalid(vec![FieldError::new(
                "parent_id",
                format!("department `{at}` does not exist"),
            )]));
        };
        next = row.parent_id.as_deref().map(parse_id).transpose()?;
        depth += 1;
        if depth >= MAX_DEPTH {
            return Err(AuthError::Invalid(vec![FieldError::new(
                "parent_id",
                format!("departments nest at most {MAX_DEPTH} levels deep"),
            )]));
        }
    }
    Ok(())
}

async fn check_manager<C: ConnectionTrait>(conn: &C, tenant: TenantId, m: UserId) -> Result<(), AuthError> {
    let found = member::Entity::find_by_id((tenant.to_string(), m.to_string()))
        .count(conn)
        .await?;
    if found == 0 {
        return Err(AuthError::Invalid(vec![FieldError::new(
            "manager_id",
            format!("`{m}` is not a member of this tenant"),
        )]));
    }
    Ok(())
}

impl Engine {
    /// Every department of the tenant (a flat list; `parent_id` makes the tree).
    ///
    /// # Errors
    /// `forbidden`; `internal`.
    pub async fn list_departments(&self, ctx: &Ctx) -> Result<Vec<DepartmentView>, AuthError> {
        require(ctx, Action::ReadData)?;
        department::Entity::find()
            .filter(department::Column::TenantId.eq(ctx.tenant.to_string()))
            .order_by_asc(department::Column::Name)
            .order_by_asc(department::Column::Id)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(view)
            .collect()
    }

    /// Creates a department.
    ///
    /// # Errors
    /// `forbidden`; `validation_failed` for a bad name, an unknown parent or
    /// a manager who is not a member.
    pub async fn create_department(
        &self,
        ctx: &Ctx,
        input: DepartmentInput,
    ) -> Result<DepartmentView, AuthError> {
        require(ctx, Action::ManageMembers)?;
        let mut errs = Vec::new();
        check_name(&input.name, &mut errs);
        if !errs.is_empty() {
            return Err(AuthError::Invalid(errs));
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        if let Some(p) = input.parent_id {
            check_parent(&tx, ctx.tenant, p, None).await?;
        }
        if let Some(m) = input.manager_id {
            check_manager(&tx, ctx.tenant, m).await?;
        }
        let row = department::ActiveModel {
            id: Set(DepartmentId::new().to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            name: Set(input.name.trim().to_owned()),
            parent_id: Set(input.parent_id.map(|p| p.to_string())),
            manager_id: Set(input.manager_id.map(|m| m.to_string())),
            created_at: Set(ctx.now),
            updated_at: Set(ctx.now),
        }
        .insert(&tx)
        .await?;
        let out = view(row)?;
        crate::audit::record_view(&tx, ctx, "department.created", "department", &out.id, &out).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Renames, moves, or changes the manager of a department.
    ///
    /// # Errors
    /// `forbidden`; `not_found`; `validation_failed`; `department_cycle` when
    /// the new parent is the department itself or inside it.
    pub async fn update_department(
        &self,
        ctx: &Ctx,
        id: DepartmentId,
        patch: DepartmentPatch,
    ) -> Result<DepartmentView, AuthError> {
        require(ctx, Action::ManageMembers)?;
        let mut errs = Vec::new();
        if let Some(n) = &patch.name {
            check_name(n, &mut errs);
        }
        if !errs.is_empty() {
            return Err(AuthError::Invalid(errs));
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let current = find(&tx, ctx.tenant, id).await?.ok_or_else(|| not_found(id))?;
        if let Some(Some(p)) = patch.parent_id {
            check_parent(&tx, ctx.tenant, p, Some(id)).await?;
        }
        if let Some(Some(m)) = patch.manager_id {
            check_manager(&tx, ctx.tenant, m).await?;
        }
        let mut row: department::ActiveModel = current.into();
        if let Some(n) = patch.name {
            row.name = Set(n.trim().to_owned());
        }
        if let Some(p) = patch.parent_id {
            row.parent_id = Set(p.map(|p| p.to_string()));
        }
        if let Some(m) = patch.manager_id {
            row.manager_id = Set(m.map(|m| m.to_string()));
        }
        row.updated_at = Set(ctx.now);
        let row = row.update(&tx).await?;
        let out = view(row)?;
        crate::audit::record_view(&tx, ctx, "department.updated", "department", &out.id, &out).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Deletes an empty department.
    ///
    /// # Errors
    /// `forbidden`; `not_found`; `department_not_empty` naming how many
    /// sub-departments and members it still has.
    pub async fn delete_department(&self, ctx: &Ctx, id: DepartmentId) -> Result<(), AuthError> {
        require(ctx, Action::ManageMembers)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let current = find(&tx, ctx.tenant, id).await?.ok_or_else(|| not_found(id))?;
        let departments = department::Entity::find()
            .filter(department::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(department::Column::ParentId.eq(id.to_string()))
            .count(&tx)
            .await?;
        let members = member::Entity::find()
            .filter(member::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(member::Column::DepartmentId.eq(id.to_string()))
            .count(&tx)
            .await?;
        if departments > 0 || members > 0 {
            return Err(AuthError::DepartmentNotEmpty {
                name: current.name,
                departments,
                members,
            });
        }
        department::Entity::delete_many()
            .filter(department::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(department::Column::Id.eq(id.to_string()))
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "department.deleted",
            "department",
            &id.to_string(),
            serde_json::Value::Null,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
