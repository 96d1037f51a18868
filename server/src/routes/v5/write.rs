//! Record writes the 简道云 way: `data/create`, `batch_create`, `update`,
//! `batch_update`, `delete`, `batch_delete`. Values come wrapped
//! (`{"<key or widget id>": {"value": ...}}`), `data_creator` names the
//! member the record is written as, `is_start_workflow` /
//! `is_start_trigger` (default false, as in 简道云) start the form's flow
//! and its automation rules, and `transaction_id` makes a call idempotent:
//! a repeat answers the first result and writes nothing.

use std::future::Future;

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::ctx::{Ctx, Role};
use engine::error::ErrorCode;
use engine::ids::RecordId;
use engine::record::RecordInput;
use engine::record::transaction::TransactionClaim;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::data::Reader;
use super::meta::EntryRef;
use super::value::write_data;
use super::{V5Caller, V5Error, id_string, parse, parse_id, v5};
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
        "简道云 v5: apply one change to up to 100 records"
    ),
    v5!(
        "app/entry/data/delete",
        v5_delete_data,
        "简道云 v5: move a record to the recycle bin"
    ),
    v5!(
        "app/entry/data/batch_delete",
        v5_batch_delete_data,
        "简道云 v5: move up to 100 records to the recycle bin"
    ),
];

/// Most records of one batch call.
pub const MAX_BATCH: usize = 100;

/// Options every write takes.
#[derive(Deserialize, Default)]
struct WriteOpts {
    #[serde(default)]
    data_creator: Option<String>,
    #[serde(default)]
    is_start_workflow: bool,
    #[serde(default)]
    is_start_trigger: bool,
    #[serde(default)]
    transaction_id: Option<String>,
}

impl WriteOpts {
    /// The context the write runs in: the caller's, or the named creator's
    /// (owners and admins only), with the flow and rule switches.
    fn ctx(&self, caller: &Ctx, reader: &Reader) -> Result<Ctx, V5Error> {
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
        Ok(ctx)
    }
}

/// Runs `write` once per `transaction_id`: a repeat of the same call
/// answers the stored first result without running it.
async fn once<F, Fut>(
    engine: &Engine,
    ctx: &Ctx,
    op: &str,
    raw: &Value,
    tx_id: Option<&str>,
    write: F,
) -> Result<Value, V5Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Value, V5Error>>,
{
    let Some(tx_id) = tx_id else {
        return write().await;
    };
    let key = format!("v5:{tx_id}");
    let hash = hex::encode(Sha256::digest(format!("{op}\n{raw}").as_bytes()));
    match engine.claim_transaction(ctx, &key, &hash).await? {
        TransactionClaim::Replay(answer) => Ok(answer),
        TransactionClaim::Fresh => match write().await {
            Ok(answer) => {
                engine.finish_transaction(ctx, &key, answer.clone()).await?;
                Ok(answer)
            }
            Err(e) => {
                engine.release_transaction(ctx, &key).await?;
                Err(e)
            }
        },
    }
}

fn too_many(n: usize) -> V5Error {
    V5Error::new(
        ErrorCode::PayloadTooLarge,
        format!("a batch holds 1 to {MAX_BATCH} records, not {n}"),
    )
}

