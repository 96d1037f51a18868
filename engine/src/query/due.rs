//! The date-field trigger's lookups: which live records of a form hold one
//! of a few dates in a date field.
//!
//! A yearly rule asks for a month and day in every year; rather than a
//! month/day expression (which no index serves), the lookup lists the exact
//! dates from the field's earliest to its latest year, so an index on the
//! field (`indexed: true`) answers it by a few hundred point lookups. The
//! earliest and latest values are read from the two ends of the same index.

use chrono::{Datelike, NaiveDate};
use sea_orm::FromQueryResult;
use sea_query::{Alias, ExprTrait, Query};

use super::QueryError;
use super::expr::field_expr;
use super::run::{RecordScope, scope_condition};
use crate::ids::{FormId, TenantId};
use crate::meta::field_type::SqlCast;
use crate::store::Db;
use crate::store::entity::record;

/// Most dates one lookup lists.
pub const MAX_DATES: usize = 5000;

#[derive(FromQueryResult)]
struct One {
    v: Option<String>,
}

#[derive(FromQueryResult)]
struct IdRow {
    id: String,
}

async fn bound(
    db: &Db,
    tenant: TenantId,
    form: FormId,
    key: &str,
    max: bool,
) -> Result<Option<String>, QueryError> {
    // `ORDER BY ... LIMIT 1` rather than `MIN`/`MAX`: both planners read it
    // from one end of the field's index, with or without statistics.
    let e = field_expr(db.backend(), key, SqlCast::Date);
    let order = if max {
        sea_query::Order::Desc
    } else {
        sea_query::Order::Asc
    };
    let stmt = Query::select()
        .expr_as(e.clone(), Alias::new("v"))
        .from(record::Entity)
        .cond_where(scope_condition(tenant, form, RecordScope::Live))
        .and_where(e.clone().is_not_null())
        .order_by_expr(e, order)
        .limit(1)
        .to_owned();
    let row = One::find_by_statement(db.conn().get_database_backend().build(&stmt))
        .one(db.conn())
        .await?;
    Ok(row.and_then(|r| r.v))
}

/// The years the field's values span, from its earliest to its latest
/// value; `None` when no record holds a date.
///
/// # Errors
/// `internal`.
pub async fn year_span(
    db: &Db,
    tenant: TenantId,
    form: FormId,
    key: &str,
) -> Result<Option<(i32, i32)>, QueryError> {
    let year = |s: Option<String>| s.and_then(|s| s.get(..4).and_then(|y| y.parse::<i32>().ok()));
    let (Some(lo), Some(hi)) = (
        year(bound(db, tenant, form, key, false).await?),
        year(bound(db, tenant, form, key, true).await?),
    ) else {
        return Ok(None);
    };
    Ok(Some((lo, hi)))
}

/// The dates a yearly rule matches for the anniversary day `target`:
/// `target`'s month and day in every year from `lo` to `hi`. On 28 February
/// of a common year, 29 February dates of leap years match too (their
/// anniversary falls on the 28th when the year has no 29th).
#[must_use]
pub fn yearly_dates(target: NaiveDate, lo: i32, hi: i32) -> Vec<String> {
    let leap_eve =
        target.month() == 2 && target.day() == 28 && NaiveDate::from_ymd_opt(target.year(), 2, 29).is_none();
    let mut out = Vec::new();
    for y in lo..=hi {
        if let Some(d) = NaiveDate::from_ymd_opt(y, target.month(), target.day()) {
            out.push(d.format("%Y-%m-%d").to_string());
        }
        if leap_eve && let Some(d) = NaiveDate::from_ymd_opt(y, 2, 29) {
            out.push(d.format("%Y-%m-%d").to_string());
        }
        if out.len() >= MAX_DATES {
            break;
        }
    }
    out
}

/// Ids of the form's live records whose date field holds one of `dates`
/// (`yyyy-mm-dd`), oldest first.
///
/// # Errors
/// `internal`.
pub async fn records_on_dates(
    db: &Db,
    tenant: TenantId,
    form: FormId,
    key: &str,
    dates: &[String],
) -> Result<Vec<String>, QueryError> {
    if dates.is_empty() {
        return Ok(Vec::new());
    }
    let e = field_expr(db.backend(), key, SqlCast::Date);
    let mut out = Vec::new();
    // Small IN lists keep PostgreSQL on plain index lookups (longer
    // lists were seen to flip to a far slower plan).
    for chunk in dates.chunks(40) {
        let stmt = Query::select()
            .column((record::Entity, record::Column::Id))
            .from(record::Entity)
            .cond_where(scope_condition(tenant, form, RecordScope::Live))
            .and_where(e.clone().is_in(chunk.iter().cloned()))
            .order_by(record::Column::Id, sea_query::Order::Asc)
            .to_owned();
        let rows = IdRow::find_by_statement(db.conn().get_database_backend().build(&stmt))
            .all(db.conn())
            .await?;
        out.extend(rows.into_iter().map(|r| r.id));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn feb_28_of_a_common_year_takes_leap_day_birthdays() {
        let d = yearly_dates(NaiveDate::from_ymd_opt(2027, 2, 28).unwrap(), 1999, 2001);
        assert_eq!(d, vec!["1999-02-28", "2000-02-28", "2000-02-29", "2001-02-28"]);
        let d = yearly_dates(NaiveDate::from_ymd_opt(2028, 2, 28).unwrap(), 2000, 2000);
        assert_eq!(d, vec!["2000-02-28"]);
        let d = yearly_dates(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(), 1999, 2000);
        assert_eq!(d, vec!["2000-02-29"]);
    }
}
