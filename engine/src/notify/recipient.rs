//! Who a notification goes to: a member by id or email, or every active
//! member holding a role.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::NotifyError;
use crate::ctx::Role;
use crate::ids::{TenantId, UserId};
use crate::store::entity::{membership, user};
use crate::store::parse_id;

/// Ids per `IN (...)` list.
const CHUNK: usize = 500;
/// Longest accepted target (an email address is at most 254).
const MAX_TARGET_LEN: usize = 320;

/// Resolves `target` to the tenant's active members, sorted by id.
///
/// A known member who was deactivated resolves to nobody (not an error), as
/// does a role nobody holds; anything that names no member or role is
/// [`NotifyError::UnknownRecipient`].
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
    if let Some(role) = Role::parse(target) {
        let ids: Vec<String> = membership::Entity::find()
            .select_only()
            .column(membership::Column::UserId)
            .filter(membership::Column::TenantId.eq(tenant.to_string()))
            .filter(membership::Column::Role.eq(role.as_str()))
            .order_by_asc(membership::Column::UserId)
            .into_tuple()
            .all(conn)
            .await?;
        return active(conn, ids).await;
    }
    let user_id = if let Ok(id) = target.parse::<UserId>() {
        id.to_string()
    } else if target.contains('@') {
        let found: Option<String> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Email.eq(target.to_lowercase()))
            .into_tuple()
            .one(conn)
            .await?;
        found.ok_or_else(unknown)?
    } else {
        return Err(unknown());
    };
    let is_member = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::TenantId.eq(tenant.to_string()))
        .filter(membership::Column::UserId.eq(user_id.as_str()))
        .into_tuple::<String>()
        .one(conn)
        .await?
        .is_some();
    if !is_member {
        return Err(unknown());
    }
    active(conn, vec![user_id]).await
}

/// The users among `ids` who are not deactivated, in the order given.
async fn active<C: ConnectionTrait>(conn: &C, ids: Vec<String>) -> Result<Vec<UserId>, NotifyError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let live: Vec<String> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(chunk.iter().cloned()))
            .filter(user::Column::DeactivatedAt.is_null())
            .order_by_asc(user::Column::Id)
            .into_tuple()
            .all(conn)
            .await?;
        for id in live {
            out.push(parse_id(&id)?);
        }
    }
    Ok(out)
}
