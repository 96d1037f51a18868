//! Record writes the 简道云 way: `data/create`, `batch_create`, `update`,
//! `batch_update`, `delete`, `batch_delete`. Values come wrapped
//! (`{"<key or widget id>": {"value": ...}}`), `data_creator` names the
//! member the record is written as, `is_start_workflow` /
//! `is_start_trigger` (default false, as in 简道云) start the form's flow
//! and its automation rules, and `transaction_id` makes a call idempotent:
//! a repeat answers the first result and writes nothing.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::ctx::{Ctx, Role};
use engine::error::ErrorCode;
use engine::ids::RecordId;
use engine::record::RecordInput;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::call::{FormBody, FormCall};
use super::data::Reader;
use super::meta::EntryRef;
use super::value::write_data;
use super::{V5Caller, V5Error, id_string, parse_id, v5};
use crate::routes::Endpoint;

/// The rows of this group.
pub const ENDPOINTS: &[Endpoint] = &[
    v5!(
        "app/entry/data/create",
        v5_create_data,
        "简道云 v5: create a record"
    ),
    v5!(
        "app/entry/data/batch_create",
        v5_batch_create_data,
        "简道云 v5: create up to 100 records, all or nothing"
    ),
    v5!(
        "app/entry/data/update",
        v5_update_data,
        "简道云 v5: change some fields of a record"
    ),
    v5!(
        "app/entry/data/batch_update",
        v5_batch_update_data,
        "简道云 v5: apply one change to up to 100 records, all or nothing"
    ),
    v5!(
        "app/entry/data/delete",
        v5_delete_data,
        "简道云 v5: move a record to the recycle bin"
    ),
    v5!(
        "app/entry/data/batch_delete",
        v5_batch_delete_data,
        "简道云 v5: move up to 100 records to the recycle bin, all or nothing"
    ),
];

/// Most records of one batch call.
pub const MAX_BATCH: usize = 100;

/// Options every write takes.
#[derive(Deserialize, Default)]
pub(crate) struct WriteOpts {
    #[serde(default)]
    data_creator: Option<String>,
    #[serde(default)]
    is_start_workflow: bool,
    #[serde(default)]
    is_start_trigger: bool,
    #[serde(default)]
    pub transaction_id: Option<String>,
}

impl WriteOpts {
    /// The context the write runs in: the caller's, or the named creator's
    /// (owners and admins only), with the flow and rule switches.
    pub(crate) fn ctx(&self, caller: &Ctx, reader: &Reader) -> Result<Ctx, V5Error> {
        let mut ctx = caller.clone();
        if let Some(name) = self.data_creator.as_deref().filter(|n| !n.is_empty()) {
            if caller.role == Role::Member {
                return Err(V5Error::new(
                    ErrorCode::Forbidden,
                    "only an owner's or admin's API key may set `data_creator`",
                ));
            }
            let id = reader.dir.user_id(name).ok_or_else(|| {
                V5Error::new(
                    ErrorCode::ValidationFailed,
                    format!("field `data_creator`: `{name}` is not a member's username"),
                )
            })?;
            ctx.actor = parse_id("member", &id)?;
        }
        ctx.start_flow = self.is_start_workflow;
        ctx.cause.no_rules = !self.is_start_trigger;
        ctx.cause.is_api_or_batch = true;
        Ok(ctx)
    }
}

/// Implements [`FormBody`] for a write body with `entry` and `opts`.
macro_rules! write_body {
    ($($t:ty),*) => {$(
        impl FormBody for $t {
            fn entry(&self) -> &EntryRef {
                &self.entry
            }
            fn opts(&self) -> Option<&WriteOpts> {
                Some(&self.opts)
            }
        }
    )*};
}
write_body!(
    CreateBody,
    BatchCreateBody,
    UpdateBody,
    BatchUpdateBody,
    DeleteBody,
    BatchDeleteBody
);

fn too_many(n: usize) -> V5Error {
    V5Error::new(
        ErrorCode::PayloadTooLarge,
        format!("a batch holds 1 to {MAX_BATCH} records, not {n}"),
    )
}

fn batch_answer(ids: &[String]) -> Value {
    json!({"status": "success", "success_count": ids.len(), "success_ids": ids})
}

/// Prefixes a batch error with the place it concerns.
fn at(place: &str, e: V5Error) -> V5Error {
    V5Error {
        msg: format!("{place}: {}; nothing was written", e.msg),
        ..e
    }
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(flatten)]
    entry: EntryRef,
    data: Map<String, Value>,
    #[serde(flatten)]
    opts: WriteOpts,
}

