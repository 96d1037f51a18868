//! Dashboards and saved views: `/api/v1/apps/{app_id}/dashboards`,
//! `/api/v1/dashboards/{dashboard_id}` with its `data`, and
//! `/api/v1/forms/{form_id}/views`, `/api/v1/views/{view_id}`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::{AppId, DashboardId, FormId, ViewId};
use serde_json::{Map, Value, json};

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

const NF: ErrorCode = ErrorCode::NotFound;
const SAVE_ERRORS: &[ErrorCode] = &[
    NF,
    ErrorCode::BadRequest,
    ErrorCode::ValidationFailed,
    ErrorCode::Forbidden,
];

macro_rules! ep {
    ($verb:ident $path:literal, $op:ident, $tag:literal, $summary:literal, $req:expr, $status:literal, $resp:expr, $errors:expr) => {
        Endpoint {
            verb: Verb::$verb,
            path: $path,
            operation_id: stringify!($op),
            tag: $tag,
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
    ep!(Get "/api/v1/apps/{app_id}/dashboards", list_dashboards, "dashboards", "An app's dashboards",
        Body::Empty, 200, Body::Ref("DashboardList"), &[NF]),
    ep!(Post "/api/v1/apps/{app_id}/dashboards", create_dashboard, "dashboards",
        "Create a dashboard (schemas/dashboard.schema.json)", Body::Ref("DashboardInput"), 201,
        Body::Ref("Dashboard"), SAVE_ERRORS),
    ep!(Get "/api/v1/dashboards/{dashboard_id}", get_dashboard, "dashboards", "Get a dashboard",
        Body::Empty, 200, Body::Ref("Dashboard"), &[NF]),
    ep!(Put "/api/v1/dashboards/{dashboard_id}", update_dashboard, "dashboards", "Replace a dashboard",
        Body::Ref("DashboardInput"), 200, Body::Ref("Dashboard"), SAVE_ERRORS),
    ep!(Delete "/api/v1/dashboards/{dashboard_id}", delete_dashboard, "dashboards", "Delete a dashboard",
        Body::Empty, 204, Body::Empty, &[NF, ErrorCode::Forbidden]),
    ep!(Get "/api/v1/dashboards/{dashboard_id}/data", dashboard_data, "dashboards",
        "Every chart's series: counts, sums, ratios, NPS, funnel conversions", Body::Empty, 200,
        Body::Ref("DashboardData"), &[NF]),
    ep!(Get "/api/v1/forms/{form_id}/views", list_views, "views",
        "A form's saved views the caller sees: shared ones and their own", Body::Empty, 200,
        Body::Ref("ViewList"), &[NF]),
    ep!(Post "/api/v1/forms/{form_id}/views", create_view, "views",
        "Save a view (schemas/view.schema.json); `shared` needs an admin or owner", Body::Ref("ViewInput"), 201,
        Body::Ref("SavedView"), SAVE_ERRORS),
    ep!(Get "/api/v1/views/{view_id}", get_view, "views", "Get a saved view", Body::Empty, 200,
        Body::Ref("SavedView"), &[NF]),
    ep!(Put "/api/v1/views/{view_id}", update_view, "views", "Replace a saved view", Body::Ref("ViewInput"), 200,
        Body::Ref("SavedView"), SAVE_ERRORS),
    ep!(Delete "/api/v1/views/{view_id}", delete_view, "views", "Delete a saved view", Body::Empty, 204,
        Body::Empty, &[NF, ErrorCode::Forbidden]),
];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

/// This resource's OpenAPI component schemas.
pub fn components(m: &mut Map<String, Value>) {
    let id = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    m.insert(
        "DashboardInput".to_owned(),
        json!({"description": "See schemas/dashboard.schema.json: {name, charts: [{id, title, kind: number|bar|line|pie|funnel|table, form_id, filter, group_by: {field, bucket}, measure: {op: count|sum|avg|min|max|ratio|nps, field, numerator, denominator}, order, limit}]}",
               "type": "object", "required": ["name", "charts"]}),
    );
    m.insert(
        "Dashboard".to_owned(),
        json!({"type": "object", "properties": {"id": id, "app_id": id, "name": {"type": "string"},
            "version": {"type": "integer"}, "definition": {"type": "object"}, "created_by": id,
            "created_at": time, "updated_at": time}}),
    );
    m.insert(
        "DashboardList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Dashboard"}}),
    );
    m.insert(
        "DashboardData".to_owned(),
        json!({"type": "object", "properties": {"id": id, "name": {"type": "string"},
            "charts": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "string"}, "kind": {"type": "string"}, "title": {"type": "string"},
                "value": {}, "error": {"type": ["object", "null"]},
                "series": {"type": "array", "items": {"type": "object", "properties": {
                    "key": {}, "value": {}, "numerator": {}, "denominator": {},
                    "conversion": {"type": "number"}, "overall": {"type": "number"}}}}}}}}}),
    );
    m.insert(
        "ViewInput".to_owned(),
        json!({"description": "See schemas/view.schema.json: {name, shared, filter, sort, q, columns, page_size}",
               "type": "object", "required": ["name"]}),
    );
    m.insert(
        "SavedView".to_owned(),
        json!({"type": "object", "properties": {"id": id, "app_id": id, "form_id": id, "name": {"type": "string"},
            "shared": {"type": "boolean"}, "created_by": id, "definition": {"type": "object"},
            "query": {"type": "object", "description": "the body for POST /forms/{form_id}/records/query"},
            "created_at": time, "updated_at": time}}),
    );
    m.insert(
        "ViewList".to_owned(),
        json!({"type": "array", "items": {"$ref": "#/components/schemas/SavedView"}}),
    );
}

async fn list_dashboards(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.list_dashboards(&c, p.into_inner()).await?))
}

async fn create_dashboard(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<AppId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(e.create_dashboard(&c, p.into_inner(), body.into_inner()).await?))
}

async fn get_dashboard(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<DashboardId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.get_dashboard(&c, p.into_inner()).await?))
}

async fn update_dashboard(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<DashboardId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.update_dashboard(&c, p.into_inner(), body.into_inner()).await?))
}

async fn delete_dashboard(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<DashboardId>,
) -> Result<HttpResponse, ApiError> {
    e.delete_dashboard(&c, p.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn dashboard_data(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<DashboardId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.dashboard_data(&c, p.into_inner()).await?))
}

async fn list_views(e: web::Data<Engine>, c: Caller, p: web::Path<FormId>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.list_views(&c, p.into_inner()).await?))
}

async fn create_view(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<FormId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(e.create_view(&c, p.into_inner(), body.into_inner()).await?))
}

async fn get_view(e: web::Data<Engine>, c: Caller, p: web::Path<ViewId>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.get_view(&c, p.into_inner()).await?))
}

async fn update_view(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<ViewId>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(e.update_view(&c, p.into_inner(), body.into_inner()).await?))
}

async fn delete_view(
    e: web::Data<Engine>,
    c: Caller,
    p: web::Path<ViewId>,
) -> Result<HttpResponse, ApiError> {
    e.delete_view(&c, p.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
