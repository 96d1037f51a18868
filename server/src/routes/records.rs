//! Records of a form: create (with `Idempotency-Key`), batch create, list and
//! query, get/patch (`ETag`/`If-Match`)/delete, recycle bin (restore,
//! `DELETE ...?purge=true` to purge for good), history and record tags.

use actix_web::http::header::ETAG;
use actix_web::{HttpResponse, HttpResponseBuilder, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::{FormId, RecordId};
use engine::query::model::QueryRequest;
use engine::record::{RecordInput, RecordView};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Body, Endpoint, IDEMPOTENCY_KEY, IF_MATCH, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;
use crate::extract::idempotency::IdempotencyKey;
use crate::extract::if_match::IfMatch;

const NF: ErrorCode = ErrorCode::NotFound;
const WRITE_ERRORS: &[ErrorCode] = &[
    NF,
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::DuplicateValue,
    ErrorCode::PayloadTooLarge,
    ErrorCode::ScriptRuntime,
    ErrorCode::ScriptLimit,
];
const DELETED: Param = Param {
    name: "deleted",
    location: "query",
    kind: "boolean",
    description: "List the recycle bin instead.",
};
const LIST_PARAMS: &[Param] = &[
    Param {
        name: "limit",
        location: "query",
        kind: "integer",
        description: "Page size, 1 to 1000 (default 50).",
    },
    Param {
        name: "cursor",
        location: "query",
        kind: "string",
        description: "`next_cursor` of the previous page.",
    },
    Param {
        name: "q",
        location: "query",
        kind: "string",
        description: "Text search over text fields.",
    },
    Param {
        name: "total",
        location: "query",
        kind: "boolean",
        description: "Also count all matches.",
    },
    Param {
        name: "expand",
        location: "query",
        kind: "string",
        description: "Comma-separated relation fields whose targets' titles load with the page.",
    },
    DELETED,
];
const PURGE: Param = Param {
    name: "purge",
    location: "query",
    kind: "boolean",
    description: "Delete a record in the recycle bin for good (owner/admin).",
};

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $params:expr, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "records",
            summary: $summary,
            is_authenticated: true,
            params: $params,
            request: $req,
            status: $status,
            response: $resp,
            errors: $errors,
            handler: || web::route().to($op),
        }
    };
}

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    ep!(Get "/api/v1/forms/{form_id}/records", list_records, "List records (newest first), paged",
        LIST_PARAMS, Body::Empty, 200, Body::Ref("RecordPage"), &[NF, ErrorCode::BadRequest, ErrorCode::InvalidQuery]),
    ep!(Post "/api/v1/forms/{form_id}/records", create_record, "Create a record; answers `ETag`",
        &[IDEMPOTENCY_KEY], Body::Ref("RecordInput"), 201, Body::Ref("Record"),
        &[NF, ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::DuplicateValue,
          ErrorCode::PayloadTooLarge, ErrorCode::IdempotencyKeyReused, ErrorCode::ScriptRuntime]),
    ep!(Post "/api/v1/forms/{form_id}/records/batch", batch_create_records,
        "Create up to 1,000 records in one transaction, all or nothing", &[], Body::Ref("BatchInput"), 201,
        Body::Ref("BatchOutput"), WRITE_ERRORS),
    ep!(Post "/api/v1/forms/{form_id}/records/query", query_records,
        "Filter, sort, search and page records", &[DELETED], Body::Ref("QueryRequest"), 200,
        Body::Ref("RecordPage"), &[NF, ErrorCode::BadRequest, ErrorCode::InvalidQuery]),
    ep!(Get "/api/v1/forms/{form_id}/records/{id}", get_record, "Get a record; answers `ETag`",
        &[], Body::Empty, 200, Body::Ref("Record"), &[NF]),
    ep!(Patch "/api/v1/forms/{form_id}/records/{id}", update_record,
        "Change some fields; `If-Match` or `version` guards against lost updates", &[IF_MATCH],
        Body::Ref("RecordPatch"), 200, Body::Ref("Record"),
        &[NF, ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::DuplicateValue,
          ErrorCode::VersionMismatch, ErrorCode::PayloadTooLarge]),
    ep!(Delete "/api/v1/forms/{form_id}/records/{id}", delete_record,
        "Move a record to the recycle bin, or purge it with `?purge=true`", &[IF_MATCH, PURGE], Body::Empty,
        204, Body::Empty, &[NF, ErrorCode::Forbidden, ErrorCode::Conflict, ErrorCode::VersionMismatch]),
    ep!(Get "/api/v1/forms/{form_id}/records/{id}/history", record_history,
        "Every change: who, when, which fields from what to what", &[], Body::Empty, 200,
        Body::Ref("HistoryList"), &[NF]),
    ep!(Post "/api/v1/forms/{form_id}/records/{id}/restore", restore_record,
        "Bring a record back from the recycle bin", &[], Body::Empty, 200, Body::Ref("Record"),
        &[NF, ErrorCode::DuplicateValue, ErrorCode::Conflict]),
    ep!(Post "/api/v1/forms/{form_id}/records/{id}/tags/{tag}", add_record_tag,
        "Attach a tag (by name) to a record", &[], Body::Empty, 200, Body::Ref("Record"), &[NF]),
    ep!(Delete "/api/v1/forms/{form_id}/records/{id}/tags/{tag}", remove_record_tag,
        "Detach a tag from a record", &[], Body::Empty, 200, Body::Ref("Record"), &[NF]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

fn record(mut builder: HttpResponseBuilder, record: &RecordView) -> HttpResponse {
    builder
        .insert_header((ETAG, format!("\"{}\"", record.version)))
        .json(record)
}

/// `GET .../records` query string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
    q: Option<String>,
    #[serde(default)]
    total: bool,
    #[serde(default)]
    deleted: bool,
    /// Comma-separated relation field keys.
    expand: Option<String>,
}

