//! `app/entry/data/get` and `app/entry/data/list`: records as 简道云 reads
//! them, through the engine's own get and query (same permissions, same
//! SQL).

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::ctx::Ctx;
use engine::error::ErrorCode;
use engine::ids::RecordId;
use engine::meta::form::LoadedForm;
use engine::query::model::QueryRequest;
use engine::record::RecordView;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::call::{FormBody, FormCall};
use super::filter::{V5Filter, compile};
use super::meta::{EntryRef, is_flow_form};
use super::value::{Directory, read_data};
use super::{V5Caller, V5Error, id_string, parse_id, v5};
use crate::routes::Endpoint;

/// The rows of this group.
pub const ENDPOINTS: &[Endpoint] = &[
    v5!("app/entry/data/get", v5_get_data, "简道云 v5: one record"),
    v5!(
        "app/entry/data/list",
        v5_list_data,
        "简道云 v5: filter and page records by `_id`"
    ),
];

/// Largest and default `limit` of `data/list`.
const MAX_LIMIT: u32 = 100;
const DEFAULT_LIMIT: u32 = 10;

/// The tenant's members, for member values, creator and updater.
pub(crate) async fn directory(engine: &Engine, ctx: &Ctx) -> Result<Directory, V5Error> {
    Ok(Directory::new(engine.list_members(ctx).await?))
}

/// 简道云's `flowState`: 0 running, 1 approved, 2 ended otherwise.
fn flow_state(status: &str) -> i64 {
    match status {
        "running" => 0,
        "approved" => 1,
        _ => 2,
    }
}

/// What a read needs besides the record: members and whether to look up
/// flow states.
pub(crate) struct Reader {
    pub dir: Directory,
    pub is_flow: bool,
}

impl Reader {
    /// Loads the directory and the form's flow flag.
    ///
    /// # Errors
    /// Engine errors.
    pub async fn load(engine: &Engine, ctx: &Ctx, form: &LoadedForm) -> Result<Self, V5Error> {
        Ok(Self {
            dir: directory(engine, ctx).await?,
            is_flow: is_flow_form(engine, ctx, form.id).await?,
        })
    }

    /// A record as v5 reads it: plain values and the system fields.
    ///
    /// # Errors
    /// Engine errors reading the flow.
    pub async fn record(
        &self,
        engine: &Engine,
        ctx: &Ctx,
        form: &LoadedForm,
        r: &RecordView,
        only: Option<&[String]>,
    ) -> Result<Value, V5Error> {
        let id = r.id.to_string();
        let mut out: Map<String, Value> = read_data(&form.def, &r.data, &self.dir, &id, only);
        out.insert("_id".to_owned(), Value::String(id));
        out.insert("appId".to_owned(), Value::String(form.app_id.to_string()));
        out.insert("entryId".to_owned(), Value::String(form.id.to_string()));
        out.insert("creator".to_owned(), self.dir.member(&r.created_by.to_string()));
        out.insert("updater".to_owned(), self.dir.member(&r.updated_by.to_string()));
        let iso = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        out.insert("createTime".to_owned(), Value::String(iso(r.created_at)));
        out.insert("updateTime".to_owned(), Value::String(iso(r.updated_at)));
        if self.is_flow {
            match engine.instance_view(ctx, form.id, r.id).await {
                Ok(inst) => {
                    out.insert("flowState".to_owned(), json!(flow_state(&inst.status)));
                }
                Err(e) if engine::error::HasCode::code(&e) == ErrorCode::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Value::Object(out))
    }
}

#[derive(Deserialize)]
struct GetBody {
    #[serde(flatten)]
    entry: EntryRef,
    #[serde(deserialize_with = "id_string")]
    data_id: String,
}

impl FormBody for GetBody {
    fn entry(&self) -> &EntryRef {
        &self.entry
    }
}

async fn v5_get_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<GetBody> = FormCall::load(&engine, caller, &body).await?;
    let id: RecordId = parse_id("record", &c.body.data_id)?;
    let record = engine.get_record(&c.ctx, c.form.id, id).await?;
    let data = c.reader.record(&engine, &c.ctx, &c.form, &record, None).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(flatten)]
    entry: EntryRef,
    /// The last `_id` of the previous page.
    #[serde(default)]
    data_id: Option<String>,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    filter: Option<V5Filter>,
}

impl FormBody for ListBody {
    fn entry(&self) -> &EntryRef {
        &self.entry
    }
}

async fn v5_list_data(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<ListBody> = FormCall::load(&engine, caller, &body).await?;
    let (b, ctx, form, reader) = (&c.body, &c.ctx, &c.form, &c.reader);
    let limit = b.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(V5Error::bad_request(format!("`limit` must be 1 to {MAX_LIMIT}")));
    }
    let only: Option<Vec<String>> = match &b.fields {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .filter(|n| {
                    !matches!(
                        n.as_str(),
                        "_id"
                            | "appId"
                            | "entryId"
                            | "creator"
                            | "updater"
                            | "createTime"
                            | "updateTime"
                            | "flowState"
                    )
                })
                .map(|n| {
                    form.def.field_by_name(n).map(|f| f.key.clone()).ok_or_else(|| {
                        V5Error::new(
                            ErrorCode::InvalidQuery,
                            format!("fields: `{n}` is not a field of this form"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let mut all = Vec::new();
    if let Some(f) = &b.filter {
        all.push(compile(&form.def, f, &reader.dir)?);
    }
    if let Some(after) = b.data_id.as_deref().filter(|s| !s.is_empty()) {
        all.push(json!({"field": "_id", "op": "gt", "value": after}));
    }
    let req = QueryRequest::from_json(&json!({
        "filter": {"and": all},
        "sort": [{"field": "_id", "dir": "asc"}],
        "limit": limit,
    }))?;
    let page = engine.query_records(ctx, form.id, req, false).await?;
    let mut data = Vec::with_capacity(page.records.len());
    for r in &page.records {
        data.push(reader.record(&engine, ctx, form, r, only.as_deref()).await?);
    }
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}
