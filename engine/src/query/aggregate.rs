//! Group-by aggregates for dashboards: count, sum, avg, min, max, grouped by
//! up to two fields, dates bucketed by day, ISO week or month (in UTC).
//!
//! Groups are numbered in `GROUP BY 1, 2` / `ORDER BY 1, 2`, so a bound value
//! inside a group expression never makes the two differ on Postgres.

use sea_orm::{ConnectionTrait, QueryResult};
use sea_query::{Alias, BinOper, Expr, ExprTrait, Func, NullOrdering, Order, Query, SelectStatement, Value};
use serde_json::{Map, Value as Json};

use super::compile::Compiler;
use super::error::QueryError;
use super::field::{ResolvedField, Source, ValueKind};
use super::model::{
    AggregateGroup, AggregateRequest, AggregateResult, Bucket, MAX_GROUP_BY, MAX_GROUPS, MAX_METRICS,
    MetricOp, QueryEnv,
};
use super::run::{RecordScope, scope_condition};
use crate::ids::{FormId, TenantId};
use crate::meta::field_type::FieldTypes;
use crate::meta::model::FormDef;
use crate::store::entity::record;
use crate::store::{Backend, Db};

/// The SQL type `DOUBLE PRECISION` (REAL affinity on SQLite): aggregates are
/// read back as `f64` on both backends.
#[derive(Debug, Clone, Copy)]
struct DoubleType;

impl sea_query::Iden for DoubleType {
    fn unquoted(&self) -> &str {
        "DOUBLE PRECISION"
    }
}

#[derive(Debug, Clone, Copy)]
struct TimestampType;

impl sea_query::Iden for TimestampType {
    fn unquoted(&self) -> &str {
        "TIMESTAMP"
    }
}

/// How a result column is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Text,
    Number,
    Integer,
    Bool,
}

/// A built aggregate statement and how to read its rows.
pub struct AggregatePlan {
    /// The statement.
    pub select: SelectStatement,
    keys: Vec<(String, Read)>,
    metrics: Vec<(String, Read)>,
}

fn constant(s: &str) -> Expr {
    Expr::Constant(Value::from(s.to_owned()))
}

fn substr(e: Expr, len: i32) -> Expr {
    Func::cust(Alias::new("substr"))
        .arg(e)
        .arg(Expr::Constant(Value::from(1)))
        .arg(Expr::Constant(Value::from(len)))
        .into()
}

/// `YYYY-MM-DD` text of a date, datetime or timestamp value.
fn day_text(backend: Backend, f: &ResolvedField) -> Expr {
    match (&f.source, backend) {
        (Source::Column(_), Backend::Postgres) => Func::cust(Alias::new("to_char"))
            .arg(
                f.expr(backend)
                    .binary(BinOper::Custom("AT TIME ZONE"), constant("UTC")),
            )
            .arg(constant("YYYY-MM-DD"))
            .into(),
        _ => substr(f.expr(backend), 10),
    }
}

fn bucket_expr(backend: Backend, f: &ResolvedField, bucket: Bucket) -> Expr {
    let day = day_text(backend, f);
    match (bucket, backend) {
        (Bucket::Day, _) => day,
        (Bucket::Month, _) => substr(day, 7),
        // The next Sunday (or the day itself), minus six days: the Monday.
        (Bucket::Week, Backend::Sqlite) => Func::cust(Alias::new("date"))
            .arg(day)
            .arg(constant("weekday 0"))
            .arg(constant("-6 days"))
            .into(),
        (Bucket::Week, Backend::Postgres) => Func::cust(Alias::new("to_char"))
            .arg(
                Func::cust(Alias::new("date_trunc"))
                    .arg(constant("week"))
                    .arg(Func::cast_as(day, TimestampType)),
            )
            .arg(constant("YYYY-MM-DD"))
            .into(),
    }
}

