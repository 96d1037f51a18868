//! Queuing outgoing messages as durable jobs, on the caller's connection
//! (so inside the transaction that applies a rule's effects or writes a
//! record). Nothing is sent here.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::invalid;
use super::{
    CALL_EVENT, EMAIL_JOB, EMAIL_MAX_ATTEMPTS, NotifyError, WEBHOOK_JOB, WEBHOOK_MAX_ATTEMPTS, WebhookEvent,
    WebhookFormat, WebhookId, webhook,
};
use crate::error::FieldError;
use crate::ids::{FormId, JobId, TenantId};
use crate::jobs::{NewJob, enqueue};

/// Longest subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 500;
/// Longest email body, in characters (the job payload is at most 64 KiB).
pub const MAX_EMAIL_BODY_CHARS: usize = 50_000;
/// Longest event id (it becomes part of a job key).
pub const MAX_EVENT_ID_LEN: usize = 180;

/// The payload of an `email_delivery` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EmailJob {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The payload of a `webhook_delivery` job: the exact JSON body to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct WebhookJob {
    pub webhook_id: WebhookId,
    pub event: String,
    pub body: Value,
}

/// Queues one email through the tenant's SMTP settings as a job (kind
/// `email_delivery`), retried with backoff by the job queue. The address,
/// subject and body are checked now; the SMTP settings are read when it is
/// sent. Returns the job id.
///
/// # Errors
/// `validation_failed`: a bad address (field `to`), an empty, long or
/// multi-line subject, a long body; `internal`.
pub async fn queue_email_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    to: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<JobId, NotifyError> {
    let to = to.trim();
    if to.len() > 320 || to.parse::<lettre::message::Mailbox>().is_err() {
        return Err(NotifyError::BadAddress(super::cut(to, 100)));
    }
    let subject = subject.trim();
    let mut errs = Vec::new();
    if subject.is_empty()
        || subject.chars().count() > MAX_SUBJECT_CHARS
        || subject.chars().any(char::is_control)
    {
        errs.push(FieldError::new(
            "subject",
            format!("must be one line of 1 to {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    if body.chars().count() > MAX_EMAIL_BODY_CHARS {
        errs.push(FieldError::new(
            "body",
            format!("must be at most {MAX_EMAIL_BODY_CHARS} characters"),
        ));
    }
    if !errs.is_empty() {
        return Err(NotifyError::Invalid(errs));
    }
    let payload = EmailJob {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: body.to_owned(),
    };
    let job = NewJob {
        tenant,
        kind: EMAIL_JOB.to_owned(),
        payload: json!(payload),
        idempotency_key: format!("email:{}", JobId::new()),
        run_at: now,
        max_attempts: EMAIL_MAX_ATTEMPTS,
    };
    Ok(enqueue(conn, job, now).await?.id)
}

/// Queues a delivery of `payload` (sent as the JSON body, as is) to the
/// tenant's webhook named `name` (kind `webhook_delivery`, event
/// [`CALL_EVENT`]). Returns the job id.
///
/// # Errors
/// `validation_failed`: no enabled webhook has this name (field
/// `webhook`); `payload_too_large` over the job payload limit; `internal`.
pub async fn queue_webhook_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<JobId, NotifyError> {
    let hook = webhook::enabled_by_name(conn, tenant, name).await?;
    let key = format!("{}call:{}", webhook::key_prefix(hook.id), JobId::new());
    enqueue_delivery(conn, tenant, hook.id, CALL_EVENT, payload, key, now)
        .await
        .map(|(id, _)| id)
}

/// Record events without any script: for every enabled webhook of the
/// tenant subscribed to `event` (`record.created`, `record.updated`,
/// `record.deleted`) and, when it names forms, to `form_id`, queues one
/// delivery with idempotency key `webhook:{webhook_id}:event:{event_id}`,
/// so calling twice for one event queues once. The body sent is
/// `{"event", "event_id", "form_id", "data": payload}`. Returns how many
/// deliveries were newly queued.
///
/// # Errors
/// `validation_failed`: an unknown event, an empty or long event id;
/// `payload_too_large`; `internal`.
pub async fn queue_record_event_in<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    event: &str,
    event_id: &str,
    form_id: FormId,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let Some(ev) = WebhookEvent::parse(event) else {
        return Err(invalid(
            "event",
            "must be one of record.created, record.updated, record.deleted",
        ));
    };
    let event = RecordEvent {
        subscription: ev,
        is_restore: false,
        event_id,
        form_id,
        payload,
        jdy: None,
        is_api_or_batch: false,
    };
    queue_record_event(conn, tenant, &event, now).await
}

/// A record event as [`queue_record_event`] delivers it.
pub(crate) struct RecordEvent<'a> {
    /// The subscription it reaches (a restore reaches `record.created`).
    pub subscription: WebhookEvent,
    /// A restore from the recycle bin: only `jdy` hooks hear of it
    /// (`data_recover`).
    pub is_restore: bool,
    /// The outbox row id.
    pub event_id: &'a str,
    /// The record's form.
    pub form_id: FormId,
    /// The `data` of the `formwork` body.
    pub payload: Value,
    /// The whole `jdy` body (`{op, opTime, data}`), when built.
    pub jdy: Option<Value>,
    /// Written through the v5 API or a batch call.
    pub is_api_or_batch: bool,
}

/// Queues one delivery of `event` per enabled webhook of the tenant that
/// wants it, in the webhook's format, with idempotency key
/// `webhook:{webhook_id}:event:{event_id}`. Returns how many deliveries
/// were newly queued.
///
/// # Errors
/// `validation_failed` for an empty or long event id; `payload_too_large`;
/// `internal`.
pub(crate) async fn queue_record_event<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    event: &RecordEvent<'_>,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let event_id = event.event_id;
    if event_id.is_empty() || event_id.len() > MAX_EVENT_ID_LEN {
        return Err(invalid(
            "event_id",
            format!("must be 1 to {MAX_EVENT_ID_LEN} bytes"),
        ));
    }
    let hooks: Vec<_> = webhook::enabled(conn, tenant)
        .await?
        .into_iter()
        .filter(|h| h.wants(event.subscription, event.form_id))
        .filter(|h| h.push_api_writes || !event.is_api_or_batch)
        .collect();
    let mut queued = 0;
    for hook in hooks {
        let (name, body) = match hook.format {
            WebhookFormat::Formwork if event.is_restore => continue,
            WebhookFormat::Formwork => (
                event.subscription.as_str(),
                json!({
                    "event": event.subscription.as_str(),
                    "event_id": event_id,
                    "form_id": event.form_id,
                    "data": event.payload,
                }),
            ),
            WebhookFormat::Jdy => match &event.jdy {
                Some(body) => (
                    body.get("op").and_then(Value::as_str).unwrap_or("data_update"),
                    body.clone(),
                ),
                None => continue,
            },
        };
        let key = format!("{}event:{event_id}", webhook::key_prefix(hook.id));
        let (_, created) = enqueue_delivery(conn, tenant, hook.id, name, body, key, now).await?;
        queued += usize::from(created);
    }
    Ok(queued)
}

async fn enqueue_delivery<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    webhook_id: WebhookId,
    event: &str,
    body: Value,
    idempotency_key: String,
    now: DateTime<Utc>,
) -> Result<(JobId, bool), NotifyError> {
    let payload = WebhookJob {
        webhook_id,
        event: event.to_owned(),
        body,
    };
    let job = NewJob {
        tenant,
        kind: WEBHOOK_JOB.to_owned(),
        payload: json!(payload),
        idempotency_key,
        run_at: now,
        max_attempts: WEBHOOK_MAX_ATTEMPTS,
    };
    let done = enqueue(conn, job, now).await?;
    Ok((done.id, done.created))
}
