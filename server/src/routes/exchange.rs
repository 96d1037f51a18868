//! Spreadsheet exchange of a form: upload a CSV/XLSX file for import (the
//! raw file as the body, up to 64 MiB), run it (dry run or queued job),
//! follow its progress, download its errors, and export any query as CSV
//! or XLSX, streamed.

use actix_web::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::exchange::{ExportRequest, Exported, MAX_FILE_BYTES, RunImportInput};
use engine::ids::{FormId, ImportId};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
const FILE_NAME: Param = Param {
    name: "file_name",
    location: "query",
    kind: "string",
    description: "The uploaded file's name, kept for the record.",
};

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $params:expr, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "exchange",
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
    ep!(Post "/api/v1/forms/{form_id}/imports", upload_import,
        "Upload a CSV (`text/csv`, UTF-8) or XLSX file as the raw body, up to 64 MiB; answers its columns, \
         row count and a guessed column mapping",
        &[FILE_NAME], Body::Text, 201, Body::Ref("Import"),
        &[NF, ErrorCode::BadRequest, ErrorCode::PayloadTooLarge, ErrorCode::Forbidden]),
    ep!(Post "/api/v1/forms/{form_id}/exports", export_records,
        "Export the records matching a filter and sort as CSV or XLSX (streamed; cells as displayed)",
        &[], Body::Ref("ExportRequest"), 200, Body::Text,
        &[NF, ErrorCode::BadRequest, ErrorCode::InvalidQuery, ErrorCode::ValidationFailed]),
    ep!(Get "/api/v1/forms/{form_id}/imports/{import_id}", get_import,
        "An import: status, progress, error count and the first errors", &[], Body::Empty, 200,
        Body::Ref("Import"), &[NF]),
    ep!(Post "/api/v1/forms/{form_id}/imports/{import_id}/run", run_import,
        "Run an import: a dry run answers the per-row errors (200); a real run is queued (202) and writes \
         all rows or none",
        &[], Body::Ref("RunImportInput"), 202, Body::Ref("Import"),
        &[NF, ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::Conflict, ErrorCode::Forbidden]),
    ep!(Get "/api/v1/forms/{form_id}/imports/{import_id}/errors", import_error_report,
        "Every row error of the last run as CSV (row, column, field, value, message)", &[], Body::Empty,
        200, Body::Text, &[NF]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// Component schemas of this resource.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let mapping = json!({"type": "array", "items": {"type": "object", "required": ["column"],
        "properties": {"column": {"type": "integer", "minimum": 0}, "header": {"type": "string"},
                       "field": {"type": ["string", "null"]}}}});
    m.insert(
        "Import".to_owned(),
        json!({"type": "object", "properties": {
            "id": id, "form_id": id, "format": {"enum": ["csv", "xlsx"]}, "file_name": {"type": "string"},
            "columns": {"type": "array", "items": {"type": "string"}}, "mapping": mapping,
            "targets": {"type": "array", "description": "The fields columns may be mapped to; `key` marks \
                those upsert and update may match on.", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "label": {"type": "string"}, "type": {"type": "string"},
                "key": {"type": "boolean"}}}},
            "rows": {"type": "integer"}, "mode": {"enum": ["insert", "upsert", "update"]},
            "key": {"type": ["string", "null"]},
            "status": {"enum": ["uploaded", "validated", "queued", "running", "succeeded", "failed"]},
            "progress": {"type": "object", "properties": {
                "phase": {"enum": ["idle", "reading", "validating", "writing", "done"]},
                "processed": {"type": "integer"}, "total": {"type": "integer"}}},
            "error_count": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "row": {"type": "integer", "description": "The row's number in the file; the header is 1."},
                "column": {"type": ["string", "null"]}, "field": {"type": ["string", "null"]},
                "value": {"type": ["string", "null"]}, "message": {"type": "string"}}}},
            "summary": {"type": "object", "properties": {"inserted": {"type": "integer"},
                "updated": {"type": "integer"}, "unchanged": {"type": "integer"}, "failed_rows": {"type": "integer"}}},
            "failure": {"type": "string"}, "job_id": id, "created_by": id,
            "created_at": time, "updated_at": time, "finished_at": time}}),
    );
    m.insert(
        "RunImportInput".to_owned(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "mapping": mapping, "mode": {"enum": ["insert", "upsert", "update"], "default": "insert"},
            "key": {"type": "string", "description": "The key field for upsert and update."},
            "dry_run": {"type": "boolean", "default": false}}}),
    );
    m.insert(
        "ExportRequest".to_owned(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "format": {"enum": ["csv", "xlsx"], "default": "csv"},
            "filter": {"type": "object", "description": "The query language's filter."},
            "sort": {"type": "array", "items": {"type": "object", "required": ["field"], "properties": {
                "field": {"type": "string"}, "dir": {"enum": ["asc", "desc"]}}}},
            "q": {"type": "string"},
            "fields": {"type": "array", "items": {"type": "string"}}}}),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadParams {
    #[serde(default)]
    file_name: Option<String>,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::payload_too_large(format!("the body is over the limit of {limit} bytes"))
}

