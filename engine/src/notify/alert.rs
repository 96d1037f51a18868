//! Telling the admins when a webhook delivery is given up: a webhook is
//! never switched off, but a call that failed every attempt would otherwise
//! vanish into the dead-letter queue unseen. Its last attempt writes an
//! in-app notification to every active owner and admin, at most one per
//! webhook a day so that a target that stays down does not flood the inbox.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::json;

use super::webhook::Hook;
use super::{NotifyError, notify_in};
use crate::error::HasCode;
use crate::jobs::LeasedJob;
use crate::store::Db;
use crate::store::entity::notification;

/// Kind named in the alert's `source`.
pub const WEBHOOK_GAVE_UP: &str = "webhook_gave_up";

/// How long one alert stands for every further failure of the same hook.
const QUIET_HOURS: i64 = 24;

/// The alert's title for `hook` (also what marks an alert already sent).
fn title(hook: &Hook) -> String {
    format!("Webhook 投递失败 delivery given up: {}", hook.name)
}

/// Notifies the owners and admins that `job`'s delivery to `hook` failed
/// its last attempt with `error`, unless an alert for this hook went out
/// in the last day. A failure here is logged, never raised: the delivery
/// has failed either way.
pub(super) async fn delivery_given_up(
    db: &Db,
    job: &LeasedJob,
    hook: &Hook,
    event: &str,
    error: &str,
    now: DateTime<Utc>,
) {
    let sent: Result<(), NotifyError> = async {
        let title = title(hook);
        let _w = db.write_lock().await;
        let tx = db.conn().begin().await?;
        let recent = notification::Entity::find()
            .filter(notification::Column::TenantId.eq(job.tenant.to_string()))
            .filter(notification::Column::Title.eq(title.as_str()))
            .filter(notification::Column::CreatedAt.gt(now - TimeDelta::hours(QUIET_HOURS)))
            .count(&tx)
            .await?;
        if recent > 0 {
            return Ok(());
        }
        let body = format!(
            "事件 {event} 已尝试 {attempts} 次仍未送达,已放弃;webhook 仍启用。\
             The {event} event failed all {attempts} attempts and was given up; the webhook stays enabled. \
             Last error: {error}. The delivery log of the webhook has every attempt.",
            attempts = job.attempt,
        );
        let source = json!({
            "kind": WEBHOOK_GAVE_UP,
            "webhook_id": hook.id,
            "job_id": job.id,
            "event": event,
        });
        for role in ["owner", "admin"] {
            notify_in(
                &tx,
                job.tenant,
                role,
                &title,
                &super::cut(&body, 2000),
                source.clone(),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        tracing::warn!(job = %job.id, code = e.code().as_str(), "could not alert the admins of a dead webhook delivery: {e}");
    }
}
