//! Organisation lookups for approval flows and notifications: a member's
//! manager, the members holding a role, whether someone is an active member.
//!
//! Only active members count: invited and deactivated members, members of
//! another tenant and users deactivated everywhere are never returned. Every
//! query is scoped by the tenant first. Callers: `workflow` (assignees such
//! as "the initiator's manager" or "everyone with role X").

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect};

use super::{AuthError, MemberStatus, is_builtin_role};
use crate::ids::{DepartmentId, TenantId, UserId};
use crate::store::entity::{department, member, role, user};
use crate::store::{Db, parse_id};

/// How far up the department tree a manager lookup walks. Trees are kept
/// acyclic on write; the bound only guards against a corrupt one.
pub const MAX_DEPTH: usize = 64;

/// Membership joined to its user, for "is this person live" filters.
fn member_user() -> sea_orm::RelationDef {
    member::Entity::belongs_to(user::Entity)
        .from(member::Column::UserId)
        .to(user::Column::Id)
        .into()
}

/// The manager who approves for `user`: their own manager if set and
/// active; otherwise the manager of their department, and when the user is
/// that manager (or it has none, or theirs is not active), the manager of
/// the parent department, walking up. `None` when nothing is found or the
/// user is not a member.
///
/// # Errors
/// `internal` on storage failure.
pub async fn manager_of(db: &Db, tenant: TenantId, user: UserId) -> Result<Option<UserId>, AuthError> {
    let conn = db.conn();
    let Some(me) = member::Entity::find_by_id((tenant.to_string(), user.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if let Some(m) = me.manager_id.as_deref() {
        let m: UserId = parse_id(m)?;
        if m != user && is_active_member(db, tenant, m).await? {
            return Ok(Some(m));
        }
    }
    let mut next = me.department_id;
    for _ in 0..MAX_DEPTH {
        let Some(dept) = next else { break };
        let dept: DepartmentId = parse_id(&dept)?;
        let Some(row) = department::Entity::find()
            .filter(department::Column::TenantId.eq(tenant.to_string()))
            .filter(department::Column::Id.eq(dept.to_string()))
            .one(conn)
            .await?
        else {
            break;
        };
        if let Some(m) = row.manager_id.as_deref() {
            let m: UserId = parse_id(m)?;
            if m != user && is_active_member(db, tenant, m).await? {
                return Ok(Some(m));
            }
        }
        next = row.parent_id;
    }
    Ok(None)
}

/// The active members holding `role`: a built-in role (`owner`, `admin`,
/// `member`: holders of a custom role are not counted as `member` here) or a
/// custom role's name. An unknown name yields no one. Ordered by user id.
///
/// # Errors
/// `internal` on storage failure.
pub async fn members_with_role(db: &Db, tenant: TenantId, role: &str) -> Result<Vec<UserId>, AuthError> {
    members_with_role_in(db.conn(), tenant, role).await
}

/// [`members_with_role`] on any connection (a transaction included).
pub(crate) async fn members_with_role_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    role: &str,
) -> Result<Vec<UserId>, AuthError> {
    let mut q = member::Entity::find()
        .select_only()
        .column(member::Column::UserId)
        .join(JoinType::InnerJoin, member_user())
        .filter(member::Column::TenantId.eq(tenant.to_string()))
        .filter(member::Column::Status.eq(MemberStatus::Active.as_str()))
        .filter(user::Column::DeactivatedAt.is_null());
    if is_builtin_role(role) {
        q = q
            .filter(member::Column::Role.eq(role))
            .filter(member::Column::RoleId.is_null());
    } else {
        let Some(custom) = role::Entity::find()
            .filter(role::Column::TenantId.eq(tenant.to_string()))
            .filter(role::Column::Name.eq(role))
            .one(conn)
            .await?
        else {
            return Ok(Vec::new());
        };
        q = q.filter(member::Column::RoleId.eq(custom.id));
    }
    let ids: Vec<String> = q
        .order_by_asc(member::Column::UserId)
        .into_tuple()
        .all(conn)
        .await?;
    ids.iter().map(|s| parse_id(s).map_err(AuthError::from)).collect()
}

/// True when `user` is an active member of `tenant` (not invited, not
/// deactivated there, and not deactivated as a user).
///
/// # Errors
/// `internal` on storage failure.
pub async fn is_active_member(db: &Db, tenant: TenantId, user: UserId) -> Result<bool, AuthError> {
    is_active_member_in(db.conn(), tenant, user).await
}

/// [`is_active_member`] on any connection (a transaction included).
pub(crate) async fn is_active_member_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    user: UserId,
) -> Result<bool, AuthError> {
    let found: Option<String> = member::Entity::find()
        .select_only()
        .column(member::Column::UserId)
        .join(JoinType::InnerJoin, member_user())
        .filter(member::Column::TenantId.eq(tenant.to_string()))
        .filter(member::Column::UserId.eq(user.to_string()))
        .filter(member::Column::Status.eq(MemberStatus::Active.as_str()))
        .filter(user::Column::DeactivatedAt.is_null())
        .into_tuple()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// What per-form permissions need to know of a member: their custom role
/// and department.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The custom role's name, when they hold one.
    pub custom_role: Option<String>,
    /// Their department.
    pub department: Option<DepartmentId>,
}

/// The custom role and department of `user` in `tenant` (empty when they
/// are not a member).
///
/// # Errors
/// `internal` on storage failure.
pub async fn profile(db: &Db, tenant: TenantId, user: UserId) -> Result<Profile, AuthError> {
    let conn = db.conn();
    let Some(me) = member::Entity::find_by_id((tenant.to_string(), user.to_string()))
        .one(conn)
        .await?
    else {
        return Ok(Profile::default());
    };
    let custom_role = match me.role_id {
        Some(id) => role::Entity::find()
            .filter(role::Column::TenantId.eq(tenant.to_string()))
            .filter(role::Column::Id.eq(id))
            .one(conn)
            .await?
            .map(|r| r.name),
        None => None,
    };
    let department = me.department_id.as_deref().map(parse_id).transpose()?;
    Ok(Profile {
        custom_role,
        department,
    })
}

/// Every department of the tenant with its parent (trees are small; one query).
///
/// # Errors
/// `internal` on storage failure.
pub async fn department_parents(
    db: &Db,
    tenant: TenantId,
) -> Result<Vec<(DepartmentId, Option<DepartmentId>)>, AuthError> {
    let rows: Vec<(String, Option<String>)> = department::Entity::find()
        .select_only()
        .column(department::Column::Id)
        .column(department::Column::ParentId)
        .filter(department::Column::TenantId.eq(tenant.to_string()))
        .into_tuple()
        .all(db.conn())
        .await?;
    rows.into_iter()
        .map(|(id, parent)| Ok((parse_id(&id)?, parent.as_deref().map(parse_id).transpose()?)))
        .collect()
}

/// The members (any status) assigned to one of `departments`, by user id.
///
/// # Errors
/// `internal` on storage failure.
pub async fn members_in_departments(
    db: &Db,
    tenant: TenantId,
    departments: &[DepartmentId],
) -> Result<Vec<UserId>, AuthError> {
    if departments.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = member::Entity::find()
        .select_only()
        .column(member::Column::UserId)
        .filter(member::Column::TenantId.eq(tenant.to_string()))
        .filter(member::Column::DepartmentId.is_in(departments.iter().map(ToString::to_string)))
        .order_by_asc(member::Column::UserId)
        .into_tuple()
        .all(db.conn())
        .await?;
    ids.iter().map(|s| parse_id(s).map_err(AuthError::from)).collect()
}
