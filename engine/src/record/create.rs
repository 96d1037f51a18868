//! `create_record` (with `Idempotency-Key`) and `batch_create_records`.

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::prepare::WriteKind;
use super::{RecordError, RecordInput, RecordView};
use crate::Engine;
use crate::auth::AuthError;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::{Cause, Ctx};
use crate::error::FieldError;
use crate::files::Holder;
use crate::ids::{FormId, RecordHistoryId, RecordId};
use crate::meta::field_type::serial::{render_serial, serial_period};
use crate::meta::form::LoadedForm;
use crate::query::model::{Filter, QueryEnv, QueryRequest};
use crate::query::run::{RecordScope, list_records};
use crate::store::entity::{idempotency_key, record, record_history};
use crate::store::{StoreError, counter, unique_violation};

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

impl Engine {
    /// Creates one record. With an idempotency key, a repeat of the same
    /// request returns the first result instead of creating another record.
    ///
    /// # Errors
    /// `validation_failed` (details per field), `not_found` (form),
    /// `duplicate_value` (unique field, named), `payload_too_large`,
    /// `idempotency_key_reused`.
    pub async fn create_record(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        input: RecordInput,
        idempotency_key: Option<String>,
    ) -> Result<RecordView, RecordError> {
        require(ctx, Action::WriteData)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::Create).await?;
        access.check_write(&input.data)?;
        let visible = access.visible_def(&form.def);
        let idem = match idempotency_key {
            Some(key) => {
                if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
                    return Err(RecordError::Invalid(vec![FieldError::new(
                        "Idempotency-Key",
                        format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
                    )]));
                }
                let hash = request_hash(form_id, &input.data);
                if let Some(replay) = self.replay(ctx, &key, &hash).await? {
                    return Ok(replay);
                }
                Some((key, hash))
            }
            None => None,
        };
        self.check_size(&input.data)?;
        let data = self
            .prepare_data(ctx, &form, &Map::new(), input.data, WriteKind::Create)
            .map_err(RecordError::Invalid)?;
        let errs = self.check_references(ctx, &form, &data).await?;
        if !errs.is_empty() {
            return Err(RecordError::Invalid(errs));
        }
        // A flow form starts an instance in the record's own transaction.
        let flow = self.flow_for_create(ctx, form_id, &data).await?;
        if idem.is_none() && flow.is_none() {
            let row = self.insert_grouped(ctx, form.clone(), data).await?;
            return super::view(&visible, &row, Vec::new());
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let row = self.insert_prepared(&tx, ctx, &form, data).await?;
        if let Some(flow) = &flow {
            self.start_flow_in(&tx, ctx, &form, &row, flow).await?;
        }
        let view = super::view(&visible, &row, Vec::new())?;
        if let Some((key, hash)) = idem {
            let stored = idempotency_key::ActiveModel {
                tenant_id: Set(ctx.tenant.to_string()),
                key: Set(key.clone()),
                user_id: Set(ctx.actor.to_string()),
                request_hash: Set(hash.clone()),
                status: Set(201),
                response: Set(serde_json::to_value(&view).map_err(|e| StoreError::Corrupt(e.to_string()))?),
                created_at: Set(ctx.now),
            };
            if let Err(e) = idempotency_key::Entity::insert(stored)
                .exec_without_returning(&tx)
                .await
            {
                // A concurrent request with the same key won: answer its result.
                if unique_violation(&e).is_some() {
                    drop(tx);
                    return self
                        .replay(ctx, &key, &hash)
                        .await?
                        .ok_or(RecordError::IdempotencyKeyReused);
                }
                return Err(e.into());
            }
        }
        tx.commit().await?;
        Ok(view)
    }

    /// The stored answer of an earlier request with this key, if the request
    /// was the same.
    async fn replay(&self, ctx: &Ctx, key: &str, hash: &str) -> Result<Option<RecordView>, RecordError> {
        let Some(row) = idempotency_key::Entity::find_by_id((ctx.tenant.to_string(), key.to_owned()))
            .one(self.db().conn())
            .await?
        else {
            return Ok(None);
        };
        if row.request_hash != hash || row.user_id != ctx.actor.to_string() {
            return Err(RecordError::IdempotencyKeyReused);
        }
        serde_json::from_value(row.response)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(e.to_string()).into())
    }

    /// Creates up to `max_batch` records in one transaction: all or nothing.
    ///
    /// # Errors
    /// `payload_too_large` over the batch limit; `validation_failed` with
    /// details `<index>/<field>` for every invalid item (nothing written);
    /// `duplicate_value`.
    pub async fn batch_create_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        inputs: Vec<RecordInput>,
    ) -> Result<Vec<RecordView>, RecordError> {
        require(ctx, Action::WriteData)?;
        let ctx = &ctx.as_batch();
        let limit = self.config().max_batch;
        if inputs.len() > limit {
            return Err(RecordError::BatchTooLarge {
                size: inputs.len(),
                limit,
            });
        }
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::Create).await?;
        let forbidden: Vec<FieldError> = inputs
            .iter()
            .enumerate()
            .filter_map(|(i, input)| match access.check_write(&input.data) {
                Err(AuthError::FieldsForbidden(errs)) => Some(
                    errs.into_iter()
                        .map(move |e| FieldError::new(format!("{i}/{}", e.field), e.message)),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        if !forbidden.is_empty() {
            return Err(AuthError::FieldsForbidden(forbidden).into());
        }
        let mut prepared = Vec::with_capacity(inputs.len());
        let mut details = Vec::new();
        let mut bad_items = 0;
        for (i, input) in inputs.into_iter().enumerate() {
            let result = match self.check_size(&input.data) {
                Err(e) => Err(vec![FieldError::new("data", e.to_string())]),
                Ok(()) => self.prepare_data(ctx, &form, &Map::new(), input.data, WriteKind::Create),
            };
            let result = match result {
                Ok(data) => match self.check_references(ctx, &form, &data).await? {
                    errs if errs.is_empty() => Ok(data),
                    errs => Err(errs),
                },
                Err(errs) => Err(errs),
            };
            match result {
                Ok(data) => prepared.push(data),
                Err(errs) => {
                    bad_items += 1;
                    details.extend(
                        errs.into_iter()
                            .map(|e| FieldError::new(format!("{i}/{}", e.field), e.message)),
                    );
                }
            }
        }
        if bad_items > 0 {
            return Err(RecordError::BatchInvalid {
                items: bad_items,
                details,
            });
        }
        let clashes = self.unique_clashes(ctx, &form, &prepared).await?;
        if !clashes.is_empty() {
            let items = clashes
                .iter()
                .map(|e| e.field.split('/').next().unwrap_or_default())
                .collect::<BTreeSet<_>>()
                .len();
            return Err(RecordError::BatchInvalid {
                items,
                details: clashes,
            });
        }
        // The flow and its people are looked up once for the batch, and
        // again per item only where assignees come from the record's values.
        let mut flows = Vec::with_capacity(prepared.len());
        let mut shared = None;
        for data in &prepared {
            let flow = match &shared {
                Some(Some(f)) if !crate::workflow::run::depends_on_record(f) => {
                    Some(Some(crate::workflow::run::FlowStart::clone(f)))
                }
                Some(None) => Some(None),
                _ => None,
            };
            let flow = match flow {
                Some(f) => f,
                None => self.flow_for_create(ctx, form_id, data).await?,
            };
            shared.get_or_insert_with(|| flow.clone());
            flows.push(flow);
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let items = prepared.into_iter().map(|data| (ctx, data)).collect();
        let rows = self.insert_prepared_many(&tx, &form, items).await?;
        for (row, flow) in rows.iter().zip(flows) {
            if let Some(flow) = &flow {
                self.start_flow_in(&tx, ctx, &form, row, flow).await?;
            }
        }
        tx.commit().await?;
        db.optimize().await?;
        let visible = access.visible_def(&form.def);
        rows.iter()
            .map(|row| super::view(&visible, row, Vec::new()))
            .collect()
    }

    /// Inserts validated data: assigns serial numbers, writes the record and
    /// its history row. Maps unique-index violations to the field.
    pub(crate) async fn insert_prepared<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form: &LoadedForm,
        data: Map<String, Value>,
    ) -> Result<record::Model, RecordError> {
        let mut rows = self.insert_prepared_many(conn, form, vec![(ctx, data)]).await?;
        rows.pop()
            .ok_or_else(|| StoreError::Corrupt("insert returned no row".to_owned()).into())
    }

    /// Inserts many validated records of one form with multi-row
    /// statements: one counter bump per serial field and period for the
    /// whole set, then the records and their history rows in chunks. Each
    /// item carries its caller (several requests may share one commit).
    pub(crate) async fn insert_prepared_many<C: ConnectionTrait>(
        &self,
        conn: &C,
        form: &LoadedForm,
        mut items: Vec<(&Ctx, Map<String, Value>)>,
    ) -> Result<Vec<record::Model>, RecordError> {
        for f in &form.def.fields {
            let Some(pattern) = self
                .field_types()
                .get(&f.kind)
                .ok()
                .and_then(|t| t.serial_pattern(f))
            else {
                continue;
            };
            let mut by_period: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for (i, (ctx, _)) in items.iter().enumerate() {
                by_period
                    .entry(serial_period(pattern, ctx.now))
                    .or_default()
                    .push(i);
            }
            for (period, members) in by_period {
                let Some(first) = members.first().and_then(|&i| items.get(i)) else {
                    continue;
                };
                let tenant = first.0.tenant;
                let n = i64::try_from(members.len()).unwrap_or(i64::MAX);
                let last = counter::next_serial(conn, tenant, form.id, &f.key, &period, n).await?;
                for (seq, i) in (last - n + 1..).zip(members) {
                    if let Some((ctx, data)) = items.get_mut(i) {
                        data.insert(f.key.clone(), Value::String(render_serial(pattern, seq, ctx.now)));
                    }
                }
            }
        }
        let causes: Vec<Cause> = items.iter().map(|(ctx, _)| ctx.cause.clone()).collect();
        let mut rows: Vec<record::Model> = items
            .into_iter()
            .map(|(ctx, data)| record::Model {
                id: RecordId::new().to_string(),
                tenant_id: ctx.tenant.to_string(),
                app_id: form.app_id.to_string(),
                form_id: form.id.to_string(),
                form_version: form.version,
                data: Value::Object(data),
                version: 1,
                created_by: ctx.actor.to_string(),
                updated_by: ctx.actor.to_string(),
                created_at: ctx.now,
                updated_at: ctx.now,
                deleted_at: None,
            })
            .collect();
        if self.has_file_fields(form) {
            for row in &mut rows {
                let record::Model {
                    id,
                    tenant_id,
                    created_by,
                    created_at,
                    data: Value::Object(data),
                    ..
                } = row
                else {
                    continue;
                };
                let holder = Holder {
                    tenant: tenant_id,
                    actor: created_by,
                    now: *created_at,
                    record_id: id,
                };
                self.claim_files(conn, form, &holder, &Map::new(), data).await?;
            }
        }
        for (chunk, chunk_causes) in rows.chunks(INSERT_CHUNK).zip(causes.chunks(INSERT_CHUNK)) {
            let actives = chunk.iter().cloned().map(record::ActiveModel::from);
            if let Err(e) = record::Entity::insert_many(actives)
                .exec_without_returning(conn)
                .await
            {
                return Err(self.map_unique(form, e));
            }
            // The created values are the record's first state; history
            // rebuilds them on read instead of storing them twice.
            let history = chunk
                .iter()
                .zip(chunk_causes)
                .map(|(row, cause)| create_history_row(row, form.id, cause));
            record_history::Entity::insert_many(history)
                .exec_without_returning(conn)
                .await?;
        }
        Ok(rows)
    }

    /// Unique values a batch would duplicate, named per item: values shared
    /// by two items of the batch, and values live records already hold
    /// (looked up with one `in` query per unique field). The unique index
    /// still guards against a record written meanwhile.
    async fn unique_clashes(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        items: &[Map<String, Value>],
    ) -> Result<Vec<FieldError>, RecordError> {
        let mut clashes = Vec::new();
        for f in form.def.fields.iter().filter(|f| f.unique) {
            let mut first_seen: Vec<(&Value, usize)> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(v) = item.get(&f.key).filter(|v| !v.is_null()) else {
                    continue;
                };
                match first_seen.iter().find(|(seen, _)| *seen == v) {
                    Some((_, first)) => clashes.push(FieldError::new(
                        format!("{i}/{}", f.key),
                        format!("item {first} of this batch has the same value"),
                    )),
                    None => first_seen.push((v, i)),
                }
            }
            if first_seen.is_empty() {
                continue;
            }
            let values: Vec<Value> = first_seen.iter().map(|(v, _)| (*v).clone()).collect();
            let request = QueryRequest {
                filter: Some(Filter::from_json(
                    &json!({"field": f.key, "op": "in", "value": values}),
                )?),
                limit: Some(u32::try_from(values.len()).unwrap_or(u32::MAX).clamp(1, 1000)),
                ..QueryRequest::default()
            };
            let page = list_records(
                self.db(),
                ctx.tenant,
                form.id,
                self.field_types(),
                &form.def,
                &request,
                RecordScope::Live,
                QueryEnv::at(ctx.now),
            )
            .await?;
            for row in &page.rows {
                let Some(taken) = row.data.get(&f.key) else {
                    continue;
                };
                for (_, i) in first_seen.iter().filter(|(v, _)| *v == taken) {
                    clashes.push(FieldError::new(
                        format!("{i}/{}", f.key),
                        "another record already has this value",
                    ));
                }
            }
        }
        Ok(clashes)
    }

    /// Turns a unique-index violation into `duplicate_value` naming the field.
    pub(crate) fn map_unique(&self, form: &LoadedForm, e: sea_orm::DbErr) -> RecordError {
        let Some(index) = unique_violation(&e) else {
            return e.into();
        };
        let field = crate::meta::form::wanted_indexes(self.field_types(), &form.def)
            .into_iter()
            .find(|i| i.name(form.id) == index)
            .map_or_else(|| index.clone(), |i| i.key);
        RecordError::Duplicate(field)
    }

    /// Appends a history row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_history<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form: FormId,
        record_id: &str,
        version: i32,
        action: &str,
        changes: Value,
    ) -> Result<(), RecordError> {
        let row = history_row(ctx, form, record_id, version, action, changes);
        record_history::Entity::insert(row)
            .exec_without_returning(conn)
            .await?;
        Ok(())
    }
}

