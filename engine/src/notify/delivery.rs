//! The delivery log: one row per attempt to call a webhook or send an email,
//! written by the job handlers and listed per webhook and for email.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::{Channel, DeliveryId, DeliveryStatus, NotifyError, WebhookId, cut, page_size};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::HasCode;
use crate::ids::JobId;
use crate::jobs::LeasedJob;
use crate::store::entity::{delivery, webhook};
use crate::store::{Db, StoreError, parse_id};

/// Longest stored response excerpt or error, in characters.
pub const MAX_LOG_TEXT: usize = 2000;

/// One attempt, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryView {
    /// Id.
    pub id: DeliveryId,
    /// `webhook` or `email`.
    pub channel: Channel,
    /// The webhook id, or the email address.
    pub target: String,
    /// The webhook event; `None` for email.
    pub event: Option<String>,
    /// The delivery job (`GET /api/v1/jobs/{id}`).
    pub job_id: JobId,
    /// Which attempt of the job, from 1.
    pub attempt: i32,
    /// How it ended.
    pub status: DeliveryStatus,
    /// The HTTP status, or the SMTP reply code.
    pub response_status: Option<i32>,
    /// The start of the response body, or the SMTP reply text.
    pub response: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Wall time of the attempt.
    pub duration_ms: i64,
    /// When it ended (the worker's clock).
    pub created_at: DateTime<Utc>,
}

impl TryFrom<delivery::Model> for DeliveryView {
    type Error = NotifyError;
    fn try_from(m: delivery::Model) -> Result<Self, NotifyError> {
        Ok(Self {
            id: parse_id(&m.id)?,
            channel: Channel::parse(&m.channel)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery channel `{}`", m.channel)))?,
            status: DeliveryStatus::parse(&m.status)
                .ok_or_else(|| StoreError::Corrupt(format!("delivery status `{}`", m.status)))?,
            job_id: parse_id(&m.job_id)?,
            target: m.target,
            event: m.event,
            attempt: m.attempt,
            response_status: m.response_status,
            response: m.response,
            error: m.error,
            duration_ms: m.duration_ms,
            created_at: m.created_at,
        })
    }
}

/// A page request of the delivery log.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Page size, 1 to [`super::MAX_PAGE`] (default [`super::DEFAULT_PAGE`]).
    #[serde(default)]
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<DeliveryId>,
}

/// A page of the delivery log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryPage {
    /// The attempts.
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<DeliveryId>,
}

/// What one attempt produced, for [`record`].
pub(super) struct Attempt {
    pub channel: Channel,
    pub target: String,
    pub event: Option<String>,
    pub status: DeliveryStatus,
    pub response_status: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Writes the log row of one attempt of `job`, on its own (no transaction
/// is open in a delivery handler). A failure to write is logged, not
/// returned: the delivery itself already happened or failed, and failing
/// the job over its log would deliver twice.
pub(super) async fn record(db: &Db, job: &LeasedJob, a: Attempt, at: DateTime<Utc>) {
    let row = delivery::ActiveModel {
        id: Set(DeliveryId::new().to_string()),
        tenant_id: Set(job.tenant.to_string()),
        channel: Set(a.channel.as_str().to_owned()),
        target: Set(cut(&a.target, 320)),
        event: Set(a.event),
        job_id: Set(job.id.to_string()),
        attempt: Set(job.attempt),
        status: Set(a.status.as_str().to_owned()),
        response_status: Set(a.response_status),
        response: Set(a.response.map(|r| cut(&r, MAX_LOG_TEXT))),
        error: Set(a.error.map(|e| cut(&e, MAX_LOG_TEXT))),
        duration_ms: Set(a.duration_ms),
        created_at: Set(at),
    };
    let _w = db.write_lock().await;
    if let Err(e) = delivery::Entity::insert(row)
        .exec_without_returning(db.conn())
        .await
    {
        let e = NotifyError::from(e);
        tracing::warn!(job = %job.id, code = e.code().as_str(), "could not log the delivery attempt: {e}");
    }
}

impl Engine {
    /// The delivery log of one webhook, newest first.
    ///
    /// # Errors
    /// `not_found`; `forbidden` for members; `internal`.
    pub async fn list_webhook_deliveries(
        &self,
        ctx: &Ctx,
        id: WebhookId,
        query: DeliveryQuery,
    ) -> Result<DeliveryPage, NotifyError> {
        require(ctx, Action::DesignApps)?;
        let exists = webhook::Entity::find()
            .select_only()
            .column(webhook::Column::Id)
            .filter(webhook::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(webhook::Column::Id.eq(id.to_string()))
            .into_tuple::<String>()
            .one(self.db().conn())
            .await?;
        if exists.is_none() {
            return Err(NotifyError::WebhookNotFound(id));
        }
        self.deliveries(ctx, Channel::Webhook, Some(id.to_string()), query)
            .await
    }

    /// The delivery log of the tenant's email, newest first.
    ///
    /// # Errors
    /// `forbidden` for members; `internal`.
    pub async fn list_email_deliveries(
        &self,
        ctx: &Ctx,
        query: DeliveryQuery,
    ) -> Result<DeliveryPage, NotifyError> {
        require(ctx, Action::DesignApps)?;
        self.deliveries(ctx, Channel::Email, None, query).await
    }

    async fn deliveries(
        &self,
        ctx: &Ctx,
        channel: Channel,
        target: Option<String>,
        query: DeliveryQuery,
    ) -> Result<DeliveryPage, NotifyError> {
        let limit = page_size(query.limit);
        let mut q = delivery::Entity::find()
            .filter(delivery::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(delivery::Column::Channel.eq(channel.as_str()));
        if let Some(target) = target {
            q = q.filter(delivery::Column::Target.eq(target));
        }
        // Ids are time-ordered (UUID v7): newest first is id order.
        if let Some(cursor) = query.cursor {
            q = q.filter(delivery::Column::Id.lt(cursor.to_string()));
        }
        let mut rows = q
            .order_by_desc(delivery::Column::Id)
            .limit(limit + 1)
            .all(self.db().conn())
            .await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let deliveries = rows
            .into_iter()
            .map(DeliveryView::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if more {
            deliveries.last().map(|d| d.id)
        } else {
            None
        };
        Ok(DeliveryPage {
            deliveries,
            next_cursor,
        })
    }
}
