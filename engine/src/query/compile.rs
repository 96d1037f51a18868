//! Filter and text search → sea-query conditions, through the field registry.
//!
//! Every operand is a bound value; only field keys (checked against the form
//! definition and the key pattern) and the form id are inlined, exactly as
//! the per-form indexes inline them. `not` is pushed down to the conditions
//! (De Morgan), and a negated condition also matches missing values, so
//! `{"not": {"field": "tier", "op": "eq", "value": "VIP"}}` includes records
//! without a tier, like `ne` does.

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};
use sea_query::extension::postgres::PgExpr;
use sea_query::{Alias, BinOper, Condition, Expr, ExprTrait, Func, LikeExpr, Query, Value};
use serde_json::Value as Json;

use super::error::QueryError;
use super::expr::{json_value, raw_value};
use super::field::{ResolvedField, Source, ValueKind, column};
use super::model::{
    FieldCondition, Filter, MAX_CONDITIONS, MAX_DEPTH, MAX_LIST_VALUES, MAX_Q_CHARS, ME, Op, QueryEnv,
};
use crate::ids::TenantId;
use crate::meta::field_type::{FieldTypes, SqlCast};
use crate::meta::model::FormDef;
use crate::store::Backend;
use crate::store::entity::{record, record_tag, tag};

/// Longest `within_days`/`days_ago` span (100 years).
const MAX_DAYS: i64 = 36_500;

/// Compiles filters and searches for one form of one tenant.
pub struct Compiler<'a> {
    /// SQL dialect.
    pub backend: Backend,
    /// The field type registry.
    pub types: &'a FieldTypes,
    /// The active form definition.
    pub def: &'a FormDef,
    /// The tenant (bound in tag subqueries).
    pub tenant: TenantId,
    /// The clock, the asking member and the zone relative values are
    /// measured against.
    pub env: QueryEnv,
}

fn false_condition() -> Condition {
    // A constant, not user input: matches nothing on both backends.
    Condition::all().add(Expr::cust("1 = 0"))
}

