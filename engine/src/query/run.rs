//! Running list queries: scope, filter, search, sort, keyset page, total.

use sea_orm::{ConnectionTrait, EntityTrait, QueryTrait};
use sea_query::{Condition, Expr, ExprTrait, Query, Value};

use super::compile::Compiler;
use super::error::QueryError;
use super::field::column;
use super::model::{DEFAULT_LIMIT, MAX_LIMIT, QueryEnv, QueryRequest};
use super::sort::{SortPlan, newest_first, recently_deleted_first};
use crate::ids::{FormId, TenantId};
use crate::meta::field_type::FieldTypes;
use crate::meta::model::FormDef;
use crate::store::Db;
use crate::store::entity::record;

/// Which records of the form a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordScope {
    /// Records not deleted.
    Live,
    /// The recycle bin: deleted records, most recently deleted first unless
    /// sorted otherwise.
    Deleted,
}

/// One page of records.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records, in order.
    pub rows: Vec<record::Model>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Every matching record, when `total` was asked for.
    pub total: Option<u64>,
}

/// `tenant_id = ? AND form_id = '<form>' AND deleted_at IS [NOT] NULL`.
///
/// The tenant is bound and first; the form id is inlined as a constant, as
/// in the per-form partial indexes' predicate, so SQLite can use them.
#[must_use]
pub fn scope_condition(tenant: TenantId, form: FormId, scope: RecordScope) -> Condition {
    Condition::all()
        .add(column(record::Column::TenantId).eq(tenant.to_string()))
        .add(Expr::col(record::Column::FormId).eq(Expr::Constant(Value::from(form.to_string()))))
        .add(match scope {
            RecordScope::Live => Expr::col(record::Column::DeletedAt).is_null(),
            RecordScope::Deleted => Expr::col(record::Column::DeletedAt).is_not_null(),
        })
}

/// Checks `limit` and applies the default.
///
/// # Errors
/// `invalid_query` when `limit` is 0 or over [`MAX_LIMIT`].
pub fn check_limit(limit: Option<u32>) -> Result<u32, QueryError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(QueryError::invalid("limit", "limit must be at least 1")),
        Some(n) if n > MAX_LIMIT => Err(QueryError::invalid(
            "limit",
            format!("limit must be at most {MAX_LIMIT}"),
        )),
        Some(n) => Ok(n),
    }
}

/// The statements a list request runs, built but not executed (tests and
/// benches render them).
pub struct ListPlan {
    /// The page query (fetches `limit + 1` rows).
    pub select: sea_orm::Select<record::Entity>,
    /// The `COUNT(*)` query, when a total was asked for.
    pub count: Option<sea_query::SelectStatement>,
    /// The resolved order.
    pub sort: SortPlan,
    /// The page size.
    pub limit: u32,
}

/// Builds the statements of a list request.
///
/// # Errors
/// `invalid_query` for anything the request gets wrong (see
/// [`list_records`]); `internal` for an unregistered field kind.
#[allow(clippy::too_many_arguments)]
pub fn plan_list(
    db_backend: crate::store::Backend,
    tenant: TenantId,
    form: FormId,
    types: &FieldTypes,
    def: &FormDef,
    req: &QueryRequest,
    scope: RecordScope,
    env: QueryEnv,
) -> Result<ListPlan, QueryError> {
    let limit = check_limit(req.limit)?;
    let compiler = Compiler {
        backend: db_backend,
        types,
        def,
        tenant,
        env,
    };
    let mut cond = scope_condition(tenant, form, scope);
    if let Some(reach) = &req.reach {
        cond = cond.add(reach.condition(db_backend));
    }
    if let Some(filter) = &req.filter {
        cond = cond.add(compiler.filter(filter)?);
    }
    if let Some(q) = &req.q
        && let Some(search) = compiler.search(q)?
    {
        cond = cond.add(search);
    }
    let (scope_tag, default) = match scope {
        RecordScope::Live => ("live", newest_first()),
        RecordScope::Deleted => ("deleted", recently_deleted_first()),
    };
    let sort = SortPlan::new(types, def, form, scope_tag, &req.sort, default)?;
    let count = req.total.then(|| {
        Query::select()
            .expr_as(Expr::col(sea_query::Asterisk).count(), sea_query::Alias::new("n"))
            .from(record::Entity)
            .cond_where(cond.clone())
            .to_owned()
    });
    let mut page_cond = cond;
    if let Some(cursor) = &req.cursor {
        page_cond = page_cond.add(sort.after(db_backend, cursor)?);
    }
    let mut select = record::Entity::find();
    {
        let stmt = QueryTrait::query(&mut select);
        stmt.cond_where(page_cond);
        sort.order(db_backend, stmt);
        stmt.limit(u64::from(limit) + 1);
    }
    Ok(ListPlan {
        select,
        count,
        sort,
        limit,
    })
}

/// Lists one page of a form's records.
///
/// `env` holds the clock, the asking member and the zone that relative
/// values (`days_ago`, `within_days`, `in_period`, `$me`) are measured
/// against.
///
/// # Errors
/// `invalid_query` for an unknown field, an op that does not fit a field, a
/// value of the wrong type, a filter over its limits, a `q` over 200
/// characters, a limit outside 1–1000, or a bad or foreign cursor;
/// `internal` when the database fails.
#[allow(clippy::too_many_arguments)]
pub async fn list_records(
    db: &Db,
    tenant: TenantId,
    form: FormId,
    types: &FieldTypes,
    def: &FormDef,
    req: &QueryRequest,
    scope: RecordScope,
    env: QueryEnv,
) -> Result<Page, QueryError> {
    let plan = plan_list(db.backend(), tenant, form, types, def, req, scope, env)?;
    let mut rows = plan.select.all(db.conn()).await?;
    let limit = usize::try_from(plan.limit).unwrap_or(usize::MAX);
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|row| plan.sort.cursor_after(row))
    } else {
        None
    };
    let total = match &plan.count {
        Some(count) => {
            let row = db.conn().query_one(count).await?;
            let n: i64 = match row {
                Some(row) => row.try_get("", "n")?,
                None => 0,
            };
            Some(u64::try_from(n).unwrap_or(0))
        }
        None => None,
    };
    Ok(Page {
        rows,
        next_cursor,
        total,
    })
}