/// `?deleted=` on query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletedParam {
    #[serde(default)]
    deleted: bool,
}

/// `?purge=` on delete.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeParam {
    #[serde(default)]
    purge: bool,
}

/// Batch create body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchInput {
    records: Vec<RecordInput>,
}

/// PATCH body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordPatch {
    data: Map<String, Value>,
    #[serde(default)]
    version: Option<i32>,
}

type RecordPath = web::Path<(FormId, RecordId)>;

async fn list_records(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    p: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = p.into_inner();
    let req = QueryRequest {
        limit: p.limit,
        cursor: p.cursor,
        q: p.q,
        total: p.total,
        expand: p
            .expand
            .map(|e| e.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        ..QueryRequest::default()
    };
    Ok(HttpResponse::Ok().json(
        engine
            .query_records(&caller, form.into_inner(), req, p.deleted)
            .await?,
    ))
}

async fn create_record(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    key: IdempotencyKey,
    body: web::Json<RecordInput>,
) -> Result<HttpResponse, ApiError> {
    let created = engine
        .create_record(&caller, form.into_inner(), body.into_inner(), key.0)
        .await?;
    Ok(record(HttpResponse::Created(), &created))
}

async fn batch_create_records(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    body: web::Json<BatchInput>,
) -> Result<HttpResponse, ApiError> {
    let records = engine
        .batch_create_records(&caller, form.into_inner(), body.into_inner().records)
        .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "records": records })))
}

async fn query_records(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    p: web::Query<DeletedParam>,
    body: web::Json<QueryRequest>,
) -> Result<HttpResponse, ApiError> {
    let page = engine
        .query_records(&caller, form.into_inner(), body.into_inner(), p.deleted)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get_record(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    Ok(record(
        HttpResponse::Ok(),
        &engine.get_record(&caller, form, id).await?,
    ))
}

async fn update_record(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    if_match: IfMatch,
    body: web::Json<RecordPatch>,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    let RecordPatch { data, version } = body.into_inner();
    let updated = engine
        .update_record(&caller, form, id, data, if_match.0.or(version))
        .await?;
    Ok(record(HttpResponse::Ok(), &updated))
}

async fn delete_record(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    if_match: IfMatch,
    p: web::Query<PurgeParam>,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    if p.purge {
        engine.purge_record(&caller, form, id).await?;
    } else {
        engine.delete_record(&caller, form, id, if_match.0).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn record_history(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.record_history(&caller, form, id).await?))
}

async fn restore_record(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    Ok(record(
        HttpResponse::Ok(),
        &engine.restore_record(&caller, form, id).await?,
    ))
}

async fn add_record_tag(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(FormId, RecordId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (form, id, tag) = path.into_inner();
    Ok(record(
        HttpResponse::Ok(),
        &engine.add_record_tag(&caller, form, id, &tag).await?,
    ))
}

async fn remove_record_tag(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(FormId, RecordId, String)>,
) -> Result<HttpResponse, ApiError> {
    let (form, id, tag) = path.into_inner();
    Ok(record(
        HttpResponse::Ok(),
        &engine.remove_record_tag(&caller, form, id, &tag).await?,
    ))
}