impl Compiler<'_> {
    /// Compiles a filter into a condition.
    ///
    /// # Errors
    /// `invalid_query` for an unknown field, an op that does not apply to the
    /// field, a value of the wrong type, or a filter over the size limits.
    pub fn filter(&self, filter: &Filter) -> Result<Condition, QueryError> {
        if filter.depth() > MAX_DEPTH {
            return Err(QueryError::invalid(
                "filter",
                format!("filter nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        if filter.condition_count() > MAX_CONDITIONS {
            return Err(QueryError::invalid(
                "filter",
                format!("a filter may hold at most {MAX_CONDITIONS} conditions"),
            ));
        }
        self.node(filter, "filter", false)
    }

    fn node(&self, filter: &Filter, path: &str, negated: bool) -> Result<Condition, QueryError> {
        match filter {
            Filter::And(children) | Filter::Or(children) => {
                let key = if matches!(filter, Filter::And(_)) {
                    "and"
                } else {
                    "or"
                };
                // De Morgan: not(and) = or(not), not(or) = and(not).
                let is_all = (key == "and") != negated;
                if children.is_empty() {
                    return Ok(if is_all {
                        Condition::all()
                    } else {
                        false_condition()
                    });
                }
                let mut cond = if is_all {
                    Condition::all()
                } else {
                    Condition::any()
                };
                for (i, child) in children.iter().enumerate() {
                    cond = cond.add(self.node(child, &format!("{path}/{key}/{i}"), negated)?);
                }
                Ok(cond)
            }
            Filter::Not(child) => self.node(child, &format!("{path}/not"), !negated),
            Filter::Tag(name) => {
                let exists = self.tag_exists(name);
                Ok(Condition::all().add(if negated { exists.not() } else { exists }))
            }
            Filter::Field(c) => self.condition(c, path, negated),
        }
    }

    /// `EXISTS (SELECT 1 FROM record_tags JOIN tags ... WHERE name = ?)`.
    fn tag_exists(&self, name: &str) -> Expr {
        let sub = Query::select()
            .expr(Expr::Constant(Value::from(1)))
            .from(record_tag::Entity)
            .inner_join(
                tag::Entity,
                Expr::col((tag::Entity, tag::Column::Id))
                    .equals((record_tag::Entity, record_tag::Column::TagId)),
            )
            .and_where(
                Expr::col((record_tag::Entity, record_tag::Column::TenantId)).eq(self.tenant.to_string()),
            )
            .and_where(
                Expr::col((record_tag::Entity, record_tag::Column::RecordId))
                    .equals((record::Entity, record::Column::Id)),
            )
            .and_where(Expr::col((tag::Entity, tag::Column::TenantId)).eq(self.tenant.to_string()))
            .and_where(Expr::col((tag::Entity, tag::Column::Name)).eq(name.to_owned()))
            .to_owned();
        Expr::exists(sub)
    }

    fn condition(&self, c: &FieldCondition, path: &str, negated: bool) -> Result<Condition, QueryError> {
        let field = ResolvedField::resolve(self.types, self.def, &c.field, path, "filter")?;
        check_op(&field, c.op, path)?;
        // ne/nin are the negations of eq/in.
        let (op, negated) = match c.op {
            Op::Ne => (Op::Eq, !negated),
            Op::Nin => (Op::In, !negated),
            Op::NotEmpty => (Op::Empty, !negated),
            op => (op, negated),
        };
        let value = match &c.value {
            Some(v) if field.users => Some(self.substitute_me(v, path)?),
            other => other.clone(),
        };
        let positive = self.atom(&field, op, value.as_ref(), path)?;
        if !negated {
            return Ok(Condition::all().add(positive));
        }
        // `empty` is never NULL; every other atom may be NULL on a missing
        // value (Postgres `NULL @> ...` too), which a negation must count as
        // a match.
        Ok(if op == Op::Empty {
            Condition::all().add(positive.not())
        } else {
            Condition::any()
                .add(positive.not())
                .add(field.expr(self.backend).is_null())
        })
    }

    fn atom(&self, f: &ResolvedField, op: Op, value: Option<&Json>, path: &str) -> Result<Expr, QueryError> {
        let x = f.expr(self.backend);
        let null = Json::Null;
        let v = value.unwrap_or(&null);
        let one = |v: &Json| f.bind(self.backend, v, path);
        Ok(match op {
            Op::Empty => self.empty(f),
            Op::Eq => x.eq(one(v)?),
            Op::Gt => x.gt(one(v)?),
            Op::Gte => x.gte(one(v)?),
            Op::Lt => x.lt(one(v)?),
            Op::Lte => x.lte(one(v)?),
            Op::Between => {
                let pair = v.as_array().filter(|a| a.len() == 2).ok_or_else(|| {
                    QueryError::invalid(
                        path,
                        format!("value for `between` on `{}` must be a list `[from, to]`", f.name),
                    )
                })?;
                let (lo, hi) = match pair.as_slice() {
                    [lo, hi] => (one(lo)?, one(hi)?),
                    _ => return Err(QueryError::invalid(path, "`between` needs two values")),
                };
                x.clone().gte(lo).and(x.lte(hi))
            }
            Op::In => {
                let items = v.as_array().ok_or_else(|| {
                    QueryError::invalid(
                        path,
                        format!("value for `in`/`nin` on `{}` must be a list", f.name),
                    )
                })?;
                if items.len() > MAX_LIST_VALUES {
                    return Err(QueryError::invalid(
                        path,
                        format!("an `in`/`nin` list may hold at most {MAX_LIST_VALUES} values"),
                    ));
                }
                if items.is_empty() {
                    return Ok(Expr::cust("1 = 0"));
                }
                let bound = items.iter().map(one).collect::<Result<Vec<_>, _>>()?;
                if f.kind == ValueKind::Array {
                    self.array_has_any(f, bound)
                } else {
                    x.is_in(bound)
                }
            }
            Op::Contains if f.kind == ValueKind::Array => self.array_has_any(f, vec![one(v)?]),
            Op::Contains | Op::StartsWith => {
                let s = v.as_str().ok_or_else(|| {
                    QueryError::invalid(path, format!("value for `{op}` on `{}` must be a string", f.name))
                })?;
                let escaped = escape_like(s);
                let pattern = if op == Op::Contains {
                    format!("%{escaped}%")
                } else {
                    format!("{escaped}%")
                };
                self.ilike(x, pattern)
            }
            Op::DaysAgo => {
                let n = days(v, false, path, &f.name)?;
                x.lte(f.bind_instant(self.env.now - Duration::days(n)))
            }
            Op::WithinDays => {
                let next = v.get("next").is_some();
                let n = days(v, true, path, &f.name)?;
                let now = self.env.now;
                let (lo, hi) = if next {
                    (now, now + Duration::days(n))
                } else {
                    (now - Duration::days(n), now)
                };
                x.clone().gte(f.bind_instant(lo)).and(x.lte(f.bind_instant(hi)))
            }
            Op::InPeriod => {
                let (first, end) = period(v, self.env.now.with_timezone(&self.env.zone).date_naive(), path)?;
                // A date field holds local days already; instants are
                // bounded by the zone's midnights.
                let zone = if f.kind == ValueKind::Date {
                    chrono_tz::Tz::UTC
                } else {
                    self.env.zone
                };
                let (lo, hi) = (
                    f.bind_instant(local_midnight(zone, first)),
                    f.bind_instant(local_midnight(zone, end)),
                );
                x.clone().gte(lo).and(x.lt(hi))
            }
            Op::Ne | Op::Nin | Op::NotEmpty => {
                // Rewritten to their positive forms by the caller.
                return Err(QueryError::invalid(path, format!("op `{op}` is not valid here")));
            }
        })
    }

    /// `"$me"` (alone or in a list) replaced by the asking member's id.
    fn substitute_me(&self, v: &Json, path: &str) -> Result<Json, QueryError> {
        let me = || {
            self.env.me.map(|id| Json::from(id.to_string())).ok_or_else(|| {
                QueryError::invalid(
                    path,
                    format!("`{ME}` stands for the member asking, and this query has none"),
                )
            })
        };
        Ok(match v {
            Json::String(s) if s == ME => me()?,
            Json::Array(items) => Json::Array(
                items
                    .iter()
                    .map(|i| {
                        if i.as_str() == Some(ME) {
                            me()
                        } else {
                            Ok(i.clone())
                        }
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    fn empty(&self, f: &ResolvedField) -> Expr {
        let x = f.expr(self.backend);
        match (f.kind, &f.source) {
            (ValueKind::Text | ValueKind::Date | ValueKind::DateTime, Source::Data { .. }) => {
                x.clone().is_null().or(x.eq(Expr::Constant(Value::from(""))))
            }
            (ValueKind::Array, Source::Data { key }) => {
                // `->>` of an array is its minified JSON text on both backends.
                let raw = raw_value(key);
                raw.clone()
                    .is_null()
                    .or(raw.eq(Expr::Constant(Value::from("[]"))))
            }
            _ => x.is_null(),
        }
    }

    /// The array field holds any of `values`.
    fn array_has_any(&self, f: &ResolvedField, values: Vec<Value>) -> Expr {
        let Source::Data { key } = &f.source else {
            return Expr::cust("1 = 0");
        };
        array_has_any(self.backend, key, values)
    }

    /// Case-insensitive `LIKE` with `\` as the escape character.
    fn ilike(&self, x: Expr, pattern: String) -> Expr {
        match self.backend {
            // SQLite's LIKE is case-insensitive (for ASCII) already and has
            // no default escape character.
            Backend::Sqlite => x.like(LikeExpr::new(pattern).escape('\\')),
            // `\` is Postgres' default escape; sea-query cannot render
            // `ILIKE ... ESCAPE`.
            Backend::Postgres => x.ilike(LikeExpr::new(pattern)),
        }
    }

    /// The `q` text search: any searchable field contains `q`
    /// (case-insensitive). `None` when `q` is blank.
    ///
    /// # Errors
    /// `invalid_query` when `q` is longer than [`MAX_Q_CHARS`].
    pub fn search(&self, q: &str) -> Result<Option<Condition>, QueryError> {
        if q.chars().count() > MAX_Q_CHARS {
            return Err(QueryError::invalid(
                "q",
                format!("`q` must be at most {MAX_Q_CHARS} characters"),
            ));
        }
        let q = q.trim();
        if q.is_empty() {
            return Ok(None);
        }
        let pattern = format!("%{}%", escape_like(q));
        let mut any = Condition::any();
        let mut searched = 0;
        for field in &self.def.fields {
            let Ok(ty) = self.types.get(&field.kind) else {
                continue;
            };
            if !ty.is_searchable() || ty.sql_cast_for(field) == SqlCast::None {
                continue;
            }
            any = any.add(self.ilike(raw_value(&field.key), pattern.clone()));
            searched += 1;
        }
        Ok(Some(if searched == 0 { false_condition() } else { any }))
    }
}

/// Which ops apply to which value kinds.
fn check_op(f: &ResolvedField, op: Op, path: &str) -> Result<(), QueryError> {
    use ValueKind as K;
    let ok = match op {
        Op::Empty | Op::NotEmpty => true,
        Op::Eq | Op::Ne => f.kind != K::Array,
        Op::In | Op::Nin => f.kind != K::Bool,
        Op::Gt | Op::Gte | Op::Lt | Op::Lte | Op::Between => !matches!(f.kind, K::Array | K::Bool),
        Op::Contains => matches!(f.kind, K::Text | K::Array),
        Op::StartsWith => matches!(f.kind, K::Text | K::Date | K::DateTime),
        Op::WithinDays | Op::DaysAgo | Op::InPeriod => matches!(f.kind, K::Date | K::DateTime | K::Timestamp),
    };
    if ok {
        Ok(())
    } else {
        Err(QueryError::invalid(
            path,
            format!("op `{op}` does not apply to field `{}` ({})", f.name, f.label),
        ))
    }
}

/// Furthest `in_period` offset (100 years of months).
const MAX_PERIOD_OFFSET: i64 = 1200;

/// The calendar period `{"unit", "offset"}` counted from the one holding
/// `today`: its first day and the first day after it.
fn period(v: &Json, today: NaiveDate, path: &str) -> Result<(NaiveDate, NaiveDate), QueryError> {
    let bad = |what: &str| QueryError::invalid(path, format!("value for `in_period` {what}"));
    let Json::Object(m) = v else {
        return Err(bad(
            "must be `{\"unit\": \"day\"|\"week\"|\"month\"|\"quarter\"|\"year\", \"offset\": n}`",
        ));
    };
    if let Some(other) = m.keys().find(|k| !matches!(k.as_str(), "unit" | "offset")) {
        return Err(bad(&format!("has an unexpected key `{other}`")));
    }
    let offset = match m.get("offset") {
        None => 0,
        Some(o) => o
            .as_i64()
            .filter(|n| n.abs() <= MAX_PERIOD_OFFSET)
            .ok_or_else(|| {
                bad(&format!(
                    "needs `offset` as a whole number from -{MAX_PERIOD_OFFSET} to {MAX_PERIOD_OFFSET}"
                ))
            })?,
    };
    let unit = m.get("unit").and_then(Json::as_str).unwrap_or("");
    let months = |first: NaiveDate, n: i64| {
        let step = Months::new(u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX));
        if n < 0 {
            first.checked_sub_months(step)
        } else {
            first.checked_add_months(step)
        }
    };
    let span = match unit {
        "day" => today
            .checked_add_signed(Duration::days(offset))
            .and_then(|d| Some((d, d.succ_opt()?))),
        "week" => {
            let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            monday
                .checked_add_signed(Duration::weeks(offset))
                .and_then(|d| Some((d, d.checked_add_signed(Duration::weeks(1))?)))
        }
        "month" | "quarter" | "year" => {
            let size = match unit {
                "month" => 1,
                "quarter" => 3,
                _ => 12,
            };
            let month0 = i64::from(today.month0());
            let first_month = u32::try_from(month0 - month0 % size + 1).unwrap_or(1);
            NaiveDate::from_ymd_opt(today.year(), first_month, 1)
                .and_then(|first| months(first, offset * size))
                .and_then(|d| Some((d, months(d, size)?)))
        }
        _ => {
            return Err(bad(&format!(
                "needs `unit` as one of day, week, month, quarter, year, not `{unit}`"
            )));
        }
    };
    span.ok_or_else(|| bad("falls outside the calendar"))
}

/// The instant a day starts in `zone` (the first moment that exists, on a
/// day a clock change skips midnight).
fn local_midnight(zone: chrono_tz::Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// A day count: `N`, or `{"next": N}` when `allow_next`.
fn days(v: &Json, allow_next: bool, path: &str, name: &str) -> Result<i64, QueryError> {
    let n = match v {
        Json::Object(m) if allow_next && m.len() == 1 => m.get("next").and_then(Json::as_i64),
        _ => v.as_i64(),
    };
    match n {
        Some(n) if (0..=MAX_DAYS).contains(&n) => Ok(n),
        _ => Err(QueryError::invalid(
            path,
            format!(
                "value for `{name}` must be a whole number of days from 0 to {MAX_DAYS}{}",
                if allow_next { " or `{\"next\": n}`" } else { "" }
            ),
        )),
    }
}

/// Escapes `\`, `%` and `_` for a `LIKE ... ESCAPE '\'` pattern.
#[must_use]
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The array stored under data key `key` holds any of `values` (`key` must
/// be a checked field key: it is inlined into the JSON path).
pub(crate) fn array_has_any(backend: Backend, key: &str, values: Vec<Value>) -> Expr {
    match backend {
        Backend::Sqlite => {
            let each = Alias::new("je");
            let path = Expr::Constant(Value::from(format!("$.{key}")));
            let value_col = Expr::col((each.clone(), Alias::new("value")));
            let cond = if let [only] = values.as_slice() {
                value_col.eq(only.clone())
            } else {
                value_col.is_in(values)
            };
            let sub = Query::select()
                .expr(Expr::Constant(Value::from(1)))
                .from_function(
                    Func::cust(Alias::new("json_each"))
                        .arg(column(record::Column::Data))
                        .arg(path),
                    each,
                )
                .and_where(cond)
                .to_owned();
            Expr::exists(sub)
        }
        Backend::Postgres => {
            let mut tests = values.into_iter().map(|v| {
                json_value(key).binary(
                    BinOper::Custom("@>"),
                    Func::cust(Alias::new("jsonb_build_array")).arg(Expr::val(v)),
                )
            });
            let Some(first) = tests.next() else {
                return Expr::cust("1 = 0");
            };
            tests.fold(first, ExprTrait::or)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn escapes_like_wildcards() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
