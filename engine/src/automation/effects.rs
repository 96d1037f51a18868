//! Staging and applying a run's effects.
//!
//! Staging happens before the transaction, through the pool: forms are
//! resolved (id or name within the rule's app), record data is prepared and
//! validated exactly as an API write would be, references are checked, and
//! the records to update or tag are loaded. Any failure names the effect
//! (`effects/2/total_spent`) and nothing is applied. Applying then writes
//! every staged effect through one transaction, which the caller commits
//! together with the job's completion.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};

use super::AutomationError;
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{AppId, FormId, TagId};
use crate::meta::form::LoadedForm;
use crate::notify::{notify_in, queue_email_in, queue_webhook_in};
use crate::record::RecordError;
use crate::record::prepare::WriteKind;
use crate::script::Effect;
use crate::store::entity::{form, record, tag};

/// An effect ready to write.
pub(crate) enum Staged {
    Create {
        form: Arc<LoadedForm>,
        data: Map<String, Value>,
    },
    Update {
        form: Arc<LoadedForm>,
        row: record::Model,
        data: Map<String, Value>,
    },
    Tag {
        form_id: FormId,
        row: record::Model,
        name: String,
        attach: bool,
    },
    Notify {
        to: String,
        title: String,
        body: String,
    },
    Email {
        to: String,
        subject: String,
        body: String,
    },
    Webhook {
        name: String,
        payload: Value,
    },
}

fn at(i: usize, errs: Vec<FieldError>) -> AutomationError {
    AutomationError::Invalid(
        errs.into_iter()
            .map(|mut e| {
                e.field = if e.field.is_empty() {
                    format!("effects/{i}")
                } else {
                    format!("effects/{i}/{}", e.field.trim_start_matches('/'))
                };
                e
            })
            .collect(),
    )
}

fn record_error(i: usize, e: RecordError) -> AutomationError {
    match e {
        RecordError::Invalid(errs) => at(i, errs),
        RecordError::NotFound(id) => at(i, vec![FieldError::new("id", format!("no record `{id}` exists"))]),
        other => AutomationError::Record(other),
    }
}

impl Engine {
    /// Resolves a form named by id, by package key (`surveys`) or by name
    /// within `app`.
    pub(crate) async fn resolve_form(
        &self,
        ctx: &Ctx,
        app: AppId,
        name: &str,
        cache: &mut HashMap<String, Arc<LoadedForm>>,
    ) -> Result<Option<Arc<LoadedForm>>, AutomationError> {
        if let Some(f) = cache.get(name) {
            return Ok(Some(Arc::clone(f)));
        }
        let by_key = match name.parse::<FormId>() {
            Ok(_) => None,
            Err(_) => crate::template::form_by_key(self.db().conn(), ctx.tenant, app, name).await?,
        };
        let id = match name.parse::<FormId>() {
            Ok(id) => Some(id),
            Err(_) if by_key.is_some() => by_key,
            Err(_) => form::Entity::find()
                .filter(form::Column::TenantId.eq(ctx.tenant.to_string()))
                .filter(form::Column::AppId.eq(app.to_string()))
                .filter(form::Column::Name.eq(name))
                .filter(form::Column::DeletedAt.is_null())
                .one(self.db().conn())
                .await?
                .and_then(|f| f.id.parse().ok()),
        };
        let Some(id) = id else {
            return Ok(None);
        };
        let form = match self.load_form(ctx, id).await {
            Ok(f) if f.app_id == app => f,
            _ => return Ok(None),
        };
        cache.insert(name.to_owned(), Arc::clone(&form));
        Ok(Some(form))
    }

