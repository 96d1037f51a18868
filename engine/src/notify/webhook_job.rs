//! The `webhook_delivery` job: one signed `POST` of a queued body to a
//! webhook's URL. A 2xx answer succeeds (for the `jdy` format, a 2xx whose
//! body is `success`, as 简道云 expects); any other answer or a network
//! error fails the attempt, and the job queue retries it with its backoff.
//! Every attempt is written to the delivery log, and a last attempt that
//! fails tells the admins (see [`super::alert`]).

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::delivery::{self, Attempt};
use super::queue::WebhookJob;
use super::webhook::{Hook, WebhookFormat};
use super::{
    Channel, DeliveryStatus, NotifyError, WEBHOOK_JOB, WEBHOOK_TIMEOUT_SECS, jdy_sign, signature_header,
};
use crate::error::ErrorCode;
use crate::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobOutcome};
use crate::meta::field_type::Kinded;
use crate::store::entity::webhook;

/// Most response bytes read (and logged) per attempt.
const MAX_RESPONSE_BYTES: usize = 4096;

/// The `webhook_delivery` handler. Holds one HTTP client (connection pool)
/// for every delivery, built on first use. Unless built to allow private
/// addresses, it resolves names through [`super::guard::PublicOnly`] and
/// refuses literal private addresses (see [`super::guard`]).
#[derive(Default)]
pub struct WebhookDelivery {
    client: OnceCell<reqwest::Client>,
    allow_private: bool,
}

impl Kinded for WebhookDelivery {
    fn kind(&self) -> &'static str {
        WEBHOOK_JOB
    }
}

impl JobKind for WebhookDelivery {
    fn run<'a>(&'a self, ctx: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move { self.deliver(&ctx, payload).await })
    }

    fn time_budget(&self) -> Option<Duration> {
        // The call's own timeout plus room to read the row and log.
        Some(Duration::from_secs(WEBHOOK_TIMEOUT_SECS * 3))
    }
}

/// What one HTTP attempt produced.
struct Answer {
    status: Option<u16>,
    excerpt: Option<String>,
    error: Option<String>,
}

impl WebhookDelivery {
    /// A handler; `allow_private` lets deliveries reach loopback and
    /// private addresses.
    #[must_use]
    pub fn new(allow_private: bool) -> Self {
        Self {
            client: OnceCell::new(),
            allow_private,
        }
    }

    async fn client(&self) -> Result<&reqwest::Client, JobError> {
        self.client
            .get_or_try_init(|| async {
                let builder = if self.allow_private {
                    reqwest::Client::builder()
                } else {
                    // A proxy would resolve the name itself, past the guard.
                    reqwest::Client::builder()
                        .dns_resolver(std::sync::Arc::new(super::guard::PublicOnly))
                        .no_proxy()
                };
                builder
                    .connect_timeout(Duration::from_secs(WEBHOOK_TIMEOUT_SECS))
                    .timeout(Duration::from_secs(WEBHOOK_TIMEOUT_SECS))
                    // A redirect is an answer that is not 2xx: never follow
                    // one to wherever it points.
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("Formwork-Webhooks/", env!("CARGO_PKG_VERSION")))
                    .build()
            })
            .await
            .map_err(|e| JobError::Handler {
                code: ErrorCode::Internal,
                message: format!("cannot build the HTTP client: {e}"),
            })
    }

    async fn deliver(&self, ctx: &JobCtx, payload: &Value) -> Result<JobOutcome, JobError> {
        let job: WebhookJob = serde_json::from_value(payload.clone()).map_err(|e| JobError::Handler {
            code: ErrorCode::ValidationFailed,
            message: format!("the webhook job payload is malformed: {e}"),
        })?;
        let tenant = ctx.job().tenant;
        let row = webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(tenant.to_string()))
            .filter(webhook::Column::Id.eq(job.webhook_id.to_string()))
            .one(ctx.db().conn())
            .await?;
        let hook = match row.map(Hook::decode).transpose() {
            Ok(Some(hook)) if hook.enabled => hook,
            Ok(Some(_)) => return Ok(skipped("webhook_disabled", &job)),
            Ok(None) => return Ok(skipped("webhook_deleted", &job)),
            Err(e) => return Err(JobError::handler(&e)),
        };
        let body = serde_json::to_vec(&job.body).map_err(|e| JobError::Handler {
            code: ErrorCode::Internal,
            message: format!("cannot serialise the webhook body: {e}"),
        })?;
        let timestamp = ctx.now().timestamp();
        let client = self.client().await?;
        let started = Instant::now();
        let refused = if self.allow_private {
            None
        } else {
            reqwest::Url::parse(&hook.url)
                .ok()
                .as_ref()
                .and_then(super::guard::refused_target)
        };
        let answer = match refused {
            Some(why) => Answer {
                status: None,
                excerpt: None,
                error: Some(why),
            },
            None => post(client, ctx, &hook, &job.event, timestamp, body).await,
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let ok = answer.error.is_none();
        let attempt = Attempt {
            channel: Channel::Webhook,
            target: hook.id.to_string(),
            event: Some(job.event.clone()),
            status: if ok {
                DeliveryStatus::Succeeded
            } else {
                DeliveryStatus::Failed
            },
            response_status: answer.status.map(i32::from),
            response: answer.excerpt,
            error: answer.error.clone(),
            duration_ms,
        };
        delivery::record(ctx.db(), ctx.job(), attempt, ctx.finished_at()).await;
        match answer.error {
            None => Ok(JobOutcome::Succeeded(json!({
                "webhook_id": hook.id,
                "event": job.event,
                "status": answer.status,
                "duration_ms": duration_ms,
            }))),
            Some(error) => {
                let job_row = ctx.job();
                if job_row.attempt >= job_row.max_attempts {
                    super::alert::delivery_given_up(
                        ctx.db(),
                        job_row,
                        &hook,
                        &job.event,
                        &error,
                        ctx.finished_at(),
                    )
                    .await;
                }
                Err(JobError::handler(&NotifyError::DeliveryFailed(error)))
            }
        }
    }
}

