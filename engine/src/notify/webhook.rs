//! Outgoing webhooks of a tenant: create, list, get, replace, delete.
//! Owners and admins only. The secret is shown in full only in the answer
//! that set it; every other answer masks it.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{MAX_WEBHOOKS, NotifyError, WebhookEvent, WebhookId};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{FormId, TenantId};
use crate::jobs::cancel_pending;
use crate::store::entity::{form, webhook};
use crate::store::{StoreError, parse_id, unique_violation};

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest URL, in bytes.
pub const MAX_URL_LEN: usize = 2000;
/// Shortest and longest secret, in characters.
pub const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=200;
/// Most forms a webhook may be restricted to.
pub const MAX_FORM_IDS: usize = 100;

/// A webhook to create, or the whole new state of one (`PUT`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Unique in the tenant, 1 to 100 characters; rules call it by name.
    pub name: String,
    /// An `http` or `https` URL receiving `POST`s.
    pub url: String,
    /// The signing secret (16 to 200 characters). On create, one is
    /// generated when absent; on update, absent keeps the current one.
    #[serde(default)]
    pub secret: Option<String>,
    /// Record events to deliver (`record.created`, `record.updated`,
    /// `record.deleted`); empty for a webhook only rules call.
    #[serde(default)]
    pub events: Vec<String>,
    /// Only record events of these forms; absent or null for every form.
    #[serde(default)]
    pub form_ids: Option<Vec<FormId>>,
    /// Disabled webhooks receive nothing (default true).
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// `formwork` (default) or `jdy`: 简道云's 数据推送 body, `nonce` and
    /// `timestamp` in the query, `x-jdy-signature`, a `success` reply.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Whether events of API (v5) and batch writes are delivered (default
    /// true; 简道云 itself never pushes them).
    #[serde(default = "enabled_default")]
    pub push_api_writes: bool,
}

const fn enabled_default() -> bool {
    true
}

/// How deliveries are shaped and signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"event", "event_id", "form_id", "data"}`, `X-Formwork-Signature`.
    #[default]
    Formwork,
    /// 简道云's `{"op", "opTime", "data"}`, `x-jdy-signature`.
    Jdy,
}

impl WebhookFormat {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Formwork => "formwork",
            Self::Jdy => "jdy",
        }
    }

    /// Parses a stored name (anything unknown is `formwork`).
    #[must_use]
    pub fn parse(s: &str) -> Self {
        if s == "jdy" { Self::Jdy } else { Self::Formwork }
    }
}

/// A webhook as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookView {
    /// Id.
    pub id: WebhookId,
    /// Name.
    pub name: String,
    /// Receiving URL.
    pub url: String,
    /// The secret: in full only in the answer that set it, else masked
    /// (`****` and its last four characters).
    pub secret: String,
    /// Subscribed record events.
    pub events: Vec<WebhookEvent>,
    /// Restricted to these forms; `None` for every form.
    pub form_ids: Option<Vec<FormId>>,
    /// Whether it receives anything.
    pub enabled: bool,
    /// Delivery format.
    pub format: WebhookFormat,
    /// Whether events of API and batch writes are delivered.
    pub push_api_writes: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A stored webhook, decoded.
