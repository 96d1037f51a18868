//! App packages: the builtin template gallery, queued installs,
//! `/api/v1/apps/{app_id}/export` and `/api/v1/apps/import`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::{AppId, JobId};
use engine::template::InstallOptions;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Param, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $summary:literal, $params:expr, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: "templates",
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

const EXPORT_PARAMS: &[Param] = &[Param {
    name: "records",
    location: "query",
    kind: "boolean",
    description: "`true` to carry the app's records as the package's sample data (at most 100,000).",
}];

const IMPORT_PARAMS: &[Param] = &[
    Param {
        name: "name",
        location: "query",
        kind: "string",
        description: "The new app's name (the package's when absent).",
    },
    Param {
        name: "sample_data",
        location: "query",
        kind: "boolean",
        description: "`true` to load the package's sample records.",
    },
];

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[
    ep!(Get "/api/v1/templates", list_templates,
        "The builtin templates: key, name, version, description, content hash and what each holds",
        &[], Body::Empty, 200, Body::Ref("TemplateList"), &[]),
    ep!(Post "/api/v1/templates/{key}/install", install_template,
        "Install a builtin template as a new app (queued: poll the job; its app id is the job id)",
        &[], Body::Ref("InstallInput"), 202, Body::Ref("InstallStatus"),
        &[NF, ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::Forbidden]),
    ep!(Get "/api/v1/jobs/{job_id}", get_job,
        "A queued install: pending, running, succeeded (with the new app) or dead (with the error)",
        &[], Body::Empty, 200, Body::Ref("InstallStatus"), &[NF, ErrorCode::Forbidden]),
    ep!(Get "/api/v1/apps/{app_id}/export", export_app,
        "The app as a package (the builtin template format): forms, rules with their scripts, flows, \
         shared views, dashboards and tags, by key; with the content hash and what was left out",
        EXPORT_PARAMS, Body::Empty, 200, Body::Ref("Package"), &[NF, ErrorCode::Forbidden, ErrorCode::PayloadTooLarge]),
    ep!(Get "/api/v1/apps/{app_id}/upgrade", plan_upgrade,
        "What upgrading an app to the newer builtin version of its template would change: every \
         difference with its outcome (apply, same, conflict, kept) and the conflicts",
        &[], Body::Empty, 200, Body::Ref("UpgradePlan"), &[NF, ErrorCode::Conflict, ErrorCode::Forbidden]),
    ep!(Post "/api/v1/apps/{app_id}/upgrade", apply_upgrade,
        "Apply the template's changes the tenant did not also make; on conflicts the tenant's version \
         is kept (and listed)",
        &[], Body::Empty, 200, Body::Ref("UpgradePlan"),
        &[NF, ErrorCode::Conflict, ErrorCode::ValidationFailed, ErrorCode::Forbidden]),
    ep!(Post "/api/v1/apps/import", import_app,
        "Install a package (an export, up to 64 MiB) as a new app with fresh ids; all or nothing",
        IMPORT_PARAMS, Body::Ref("Package"), 201, Body::Ref("Installed"),
        &[ErrorCode::BadRequest, ErrorCode::ValidationFailed, ErrorCode::ScriptCompile, ErrorCode::Forbidden,
          ErrorCode::PayloadTooLarge]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// OpenAPI components of this resource.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let ids = json!({"type": "object", "additionalProperties": {"type": "string", "format": "uuid"}});
    m.insert(
        "Template".to_owned(),
        json!({"type": "object", "properties": {
            "key": {"type": "string"}, "name": {"type": "string"}, "version": {"type": "string"},
            "description": {"type": "string"}, "locales": {"type": "array", "items": {"type": "string"}},
            "hash": {"type": "string"}, "sample_data": {"type": "boolean"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}}}}),
    );
    m.insert(
        "TemplateList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Template"}}),
    );
    m.insert(
        "InstallInput".to_owned(),
        json!({"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "sample_data": {"type": "boolean", "default": false}}}),
    );
    m.insert(
        "InstallStatus".to_owned(),
        json!({"type": "object", "properties": {
            "job_id": id, "status": {"enum": ["pending", "running", "succeeded", "failed", "dead"]},
            "app_id": {"type": ["string", "null"], "format": "uuid"},
            "result": {"type": ["object", "null"]},
            "error": {"type": ["object", "null"]}}}),
    );
    m.insert(
        "Package".to_owned(),
        json!({"type": "object", "description": "schemas/template.schema.json",
            "required": ["files"], "properties": {
            "format": {"const": engine::template::FORMAT}, "key": {"type": "string"},
            "version": {"type": "string"}, "hash": {"type": "string"},
            "files": {"type": "object"},
            "warnings": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}}}}}}),
    );
    let change = json!({"type": "object", "properties": {
        "file": {"type": "string"}, "field": {"type": "string"},
        "change": {"enum": ["added", "changed", "removed"]},
        "outcome": {"enum": ["apply", "same", "conflict", "kept"]}}});
    m.insert(
        "UpgradePlan".to_owned(),
        json!({"type": "object", "properties": {
            "app_id": id, "template": {"type": "string"}, "from_version": {"type": "string"},
            "to_version": {"type": "string"}, "up_to_date": {"type": "boolean"},
            "applied": {"type": "boolean"},
            "changes": {"type": "array", "items": change}, "conflicts": {"type": "array", "items": change}}}),
    );
    m.insert(
        "Installed".to_owned(),
        json!({"type": "object", "properties": {
            "app": id, "forms": ids, "rules": ids, "workflows": ids, "views": ids, "dashboards": ids,
            "tags": ids, "records": {"type": "integer"}}}),
    );
}

/// Signed-in callers only; the gallery is the same for every tenant.
async fn list_templates(_caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine::template::catalogue()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallInput {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    sample_data: bool,
}

async fn install_template(
    engine: web::Data<Engine>,
    caller: Caller,
    key: web::Path<String>,
    body: Option<web::Json<InstallInput>>,
) -> Result<HttpResponse, ApiError> {
    let input = body.map_or(
        InstallInput {
            name: None,
            sample_data: false,
        },
        web::Json::into_inner,
    );
    let job = engine
        .queue_template_install(&caller, &key, input.name, input.sample_data)
        .await?;
    let status = engine.template_install_status(&caller, job).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/jobs/{job}")))
        .json(status))
}

async fn get_job(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<JobId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.template_install_status(&caller, id.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    #[serde(default)]
    records: bool,
}

async fn export_app(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<AppId>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let exported = engine
        .export_app_with(&caller, id.into_inner(), query.records)
        .await?;
    let (key, version) = exported.package.key_version();
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{key}-{version}.formwork.json\""),
        ))
        .json(exported.to_bundle()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    sample_data: bool,
}

/// Largest package an import takes (one with records as sample data is
/// larger than ordinary request bodies).
const MAX_PACKAGE_BYTES: usize = 64 * 1024 * 1024;

async fn import_app(
    engine: web::Data<Engine>,
    caller: Caller,
    query: web::Query<ImportQuery>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = super::exchange::read_limited(&req, payload, MAX_PACKAGE_BYTES).await?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not a JSON package: {e}")))?;
    let q = query.into_inner();
    let opts = InstallOptions {
        name: q.name,
        sample_data: q.sample_data,
        ..InstallOptions::default()
    };
    let done = engine.import_package(&caller, &body, &opts).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/apps/{}", done.app)))
        .json(done))
}

async fn plan_upgrade(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.plan_upgrade(&caller, id.into_inner(), None).await?))
}

async fn apply_upgrade(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(engine.apply_upgrade(&caller, id.into_inner(), None).await?))
}
