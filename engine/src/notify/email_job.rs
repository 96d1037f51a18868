//! The `email_delivery` job: one plain-text email through the tenant's SMTP
//! server, with the settings read when it is sent. Missing settings, a
//! refused message or a network error fail the attempt, and the job queue
//! retries it with its backoff. Every attempt is written to the delivery
//! log.

use std::time::{Duration, Instant, SystemTime};

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use super::delivery::{self, Attempt};
use super::queue::EmailJob;
use super::{Channel, DeliveryStatus, EMAIL_JOB, NotifyError, SMTP_TIMEOUT_SECS, SmtpTls, smtp};
use crate::error::ErrorCode;
use crate::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobOutcome};
use crate::meta::field_type::Kinded;
use crate::store::entity::smtp_setting;

/// Budget of one whole SMTP conversation.
const SEND_BUDGET_SECS: u64 = SMTP_TIMEOUT_SECS * 3;

/// The `email_delivery` handler.
#[derive(Default)]
pub struct EmailDelivery;

impl Kinded for EmailDelivery {
    fn kind(&self) -> &'static str {
        EMAIL_JOB
    }
}

impl JobKind for EmailDelivery {
    fn run<'a>(&'a self, ctx: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move { send(&ctx, payload).await })
    }

    fn time_budget(&self) -> Option<Duration> {
        Some(Duration::from_secs(SEND_BUDGET_SECS + 15))
    }
}

/// The server's answer to one attempt.
struct Reply {
    code: Option<i32>,
    text: Option<String>,
}

async fn send(ctx: &JobCtx, payload: &Value) -> Result<JobOutcome, JobError> {
    let mail: EmailJob = serde_json::from_value(payload.clone()).map_err(|e| JobError::Handler {
        code: ErrorCode::ValidationFailed,
        message: format!("the email job payload is malformed: {e}"),
    })?;
    let settings = smtp::load(ctx.db().conn(), ctx.job().tenant)
        .await
        .map_err(|e| JobError::handler(&e))?;
    let started = Instant::now();
    let result = match settings {
        None => Err((
            Reply {
                code: None,
                text: None,
            },
            NotifyError::SmtpNotConfigured.to_string(),
        )),
        Some(s) => deliver(ctx, &s, &mail).await,
    };
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (reply, error) = match result {
        Ok(reply) => (reply, None),
        Err((reply, error)) => (reply, Some(error)),
    };
    let attempt = Attempt {
        channel: Channel::Email,
        target: mail.to.clone(),
        event: None,
        status: if error.is_none() {
            DeliveryStatus::Succeeded
        } else {
            DeliveryStatus::Failed
        },
        response_status: reply.code,
        response: reply.text.clone(),
        error: error.clone(),
        duration_ms,
    };
    delivery::record(ctx.db(), ctx.job(), attempt, ctx.finished_at()).await;
    match error {
        None => Ok(JobOutcome::Succeeded(json!({
            "to": mail.to,
            "reply_code": reply.code,
            "duration_ms": duration_ms,
        }))),
        Some(error) => Err(JobError::handler(&NotifyError::DeliveryFailed(error))),
    }
}

/// Builds the message and the transport from `s` and sends; the error side
/// carries whatever reply the server gave and one sentence.
async fn deliver(ctx: &JobCtx, s: &smtp_setting::Model, mail: &EmailJob) -> Result<Reply, (Reply, String)> {
    let none = || Reply {
        code: None,
        text: None,
    };
    let from: Mailbox = s
        .from_address
        .parse()
        .map_err(|e| (none(), format!("the smtp from address is invalid: {e}")))?;
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| (none(), format!("the address `{}` is invalid: {e}", mail.to)))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.as_str())
        .date(SystemTime::from(ctx.now()))
        .message_id(Some(format!("<{}@formwork>", ctx.job().id)))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| (none(), format!("the email could not be built: {e}")))?;
    let transport = transport(s).map_err(|e| (none(), e))?;
    let sent = tokio::time::timeout(Duration::from_secs(SEND_BUDGET_SECS), transport.send(message)).await;
    match sent {
        Ok(Ok(resp)) => Ok(Reply {
            code: resp.code().to_string().parse().ok(),
            text: Some(resp.message().collect::<Vec<_>>().join(" ")),
        }),
        Ok(Err(e)) => Err((
            Reply {
                code: e.status().and_then(|c| c.to_string().parse().ok()),
                text: None,
            },
            format!(
                "the smtp server at `{}:{}` refused or failed: {e}",
                s.host, s.port
            ),
        )),
        Err(_) => Err((
            none(),
            format!(
                "the smtp conversation with `{}:{}` timed out after {SEND_BUDGET_SECS} s",
                s.host, s.port
            ),
        )),
    }
}

fn transport(s: &smtp_setting::Model) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let port = u16::try_from(s.port).map_err(|_| format!("the smtp port `{}` is invalid", s.port))?;
    let tls_mode =
        SmtpTls::parse(&s.tls).ok_or_else(|| format!("the smtp tls mode `{}` is invalid", s.tls))?;
    let params =
        || TlsParameters::new(s.host.clone()).map_err(|e| format!("the smtp tls settings are invalid: {e}"));
    let tls = match tls_mode {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(params()?),
        SmtpTls::Tls => Tls::Wrapper(params()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str())
        .port(port)
        .timeout(Some(Duration::from_secs(SMTP_TIMEOUT_SECS)))
        .tls(tls);
    if let Some(user) = s.username.as_deref().filter(|u| !u.is_empty()) {
        builder = builder.credentials(Credentials::new(
            user.to_owned(),
            s.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}
