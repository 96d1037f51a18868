//! Persistence: sea-orm entities, migrations, connection set-up and the
//! per-form expression indexes. All SQL of the engine lives here and in
//! `query/`; every repository function takes the `TenantId` first.
//!
//! SQLite runs in WAL mode; writes are serialised through [`Db::write_lock`]
//! so concurrent requests never meet `SQLITE_BUSY`. PostgreSQL needs no such
//! lock: row locks and unique indexes do the work.

pub mod counter;
pub mod entity;
pub mod form_index;
pub mod migration;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use sea_orm_migration::MigratorTrait;
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{ErrorCode, HasCode};

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database answered with an error we did not expect.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// The database could not be reached at start-up.
    #[error("cannot connect to the database at `{url}`: {reason}")]
    Unreachable {
        /// The URL without credentials.
        url: String,
        /// The driver's reason.
        reason: String,
    },
    /// A stored row could not be decoded (corrupt or foreign data).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl HasCode for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Unreachable { .. } => ErrorCode::Unavailable,
            Self::Db(_) | Self::Corrupt(_) => ErrorCode::Internal,
        }
    }
}

/// Which SQL dialect the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (the default).
    Sqlite,
    /// PostgreSQL (or a compatible engine such as Citus).
    Postgres,
}

/// A database handle: the pool plus the dialect and the SQLite write lock.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    backend: Backend,
    writes: Arc<Mutex<()>>,
    /// Unix seconds of the last PostgreSQL `ANALYZE` (throttle).
    analyzed_at: Arc<std::sync::atomic::AtomicI64>,
}

/// Least time between two PostgreSQL `ANALYZE` runs of one process.
const ANALYZE_EVERY_SECS: i64 = 30;

/// Held while a write transaction runs on SQLite; a no-op on PostgreSQL.
pub struct WriteGuard<'a>(#[allow(dead_code)] Option<MutexGuard<'a, ()>>);

impl Db {
    /// Connects to `url` (`sqlite://file.db?mode=rwc`, `sqlite::memory:` or
    /// `postgres://...`) with bounded connect and acquire timeouts.
    ///
    /// # Errors
    /// `unavailable` when the database cannot be reached or opened.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        match backend {
            Backend::Sqlite => {
                let is_memory = url.contains(":memory:") || url.contains("mode=memory");
                // An in-memory database lives in one connection; a file gets a
                // small pool so reads run beside the (serialised) writer.
                opts.max_connections(if is_memory { 1 } else { 4 })
                    .min_connections(1);
                if is_memory {
                    opts.idle_timeout(None::<Duration>).max_lifetime(None::<Duration>);
                }
                opts.map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
                    o.journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        .create_if_missing(true)
                });
            }
            Backend::Postgres => {
                opts.max_connections(16).min_connections(1);
            }
        }
        let conn = Database::connect(opts)
            .await
            .map_err(|e| StoreError::Unreachable {
                url: redact(url),
                reason: e.to_string(),
            })?;
        Ok(Self {
            conn,
            backend,
            writes: Arc::new(Mutex::new(())),
            analyzed_at: Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN)),
        })
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// `internal` when a migration fails.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migration::Migrator::up(&self.conn, None).await?;
        self.optimize().await
    }

    /// The pool.
    #[must_use]
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Starts a transaction. On SQLite it is `BEGIN IMMEDIATE`: it takes
    /// the write lock at once, so a transaction that reads and then writes
    /// cannot fail with "database is locked" because another connection
    /// committed in between (a deferred transaction can only give up then;
    /// an immediate one waits its turn under the busy timeout). Every
    /// transaction of the engine starts here.
    ///
    /// # Errors
    /// The driver's error.
    pub async fn begin(&self) -> Result<sea_orm::DatabaseTransaction, DbErr> {
        use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
        self.conn
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    /// The dialect.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The sea-orm backend enum, for building statements.
    #[must_use]
    pub fn db_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Serialises writers on SQLite. Take it before `begin()`.
    pub async fn write_lock(&self) -> WriteGuard<'_> {
        match self.backend {
            Backend::Sqlite => WriteGuard(Some(self.writes.lock().await)),
            Backend::Postgres => WriteGuard(None),
        }
    }

    /// Refreshes the query planner's statistics where they went stale.
    /// SQLite picks the per-form expression indexes only with statistics, so
    /// this runs after migrations, index changes and large writes; it is cheap
    /// when nothing changed much. On PostgreSQL it runs `ANALYZE records`,
    /// throttled, for servers whose autovacuum is off or behind.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn optimize(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => {
                self.conn
                    .execute_unprepared("PRAGMA analysis_limit=1000; PRAGMA optimize;")
                    .await?;
            }
            Backend::Postgres => {
                // The planner uses the per-form expression indexes (and
                // pushes `= ANY(...)` into them) only with statistics on
                // those expressions. Autovacuum keeps them fresh where it
                // runs; this keeps them fresh after bulk writes where it does
                // not, at most every ANALYZE_EVERY_SECS per process.
                use std::sync::atomic::Ordering;
                let now = chrono::Utc::now().timestamp();
                let last = self.analyzed_at.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= ANALYZE_EVERY_SECS
                    && self
                        .analyzed_at
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    self.conn.execute_unprepared("ANALYZE records").await?;
                }
            }
        }
        Ok(())
    }

    /// Lets PostgreSQL acknowledge this transaction's commit before its WAL
    /// reaches the disk (`SET LOCAL synchronous_commit TO OFF`); a no-op on
    /// SQLite. Only for the job queue's own bookkeeping (leases, no-effect
    /// completions): a crash of the database server, not of ours, can lose
    /// the last fraction of a second of them, and the queue recovers either
    /// way (a lost lease expires, a lost completion reruns a job whose
    /// effects, committed with their completion, did not survive either).
    ///
    /// # Errors
    /// `internal`.
    pub async fn relax_commit<C: ConnectionTrait>(&self, tx: &C) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            tx.execute_unprepared("SET LOCAL synchronous_commit TO OFF")
                .await?;
        }
        Ok(())
    }

    /// Checks that the database answers (for `/readyz`).
    ///
    /// # Errors
    /// `unavailable` when the ping fails.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await.map_err(|e| StoreError::Unreachable {
            url: self.backend_name().to_owned(),
            reason: e.to_string(),
        })
    }

    fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The URL without a password, for messages and logs.
