//! Who a notification goes to: a member by id or email, or every active
//! member holding a role (built-in or custom), as approval flows count them.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use super::NotifyError;
use crate::auth::org;
use crate::ctx::Role;
use crate::ids::{TenantId, UserId};
use crate::store::entity::{member, role, user};

/// Longest accepted target (an email address is at most 254).
const MAX_TARGET_LEN: usize = 320;

/// Resolves `target` to the tenant's active members, sorted by id.
///
/// A known member who was deactivated or has not accepted an invite
/// resolves to nobody (not an error), as does a role nobody holds; anything
/// that names no member or role is [`NotifyError::UnknownRecipient`].
/// Roles count as in approval flows: `member` is the built-in role alone,
/// and a custom role's holders are reached by its name.
pub(super) async fn resolve<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    target: &str,
) -> Result<Vec<UserId>, NotifyError> {
    let target = target.trim();
    let unknown = || NotifyError::UnknownRecipient(super::cut(target, 100));
    if target.is_empty() || target.len() > MAX_TARGET_LEN {
        return Err(unknown());
    }
    if Role::parse(target).is_some() {
        return Ok(org::members_with_role_in(conn, tenant, target).await?);
    }
    let user_id = if let Ok(id) = target.parse::<UserId>() {
        id
    } else if target.contains('@') {
        let found: Option<String> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Email.eq(target.to_lowercase()))
            .into_tuple()
            .one(conn)
            .await?;
        found.ok_or_else(unknown)?.parse().map_err(|_| unknown())?
    } else {
        let custom = role::Entity::find()
            .filter(role::Column::TenantId.eq(tenant.to_string()))
            .filter(role::Column::Name.eq(target))
            .count(conn)
            .await?;
        if custom == 0 {
            return Err(unknown());
        }
        return Ok(org::members_with_role_in(conn, tenant, target).await?);
    };
    let is_member = member::Entity::find()
        .filter(member::Column::TenantId.eq(tenant.to_string()))
        .filter(member::Column::UserId.eq(user_id.to_string()))
        .count(conn)
        .await?
        > 0;
    if !is_member {
        return Err(unknown());
    }
    if org::is_active_member_in(conn, tenant, user_id).await? {
        Ok(vec![user_id])
    } else {
        Ok(Vec::new())
    }
}
