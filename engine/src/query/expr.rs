//! SQL expressions for a field's value inside `records.data`.
//!
//! Filters, sorts and the per-form expression indexes all build their
//! expressions here, so an index and a query are the same expression and the
//! planner can match them. The field key is inlined as a quoted constant
//! (never a bound parameter, which no planner matches to an index); keys are
//! checked against [`crate::meta::KEY_PATTERN`] and looked up in the form
//! definition before they get here.

use sea_query::{BinOper, Expr, ExprTrait, Func, Value};

use crate::meta::field_type::SqlCast;
use crate::store::Backend;

/// Columns of `records` that queries name.
#[derive(Debug, Clone, Copy)]
pub enum RecordCol {
    /// `records` itself.
    Table,
    /// `data`.
    Data,
}

impl sea_query::Iden for RecordCol {
    fn unquoted(&self) -> &str {
        match self {
            Self::Table => "records",
            Self::Data => "data",
        }
    }
}

fn key_const(key: &str) -> Expr {
    Expr::Constant(Value::from(key.to_owned()))
}

/// `data ->> 'key'`: the field's scalar value as text (Postgres) or as its
/// SQL-typed value (SQLite).
#[must_use]
pub fn raw_value(key: &str) -> Expr {
    Expr::col(RecordCol::Data).binary(BinOper::Custom("->>"), key_const(key))
}

/// `data -> 'key'`: the field's JSON value.
#[must_use]
pub fn json_value(key: &str) -> Expr {
    Expr::col(RecordCol::Data).binary(BinOper::Custom("->"), key_const(key))
}

/// The field's value cast for comparison, ordering and indexing.
///
/// On Postgres a numeric cast is guarded by `jsonb_typeof`, because the
/// planner may evaluate it on rows of other forms whose same-named key holds
/// text; SQLite's `CAST` never fails.
#[must_use]
pub fn field_expr(backend: Backend, key: &str, cast: SqlCast) -> Expr {
    match (cast, backend) {
        (SqlCast::Numeric, Backend::Sqlite) => Func::cast_as(raw_value(key), NumericType).into(),
        (SqlCast::Numeric, Backend::Postgres) => Expr::case(
            // A constant, not a bound value, so a query's expression is the
            // index's expression.
            Expr::expr(Func::cust(JsonbTypeof).arg(json_value(key)))
                .eq(Expr::Constant(Value::from("number"))),
            Func::cast_as(raw_value(key), NumericType),
        )
        .into(),
        _ => raw_value(key),
    }
}

/// The SQL type name `NUMERIC`, valid on both backends.
#[derive(Debug, Clone, Copy)]
pub struct NumericType;

impl sea_query::Iden for NumericType {
    fn unquoted(&self) -> &str {
        "NUMERIC"
    }
}

/// Postgres `jsonb_typeof`.
#[derive(Debug, Clone, Copy)]
pub struct JsonbTypeof;

impl sea_query::Iden for JsonbTypeof {
    fn unquoted(&self) -> &str {
        "jsonb_typeof"
    }
}