/// A group-by column: the (bucketed) value and how to read it back.
fn group_column(
    backend: Backend,
    f: &ResolvedField,
    bucket: Option<Bucket>,
    path: &str,
) -> Result<(Expr, Read), QueryError> {
    let is_time = matches!(
        f.kind,
        ValueKind::Date | ValueKind::DateTime | ValueKind::Timestamp
    );
    Ok(match bucket {
        Some(_) if !is_time => {
            return Err(QueryError::invalid(
                path.to_owned(),
                format!(
                    "a bucket applies only to date and datetime fields, not `{}` ({})",
                    f.name, f.label
                ),
            ));
        }
        Some(bucket) => (bucket_expr(backend, f, bucket), Read::Text),
        None => match f.kind {
            ValueKind::Timestamp => {
                return Err(QueryError::invalid(
                    path.to_owned(),
                    format!("group by `{}` needs a `bucket` (day, week or month)", f.name),
                ));
            }
            ValueKind::Array => {
                return Err(QueryError::invalid(
                    path.to_owned(),
                    format!("cannot group by field `{}` ({})", f.name, f.label),
                ));
            }
            ValueKind::Numeric => (Func::cast_as(f.expr(backend), DoubleType).into(), Read::Number),
            ValueKind::Bool => (f.expr(backend), Read::Bool),
            ValueKind::Text | ValueKind::Date | ValueKind::DateTime => (f.expr(backend), Read::Text),
        },
    })
}

/// A metric column: the aggregate and how to read it back.
fn metric_column(
    backend: Backend,
    op: MetricOp,
    field: Option<ResolvedField>,
    path: &str,
) -> Result<(Expr, Read), QueryError> {
    Ok(match (op, field) {
        (MetricOp::Count, None) => (Expr::col(sea_query::Asterisk).count(), Read::Integer),
        (MetricOp::Count, Some(f)) => (f.expr(backend).count(), Read::Integer),
        (op, Some(f)) if f.kind == ValueKind::Numeric => {
            let x = f.expr(backend);
            let agg = match op {
                MetricOp::Sum => x.sum(),
                MetricOp::Avg => Func::avg(x).into(),
                MetricOp::Min => x.min(),
                _ => x.max(),
            };
            (Func::cast_as(agg, DoubleType).into(), Read::Number)
        }
        (op @ (MetricOp::Min | MetricOp::Max), Some(f))
            if matches!(f.kind, ValueKind::Text | ValueKind::Date | ValueKind::DateTime) =>
        {
            let x = f.expr(backend);
            let agg = if op == MetricOp::Min { x.min() } else { x.max() };
            (agg, Read::Text)
        }
        (op, Some(f)) => {
            return Err(QueryError::invalid(
                path,
                format!(
                    "metric `{}` does not apply to field `{}` ({})",
                    op.as_str(),
                    f.name,
                    f.label
                ),
            ));
        }
        (_, None) => {
            return Err(QueryError::invalid(path, "metric needs a `field`"));
        }
    })
}

