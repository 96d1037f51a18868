//! Telling people and systems: in-app notifications, outgoing webhooks and
//! email.
//!
//! Invariants:
//! - **Nothing leaves the process inside a transaction.** The `*_in`
//!   functions ([`notify_in`], [`queue_email_in`], [`queue_webhook_in`],
//!   [`queue_record_event_in`]) only write rows on the caller's connection,
//!   so they join the transaction that applies a rule's effects; a webhook
//!   call or an email is a durable job (`webhook_delivery`,
//!   `email_delivery`) that the job queue runs later, at least once, and
//!   retries with its backoff.
//! - **Each record event reaches a webhook once.** Its job's idempotency key
//!   is `webhook:{webhook_id}:event:{event_id}`.
//! - **Every delivery attempt is logged** in `deliveries` (succeeded or
//!   failed, with the HTTP status or SMTP reply), beside the job's run log.
//! - **A webhook is never switched off silently.** It stays enabled; a
//!   delivery that fails its last attempt notifies the owners and admins
//!   (once per webhook a day).
//! - **Secrets stay in.** A webhook's secret is shown in full only in the
//!   answer that created (or replaced) it; the SMTP password never.
//! - Every query is scoped by `TenantId` first. Webhook and SMTP settings
//!   are managed by owners and admins; any member reads their own inbox.
//!
//! Callers: the automation engine (effects `notify`, `call webhook`, `send
//! email`, inside its transaction), the record writer (record events), the
//! HTTP API (inbox, webhooks, SMTP settings, delivery logs) and the job
//! worker ([`job_kinds`]).

mod alert;
mod delivery;
mod email_job;
mod error;
pub mod guard;
mod inbox;
mod queue;
mod recipient;
mod sign;
mod smtp;
mod webhook;
mod webhook_job;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use crate::ids::{DeliveryId, NotificationId, WebhookId};
pub use alert::WEBHOOK_GAVE_UP;
pub use delivery::{DeliveryPage, DeliveryQuery, DeliveryView};
pub use email_job::EmailDelivery;
pub use error::NotifyError;
pub use inbox::{MarkedRead, NotificationPage, NotificationQuery, NotificationView, notify_in};
pub(crate) use queue::{RecordEvent, queue_record_event};
pub use queue::{queue_email_in, queue_record_event_in, queue_webhook_in};
pub use sign::{jdy_sign, sign, signature_header};
pub use smtp::{SmtpInput, SmtpSettingsView};
pub use webhook::{WebhookFormat, WebhookInput, WebhookView};
pub use webhook_job::WebhookDelivery;

use crate::jobs::JobKind;

/// Job kind of one webhook call.
pub const WEBHOOK_JOB: &str = "webhook_delivery";
/// Job kind of one email.
pub const EMAIL_JOB: &str = "email_delivery";
/// `X-Formwork-Event` of a call queued by [`queue_webhook_in`] (a rule's
/// script or action), as opposed to a record event.
pub const CALL_EVENT: &str = "automation.call";
/// Attempts of a webhook call before it is dead (backoff 10 s … ~21 min).
pub const WEBHOOK_MAX_ATTEMPTS: i32 = 8;
/// Attempts of an email before it is dead.
pub const EMAIL_MAX_ATTEMPTS: i32 = 5;
/// Connect and overall timeout of one webhook call.
pub const WEBHOOK_TIMEOUT_SECS: u64 = 10;
/// Timeout of one SMTP command.
pub const SMTP_TIMEOUT_SECS: u64 = 10;
/// Most webhooks per tenant.
pub const MAX_WEBHOOKS: u64 = 100;
/// Largest page of notifications or deliveries.
pub const MAX_PAGE: u64 = 200;
/// Default page size.
pub const DEFAULT_PAGE: u64 = 50;

/// The record events a webhook subscribes to. A closed set: stored and sent
/// (`X-Formwork-Event`) as its `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A record was created.
    #[serde(rename = "record.created")]
    RecordCreated,
    /// A record was changed.
    #[serde(rename = "record.updated")]
    RecordUpdated,
    /// A record was deleted (moved to the recycle bin).
    #[serde(rename = "record.deleted")]
    RecordDeleted,
}

impl WebhookEvent {
    /// Every event, for validation messages and documentation.
    pub const ALL: [Self; 3] = [Self::RecordCreated, Self::RecordUpdated, Self::RecordDeleted];

    /// The stored and wire form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RecordCreated => "record.created",
            Self::RecordUpdated => "record.updated",
            Self::RecordDeleted => "record.deleted",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// Where a delivery went. Stored as its `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An HTTP call to a webhook.
    Webhook,
    /// An email through the tenant's SMTP server.
    Email,
}

impl Channel {
    /// The stored form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Self::Webhook),
            "email" => Some(Self::Email),
            _ => None,
        }
    }
}

/// How one delivery attempt ended. Stored as its `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The receiver answered 2xx, or the mail server accepted the message.
    Succeeded,
    /// Anything else; the job is retried.
    Failed,
}

impl DeliveryStatus {
    /// The stored form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// How the SMTP connection is secured. Stored as its `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text (a trusted local relay only).
    None,
    /// Plain connection upgraded with `STARTTLS`, which is required.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl SmtpTls {
    /// The stored form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Starttls => "starttls",
            Self::Tls => "tls",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "starttls" => Some(Self::Starttls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// The job handlers of this module, for the worker's registry
/// (`JobKinds::register` each one): [`WEBHOOK_JOB`] and [`EMAIL_JOB`].
/// Webhooks reach private addresses only with `webhook_private`.
#[must_use]
pub fn job_kinds(webhook_private: bool) -> Vec<Arc<dyn JobKind>> {
    vec![
        Arc::new(EmailDelivery),
        Arc::new(WebhookDelivery::new(webhook_private)),
    ]
}

/// A page size within 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when unset.
fn page_size(limit: Option<u64>) -> u64 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// The first `max` characters of `s`.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max).collect()
    }
}