    /// A live record of the tenant by id, with its form id.
    async fn record_by_id(&self, ctx: &Ctx, id: &str) -> Result<Option<record::Model>, AutomationError> {
        Ok(record::Entity::find_by_id(id.to_owned())
            .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record::Column::DeletedAt.is_null())
            .one(self.db().conn())
            .await?)
    }

    /// Validates and resolves every effect; the first faulty effect fails
    /// the whole run.
    pub(crate) async fn stage_effects(
        &self,
        ctx: &Ctx,
        app: AppId,
        effects: &[Effect],
    ) -> Result<Vec<Staged>, AutomationError> {
        if !effects.is_empty() {
            require(ctx, Action::WriteData)?;
        }
        let mut forms = HashMap::new();
        let mut staged = Vec::with_capacity(effects.len());
        for (i, effect) in effects.iter().enumerate() {
            let unknown_form = |name: &str| {
                at(
                    i,
                    vec![FieldError::new(
                        "form",
                        format!("no form `{name}` exists in the rule's app"),
                    )],
                )
            };
            staged.push(match effect {
                Effect::Create { form, data } => {
                    let f = self
                        .resolve_form(ctx, app, form, &mut forms)
                        .await?
                        .ok_or_else(|| unknown_form(form))?;
                    self.check_size(data).map_err(|e| record_error(i, e))?;
                    let data = self
                        .prepare_data(ctx, &f, &Map::new(), data.clone(), WriteKind::Create)
                        .map_err(|errs| at(i, errs))?;
                    let errs = self.check_references(ctx, &f, &data).await?;
                    if !errs.is_empty() {
                        return Err(at(i, errs));
                    }
                    Staged::Create { form: f, data }
                }
                Effect::Update { form, id, data } => {
                    let f = self
                        .resolve_form(ctx, app, form, &mut forms)
                        .await?
                        .ok_or_else(|| unknown_form(form))?;
                    let row = self
                        .record_by_id(ctx, id)
                        .await?
                        .filter(|r| r.form_id == f.id.to_string())
                        .ok_or_else(|| record_error(i, RecordError::NotFound(id.clone())))?;
                    let base = row.data.as_object().cloned().unwrap_or_default();
                    let data = self
                        .prepare_data(ctx, &f, &base, data.clone(), WriteKind::Update)
                        .map_err(|errs| at(i, errs))?;
                    self.check_size(&data).map_err(|e| record_error(i, e))?;
                    let errs = self.check_references(ctx, &f, &data).await?;
                    if !errs.is_empty() {
                        return Err(at(i, errs));
                    }
                    Staged::Update { form: f, row, data }
                }
                Effect::Tag { id, name } | Effect::Untag { id, name } => {
                    let name = name.trim();
                    if name.is_empty() || name.chars().count() > 50 {
                        return Err(at(i, vec![FieldError::new("name", "must be 1 to 50 characters")]));
                    }
                    let row = self
                        .record_by_id(ctx, id)
                        .await?
                        .ok_or_else(|| record_error(i, RecordError::NotFound(id.clone())))?;
                    Staged::Tag {
                        form_id: crate::store::parse_id(&row.form_id)?,
                        row,
                        name: name.to_owned(),
                        attach: matches!(effect, Effect::Tag { .. }),
                    }
                }
                Effect::Notify { to, title, body } => Staged::Notify {
                    to: to.clone(),
                    title: title.clone(),
                    body: body.clone(),
                },
                Effect::Email { to, subject, body } => Staged::Email {
                    to: to.clone(),
                    subject: subject.clone(),
                    body: body.clone(),
                },
                Effect::Webhook { name, payload } => Staged::Webhook {
                    name: name.clone(),
                    payload: payload.clone(),
                },
            });
        }
        Ok(staged)
    }

    /// Writes staged effects through `conn` (the run's transaction). Returns
    /// what was done, for the run log.
    pub(crate) async fn apply_effects<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        source: &Value,
        staged: Vec<Staged>,
    ) -> Result<Vec<Value>, AutomationError> {
        let mut done = Vec::with_capacity(staged.len());
        for (i, s) in staged.into_iter().enumerate() {
            let fail = |e: RecordError| record_error(i, e);
            done.push(match s {
                Staged::Create { form, data } => {
                    let row = self.insert_prepared(conn, ctx, &form, data).await.map_err(fail)?;
                    json!({"kind": "create", "form_id": form.id, "record_id": row.id})
                }
                Staged::Update { form, row, data } => {
                    let changed = self
                        .update_prepared(conn, ctx, &form, &row, data)
                        .await
                        .map_err(fail)?
                        .is_some();
                    json!({"kind": "update", "form_id": form.id, "record_id": row.id, "changed": changed})
                }
                Staged::Tag {
                    form_id,
                    row,
                    name,
                    attach,
                } => {
                    let tag = tag_in(conn, ctx, &name).await?;
                    let changed = self
                        .set_tag_in(conn, ctx, form_id, &row, &tag, attach)
                        .await
                        .map_err(fail)?;
                    let kind = if attach { "tag" } else { "untag" };
                    json!({"kind": kind, "record_id": row.id, "tag": name, "changed": changed})
                }
                Staged::Notify { to, title, body } => {
                    let users = notify_in(conn, ctx.tenant, &to, &title, &body, source.clone(), ctx.now)
                        .await
                        .map_err(|e| at(i, crate::error::HasCode::details(&e)))?;
                    json!({"kind": "notify", "to": to, "users": users})
                }
                Staged::Email { to, subject, body } => {
                    let job = queue_email_in(conn, ctx.tenant, &to, &subject, &body, ctx.now)
                        .await
                        .map_err(|e| at(i, crate::error::HasCode::details(&e)))?;
                    json!({"kind": "email", "to": to, "job_id": job})
                }
                Staged::Webhook { name, payload } => {
                    let job = queue_webhook_in(conn, ctx.tenant, &name, payload, ctx.now)
                        .await
                        .map_err(|e| at(i, crate::error::HasCode::details(&e)))?;
                    json!({"kind": "webhook", "name": name, "job_id": job})
                }
            });
        }
        Ok(done)
    }
}

/// The tenant's tag of this name, created (grey) when missing.
async fn tag_in<C: ConnectionTrait>(conn: &C, ctx: &Ctx, name: &str) -> Result<tag::Model, AutomationError> {
    let find = || {
        tag::Entity::find()
            .filter(tag::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(tag::Column::Name.eq(name))
            .one(conn)
    };
    if let Some(t) = find().await? {
        return Ok(t);
    }
    tag::Entity::insert(tag::ActiveModel {
        id: Set(TagId::new().to_string()),
        tenant_id: Set(ctx.tenant.to_string()),
        name: Set(name.to_owned()),
        color: Set("#8c8c8c".to_owned()),
        description: Set(String::new()),
        created_at: Set(ctx.now),
    })
    .on_conflict_do_nothing_on([tag::Column::TenantId, tag::Column::Name])
    .exec_without_returning(conn)
    .await?;
    find().await?.ok_or_else(|| {
        AutomationError::Store(crate::store::StoreError::Corrupt(format!(
            "tag `{name}` vanished"
        )))
    })
}