/// Sends the signed request; never fails, the outcome is in the answer.
async fn post(
    client: &reqwest::Client,
    ctx: &JobCtx,
    hook: &Hook,
    event: &str,
    timestamp: i64,
    body: Vec<u8>,
) -> Answer {
    let header = |v: &str| HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    let request = match hook.format {
        WebhookFormat::Formwork => {
            let signature = signature_header(&hook.secret, timestamp, &body);
            client
                .post(&hook.url)
                .header("X-Formwork-Timestamp", header(&timestamp.to_string()))
                .header("X-Formwork-Signature", header(&signature))
        }
        WebhookFormat::Jdy => {
            // A fresh nonce per attempt; the job id stays in a header.
            let nonce = uuid::Uuid::new_v4().simple().to_string();
            let signature = jdy_sign(&nonce, &body, &hook.secret, timestamp);
            let mut url = match reqwest::Url::parse(&hook.url) {
                Ok(url) => url,
                Err(e) => {
                    return Answer {
                        status: None,
                        excerpt: None,
                        error: Some(format!("the webhook URL is not valid: {e}")),
                    };
                }
            };
            url.query_pairs_mut()
                .append_pair("nonce", &nonce)
                .append_pair("timestamp", &timestamp.to_string());
            client.post(url).header("x-jdy-signature", header(&signature))
        }
    };
    let sent = request
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header("X-Formwork-Event", header(event))
        .header("X-Formwork-Delivery", header(&ctx.job().id.to_string()))
        .body(body)
        .send()
        .await;
    let mut resp = match sent {
        Ok(resp) => resp,
        Err(e) => {
            return Answer {
                status: None,
                excerpt: None,
                error: Some(format!("the webhook call failed: {}", describe(&e))),
            };
        }
    };
    let status = resp.status();
    // Read at most MAX_RESPONSE_BYTES: a receiver may answer with anything.
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESPONSE_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_RESPONSE_BYTES);
    let excerpt = (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned());
    let error = if !status.is_success() {
        Some(format!("the webhook answered HTTP {}", status.as_u16()))
    } else if hook.format == WebhookFormat::Jdy && excerpt.as_deref().map(str::trim) != Some("success") {
        Some("the webhook did not answer `success` (the jdy format needs it)".to_owned())
    } else {
        None
    };
    Answer {
        status: Some(status.as_u16()),
        excerpt,
        error,
    }
}

/// A network error in one line: timeout, connect, or the error chain.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request error"
    };
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    // Bounded: error chains are short, but never trust that.
    for _ in 0..4 {
        let Some(s) = source else { break };
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn skipped(reason: &str, job: &WebhookJob) -> JobOutcome {
    JobOutcome::Skipped(json!({ "reason": reason, "webhook_id": job.webhook_id }))
}
