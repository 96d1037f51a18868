//! End-to-end tests: the real `formwork` binary over HTTP. Every test runs
//! twice, `<name>_sqlite` and `<name>_postgres`; the PostgreSQL variant
//! skips with a note when `FORMWORK_TEST_PG` is unreachable, unless
//! `FORMWORK_REQUIRE_PG=1`, when it fails instead.

// Test code: a failed unwrap or index is a failed test. Helpers outside
// `#[test]` functions are not covered by clippy.toml's in-tests allowances.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod automation;
mod bad_input;
mod browser;
mod dashboards;
mod exchange;
mod files;
mod hardening;
mod harness;
mod isolation;
mod lifecycle;
mod members;
mod permissions;
mod public_links;
mod templates;
mod v5;
mod v5_jdy;
mod walkthrough;
mod workflow;

/// `e2e!(name, |srv| async move { ... })` defines `name_sqlite` and
/// `name_postgres`, each with its own server and database.
#[macro_export]
macro_rules! e2e {
    ($name:ident, $opts:expr, $body:expr) => {
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(backend: $crate::harness::Backend) {
                let Some(srv) = $crate::harness::Server::start(backend, $opts).await else {
                    return;
                };
                let f = $body;
                f(srv).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn e2e_sqlite() {
                run($crate::harness::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn e2e_postgres() {
                run($crate::harness::Backend::Postgres).await;
            }
        }
    };
    ($name:ident, $body:expr) => {
        $crate::e2e!($name, $crate::harness::Opts::default(), $body);
    };
}
