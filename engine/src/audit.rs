//! The audit log: every change to members, roles, departments, API tokens,
//! form permissions and app definitions (apps, forms, rules, flows,
//! dashboards, template installs and upgrades) writes one entry, in the
//! same transaction as the change, so a change without its entry (or the
//! reverse) never exists. Owners and admins read it at `GET /api/v1/audit`,
//! newest first.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Engine;
use crate::auth::AuthError;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{AuditId, UserId};
use crate::store::entity::audit_entry;
use crate::store::{StoreError, parse_id};

/// Most entries per page.
pub const MAX_PAGE: u64 = 200;

/// Writes one entry with `conn` (the change's transaction).
///
/// # Errors
/// The database's.
pub(crate) async fn record<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    action: &str,
    target_kind: &str,
    target_id: &str,
    detail: Value,
) -> Result<(), sea_orm::DbErr> {
    let row = audit_entry::Model {
        id: AuditId::new().to_string(),
        tenant_id: ctx.tenant.to_string(),
        at: ctx.now,
        actor: ctx.actor.to_string(),
        action: action.to_owned(),
        target_kind: target_kind.to_owned(),
        target_id: target_id.to_owned(),
        detail: (!detail.is_null()).then_some(detail),
    };
    audit_entry::Entity::insert(audit_entry::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// One entry as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Id (time-ordered).
    pub id: AuditId,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who.
    pub actor: UserId,
    /// What (`member.created`, `permissions.updated`, `form.updated`, ...).
    pub action: String,
    /// The kind of object changed.
    pub target_kind: String,
    /// The object changed.
    pub target_id: String,
    /// What changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
}

/// Which entries to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    /// Only actions starting with this (`member.`, `form.updated`).
    #[serde(default)]
    pub action: Option<String>,
    /// Only changes of this object.
    #[serde(default)]
    pub target_id: Option<String>,
    /// Only changes by this user.
    #[serde(default)]
    pub actor: Option<UserId>,
    /// Page size, 1 to [`MAX_PAGE`] (default 50).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<AuditId>,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<AuditId>,
}

impl Engine {
    /// The tenant's audit log, newest first.
    ///
    /// # Errors
    /// `forbidden` below admin.
    pub async fn list_audit(&self, ctx: &Ctx, filter: AuditFilter) -> Result<AuditPage, AuthError> {
        require(ctx, Action::ManageMembers)?;
        let limit = filter.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let mut q =
            audit_entry::Entity::find().filter(audit_entry::Column::TenantId.eq(ctx.tenant.to_string()));
        if let Some(a) = filter.action.as_deref().filter(|a| !a.is_empty()) {
            q = q.filter(audit_entry::Column::Action.starts_with(a));
        }
        if let Some(t) = &filter.target_id {
            q = q.filter(audit_entry::Column::TargetId.eq(t.as_str()));
        }
        if let Some(u) = filter.actor {
            q = q.filter(audit_entry::Column::Actor.eq(u.to_string()));
        }
        if let Some(c) = filter.cursor {
            q = q.filter(audit_entry::Column::Id.lt(c.to_string()));
        }
        let mut rows = q
            .order_by_desc(audit_entry::Column::Id)
            .limit(limit + 1)
            .all(self.db().conn())
            .await
            .map_err(StoreError::Db)?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let entries = rows
            .into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: parse_id(&r.id)?,
                    at: r.at,
                    actor: parse_id(&r.actor)?,
                    action: r.action,
                    target_kind: r.target_kind,
                    target_id: r.target_id,
                    detail: r.detail,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next_cursor = if more { entries.last().map(|e| e.id) } else { None };
        Ok(AuditPage { entries, next_cursor })
    }
}

/// [`record`] with the changed object's API view as the detail.
///
/// # Errors
/// The database's.
pub(crate) async fn record_view<C: ConnectionTrait, T: Serialize>(
    conn: &C,
    ctx: &Ctx,
    action: &str,
    target_kind: &str,
    target_id: &dyn std::fmt::Display,
    view: &T,
) -> Result<(), sea_orm::DbErr> {
    let detail = serde_json::to_value(view).unwrap_or(Value::Null);
    record(conn, ctx, action, target_kind, &target_id.to_string(), detail).await
}
