//! Per-form partial expression indexes: one for each field marked `unique`
//! (a UNIQUE index, so the database, not a pre-check, enforces it) or
//! `indexed`. Each index covers only the live records of its form:
//! `WHERE form_id = '<form>' AND deleted_at IS NULL`.
//!
//! Queries on a form inline the same form id constant (see
//! `query::run`), so SQLite's partial-index matching, which needs constants,
//! picks these indexes up.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_query::{Alias, Expr, ExprTrait, PostgresQueryBuilder, Query, SqliteQueryBuilder, Value};
use sha2::{Digest, Sha256};

use super::{Backend, StoreError};
use crate::ids::FormId;
use crate::meta::field_type::SqlCast;
use crate::meta::is_valid_key;
use crate::query::expr::{RecordCol, field_expr};

/// What an index over one field is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexPurpose {
    /// `UNIQUE` over live records.
    Unique,
    /// Plain, for filters and sorts.
    Lookup,
}

/// One desired index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIndex {
    /// The field key.
    pub key: String,
    /// How the value is cast.
    pub cast: SqlCast,
    /// Unique or lookup.
    pub purpose: IndexPurpose,
}

impl FieldIndex {
    /// The index name: stable for (form, key, cast, purpose), under 63 bytes.
    #[must_use]
    pub fn name(&self, form: FormId) -> String {
        let mut h = Sha256::new();
        h.update(form.to_string().as_bytes());
        h.update(b":");
        h.update(self.key.as_bytes());
        h.update(format!(":{:?}", self.cast).as_bytes());
        let digest = hex::encode(h.finalize());
        let prefix = match self.purpose {
            IndexPurpose::Unique => "ux_rec_",
            IndexPurpose::Lookup => "ix_rec_",
        };
        format!("{prefix}{}", digest.get(..24).unwrap_or_default())
    }
}

/// Renders an expression alone, as the backend prints it.
fn render_expr(backend: Backend, expr: Expr) -> String {
    let select = Query::select().expr(expr).to_owned();
    let sql = match backend {
        Backend::Sqlite => select.to_string(SqliteQueryBuilder),
        Backend::Postgres => select.to_string(PostgresQueryBuilder),
    };
    sql.strip_prefix("SELECT ").unwrap_or(&sql).to_owned()
}

fn create_sql(backend: Backend, form: FormId, idx: &FieldIndex) -> Result<String, StoreError> {
    // DDL takes no bound parameters. Both inlined parts are checked here
    // again: the key against the key pattern, the form id by its UUID type.
    if !is_valid_key(&idx.key) {
        return Err(StoreError::Corrupt(format!(
            "`{}` is not a valid field key",
            idx.key
        )));
    }
    let expr = render_expr(backend, field_expr(backend, &idx.key, idx.cast));
    let predicate = render_expr(
        backend,
        Expr::col(Alias::new("form_id"))
            .eq(Expr::Constant(Value::from(form.to_string())))
            .and(Expr::col(Alias::new("deleted_at")).is_null()),
    );
    let unique = if idx.purpose == IndexPurpose::Unique {
        "UNIQUE "
    } else {
        ""
    };
    let table = render_expr(backend, Expr::col(RecordCol::Table));
    Ok(format!(
        "CREATE {unique}INDEX IF NOT EXISTS {name} ON {table} (tenant_id, ({expr})) WHERE {predicate}",
        name = idx.name(form),
    ))
}

/// Creates the indexes in `wanted` that `current` lacks and drops those of
/// `current` no longer wanted. Run inside the form-save transaction, so a
/// UNIQUE index that existing duplicates break fails the whole save.
///
/// # Errors
/// `internal` on DDL failure; a unique violation surfaces as [`StoreError::Db`]
/// for the caller to map with [`super::unique_violation`].
pub async fn sync<C: ConnectionTrait>(
    db: &C,
    backend: Backend,
    form: FormId,
    current: &[FieldIndex],
    wanted: &[FieldIndex],
) -> Result<(), StoreError> {
    for old in current.iter().filter(|i| !wanted.contains(i)) {
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS {}", old.name(form)))
            .await?;
    }
    for new in wanted.iter().filter(|i| !current.contains(i)) {
        db.execute_unprepared(&create_sql(backend, form, new)?).await?;
    }
    Ok(())
}

/// The backend of a sea-orm connection.
#[must_use]
pub fn backend_of(b: DbBackend) -> Backend {
    if b == DbBackend::Postgres {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}
