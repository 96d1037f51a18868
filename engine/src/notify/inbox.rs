//! In-app notifications: writing them ([`notify_in`], inside the caller's
//! transaction) and a member's inbox (list, mark read).

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use sea_query::Expr;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::invalid;
use super::{NotificationId, NotifyError, page_size, recipient};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{TenantId, UserId};
use crate::store::entity::notification;
use crate::store::parse_id;

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Largest serialised `source`.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024;
/// Rows per multi-row insert.
const CHUNK: usize = 200;

/// In-app notification to `target`: a user id (UUID), a user's email, or a
/// role name (`owner`, `admin`, `member`) meaning every active member of the
/// tenant with that role. Inserts one notification row per user on `conn`
/// (so it joins the caller's transaction; on SQLite the caller holds the
/// write lock). `source` says what sent it (`{"rule_id": ..., "record_id":
/// ...}`). Returns the users notified: empty for a role nobody holds or a
/// deactivated member.
///
/// # Errors
/// `validation_failed`: an unknown recipient (field `to`), an empty or long
/// title, a long body or source; `internal`.
pub async fn notify_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    target: &str,
    title: &str,
    body: &str,
    source: Value,
    now: DateTime<Utc>,
) -> Result<Vec<UserId>, NotifyError> {
    let title = title.trim();
    let mut errs = Vec::new();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        errs.push(FieldError::new(
            "title",
            format!("must be 1 to {MAX_TITLE_CHARS} characters"),
        ));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        errs.push(FieldError::new(
            "body",
            format!("must be at most {MAX_BODY_CHARS} characters"),
        ));
    }
    if serde_json::to_vec(&source).map_or(usize::MAX, |b| b.len()) > MAX_SOURCE_BYTES {
        errs.push(FieldError::new(
            "source",
            format!("must be at most {MAX_SOURCE_BYTES} bytes as JSON"),
        ));
    }
    if !errs.is_empty() {
        return Err(NotifyError::Invalid(errs));
    }
    let users = recipient::resolve(conn, tenant, target).await?;
    for chunk in users.chunks(CHUNK) {
        let rows = chunk.iter().map(|user| notification::ActiveModel {
            id: Set(NotificationId::new().to_string()),
            tenant_id: Set(tenant.to_string()),
            user_id: Set(user.to_string()),
            title: Set(title.to_owned()),
            body: Set(body.to_owned()),
            source: Set(source.clone()),
            read_at: Set(None),
            created_at: Set(now),
        });
        notification::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(users)
}

/// One notification as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationView {
    /// Id.
    pub id: NotificationId,
    /// Title (one line).
    pub title: String,
    /// Text.
    pub body: String,
    /// What sent it (`rule_id`, `record_id`, ...).
    pub source: Value,
    /// When it was read; `None` while unread.
    pub read_at: Option<DateTime<Utc>>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<notification::Model> for NotificationView {
    type Error = NotifyError;
    fn try_from(m: notification::Model) -> Result<Self, NotifyError> {
        Ok(Self {
            id: parse_id(&m.id)?,
            title: m.title,
            body: m.body,
            source: m.source,
            read_at: m.read_at,
            created_at: m.created_at,
        })
    }
}

/// Which of my notifications to list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Only unread ones.
    #[serde(default)]
    pub unread: bool,
    /// Page size, 1 to [`super::MAX_PAGE`] (default [`super::DEFAULT_PAGE`]).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<NotificationId>,
}

/// A page of notifications, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationPage {
    /// The notifications.
    pub notifications: Vec<NotificationView>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<NotificationId>,
    /// How many of my notifications are unread (all pages).
    pub unread_count: u64,
}

/// The answer of marking all read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MarkedRead {
    /// How many were unread and are now read.
    pub updated: u64,
}

fn mine(ctx: &Ctx) -> Condition {
    Condition::all()
        .add(notification::Column::TenantId.eq(ctx.tenant.to_string()))
        .add(notification::Column::UserId.eq(ctx.actor.to_string()))
}

impl Engine {
    /// The caller's notifications, newest first, a page at a time.
    ///
    /// # Errors
    /// `validation_failed` (field `cursor`) for a cursor that is not one of
    /// my notifications; `internal`.
    pub async fn list_notifications(
        &self,
        ctx: &Ctx,
        query: NotificationQuery,
    ) -> Result<NotificationPage, NotifyError> {
        require(ctx, Action::ReadData)?;
        let conn = self.db().conn();
        let limit = page_size(query.limit);
        let mut q = notification::Entity::find().filter(mine(ctx));
        if query.unread {
            q = q.filter(notification::Column::ReadAt.is_null());
        }
        if let Some(cursor) = query.cursor {
            let at: DateTime<Utc> = notification::Entity::find()
                .select_only()
                .column(notification::Column::CreatedAt)
                .filter(mine(ctx))
                .filter(notification::Column::Id.eq(cursor.to_string()))
                .into_tuple()
                .one(conn)
                .await?
                .ok_or_else(|| invalid("cursor", "must be the `next_cursor` of a previous page"))?;
            // Keyset on (created_at, id): ids break ties between
            // notifications sent at the same instant.
            q = q.filter(
                Condition::any().add(notification::Column::CreatedAt.lt(at)).add(
                    Condition::all()
                        .add(notification::Column::CreatedAt.eq(at))
                        .add(notification::Column::Id.lt(cursor.to_string())),
                ),
            );
        }
        let mut rows = q
            .order_by_desc(notification::Column::CreatedAt)
            .order_by_desc(notification::Column::Id)
            .limit(limit + 1)
            .all(conn)
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let notifications = rows
            .into_iter()
            .map(NotificationView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            notifications.last().map(|n| n.id)
        } else {
            None
        };
        let unread_count = notification::Entity::find()
            .filter(mine(ctx))
            .filter(notification::Column::ReadAt.is_null())
            .count(conn)
            .await?;
        Ok(NotificationPage {
            notifications,
            next_cursor,
            unread_count,
        })
    }

    /// Marks one of the caller's notifications read (at `ctx.now`); one
    /// already read keeps its first `read_at`.
    ///
    /// # Errors
    /// `not_found` (also another member's notification); `internal`.
    pub async fn mark_notification_read(
        &self,
        ctx: &Ctx,
        id: NotificationId,
    ) -> Result<NotificationView, NotifyError> {
        require(ctx, Action::ReadData)?;
        let db = self.db();
        {
            let _w = db.write_lock().await;
            notification::Entity::update_many()
                .col_expr(notification::Column::ReadAt, Expr::value(ctx.now))
                .filter(mine(ctx))
                .filter(notification::Column::Id.eq(id.to_string()))
                .filter(notification::Column::ReadAt.is_null())
                .exec(db.conn())
                .await?;
        }
        notification::Entity::find()
            .filter(mine(ctx))
            .filter(notification::Column::Id.eq(id.to_string()))
            .one(db.conn())
            .await?
            .ok_or(NotifyError::NotificationNotFound(id))?
            .try_into()
    }

    /// Marks every unread notification of the caller read.
    ///
    /// # Errors
    /// `internal`.
    pub async fn mark_all_notifications_read(&self, ctx: &Ctx) -> Result<MarkedRead, NotifyError> {
        require(ctx, Action::ReadData)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let res = notification::Entity::update_many()
            .col_expr(notification::Column::ReadAt, Expr::value(ctx.now))
            .filter(mine(ctx))
            .filter(notification::Column::ReadAt.is_null())
            .exec(db.conn())
            .await?;
        Ok(MarkedRead {
            updated: res.rows_affected,
        })
    }
}
