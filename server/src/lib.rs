//! Formwork's HTTP server and CLI: an adapter over [`engine`]. Handlers only
//! extract, call the engine and map the answer; errors become HTTP in
//! [`error`] only. `main.rs` and the end-to-end tests use this library.

pub mod config;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod request_id;
