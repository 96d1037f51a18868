//! A tenant's custom roles: named, assignable to members, unique per tenant
//! and never one of the built-in names (`owner`, `admin`, `member`). For the
//! engine's role checks a holder acts as `member`; per-form permissions by
//! role come with form permissions.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};

use super::policy::{Action, require};
use super::{AuthError, is_builtin_role};
use crate::Engine;
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{RoleId, TenantId};
use crate::store::entity::{member, role};
use crate::store::parse_id;

/// `POST /roles` and `PATCH /roles/{id}` (absent keys stay on a patch).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// 1 to 50 characters; not `owner`, `admin` or `member`.
    #[serde(default)]
    pub name: Option<String>,
    /// Up to 500 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// A custom role as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    /// Id.
    pub id: RoleId,
    /// Name, assignable as a member's `role`.
    pub name: String,
    /// Description.
    pub description: String,
    /// Members holding it.
    pub members: u64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

fn not_found(id: RoleId) -> AuthError {
    AuthError::NotFound {
        what: "role",
        id: id.to_string(),
    }
}

fn check(input: &RoleInput, is_create: bool) -> Result<(), AuthError> {
    let mut errs = Vec::new();
    match input.name.as_deref().map(str::trim) {
        None if is_create => errs.push(FieldError::new("name", "is required")),
        None => {}
        Some(n) if n.is_empty() || n.chars().count() > 50 => {
            errs.push(FieldError::new("name", "must be 1 to 50 characters"));
        }
        Some(n) if is_builtin_role(n) => {
            errs.push(FieldError::new("name", format!("`{n}` is a built-in role")));
        }
        Some(_) => {}
    }
    if input
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 500)
    {
        errs.push(FieldError::new("description", "must be at most 500 characters"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(AuthError::Invalid(errs))
    }
}

async fn holders<C: ConnectionTrait>(conn: &C, tenant: TenantId, id: &str) -> Result<u64, AuthError> {
    Ok(member::Entity::find()
        .filter(member::Column::TenantId.eq(tenant.to_string()))
        .filter(member::Column::RoleId.eq(id))
        .count(conn)
        .await?)
}

async fn name_taken<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
    except: Option<&str>,
) -> Result<bool, AuthError> {
    let mut q = role::Entity::find()
        .filter(role::Column::TenantId.eq(tenant.to_string()))
        .filter(role::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(role::Column::Id.ne(id));
    }
    Ok(q.count(conn).await? > 0)
}

async fn view<C: ConnectionTrait>(conn: &C, tenant: TenantId, r: role::Model) -> Result<RoleView, AuthError> {
    let members = holders(conn, tenant, &r.id).await?;
    Ok(RoleView {
        id: parse_id(&r.id)?,
        name: r.name,
        description: r.description,
        members,
        created_at: r.created_at,
    })
}

impl Engine {
    /// The tenant's custom roles, by name.
    ///
    /// # Errors
    /// `forbidden`; `internal`.
    pub async fn list_roles(&self, ctx: &Ctx) -> Result<Vec<RoleView>, AuthError> {
        require(ctx, Action::ReadData)?;
        let conn = self.db().conn();
        let rows = role::Entity::find()
            .filter(role::Column::TenantId.eq(ctx.tenant.to_string()))
            .order_by_asc(role::Column::Name)
            .all(conn)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(view(conn, ctx.tenant, r).await?);
        }
        Ok(out)
    }

    /// Creates a custom role.
    ///
    /// # Errors
    /// `forbidden`; `validation_failed`; `conflict` when the name is taken.
    pub async fn create_role(&self, ctx: &Ctx, input: RoleInput) -> Result<RoleView, AuthError> {
        require(ctx, Action::ManageMembers)?;
        check(&input, true)?;
        let name = input.name.as_deref().unwrap_or_default().trim().to_owned();
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        if name_taken(&tx, ctx.tenant, &name, None).await? {
            return Err(AuthError::Conflict(format!("role `{name}` already exists")));
        }
        let row = role::ActiveModel {
            id: Set(RoleId::new().to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            name: Set(name),
            description: Set(input.description.unwrap_or_default()),
            created_at: Set(ctx.now),
        }
        .insert(&tx)
        .await?;
        let out = view(&tx, ctx.tenant, row).await?;
        crate::audit::record_view(&tx, ctx, "role.created", "role", &out.id, &out).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Renames a custom role or changes its description; holders keep it.
    ///
    /// # Errors
    /// `forbidden`; `not_found`; `validation_failed`; `conflict`.
    pub async fn update_role(&self, ctx: &Ctx, id: RoleId, input: RoleInput) -> Result<RoleView, AuthError> {
        require(ctx, Action::ManageMembers)?;
        check(&input, false)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let current = role::Entity::find()
            .filter(role::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(role::Column::Id.eq(id.to_string()))
            .one(&tx)
            .await?
            .ok_or_else(|| not_found(id))?;
        let mut row: role::ActiveModel = current.clone().into();
        if let Some(n) = input.name.as_deref().map(str::trim) {
            if name_taken(&tx, ctx.tenant, n, Some(&current.id)).await? {
                return Err(AuthError::Conflict(format!("role `{n}` already exists")));
            }
            row.name = Set(n.to_owned());
        }
        if let Some(d) = input.description {
            row.description = Set(d);
        }
        let row = row.update(&tx).await?;
        let out = view(&tx, ctx.tenant, row).await?;
        crate::audit::record_view(&tx, ctx, "role.updated", "role", &out.id, &out).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Deletes a custom role nobody holds.
    ///
    /// # Errors
    /// `forbidden`; `not_found`; `conflict` while members hold it.
    pub async fn delete_role(&self, ctx: &Ctx, id: RoleId) -> Result<(), AuthError> {
        require(ctx, Action::ManageMembers)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let current = role::Entity::find()
            .filter(role::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(role::Column::Id.eq(id.to_string()))
            .one(&tx)
            .await?
            .ok_or_else(|| not_found(id))?;
        let n = holders(&tx, ctx.tenant, &current.id).await?;
        if n > 0 {
            return Err(AuthError::Conflict(format!(
                "role `{}` is held by {n} member(s); give them another role first",
                current.name
            )));
        }
        role::Entity::delete_many()
            .filter(role::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(role::Column::Id.eq(id.to_string()))
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "role.deleted",
            "role",
            &id.to_string(),
            serde_json::json!({"name": current.name}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
