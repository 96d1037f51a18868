//! `build(state)`: the only place routes and middleware are assembled, used
//! by `main` and by tests. Extractor limits and error handlers are set here
//! so malformed input answers the same error body as every other failure.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{App, web};
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;

use crate::error;
use crate::limit::Limits;
use crate::metrics::{self, Metrics};
use crate::request_id;
use crate::routes;
use crate::scheduler::Scheduler;

/// What every worker shares: the engine, the metrics and the body limit.
#[derive(Clone)]
pub struct AppState {
    /// The engine (an `Arc` inside).
    pub engine: Engine,
    /// Request metrics, shared by every worker.
    pub metrics: web::Data<Metrics>,
    /// Largest accepted body in bytes.
    pub max_body: usize,
    /// The process's scheduler (clock override endpoint).
    pub scheduler: web::Data<Scheduler>,
    /// The per-token rate limit of `/api/v5`, shared by every worker.
    pub v5_limiter: web::Data<routes::v5::RateLimiter>,
    /// Per-client rate limits, shared by the workers.
    pub limits: web::Data<Limits>,
}

impl AppState {
    /// State with fresh metrics and a scheduler that refuses clock
    /// overrides.
    #[must_use]
    pub fn new(engine: Engine, max_body: usize) -> Self {
        let scheduler = Arc::new(Scheduler::new(engine.clone(), false, Duration::from_secs(86_400)));
        Self::with_scheduler(engine, max_body, scheduler)
    }

    /// State sharing `scheduler` with the background loop.
    #[must_use]
    pub fn with_scheduler(engine: Engine, max_body: usize, scheduler: Arc<Scheduler>) -> Self {
        Self {
            engine,
            metrics: web::Data::new(Metrics::default()),
            max_body,
            scheduler: web::Data::from(scheduler),
            v5_limiter: web::Data::new(routes::v5::RateLimiter::new(routes::v5::DEFAULT_RATE_LIMIT)),
            limits: web::Data::new(Limits::default()),
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
        .app_data(state.scheduler)
        .app_data(state.v5_limiter)
        .app_data(state.limits)
        .app_data(
            web::JsonConfig::default()
                .limit(state.max_body)
                .error_handler(error::json_error),
        )
        .app_data(web::PayloadConfig::default().limit(state.max_body))
        .app_data(web::QueryConfig::default().error_handler(error::query_error))
        .app_data(web::PathConfig::default().error_handler(error::path_error))
        .configure(routes::configure)
        .configure(routes::v5::configure)
        .configure(crate::ui::configure)
        .default_service(web::to(error::no_route))
        .wrap(
            DefaultHeaders::new()
                .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .add((header::REFERRER_POLICY, "same-origin")),
        )
        .wrap(from_fn(metrics::middleware))
        .wrap(from_fn(request_id::middleware))
}

#[cfg(test)]
mod tests {
    use actix_web::http::{Method, StatusCode};
    use actix_web::test;
    use engine::{Engine, EngineConfig};

    use super::{AppState, build};
    use crate::routes::{self, Verb};

    /// Every row of the route table is reachable: the app answers it with
    /// something other than the "no such path" 404 or a 405.
    #[actix_web::test]
    async fn every_table_row_is_registered() {
        let engine = Engine::open("sqlite::memory:", EngineConfig::default())
            .await
            .expect("engine");
        let app = test::init_service(build(AppState::new(engine, 1024 * 1024))).await;
        let id = "0190f1a2-0000-7000-8000-000000000000";
        for e in routes::all() {
            let path = e
                .path
                .replace("{app_id}", id)
                .replace("{form_id}", id)
                .replace("{id}", id)
                .replace("{tag}", "t");
            let method = match e.verb {
                Verb::Get => Method::GET,
                Verb::Post => Method::POST,
                Verb::Put => Method::PUT,
                Verb::Patch => Method::PATCH,
                Verb::Delete => Method::DELETE,
            };
            let req = test::TestRequest::default()
                .method(method)
                .uri(&path)
                .to_request();
            let res = test::call_service(&app, req).await;
            assert_ne!(
                res.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{} {}",
                e.verb.as_lower(),
                e.path
            );
            let bytes = test::read_body(res).await;
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("no such path"),
                "{} {} is not routed",
                e.verb.as_lower(),
                e.path
            );
        }
        let res = test::call_service(&app, test::TestRequest::get().uri("/nope").to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = test::call_service(&app, test::TestRequest::delete().uri("/healthz").to_request()).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