/// The raw body, refused over `limit` (a declared length at once; a
/// streamed body is read past the limit only to let the client finish
/// sending, so it sees the 413).
pub(crate) async fn read_limited(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit.saturating_mul(4)) {
        return Err(too_large(limit));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut over = false;
    let mut seen: usize = 0;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("the request body could not be read: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            over = true;
            body.clear();
            if seen > limit.saturating_mul(4) {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if over { Err(too_large(limit)) } else { Ok(body) }
}

async fn upload_import(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    p: web::Query<UploadParams>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = read_limited(&req, payload, MAX_FILE_BYTES).await?;
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = p.into_inner().file_name.unwrap_or_default();
    let view = engine
        .upload_import(&caller, form.into_inner(), ct, &name, bytes)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

async fn get_import(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(FormId, ImportId)>,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.get_import(&caller, form, id).await?))
}

async fn run_import(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(FormId, ImportId)>,
    body: web::Json<RunImportInput>,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    let input = body.into_inner();
    let dry = input.dry_run;
    let view = engine.run_import(&caller, form, id, input).await?;
    Ok(if dry {
        HttpResponse::Ok()
    } else {
        HttpResponse::Accepted()
    }
    .json(view))
}

async fn import_error_report(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(FormId, ImportId)>,
) -> Result<HttpResponse, ApiError> {
    let (form, id) = path.into_inner();
    let csv = engine.import_error_report(&caller, form, id).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            CONTENT_DISPOSITION,
            super::disposition("attachment", &format!("import-{id}-errors.csv")),
        ))
        .body(csv))
}

async fn export_records(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    body: web::Json<ExportRequest>,
) -> Result<HttpResponse, ApiError> {
    let exported = engine
        .export_records(&caller, form.into_inner(), body.into_inner())
        .await?;
    let mime = exported.format.mime();
    let disposition = super::disposition("attachment", &exported.file_name);
    Ok(HttpResponse::Ok()
        .content_type(mime)
        .insert_header((CONTENT_DISPOSITION, disposition))
        .streaming(chunks(exported)))
}

/// The export's chunks as a body stream; a failure mid-way cuts the body
/// short (the status is already sent) and is logged.
fn chunks(
    exported: Exported,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>> + 'static {
    futures_util::stream::unfold(Some(exported), |state| async move {
        let mut e = state?;
        match e.next_chunk().await {
            Ok(Some(c)) => Some((Ok(web::Bytes::from(c)), Some(e))),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = %err, "export failed mid-stream");
                Some((
                    Err(actix_web::error::ErrorInternalServerError("export failed")),
                    None,
                ))
            }
        }
    })
}
