//! The outbox dispatcher: turns record events (`record_history` rows not
//! yet dispatched) into rule firings and webhook deliveries.
//!
//! A pass reads the oldest undispatched rows of every tenant, enqueues one
//! `rule_run` job per matching enabled rule (key `rule:{id}:event:{row}`)
//! and one delivery per subscribed webhook, and marks the rows dispatched,
//! all in one transaction. Keys make a repeated or concurrent pass (two
//! servers) harmless: each firing is planned once.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_query::Expr;
use serde_json::{Map, Value, json};

use super::run::{FiringPayload, RULE_RUN_KIND};
use super::trigger::Firing;
use super::{AutomationError, MAX_CHAIN};
use crate::Engine;
use crate::ctx::Cause;
use crate::ids::{FormId, TenantId};
use crate::jobs::{DEFAULT_MAX_ATTEMPTS, NewJob, enqueue};
use crate::notify::{RecordEvent, WebhookEvent, queue_record_event};
use crate::store::entity::{form, record, record_history, rule, webhook};
use crate::store::parse_id;

/// Rows one dispatch pass takes.
pub const DISPATCH_BATCH: u64 = 500;

/// The subscription a record action reaches, and 简道云's `op` for it (a
/// restore reaches `record.created` subscribers of the `jdy` format only).
fn webhook_event(action: &str) -> Option<(WebhookEvent, &'static str)> {
    match action {
        "create" => Some((WebhookEvent::RecordCreated, "data_create")),
        "update" => Some((WebhookEvent::RecordUpdated, "data_update")),
        "delete" => Some((WebhookEvent::RecordDeleted, "data_remove")),
        "restore" => Some((WebhookEvent::RecordCreated, "data_recover")),
        _ => None,
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// 简道云's 数据推送 body: `{op, opTime, data}`, the record with its system
/// fields (`_id`, `appId`, `entryId`, `creator`, `updater`, `createTime`,
/// `updateTime`) and its stored values.
fn jdy_body(op: &str, at: DateTime<Utc>, app_id: Option<&String>, rec: &record::Model) -> Value {
    let mut data: Map<String, Value> = rec.data.as_object().cloned().unwrap_or_default();
    data.insert("_id".to_owned(), json!(rec.id));
    data.insert("appId".to_owned(), json!(app_id));
    data.insert("entryId".to_owned(), json!(rec.form_id));
    data.insert("creator".to_owned(), json!({ "_id": rec.created_by }));
    data.insert("updater".to_owned(), json!({ "_id": rec.updated_by }));
    data.insert("createTime".to_owned(), json!(iso(rec.created_at)));
    data.insert("updateTime".to_owned(), json!(iso(rec.updated_at)));
    if let Some(d) = rec.deleted_at {
        data.insert("deleteTime".to_owned(), json!(iso(d)));
    }
    json!({ "op": op, "opTime": at.timestamp_millis(), "data": data })
}

impl Engine {
    /// One dispatch pass at `now`. Returns how many events it took (0 when
    /// the outbox is empty).
    ///
    /// # Errors
    /// `internal`.
    pub async fn dispatch_events(&self, now: DateTime<Utc>) -> Result<usize, AutomationError> {
        let rows = record_history::Entity::find()
            .filter(record_history::Column::DispatchedAt.is_null())
            .order_by_asc(record_history::Column::Id)
            .limit(DISPATCH_BATCH)
            .all(self.db().conn())
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let forms: BTreeSet<String> = rows.iter().map(|r| r.form_id.clone()).collect();
        let rules = rule::Entity::find()
            .filter(rule::Column::Enabled.eq(true))
            .filter(rule::Column::FormId.is_in(forms.iter().cloned()))
            .all(self.db().conn())
            .await?;
        let mut by_form: BTreeMap<(String, String), Vec<(rule::Model, &'static str)>> = BTreeMap::new();
        for r in rules {
            let Some(kind) = r
                .def
                .get("trigger")
                .and_then(|t| t.get("kind"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let Ok(k) = self.triggers().get(kind) else {
                continue;
            };
            if let Firing::RecordEvent(action) = k.firing() {
                by_form
                    .entry((r.tenant_id.clone(), r.form_id.clone()))
                    .or_default()
                    .push((r, action));
            }
        }
        let record_ids: BTreeSet<String> = rows.iter().map(|r| r.record_id.clone()).collect();
        let records: BTreeMap<String, record::Model> = record::Entity::find()
            .filter(record::Column::Id.is_in(record_ids))
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let apps: BTreeMap<String, String> = form::Entity::find()
            .filter(form::Column::Id.is_in(forms.iter().cloned()))
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|f| (f.id, f.app_id))
            .collect();
        // Tenants with any enabled webhook: only their events are offered to
        // the webhook queue (one query per pass instead of one per event).
        let tenants: BTreeSet<String> = rows.iter().map(|r| r.tenant_id.clone()).collect();
        let hooked: BTreeSet<String> = webhook::Entity::find()
            .filter(webhook::Column::Enabled.eq(true))
            .filter(webhook::Column::TenantId.is_in(tenants))
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|w| w.tenant_id)
            .collect();
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        // Written first: on SQLite this makes it a write transaction from the
        // start (another process committing meanwhile cannot fail its upgrade).
        record_history::Entity::update_many()
            .col_expr(record_history::Column::DispatchedAt, Expr::value(now))
            .filter(record_history::Column::Id.is_in(ids))
            .exec(&tx)
            .await?;
        for row in &rows {
            let tenant: TenantId = parse_id(&row.tenant_id)?;
            let form: FormId = parse_id(&row.form_id)?;
            let cause = Cause::from_json(row.cause.as_ref());
            if let Some((event, op)) = webhook_event(&row.action).filter(|_| hooked.contains(&row.tenant_id))
            {
                let rec = records.get(&row.record_id);
                let payload = json!({
                    "event": event.as_str(),
                    "form_id": row.form_id,
                    "record_id": row.record_id,
                    "version": row.version,
                    "at": row.at,
                    "changes": row.changes,
                    "data": rec.map(|r| &r.data),
                });
                let event = RecordEvent {
                    subscription: event,
                    is_restore: row.action == "restore",
                    event_id: &row.id,
                    form_id: form,
                    payload,
                    jdy: rec.map(|r| jdy_body(op, row.at, apps.get(&row.form_id), r)),
                    is_api_or_batch: cause.is_api_or_batch,
                };
                queue_record_event(&tx, tenant, &event, now).await?;
            }
            if cause.no_rules {
                continue;
            }
            let Some(candidates) = by_form.get(&(row.tenant_id.clone(), row.form_id.clone())) else {
                continue;
            };
            if cause.rules.len() >= MAX_CHAIN {
                tracing::warn!(event = %row.id, chain = ?cause.rules, "rule chain too deep; no rule fires");
                continue;
            }
            for (r, action) in candidates {
                if *action != row.action {
                    continue;
                }
                let rule_id = parse_id(&r.id)?;
                if cause.rules.contains(&rule_id) {
                    continue;
                }
                let trigger = r
                    .def
                    .get("trigger")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let kind = trigger.get("kind").and_then(Value::as_str).unwrap_or_default();
                let Ok(k) = self.triggers().get(kind) else {
                    continue;
                };
                if !k.fires_on(&trigger, &row.changes) {
                    continue;
                }
                let old = (row.action == "update").then(|| {
                    row.changes
                        .as_object()
                        .map(|c| {
                            c.iter()
                                .filter(|(k, _)| !k.starts_with('_'))
                                .map(|(k, v)| (k.clone(), v.get("from").cloned().unwrap_or(Value::Null)))
                                .collect::<Map<String, Value>>()
                        })
                        .unwrap_or_default()
                });
                let payload = FiringPayload {
                    rule_id: r.id.clone(),
                    trigger: kind.to_owned(),
                    record_id: Some(row.record_id.clone()),
                    old,
                    event_id: Some(row.id.clone()),
                    day: None,
                    cause: cause.rules.clone(),
                };
                enqueue(
                    &tx,
                    NewJob {
                        tenant,
                        kind: RULE_RUN_KIND.to_owned(),
                        payload: serde_json::to_value(&payload).unwrap_or(Value::Null),
                        idempotency_key: format!("rule:{}:event:{}", r.id, row.id),
                        run_at: now,
                        max_attempts: DEFAULT_MAX_ATTEMPTS,
                    },
                    now,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(rows.len())
    }
}