async fn v5_create_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<CreateBody> = FormCall::load(&engine, caller, &body).await?;
    let answer = c
        .once(&engine, "create", || async {
            let data = write_data(&c.form.def, &c.body.data, &c.reader.dir)?;
            let created = engine
                .create_record(&c.ctx, c.form.id, RecordInput { data }, None)
                .await?;
            let data = c.reader.record(&engine, &c.ctx, &c.form, &created, None).await?;
            Ok(json!({ "data": data }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct BatchCreateBody {
    #[serde(flatten)]
    entry: EntryRef,
    data_list: Vec<Map<String, Value>>,
    #[serde(flatten)]
    opts: WriteOpts,
}

async fn v5_batch_create_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<BatchCreateBody> = FormCall::load(&engine, caller, &body).await?;
    let list = &c.body.data_list;
    if list.is_empty() || list.len() > MAX_BATCH {
        return Err(too_many(list.len()));
    }
    let answer = c
        .once(&engine, "batch_create", || async {
            let mut inputs = Vec::with_capacity(list.len());
            for (i, d) in list.iter().enumerate() {
                let data = write_data(&c.form.def, d, &c.reader.dir)
                    .map_err(|e| at(&format!("data_list[{i}]"), e))?;
                inputs.push(RecordInput { data });
            }
            let created = engine.batch_create_records(&c.ctx, c.form.id, inputs).await?;
            let ids: Vec<String> = created.iter().map(|r| r.id.to_string()).collect();
            Ok(batch_answer(&ids))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(flatten)]
    entry: EntryRef,
    #[serde(deserialize_with = "id_string")]
    data_id: String,
    data: Map<String, Value>,
    #[serde(flatten)]
    opts: WriteOpts,
}

async fn v5_update_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<UpdateBody> = FormCall::load(&engine, caller, &body).await?;
    let id: RecordId = parse_id("record", &c.body.data_id)?;
    let answer = c
        .once(&engine, "update", || async {
            let data = write_data(&c.form.def, &c.body.data, &c.reader.dir)?;
            let updated = engine.update_record(&c.ctx, c.form.id, id, data, None).await?;
            let data = c.reader.record(&engine, &c.ctx, &c.form, &updated, None).await?;
            Ok(json!({ "data": data }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct BatchUpdateBody {
    #[serde(flatten)]
    entry: EntryRef,
    data_ids: Vec<String>,
    data: Map<String, Value>,
    #[serde(flatten)]
    opts: WriteOpts,
}

/// Parses batch ids: 1 to [`MAX_BATCH`], each one of ours.
fn batch_ids(ids: &[String]) -> Result<Vec<RecordId>, V5Error> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(too_many(ids.len()));
    }
    ids.iter().map(|s| parse_id("record", s)).collect()
}

async fn v5_batch_update_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<BatchUpdateBody> = FormCall::load(&engine, caller, &body).await?;
    let ids = batch_ids(&c.body.data_ids)?;
    let answer = c
        .once(&engine, "batch_update", || async {
            let data = write_data(&c.form.def, &c.body.data, &c.reader.dir)?;
            let updated = engine
                .batch_update_records(&c.ctx, c.form.id, &ids, data)
                .await
                .map_err(|e| at("data_ids", e.into()))?;
            let ids: Vec<String> = updated.iter().map(|r| r.id.to_string()).collect();
            Ok(batch_answer(&ids))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct DeleteBody {
    #[serde(flatten)]
    entry: EntryRef,
    #[serde(deserialize_with = "id_string")]
    data_id: String,
    #[serde(flatten)]
    opts: WriteOpts,
}

async fn v5_delete_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<DeleteBody> = FormCall::load(&engine, caller, &body).await?;
    let id: RecordId = parse_id("record", &c.body.data_id)?;
    let answer = c
        .once(&engine, "delete", || async {
            engine.delete_record(&c.ctx, c.form.id, id, None).await?;
            Ok(json!({"status": "success"}))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

#[derive(Deserialize)]
struct BatchDeleteBody {
    #[serde(flatten)]
    entry: EntryRef,
    data_ids: Vec<String>,
    #[serde(flatten)]
    opts: WriteOpts,
}

async fn v5_batch_delete_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<BatchDeleteBody> = FormCall::load(&engine, caller, &body).await?;
    let ids = batch_ids(&c.body.data_ids)?;
    let answer = c
        .once(&engine, "batch_delete", || async {
            let deleted = engine
                .batch_delete_records(&c.ctx, c.form.id, &ids)
                .await
                .map_err(|e| at("data_ids", e.into()))?;
            let ids: Vec<String> = deleted.iter().map(ToString::to_string).collect();
            Ok(batch_answer(&ids))
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}
