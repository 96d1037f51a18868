//! `build(state)`: the only place routes and middleware are assembled, used
//! by `main` and by tests. Extractor limits and error handlers are set here
//! so malformed input answers the same error body as every other failure.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, web};
use engine::Engine;

use crate::error;
use crate::metrics::{self, Metrics};
use crate::request_id;
use crate::routes;

/// What every worker shares: the engine, the metrics and the body limit.
#[derive(Clone)]
pub struct AppState {
    /// The engine (an `Arc` inside).
    pub engine: Engine,
    /// Request metrics, shared by every worker.
    pub metrics: web::Data<Metrics>,
    /// Largest accepted body in bytes.
    pub max_body: usize,
}

impl AppState {
    /// State with fresh metrics.
    #[must_use]
    pub fn new(engine: Engine, max_body: usize) -> Self {
        Self {
            engine,
            metrics: web::Data::new(Metrics::default()),
            max_body,
        }
    }
}

/// The application: routes, limits, error handlers, metrics, request ids.
pub fn build(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state.engine))
        .app_data(state.metrics)
        .app_data(
            web::JsonConfig::default()
                .limit(state.max_body)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(state.max_body))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .configure(routes::configure)
        .default_service(web::to(error::no_route))
        .wrap(from_fn(metrics::middleware))
        .wrap(from_fn(request_id::middleware))
}
