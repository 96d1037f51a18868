//! `NotifyError`: every failure of notifications, webhooks and email, each
//! with a stable code.

use crate::auth::AuthError;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::{NotificationId, WebhookId};
use crate::jobs::JobError;
use crate::store::StoreError;

/// A failure of the notify module.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The target is not a member's id or email, nor a role of the tenant.
    #[error(
        "recipient `{0}` is not a member id, a member's email or a role (owner, admin, member or a custom role's name)"
    )]
    UnknownRecipient(String),
    /// The email address does not parse.
    #[error("`{0}` is not a valid email address")]
    BadAddress(String),
    /// No enabled webhook of the tenant has this name.
    #[error("webhook `{0}` does not exist or is disabled")]
    UnknownWebhook(String),
    /// The input is invalid; details name the fields.
    #[error("the input has {} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// No such notification for this member.
    #[error("notification `{0}` does not exist")]
    NotificationNotFound(NotificationId),
    /// No such webhook in this tenant.
    #[error("webhook `{0}` does not exist")]
    WebhookNotFound(WebhookId),
    /// A webhook with this name exists in the tenant.
    #[error("webhook `{0}` already exists")]
    WebhookExists(String),
    /// The tenant has not configured its mail server.
    #[error("smtp settings are not configured for this tenant; set them with `PUT /api/v1/settings/smtp`")]
    SmtpNotConfigured,
    /// A webhook call or an email could not be delivered (this attempt).
    #[error("{0}")]
    DeliveryFailed(String),
    /// The caller may not do this.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Queuing the delivery failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for NotifyError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Store(e.into())
    }
}

impl HasCode for NotifyError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::UnknownRecipient(_) | Self::BadAddress(_) | Self::UnknownWebhook(_) | Self::Invalid(_) => {
                ErrorCode::ValidationFailed
            }
            Self::NotificationNotFound(_) | Self::WebhookNotFound(_) | Self::SmtpNotConfigured => {
                ErrorCode::NotFound
            }
            Self::WebhookExists(_) => ErrorCode::Conflict,
            // The receiver or the mail server failed, not Formwork: the
            // attempt is retried with backoff.
            Self::DeliveryFailed(_) => ErrorCode::Unavailable,
            Self::Auth(e) => e.code(),
            Self::Job(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::UnknownRecipient(_) => vec![FieldError::new(
                "to",
                "must be a member id, a member's email or a role (owner, admin, member or a custom role's name)",
            )],
            Self::BadAddress(_) => vec![FieldError::new("to", "must be an email address")],
            Self::UnknownWebhook(_) => vec![FieldError::new(
                "webhook",
                "must name an enabled webhook of this tenant",
            )],
            Self::Invalid(errs) => errs.clone(),
            Self::Job(e) => e.details(),
            _ => Vec::new(),
        }
    }
}

/// One field error as a [`NotifyError::Invalid`].
pub(super) fn invalid(field: &str, message: impl Into<String>) -> NotifyError {
    NotifyError::Invalid(vec![FieldError::new(field, message)])
}