/// Rows per multi-row INSERT: far below every backend's bind limit.
const INSERT_CHUNK: usize = 500;

/// A history row, ready to insert.
fn history_row(
    ctx: &Ctx,
    form: FormId,
    record_id: &str,
    version: i32,
    action: &str,
    changes: Value,
) -> record_history::ActiveModel {
    record_history::ActiveModel {
        id: Set(RecordHistoryId::new().to_string()),
        tenant_id: Set(ctx.tenant.to_string()),
        form_id: Set(form.to_string()),
        record_id: Set(record_id.to_owned()),
        version: Set(version),
        action: Set(action.to_owned()),
        actor: Set(ctx.actor.to_string()),
        at: Set(ctx.now),
        changes: Set(changes),
        dispatched_at: Set(None),
        cause: Set(ctx.cause.to_json()),
    }
}

/// The history row of a created record (its values are rebuilt on read).
fn create_history_row(row: &record::Model, form: FormId, cause: &Cause) -> record_history::ActiveModel {
    record_history::ActiveModel {
        id: Set(RecordHistoryId::new().to_string()),
        tenant_id: Set(row.tenant_id.clone()),
        form_id: Set(form.to_string()),
        record_id: Set(row.id.clone()),
        version: Set(1),
        action: Set("create".to_owned()),
        actor: Set(row.created_by.clone()),
        at: Set(row.created_at),
        changes: Set(json!({})),
        dispatched_at: Set(None),
        cause: Set(cause.to_json()),
    }
}

/// A stable hash of a create request, to recognise a repeat.
fn request_hash(form: FormId, data: &Map<String, Value>) -> String {
    let mut h = Sha256::new();
    h.update(form.to_string().as_bytes());
    h.update(serde_json::to_vec(data).unwrap_or_default());
    hex::encode(h.finalize())
}