fn batch_answer(ids: &[String]) -> Value {
    json!({"status": "success", "success_count": ids.len(), "success_ids": ids})
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
    let (b, raw): (CreateBody, _) = parse(&body)?;
    let form = b.entry.load(&engine, &caller.ctx).await?;
    let reader = Reader::load(&engine, &caller.ctx, &form).await?;
    let ctx = b.opts.ctx(&caller.ctx, &reader)?;
    let answer = once(
        &engine,
        &ctx,
        "create",
        &raw,
        b.opts.transaction_id.as_deref(),
        || async {
            let data = write_data(&form.def, &b.data, &reader.dir)?;
            let created = engine
                .create_record(&ctx, form.id, RecordInput { data }, None)
                .await?;
            Ok(json!({"data": reader.record(&engine, &ctx, &form, &created, None).await?}))
        },
    )
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
    let (b, raw): (BatchCreateBody, _) = parse(&body)?;
    if b.data_list.is_empty() || b.data_list.len() > MAX_BATCH {
        return Err(too_many(b.data_list.len()));
    }
    let form = b.entry.load(&engine, &caller.ctx).await?;
    let reader = Reader::load(&engine, &caller.ctx, &form).await?;
    let ctx = b.opts.ctx(&caller.ctx, &reader)?;
    let answer = once(
        &engine,
        &ctx,
        "batch_create",
        &raw,
        b.opts.transaction_id.as_deref(),
        || async {
            let mut inputs = Vec::with_capacity(b.data_list.len());
            for (i, d) in b.data_list.iter().enumerate() {
                let data = write_data(&form.def, d, &reader.dir).map_err(|e| V5Error {
                    msg: format!("data_list[{i}]: {}", e.msg),
                    ..e
                })?;
                inputs.push(RecordInput { data });
            }
            let created = engine.batch_create_records(&ctx, form.id, inputs).await?;
            let ids: Vec<String> = created.iter().map(|r| r.id.to_string()).collect();
            Ok(batch_answer(&ids))
        },
    )
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
    let (b, raw): (UpdateBody, _) = parse(&body)?;
    let form = b.entry.load(&engine, &caller.ctx).await?;
    let reader = Reader::load(&engine, &caller.ctx, &form).await?;
    let ctx = b.opts.ctx(&caller.ctx, &reader)?;
    let id: RecordId = parse_id("record", &b.data_id)?;
    let answer = once(
        &engine,
        &ctx,
        "update",
        &raw,
        b.opts.transaction_id.as_deref(),
        || async {
            let data = write_data(&form.def, &b.data, &reader.dir)?;
            let updated = engine.update_record(&ctx, form.id, id, data, None).await?;
            Ok(json!({"data": reader.record(&engine, &ctx, &form, &updated, None).await?}))
        },
    )
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

/// The error of item `i` after `done` items were written.
fn item_error(i: usize, id: &str, done: usize, e: V5Error) -> V5Error {
    V5Error {
        msg: format!(
            "data_ids[{i}] (`{id}`): {}; {done} earlier record(s) were changed",
            e.msg
        ),
        ..e
    }
}

async fn v5_batch_update_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let (b, raw): (BatchUpdateBody, _) = parse(&body)?;
    let ids = batch_ids(&b.data_ids)?;
    let form = b.entry.load(&engine, &caller.ctx).await?;
    let reader = Reader::load(&engine, &caller.ctx, &form).await?;
    let ctx = b.opts.ctx(&caller.ctx, &reader)?;
    let answer = once(
        &engine,
        &ctx,
        "batch_update",
        &raw,
        b.opts.transaction_id.as_deref(),
        || async {
            let data = write_data(&form.def, &b.data, &reader.dir)?;
            let mut done = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                engine
                    .update_record(&ctx, form.id, *id, data.clone(), None)
                    .await
                    .map_err(|e| item_error(i, &id.to_string(), done.len(), e.into()))?;
                done.push(id.to_string());
            }
            Ok(batch_answer(&done))
        },
    )
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
    let (b, raw): (DeleteBody, _) = parse(&body)?;
    let form = b.entry.load(&engine, &caller.ctx).await?;
    let reader = Reader::load(&engine, &caller.ctx, &form).await?;
    let ctx = b.opts.ctx(&caller.ctx, &reader)?;
    let id: RecordId = parse_id("record", &b.data_id)?;
    let answer = once(
        &engine,
        &ctx,
        "delete",
        &raw,
        b.opts.transaction_id.as_deref(),
        || async {
            engine.delete_record(&ctx, form.id, id, None).await?;
            Ok(json!({"status": "success"}))
        },
    )
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
    let (b, raw): (BatchDeleteBody, _) = parse(&body)?;
    let ids = batch_ids(&b.data_ids)?;
    let form = b.entry.load(&engine, &caller.ctx).await?;
    let reader = Reader::load(&engine, &caller.ctx, &form).await?;
    let ctx = b.opts.ctx(&caller.ctx, &reader)?;
    let answer = once(
        &engine,
        &ctx,
        "batch_delete",
        &raw,
        b.opts.transaction_id.as_deref(),
        || async {
            let mut done = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                engine
                    .delete_record(&ctx, form.id, *id, None)
                    .await
                    .map_err(|e| item_error(i, &id.to_string(), done.len(), e.into()))?;
                done.push(id.to_string());
            }
            Ok(batch_answer(&done))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}