#[derive(Debug, Clone)]
pub(super) struct Hook {
    pub id: WebhookId,
    pub name: String,
    pub url: String,
    pub secret: String,
    pub events: Vec<WebhookEvent>,
    pub form_ids: Option<Vec<FormId>>,
    pub enabled: bool,
    pub format: WebhookFormat,
    pub push_api_writes: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Hook {
    pub(super) fn decode(m: webhook::Model) -> Result<Self, NotifyError> {
        let events: Vec<WebhookEvent> = serde_json::from_value(m.events)
            .map_err(|e| StoreError::Corrupt(format!("webhook `{}` events: {e}", m.id)))?;
        let form_ids: Option<Vec<FormId>> = match m.form_ids {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value(v)
                    .map_err(|e| StoreError::Corrupt(format!("webhook `{}` form ids: {e}", m.id)))?,
            ),
        };
        Ok(Self {
            id: parse_id(&m.id)?,
            name: m.name,
            url: m.url,
            secret: m.secret,
            events,
            form_ids,
            enabled: m.enabled,
            format: WebhookFormat::parse(&m.format),
            push_api_writes: m.push_api_writes,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    /// True when a record event of `form` should reach this webhook.
    pub(super) fn wants(&self, event: WebhookEvent, form: FormId) -> bool {
        self.enabled
            && self.events.contains(&event)
            && self.form_ids.as_ref().is_none_or(|ids| ids.contains(&form))
    }

    fn view(self, show_secret: bool) -> WebhookView {
        WebhookView {
            id: self.id,
            name: self.name,
            url: self.url,
            secret: if show_secret {
                self.secret
            } else {
                mask(&self.secret)
            },
            events: self.events,
            form_ids: self.form_ids,
            enabled: self.enabled,
            format: self.format,
            push_api_writes: self.push_api_writes,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// `****` and the last four characters (nothing of a short secret).
fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n < 12 {
        return "****".to_owned();
    }
    format!("****{}", secret.chars().skip(n - 4).collect::<String>())
}

/// A fresh secret: `whsec_` and 64 random hex digits (two v4 UUIDs).
fn new_secret() -> String {
    format!(
        "whsec_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Checked, normalised input.
struct Checked {
    name: String,
    url: String,
    secret: Option<String>,
    events: Vec<WebhookEvent>,
    form_ids: Option<Vec<FormId>>,
    enabled: bool,
    format: WebhookFormat,
    push_api_writes: bool,
}

/// True for an absolute `http`/`https` URL with a host.
fn is_web_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
}

async fn check<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    input: WebhookInput,
    allow_private: bool,
) -> Result<Checked, NotifyError> {
    let mut errs = Vec::new();
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errs.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let url = input.url.trim().to_owned();
    if url.len() > MAX_URL_LEN || !is_web_url(&url) {
        errs.push(FieldError::new(
            "url",
            format!("must be an http or https URL of at most {MAX_URL_LEN} bytes"),
        ));
    } else if !allow_private
        && let Some(why) = reqwest::Url::parse(&url)
            .ok()
            .as_ref()
            .and_then(super::guard::refused_target)
    {
        errs.push(FieldError::new("url", why));
    }
    if let Some(secret) = &input.secret
        && (!SECRET_CHARS.contains(&secret.chars().count()) || secret.chars().any(char::is_control))
    {
        errs.push(FieldError::new(
            "secret",
            format!(
                "must be {} to {} characters without control characters",
                SECRET_CHARS.start(),
                SECRET_CHARS.end()
            ),
        ));
    }
    let mut events = BTreeSet::new();
    for (i, e) in input.events.iter().enumerate() {
        match WebhookEvent::parse(e) {
            Some(ev) => {
                events.insert(ev.as_str());
            }
            None => errs.push(FieldError::new(
                format!("events/{i}"),
                "must be one of record.created, record.updated, record.deleted",
            )),
        }
    }
    if let Some(ids) = &input.form_ids {
        if ids.is_empty() || ids.len() > MAX_FORM_IDS {
            errs.push(FieldError::new(
                "form_ids",
                format!("must name 1 to {MAX_FORM_IDS} forms, or be null for every form"),
            ));
        } else {
            let wanted: BTreeSet<String> = ids.iter().map(ToString::to_string).collect();
            let found: BTreeSet<String> = form::Entity::find()
                .select_only()
                .column(form::Column::Id)
                .filter(form::Column::TenantId.eq(tenant.to_string()))
                .filter(form::Column::Id.is_in(wanted.iter().cloned()))
                .filter(form::Column::DeletedAt.is_null())
                .into_tuple::<String>()
                .all(conn)
                .await?
                .into_iter()
                .collect();
            for (i, id) in ids.iter().enumerate() {
                if !found.contains(&id.to_string()) {
                    errs.push(FieldError::new(
                        format!("form_ids/{i}"),
                        format!("form `{id}` does not exist"),
                    ));
                }
            }
        }
    }
    if !errs.is_empty() {
        return Err(NotifyError::Invalid(errs));
    }
    let form_ids = input.form_ids.map(|ids| {
        let mut seen = BTreeSet::new();
        ids.into_iter().filter(|id| seen.insert(*id)).collect()
    });
    Ok(Checked {
        name,
        url,
        secret: input.secret,
        // BTreeSet of strings: sorted and without duplicates.
        events: events.into_iter().filter_map(WebhookEvent::parse).collect(),
        form_ids,
        enabled: input.enabled,
        format: input.format,
        push_api_writes: input.push_api_writes,
    })
}

fn form_ids_json(ids: Option<&Vec<FormId>>) -> Option<Value> {
    ids.map(|ids| json!(ids))
}

/// A webhook of the tenant by id.
async fn load<C: ConnectionTrait>(conn: &C, tenant: TenantId, id: WebhookId) -> Result<Hook, NotifyError> {
    let row = webhook::Entity::find()
        .filter(webhook::Column::TenantId.eq(tenant.to_string()))
        .filter(webhook::Column::Id.eq(id.to_string()))
        .one(conn)
        .await?
        .ok_or(NotifyError::WebhookNotFound(id))?;
    Hook::decode(row)
}

/// An enabled webhook of the tenant by name.
pub(super) async fn enabled_by_name<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    name: &str,
) -> Result<Hook, NotifyError> {
    let row = webhook::Entity::find()
        .filter(webhook::Column::TenantId.eq(tenant.to_string()))
        .filter(webhook::Column::Name.eq(name.trim()))
        .filter(webhook::Column::Enabled.eq(true))
        .one(conn)
        .await?
        .ok_or_else(|| NotifyError::UnknownWebhook(super::cut(name, MAX_NAME_CHARS)))?;
    Hook::decode(row)
}

/// Every enabled webhook of the tenant.
pub(super) async fn enabled<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Vec<Hook>, NotifyError> {
    webhook::Entity::find()
        .filter(webhook::Column::TenantId.eq(tenant.to_string()))
        .filter(webhook::Column::Enabled.eq(true))
        .order_by_asc(webhook::Column::Id)
        .limit(MAX_WEBHOOKS)
        .all(conn)
        .await?
        .into_iter()
        .map(Hook::decode)
        .collect()
}

/// The prefix of every job key of one webhook's deliveries.
pub(super) fn key_prefix(id: WebhookId) -> String {
    format!("webhook:{id}:")
}

fn taken(name: &str) -> impl Fn(sea_orm::DbErr) -> NotifyError + '_ {
    move |e| {
        if unique_violation(&e).is_some() {
            NotifyError::WebhookExists(name.to_owned())
        } else {
            e.into()
        }
    }
}

impl Engine {
    /// The tenant's webhooks, A–Z by name, secrets masked.
    ///
    /// # Errors
    /// `forbidden` for members; `internal`.
    pub async fn list_webhooks(&self, ctx: &Ctx) -> Result<Vec<WebhookView>, NotifyError> {
        require(ctx, Action::DesignApps)?;
        webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(ctx.tenant.to_string()))
            .order_by_asc(webhook::Column::Name)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|m| Hook::decode(m).map(|h| h.view(false)))
            .collect()
    }

    /// One webhook, secret masked.
    ///
    /// # Errors
    /// `not_found`; `forbidden` for members; `internal`.
    pub async fn get_webhook(&self, ctx: &Ctx, id: WebhookId) -> Result<WebhookView, NotifyError> {
        require(ctx, Action::DesignApps)?;
        Ok(load(self.db().conn(), ctx.tenant, id).await?.view(false))
    }

    /// Creates a webhook. The answer shows its secret in full, once.
    ///
    /// # Errors
    /// `validation_failed` (name, url, secret, events, form ids, or the
    /// tenant already has [`MAX_WEBHOOKS`]); `conflict` when the name is
    /// taken; `forbidden` for members; `internal`.
    pub async fn create_webhook(&self, ctx: &Ctx, input: WebhookInput) -> Result<WebhookView, NotifyError> {
        require(ctx, Action::DesignApps)?;
        let db = self.db();
        let c = check(db.conn(), ctx.tenant, input, self.config().webhook_private).await?;
        let _w = db.write_lock().await;
        let count = webhook::Entity::find()
            .filter(webhook::Column::TenantId.eq(ctx.tenant.to_string()))
            .count(db.conn())
            .await?;
        if count >= MAX_WEBHOOKS {
            return Err(super::error::invalid(
                "name",
                format!("a tenant has at most {MAX_WEBHOOKS} webhooks; delete one first"),
            ));
        }
        let row = webhook::ActiveModel {
            id: Set(WebhookId::new().to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            name: Set(c.name.clone()),
            url: Set(c.url),
            secret: Set(c.secret.unwrap_or_else(new_secret)),
            events: Set(json!(c.events)),
            form_ids: Set(form_ids_json(c.form_ids.as_ref())),
            enabled: Set(c.enabled),
            format: Set(c.format.as_str().to_owned()),
            push_api_writes: Set(c.push_api_writes),
            created_at: Set(ctx.now),
            updated_at: Set(ctx.now),
        }
        .insert(db.conn())
        .await
        .map_err(taken(&c.name))?;
        Ok(Hook::decode(row)?.view(true))
    }

    /// Replaces a webhook's settings. A new secret is shown in full in the
    /// answer; an absent one keeps the current secret (masked). Disabling
    /// it removes its deliveries not yet attempted.
    ///
    /// # Errors
    /// `not_found`; `validation_failed`; `conflict` when the new name is
    /// taken; `forbidden` for members; `internal`.
    pub async fn update_webhook(
        &self,
        ctx: &Ctx,
        id: WebhookId,
        input: WebhookInput,
    ) -> Result<WebhookView, NotifyError> {
        require(ctx, Action::DesignApps)?;
        let db = self.db();
        let c = check(db.conn(), ctx.tenant, input, self.config().webhook_private).await?;
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let old = load(&tx, ctx.tenant, id).await?;
        let new_secret = c.secret.is_some();
        let changes = webhook::ActiveModel {
            name: Set(c.name.clone()),
            url: Set(c.url),
            secret: Set(c.secret.unwrap_or(old.secret)),
            events: Set(json!(c.events)),
            form_ids: Set(form_ids_json(c.form_ids.as_ref())),
            enabled: Set(c.enabled),
            format: Set(c.format.as_str().to_owned()),
            push_api_writes: Set(c.push_api_writes),
            updated_at: Set(ctx.now),
            ..Default::default()
        };
        let row = webhook::Entity::update_many()
            .set(changes)
            .filter(webhook::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(webhook::Column::Id.eq(id.to_string()))
            .exec_with_returning(&tx)
            .await
            .map_err(taken(&c.name))?
            .into_iter()
            .next()
            .ok_or(NotifyError::WebhookNotFound(id))?;
        if !c.enabled {
            cancel_pending(&tx, ctx.tenant, &key_prefix(id)).await?;
        }
        tx.commit().await?;
        Ok(Hook::decode(row)?.view(new_secret))
    }

    /// Deletes a webhook and its deliveries not yet attempted (its delivery
    /// log stays).
    ///
    /// # Errors
    /// `not_found`; `forbidden` for members; `internal`.
    pub async fn delete_webhook(&self, ctx: &Ctx, id: WebhookId) -> Result<(), NotifyError> {
        require(ctx, Action::DesignApps)?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let res = webhook::Entity::delete_many()
            .filter(webhook::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(webhook::Column::Id.eq(id.to_string()))
            .exec(&tx)
            .await?;
        if res.rows_affected == 0 {
            return Err(NotifyError::WebhookNotFound(id));
        }
        cancel_pending(&tx, ctx.tenant, &key_prefix(id)).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_last_four() {
        assert_eq!(mask("whsec_0123456789abcdef"), "****cdef");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn accepts_only_web_urls() {
        assert!(is_web_url("https://example.com/hook"));
        assert!(is_web_url("http://127.0.0.1:9000/x?y=1"));
        assert!(!is_web_url("ftp://example.com/"));
        assert!(!is_web_url("javascript:alert(1)"));
        assert!(!is_web_url("/relative"));
        assert!(!is_web_url("file:///etc/passwd"));
    }
}