/// Builds the aggregate statement.
///
/// # Errors
/// `invalid_query` for an unknown field, too many group-bys or metrics, a
/// bucket on a non-date field, a metric that does not fit its field, or a
/// bad filter; `internal` for an unregistered field kind.
#[allow(clippy::too_many_arguments)]
pub fn plan_aggregate(
    backend: Backend,
    tenant: TenantId,
    form: FormId,
    types: &FieldTypes,
    def: &FormDef,
    req: &AggregateRequest,
    env: QueryEnv,
) -> Result<AggregatePlan, QueryError> {
    if req.group_by.len() > MAX_GROUP_BY {
        return Err(QueryError::invalid(
            "group_by",
            format!("at most {MAX_GROUP_BY} group-by fields are allowed"),
        ));
    }
    if req.metrics.is_empty() {
        return Err(QueryError::invalid("metrics", "at least one metric is required"));
    }
    if req.metrics.len() > MAX_METRICS {
        return Err(QueryError::invalid(
            "metrics",
            format!("at most {MAX_METRICS} metrics are allowed"),
        ));
    }
    let compiler = Compiler {
        backend,
        types,
        def,
        tenant,
        env,
    };
    let mut cond = scope_condition(tenant, form, RecordScope::Live);
    if let Some(reach) = &req.reach {
        cond = cond.add(reach.condition(backend));
    }
    if let Some(filter) = &req.filter {
        cond = cond.add(compiler.filter(filter)?);
    }
    let mut select = Query::select();
    select.from(record::Entity).cond_where(cond);
    let mut keys = Vec::new();
    for (i, g) in req.group_by.iter().enumerate() {
        let path = format!("group_by/{i}");
        let f = ResolvedField::resolve(types, def, &g.field, &path, "group_by")?;
        if keys.iter().any(|(name, _)| name == &f.name) {
            return Err(QueryError::invalid(
                path,
                format!("field `{}` appears twice in group_by", f.name),
            ));
        }
        let (expr, read) = group_column(backend, &f, g.bucket, &path)?;
        select.expr_as(expr, Alias::new(format!("g{i}")));
        keys.push((f.name.clone(), read));
    }
    let mut metrics: Vec<(String, Read)> = Vec::new();
    for (i, m) in req.metrics.iter().enumerate() {
        let path = format!("metrics/{i}");
        let name = m.name();
        if name.is_empty() || name.chars().count() > 64 {
            return Err(QueryError::invalid(
                path,
                "a metric name must be 1 to 64 characters",
            ));
        }
        if metrics.iter().any(|(n, _)| n == &name) {
            return Err(QueryError::invalid(
                path,
                format!("metric name `{name}` is used twice; set `as`"),
            ));
        }
        let field = match &m.field {
            Some(name) => Some(ResolvedField::resolve(types, def, name, &path, "metrics")?),
            None if m.op == MetricOp::Count => None,
            None => {
                return Err(QueryError::invalid(
                    path,
                    format!("metric `{}` needs a `field`", m.op.as_str()),
                ));
            }
        };
        let (expr, read) = metric_column(backend, m.op, field, &path)?;
        select.expr_as(expr, Alias::new(format!("m{i}")));
        metrics.push((name, read));
    }
    for i in 1..=keys.len() {
        let pos = Expr::Constant(Value::from(i32::try_from(i).unwrap_or(1)));
        select.add_group_by([pos.clone()]);
        match backend {
            Backend::Sqlite => {
                select.order_by_expr(pos, Order::Asc);
            }
            Backend::Postgres => {
                select.order_by_expr_with_nulls(pos, Order::Asc, NullOrdering::First);
            }
        }
    }
    select.limit(u64::try_from(MAX_GROUPS).unwrap_or(1000) + 1);
    Ok(AggregatePlan {
        select,
        keys,
        metrics,
    })
}

fn read(row: &QueryResult, backend: Backend, col: &str, how: Read) -> Result<Json, QueryError> {
    Ok(match how {
        Read::Text => row
            .try_get::<Option<String>>("", col)?
            .map_or(Json::Null, Json::from),
        Read::Integer => row
            .try_get::<Option<i64>>("", col)?
            .map_or(Json::Null, Json::from),
        Read::Number => row.try_get::<Option<f64>>("", col)?.map_or(Json::Null, number),
        Read::Bool => match backend {
            Backend::Sqlite => row
                .try_get::<Option<i64>>("", col)?
                .map_or(Json::Null, |n| Json::from(n != 0)),
            Backend::Postgres => row
                .try_get::<Option<String>>("", col)?
                .map_or(Json::Null, |s| Json::from(s == "true")),
        },
    })
}

/// A float as JSON: whole numbers as integers (`3`, not `3.0`).
fn number(f: f64) -> Json {
    // 2^53: beyond it f64 no longer holds every integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)]
        return Json::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

/// Runs a group-by aggregate over a form's live records.
///
/// # Errors
/// `invalid_query` as for [`plan_aggregate`], and when more than
/// [`MAX_GROUPS`] groups result; `internal` when the database fails.
pub async fn aggregate_records(
    db: &Db,
    tenant: TenantId,
    form: FormId,
    types: &FieldTypes,
    def: &FormDef,
    req: &AggregateRequest,
    env: QueryEnv,
) -> Result<AggregateResult, QueryError> {
    let backend = db.backend();
    let plan = plan_aggregate(backend, tenant, form, types, def, req, env)?;
    let rows = db.conn().query_all(&plan.select).await?;
    if rows.len() > MAX_GROUPS {
        return Err(QueryError::invalid(
            "group_by",
            format!(
                "the aggregate has more than {MAX_GROUPS} groups; narrow the filter or use a coarser bucket"
            ),
        ));
    }
    let mut groups = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut key = Map::new();
        for (i, (name, how)) in plan.keys.iter().enumerate() {
            key.insert(name.clone(), read(row, backend, &format!("g{i}"), *how)?);
        }
        let mut values = Map::new();
        for (i, (name, how)) in plan.metrics.iter().enumerate() {
            values.insert(name.clone(), read(row, backend, &format!("m{i}"), *how)?);
        }
        groups.push(AggregateGroup { key, values });
    }
    Ok(AggregateResult { groups })
}
