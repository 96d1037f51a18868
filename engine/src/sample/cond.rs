//! Conditions over one generated record's fields (`{"field": "status",
//! "eq": "closed"}`), used by `case` generators, block filters and rollup
//! filters. Dates compare against today by day offsets.

use chrono::{NaiveDate, TimeDelta};
use serde_json::{Map, Value};

use super::value::parse_day;
use crate::error::FieldError;

/// A condition.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Every one holds.
    All(Vec<Cond>),
    /// Some one holds.
    Any(Vec<Cond>),
    /// A test of one field.
    Field(String, Test),
}

/// The test applied to a field's value.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal.
    Eq(Value),
    /// Not equal (a missing value is not equal).
    Ne(Value),
    /// One of.
    In(Vec<Value>),
    /// Numbers: ≥.
    Gte(f64),
    /// Numbers: ≤.
    Lte(f64),
    /// Missing or null.
    Empty,
    /// Present.
    NotEmpty,
    /// A date before today + n days.
    Before(i64),
    /// A date on or after today + n days.
    OnOrAfter(i64),
    /// A date on or before another date field of the record.
    LteField(String),
}

const TESTS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "gte",
    "lte",
    "empty",
    "not_empty",
    "before",
    "on_or_after",
    "lte_field",
];

impl Cond {
    /// Parses a condition at `path`.
    ///
    /// # Errors
    /// A field error naming the path.
    pub fn parse(v: &Value, path: &str) -> Result<Self, FieldError> {
        let o = v
            .as_object()
            .ok_or_else(|| FieldError::new(path, "must be a condition object"))?;
        for (key, make) in [("all", Self::All as fn(Vec<Self>) -> Self), ("any", Self::Any)] {
            if let Some(list) = o.get(key) {
                let list = list
                    .as_array()
                    .ok_or_else(|| FieldError::new(path, "must be a list"))?;
                let parts = list
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Self::parse(c, &format!("{path}/{key}/{i}")));
                return Ok(make(parts.collect::<Result<_, _>>()?));
            }
        }
        let field = o
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| FieldError::new(format!("{path}/field"), "is required"))?;
        let tests: Vec<&String> = o.keys().filter(|k| k.as_str() != "field").collect();
        let [test] = tests.as_slice() else {
            return Err(FieldError::new(
                path,
                format!("needs exactly one test of {}", TESTS.join(", ")),
            ));
        };
        let arg = o.get(test.as_str()).unwrap_or(&Value::Null);
        let at = format!("{path}/{test}");
        let n = |v: &Value| v.as_f64().ok_or_else(|| FieldError::new(&at, "must be a number"));
        let days = |v: &Value| {
            v.as_i64()
                .ok_or_else(|| FieldError::new(&at, "must be a whole number of days"))
        };
        let test = match test.as_str() {
            "eq" => Test::Eq(arg.clone()),
            "ne" => Test::Ne(arg.clone()),
            "in" => Test::In(
                arg.as_array()
                    .cloned()
                    .ok_or_else(|| FieldError::new(&at, "must be a list"))?,
            ),
            "gte" => Test::Gte(n(arg)?),
            "lte" => Test::Lte(n(arg)?),
            "empty" => Test::Empty,
            "not_empty" => Test::NotEmpty,
            "before" => Test::Before(days(arg)?),
            "on_or_after" => Test::OnOrAfter(days(arg)?),
            "lte_field" => Test::LteField(
                arg.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| FieldError::new(&at, "must be a field key"))?,
            ),
            _ => {
                return Err(FieldError::new(
                    &at,
                    format!("unknown test; use one of {}", TESTS.join(", ")),
                ));
            }
        };
        Ok(Self::Field(field.to_owned(), test))
    }

    /// Fields the condition reads.
    pub fn deps(&self, out: &mut Vec<String>) {
        match self {
            Self::All(c) | Self::Any(c) => c.iter().for_each(|c| c.deps(out)),
            Self::Field(f, t) => {
                out.push(f.clone());
                if let Test::LteField(other) = t {
                    out.push(other.clone());
                }
            }
        }
    }

    /// Whether it holds over `data` on `today`.
    #[must_use]
    pub fn holds(&self, data: &Map<String, Value>, today: NaiveDate) -> bool {
        match self {
            Self::All(c) => c.iter().all(|c| c.holds(data, today)),
            Self::Any(c) => c.iter().any(|c| c.holds(data, today)),
            Self::Field(f, t) => {
                let v = data.get(f).filter(|v| !v.is_null());
                let day = || v.and_then(Value::as_str).and_then(parse_day);
                match t {
                    Test::Eq(x) => v == Some(x),
                    Test::Ne(x) => v != Some(x),
                    Test::In(xs) => v.is_some_and(|v| xs.contains(v)),
                    Test::Gte(x) => v.and_then(Value::as_f64).is_some_and(|v| v >= *x),
                    Test::Lte(x) => v.and_then(Value::as_f64).is_some_and(|v| v <= *x),
                    Test::Empty => v.is_none(),
                    Test::NotEmpty => v.is_some(),
                    Test::Before(n) => day().is_some_and(|d| d < today + TimeDelta::days(*n)),
                    Test::OnOrAfter(n) => day().is_some_and(|d| d >= today + TimeDelta::days(*n)),
                    Test::LteField(other) => {
                        let o = data.get(other).and_then(Value::as_str).and_then(parse_day);
                        matches!((day(), o), (Some(a), Some(b)) if a <= b)
                    }
                }
            }
        }
    }
}
