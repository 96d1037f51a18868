//! Files of attachment and image fields. `POST /api/v1/files` takes one
//! `multipart/form-data` part named `file` and streams it to disk (the
//! per-file limit and the tenant quota answer 413, the type is sniffed from
//! the content); a record then names the file's id in a field. Metadata and
//! content are served only to the uploader of a file no record holds yet,
//! and otherwise to whoever may see the record field that holds it.

use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG,
    X_CONTENT_TYPE_OPTIONS,
};
use actix_web::{HttpRequest, HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::files::sniff::is_image;
use engine::ids::FileId;
use futures_util::StreamExt as _;

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
/// Multipart framing allowed on top of the file's own bytes before a
/// declared `Content-Length` alone refuses the upload.
const FRAMING_SLACK: u64 = 64 * 1024;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "files",
            summary: $summary,
            is_authenticated: true,
            params: &[],
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
    ep!(Post "/api/v1/files", upload_file,
        "Upload one file (multipart part `file`) for an attachment or image field; answers its id, \
         sniffed type, size and digest. Unclaimed uploads are removed after a day.",
        Body::Multipart, 201, Body::Ref("File"),
        &[ErrorCode::BadRequest, ErrorCode::Forbidden, ErrorCode::InsufficientScope,
          ErrorCode::PayloadTooLarge, ErrorCode::QuotaExceeded]),
    ep!(Get "/api/v1/files/{file_id}", get_file,
        "A file's name, size, type and the record field holding it",
        Body::Empty, 200, Body::Ref("File"), &[NF]),
    ep!(Get "/api/v1/files/{file_id}/content", get_file_content,
        "A file's bytes: images inline, everything else as a download",
        Body::Empty, 200, Body::Binary, &[NF]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut serde_json::Map<String, serde_json::Value>) {
    let id = serde_json::json!({"type": "string", "format": "uuid"});
    m.insert(
        "File".to_owned(),
        serde_json::json!({"type": "object",
            "required": ["id", "name", "size", "mime", "sha256", "created_by", "created_at"],
            "properties": {"id": id, "name": {"type": "string"},
                "size": {"type": "integer", "minimum": 0},
                "mime": {"type": "string", "description": "Sniffed from the content, not the client's claim."},
                "sha256": {"type": "string"}, "created_by": id,
                "created_at": {"type": "string", "format": "date-time"},
                "form_id": id, "record_id": id,
                "field_key": {"type": "string", "description": "The field holding it, once a record claims it."}}}),
    );
}

async fn upload_file(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| n.saturating_sub(FRAMING_SLACK));
    let is_multipart = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::bad_request(
            "send the file as multipart/form-data with one part named `file`",
        ));
    }
    let mut upload = engine.begin_upload(&caller, declared).await?;
    let mut parts = actix_multipart::Multipart::new(req.headers(), payload);
    let mut name = None;
    while let Some(part) = parts.next().await {
        let mut part =
            part.map_err(|e| ApiError::bad_request(format!("the multipart body is malformed: {e}")))?;
        let file_name = part
            .content_disposition()
            .filter(|_| part.name() == Some("file"))
            .map(|cd| cd.get_filename().unwrap_or("file").to_owned());
        let Some(file_name) = file_name else {
            // Other parts are read and dropped.
            while let Some(chunk) = part.next().await {
                chunk.map_err(|e| ApiError::bad_request(format!("the multipart body is malformed: {e}")))?;
            }
            continue;
        };
        if name.is_some() {
            return Err(ApiError::bad_request("send one part named `file` per request"));
        }
        while let Some(chunk) = part.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("the multipart body is malformed: {e}")))?;
            upload.write(&chunk).await?;
        }
        name = Some(file_name);
    }
    let Some(name) = name else {
        return Err(ApiError::bad_request("the body has no part named `file`"));
    };
    let view = upload.finish(&engine, &name).await?;
    Ok(HttpResponse::Created().json(view))
}

async fn get_file(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FileId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.file_meta(&caller, id.into_inner()).await?))
}

async fn get_file_content(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<FileId>,
) -> Result<HttpResponse, ApiError> {
    let (view, file) = engine.open_file(&caller, id.into_inner()).await?;
    // Only raster images are shown inline; everything else downloads, and
    // a sandbox policy keeps even a mislabelled file from running script.
    let disposition = if is_image(&view.mime) {
        "inline"
    } else {
        "attachment"
    };
    // Markup a browser would run is sent as plain bytes.
    let served = if matches!(view.mime.as_str(), "text/html" | "image/svg+xml") {
        "application/octet-stream".to_owned()
    } else {
        view.mime.clone()
    };
    let stream = file_chunks(file);
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, served))
        .insert_header((CONTENT_LENGTH, view.size))
        .insert_header((CONTENT_DISPOSITION, super::disposition(disposition, &view.name)))
        .insert_header((X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"))
        .insert_header((CACHE_CONTROL, "private, max-age=300"))
        .insert_header((ETAG, format!("\"{}\"", view.sha256)))
        .streaming(stream))
}

/// The file's bytes as a stream of chunks.
fn file_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> {
    use tokio::io::AsyncReadExt as _;
    futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(web::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
