//! Group-by aggregates over a form's records: `/api/v1/forms/{form_id}/aggregate`.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::FormId;
use engine::query::model::AggregateRequest;

use super::{Body, Endpoint, Verb};
use crate::error::ApiError;
use crate::extract::auth::Caller;

/// The rows of this resource.
pub const ENDPOINTS: &[Endpoint] = &[Endpoint {
    verb: Verb::Post,
    path: "/api/v1/forms/{form_id}/aggregate",
    operation_id: "aggregate_records",
    tag: "records",
    summary: "Group records by fields or date buckets with count/sum/avg/min/max",
    is_authenticated: true,
    params: &[],
    request: Body::Ref("AggregateRequest"),
    status: 200,
    response: Body::Ref("AggregateResult"),
    errors: &[ErrorCode::NotFound, ErrorCode::InvalidQuery],
    handler: || web::route().to(aggregate_records),
}];

/// Registers this resource.
pub fn configure(cfg: &mut web::ServiceConfig) {
    super::register(cfg, ENDPOINTS);
}

async fn aggregate_records(
    engine: web::Data<Engine>,
    caller: Caller,
    form: web::Path<FormId>,
    body: web::Json<AggregateRequest>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        engine
            .aggregate_records(&caller, form.into_inner(), body.into_inner())
            .await?,
    ))
}
