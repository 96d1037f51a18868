//! Formwork's metadata engine: apps, forms, fields, records, queries, tags,
//! tenants and users. No HTTP here: the server, the CLI and jobs call the same
//! use cases, each a method of [`Engine`] taking a [`ctx::Ctx`] (tenant,
//! actor, now) and defined in the module of its concern.

pub mod audit;
pub mod auth;
pub mod automation;
pub mod config;
pub mod ctx;
pub mod dashboard;
pub mod error;
pub mod exchange;
pub mod files;
pub mod ids;
pub mod jobs;
pub mod meta;
pub mod notify;
pub mod query;
pub mod record;
pub mod sample;
pub mod script;
pub mod store;
pub mod template;
pub mod workflow;

use std::sync::Arc;

pub use config::EngineConfig;

use crate::automation::action::ActionKinds;
use crate::automation::trigger::TriggerKinds;
use crate::meta::compile::Validators;
use crate::meta::field_type::{FieldTypes, RegistryError};
use crate::meta::form::cache::FormCache;
use crate::record::group::CreateQueue;
use crate::script::Sandbox;
use crate::store::{Db, StoreError};

/// The engine facade: database, registries, caches and limits. Cheap to
/// clone; every clone shares the same pool and caches.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    types: FieldTypes,
    validators: Validators,
    sandbox: Sandbox,
    forms: FormCache,
    creates: CreateQueue,
    triggers: TriggerKinds,
    actions: ActionKinds,
    cfg: EngineConfig,
    /// The minute (Unix time / 60) of the last sweep of unheld files.
    files_swept: std::sync::atomic::AtomicI64,
}

/// Failure to start the engine.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be reached or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A registry is inconsistent (a bug).
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl error::HasCode for OpenError {
    fn code(&self) -> error::ErrorCode {
        match self {
            Self::Store(e) => e.code(),
            Self::Registry(e) => e.code(),
        }
    }
}

impl Engine {
    /// Connects without migrating (for `formwork migrate` and checks).
    ///
    /// # Errors
    /// `unavailable` when the database cannot be reached.
    pub async fn connect(database_url: &str, cfg: EngineConfig) -> Result<Self, OpenError> {
        let db = Db::connect(database_url).await?;
        let types = meta::field_type::builtin()?;
        let sandbox = Sandbox::new(cfg.script);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                types,
                validators: Validators::new(),
                sandbox,
                forms: FormCache::default(),
                creates: CreateQueue::default(),
                triggers: automation::trigger::builtin()?,
                actions: automation::action::builtin()?,
                cfg,
                files_swept: std::sync::atomic::AtomicI64::new(i64::MIN),
            }),
        })
    }

    /// Connects and applies pending migrations.
    ///
    /// # Errors
    /// `unavailable` when the database cannot be reached; `internal` when a
    /// migration fails.
    pub async fn open(database_url: &str, cfg: EngineConfig) -> Result<Self, OpenError> {
        let engine = Self::connect(database_url, cfg).await?;
        engine.migrate().await?;
        Ok(engine)
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    /// `internal` when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.db.migrate().await
    }

    /// Checks the database answers.
    ///
    /// # Errors
    /// `unavailable` when it does not.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.inner.db.ping().await
    }

    /// The database handle.
    #[must_use]
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The field type registry.
    #[must_use]
    pub fn field_types(&self) -> &FieldTypes {
        &self.inner.types
    }

    /// The compiled-validator cache.
    #[must_use]
    pub fn validators(&self) -> &Validators {
        &self.inner.validators
    }

    /// The script sandbox.
    #[must_use]
    pub fn sandbox(&self) -> &Sandbox {
        &self.inner.sandbox
    }

    /// Recently loaded forms.
    pub(crate) fn form_cache(&self) -> &FormCache {
        &self.inner.forms
    }

    /// Creates waiting for a group commit.
    pub(crate) fn create_queue(&self) -> &CreateQueue {
        &self.inner.creates
    }

    /// The trigger kind registry.
    #[must_use]
    pub fn triggers(&self) -> &TriggerKinds {
        &self.inner.triggers
    }

    /// The declarative action registry.
    #[must_use]
    pub fn actions(&self) -> &ActionKinds {
        &self.inner.actions
    }

    /// The limits in force.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }
}
