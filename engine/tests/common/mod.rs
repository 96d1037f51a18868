//! Test databases: a fresh, migrated SQLite in memory, and a fresh
//! PostgreSQL database per test (created through `FORMWORK_TEST_PG`, default
//! the local server, and dropped afterwards).

// Test set-up: a failure here should stop the test loudly.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

pub mod smtp_sink;

use engine::ctx::{Ctx, Role};
use engine::{Engine, EngineConfig};
use sea_orm::{ConnectionTrait, Database};

/// The base URL used to create per-test Postgres databases.
pub fn pg_base() -> String {
    std::env::var("FORMWORK_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// True when Postgres tests must run (CI sets this).
pub fn pg_required() -> bool {
    std::env::var("FORMWORK_REQUIRE_PG").is_ok_and(|v| v == "1")
}

/// A database for one test; drops the Postgres database on `cleanup`.
pub struct TestDb {
    pub engine: Engine,
    pg_name: Option<String>,
    sqlite_file: Option<std::path::PathBuf>,
}

/// The engine settings of the tests: webhooks may reach the receivers
/// the tests run on 127.0.0.1.
fn test_config() -> EngineConfig {
    EngineConfig {
        webhook_private: true,
        files: engine::config::FileConfig {
            data_dir: std::env::temp_dir().join(format!("fw-engine-files-{}", std::process::id())),
            ..engine::config::FileConfig::default()
        },
        ..EngineConfig::default()
    }
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let engine = Engine::open("sqlite::memory:", test_config())
            .await
            .expect("open sqlite");
        Self {
            engine,
            pg_name: None,
            sqlite_file: None,
        }
    }

    /// A fresh SQLite file, as the server runs it (a pool of connections in
    /// WAL mode, so readers go on while one transaction writes); removed on
    /// `cleanup`.
    pub async fn sqlite_file() -> Self {
        let path = std::env::temp_dir().join(format!("fw-test-{}.db", uuid::Uuid::new_v4().simple()));
        let engine = Engine::open(&format!("sqlite://{}?mode=rwc", path.display()), test_config())
            .await
            .expect("open sqlite file");
        Self {
            engine,
            pg_name: None,
            sqlite_file: Some(path),
        }
    }

    /// `None` when Postgres is unreachable and not required.
    pub async fn postgres() -> Option<Self> {
        let base = pg_base();
        let admin = match Database::connect(&base).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    !pg_required(),
                    "FORMWORK_REQUIRE_PG=1 but Postgres at {base} is unreachable: {e}"
                );
                eprintln!("skipping the Postgres variant: {e}");
                return None;
            }
        };
        let name = format!("fw_t_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let url = match base.rfind('/') {
            Some(i) => format!("{}/{name}", &base[..i]),
            None => panic!("bad FORMWORK_TEST_PG"),
        };
        let engine = Engine::open(&url, test_config()).await.expect("open postgres");
        Some(Self {
            engine,
            pg_name: Some(name),
            sqlite_file: None,
        })
    }

    /// Wraps an engine opened by the test itself (nothing to drop later).
    pub fn from_engine(engine: Engine) -> Self {
        Self {
            engine,
            pg_name: None,
            sqlite_file: None,
        }
    }

    pub async fn cleanup(self) {
        if let Some(path) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some(name) = self.pg_name {
            drop(self.engine);
            if let Ok(admin) = Database::connect(&pg_base()).await {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            }
        }
    }

    /// A new active member of `owner`'s tenant with `role` (rows written
    /// directly: tests of other modules need people, not the members API).
    #[allow(dead_code)]
    pub async fn member(&self, owner: &Ctx, role: Role) -> Ctx {
        use engine::store::entity::{membership, user};
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let id = engine::ids::UserId::new();
        let conn = self.engine.db().conn();
        user::ActiveModel {
            id: Set(id.to_string()),
            email: Set(format!("{id}@member.test")),
            display_name: Set(id.to_string()),
            password_hash: Set("x".to_owned()),
            created_at: Set(owner.now),
            deactivated_at: Set(None),
        }
        .insert(conn)
        .await
        .expect("user");
        membership::ActiveModel {
            tenant_id: Set(owner.tenant.to_string()),
            user_id: Set(id.to_string()),
            role: Set(role.as_str().to_owned()),
            created_at: Set(owner.now),
        }
        .insert(conn)
        .await
        .expect("membership");
        Ctx::new(owner.tenant, id, role).at(owner.now)
    }

    /// A fresh tenant with an owner; returns the owner's context.
    pub async fn tenant(&self, slug: &str) -> Ctx {
        let (tenant, user) = self
            .engine
            .create_tenant_with_owner(slug, slug, &format!("owner@{slug}.test"), "password123")
            .await
            .expect("tenant");
        Ctx::new(tenant, user, Role::Owner)
    }
}

impl TestDb {
    /// Acts on a workflow task (`approve`, `reject`, `submit`, ...) with an
    /// action input given as JSON.
    pub async fn act(
        &self,
        who: &Ctx,
        task: engine::ids::TaskId,
        action: &str,
        input: serde_json::Value,
    ) -> Result<engine::workflow::InstanceView, engine::workflow::WorkflowError> {
        let input: engine::workflow::ActionInput = serde_json::from_value(input).unwrap();
        self.engine.task_action(who, task, action, input).await
    }

    /// `who`'s only open task on `record`.
    pub async fn my_task(&self, who: &Ctx, record: engine::ids::RecordId) -> engine::ids::TaskId {
        let q = engine::workflow::TaskQuery {
            task_box: engine::workflow::TaskBox::Todo,
            ..engine::workflow::TaskQuery::default()
        };
        let tasks = self.engine.list_tasks(who, q).await.unwrap().tasks;
        let open: Vec<_> = tasks.into_iter().filter(|x| x.record_id == record).collect();
        assert_eq!(open.len(), 1, "open tasks on {record}: {open:?}");
        open[0].id
    }
}

/// Runs a test body on SQLite and, where reachable, on Postgres.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let db = common::TestDb::sqlite().await;
                ($body)(&db).await;
                db.cleanup().await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(db) = common::TestDb::postgres().await else {
                    return;
                };
                ($body)(&db).await;
                db.cleanup().await;
            }
        }
    };
}

/// Asserts an export brings back every shipped file but the sample data:
/// forms with the same field keys, scripts byte for byte.
pub fn assert_exports_shipped(exported: &engine::template::Package, shipped: &engine::template::Package) {
    let keys = |d: &serde_json::Value| -> Vec<String> {
        d["fields"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let files = exported.files();
    for (path, def) in shipped.files().iter().filter(|(p, _)| !p.starts_with("sample/")) {
        let out = files
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the export"));
        if path.starts_with("forms/") {
            assert_eq!(keys(out), keys(def), "{path}");
        }
        if path.ends_with(".rhai") {
            assert_eq!(out, def, "{path}");
        }
    }
}

/// Asserts two exports are the same app: the same files, file for file,
/// and the same content hash.
pub fn assert_same_package(first: &engine::template::Package, second: &engine::template::Package) {
    let diff: Vec<&String> = first
        .files()
        .iter()
        .filter(|(k, v)| second.files().get(*k) != Some(*v))
        .map(|(k, _)| k)
        .collect();
    assert!(diff.is_empty(), "files differ after the round trip: {diff:?}");
    assert_eq!(first.files().len(), second.files().len());
    assert_eq!(first.hash(), second.hash());
}