#[must_use]
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = url.get(scheme + 3..at).unwrap_or_default();
            let user = creds.split(':').next().unwrap_or_default();
            format!(
                "{}{}@{}",
                url.get(..scheme + 3).unwrap_or_default(),
                user,
                url.get(at + 1..).unwrap_or_default()
            )
        }
        _ => url.to_owned(),
    }
}

/// True when a database error is a unique-constraint violation; returns the
/// violated index or constraint name where the driver reports it.
#[must_use]
pub fn unique_violation(err: &DbErr) -> Option<String> {
    let msg = err.to_string();
    // SQLite: "UNIQUE constraint failed: index 'ux_...'" or "... records.col";
    // Postgres: duplicate key value violates unique constraint "ux_...".
    if let Some(pos) = msg.find("violates unique constraint \"") {
        let rest = msg.get(pos + 28..)?;
        return Some(rest.split('"').next().unwrap_or_default().to_owned());
    }
    if let Some(pos) = msg.find("UNIQUE constraint failed: ") {
        let rest = msg.get(pos + 26..)?;
        let rest = rest.strip_prefix("index '").unwrap_or(rest);
        return Some(rest.split(['\'', ' ', ',']).next().unwrap_or_default().to_owned());
    }
    None
}

/// The tenant's time zone (UTC when unset, unknown or the tenant is gone).
///
/// # Errors
/// When the database fails.
pub async fn tenant_zone<C: ConnectionTrait>(
    conn: &C,
    tenant: crate::ids::TenantId,
) -> Result<chrono_tz::Tz, DbErr> {
    use sea_orm::EntityTrait;
    Ok(entity::tenant::Entity::find_by_id(tenant.to_string())
        .one(conn)
        .await?
        .and_then(|t| t.time_zone.parse().ok())
        .unwrap_or(chrono_tz::Tz::UTC))
}

/// Parses a stored id column.
///
/// # Errors
/// `internal` when the text is not a UUID.
pub fn parse_id<T: FromStr>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("`{s}` is not a uuid")))
}
