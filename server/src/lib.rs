//! Formwork's HTTP server and CLI: an adapter over [`engine`]. Handlers only
//! extract, call the engine and map the answer; errors become HTTP in
//! [`error`] only; routes and middleware are assembled in [`app::build`].
//! `main.rs` and the end-to-end tests use this library.

pub mod app;
pub mod cli;
pub mod config;
pub mod error;
pub mod extract;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod scheduler;
pub mod ui;
