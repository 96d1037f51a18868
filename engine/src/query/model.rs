//! The wire shape of list and aggregate requests: filters, sorts, paging,
//! search and group-by metrics. Parsing checks only the shape (known keys and
//! ops, nesting limits); `compile` checks fields, ops and value types against
//! the form.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::error::QueryError;
use crate::ids::UserId;

/// Deepest allowed nesting of `and`/`or`/`not`.
pub const MAX_DEPTH: usize = 16;
/// Most conditions (field and tag) in one filter.
pub const MAX_CONDITIONS: usize = 200;
/// Most values in one `in`/`nin` list.
pub const MAX_LIST_VALUES: usize = 1000;
/// Longest `q` text search, in characters.
pub const MAX_Q_CHARS: usize = 200;
/// Most sort keys in one request.
pub const MAX_SORT_KEYS: usize = 8;
/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest allowed `limit`.
pub const MAX_LIMIT: u32 = 1000;
/// Most group-by fields in an aggregate.
pub const MAX_GROUP_BY: usize = 2;
/// Most metrics in an aggregate.
pub const MAX_METRICS: usize = 10;
/// Most groups an aggregate may return.
pub const MAX_GROUPS: usize = 1000;

/// A list request: filter, sort, page and search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// Which records; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// At most [`MAX_SORT_KEYS`] sort keys; `_id` is always the final
    /// tie-breaker. Default: `_id` desc (newest first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sort: Vec<SortKey>,
    /// Page size, 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Case-insensitive text search over the form's searchable fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Also count every matching record (a separate `COUNT`).
    #[serde(default)]
    pub total: bool,
    /// Relation fields whose targets' titles are loaded with the page (one
    /// batched query per field per page, never one per row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expand: Vec<String>,
    /// Set by the engine from the form's permissions, never by callers:
    /// only these records are listed and counted.
    #[serde(skip)]
    pub reach: Option<super::access::Reach>,
}

/// Parses a request object, keeping the filter's JSON paths in errors
/// (plain serde would flatten them into one message).
fn request_from_json<T: serde::de::DeserializeOwned>(
    value: &Value,
) -> Result<(T, Option<Filter>), QueryError> {
    let mut value = value.clone();
    let filter = match value.as_object_mut().and_then(|o| o.remove("filter")) {
        None | Some(Value::Null) => None,
        Some(f) => Some(Filter::from_json(&f)?),
    };
    let req = serde_json::from_value(value).map_err(|e| invalid("request", e.to_string()))?;
    Ok((req, filter))
}

impl QueryRequest {
    /// Parses a request from JSON with `invalid_query` errors that name the
    /// filter path (`filter/and/2`) of the problem.
    ///
    /// # Errors
    /// `invalid_query` for an unknown key, a wrong type or a malformed filter.
    pub fn from_json(value: &Value) -> Result<Self, QueryError> {
        let (mut req, filter): (Self, _) = request_from_json(value)?;
        req.filter = filter;
        Ok(req)
    }
}

impl AggregateRequest {
    /// Parses a request from JSON; see [`QueryRequest::from_json`].
    ///
    /// # Errors
    /// `invalid_query` for an unknown key, a wrong type or a malformed filter.
    pub fn from_json(value: &Value) -> Result<Self, QueryError> {
        let (mut req, filter): (Self, _) = request_from_json(value)?;
        req.filter = filter;
        Ok(req)
    }
}

/// A filter tree.
///
/// JSON: `{"and":[...]}`, `{"or":[...]}`, `{"not":{...}}`,
/// `{"field":"tier","op":"eq","value":"VIP"}` or `{"tag":"VIP"}`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every child matches (an empty list matches everything).
    And(Vec<Filter>),
    /// Some child matches (an empty list matches nothing).
    Or(Vec<Filter>),
    /// The child does not match.
    Not(Box<Filter>),
    /// A condition on one field.
    Field(FieldCondition),
    /// The record carries the tag with this name.
    Tag(String),
}

/// One condition on one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCondition {
    /// Field key, or a system field (`_id`, `_created_at`, ...).
    pub field: String,
    /// The comparison.
    pub op: Op,
    /// The operand; absent for `empty`/`not_empty`.
    pub value: Option<Value>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal (missing values match).
    Ne,
    /// One of a list (for arrays: holds any of them).
    In,
    /// None of a list (missing values match).
    Nin,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// `[a, b]`, both ends included.
    Between,
    /// Case-insensitive substring (text) or membership (arrays).
    Contains,
    /// Case-insensitive prefix.
    StartsWith,
    /// Missing, null, `""` or `[]`.
    Empty,
    /// The opposite of `empty`.
    NotEmpty,
    /// Dates: `N` = in the last N days; `{"next": N}` = in the next N days.
    WithinDays,
    /// Dates: at least N days ago.
    DaysAgo,
    /// Dates: in a calendar period of the tenant's zone,
    /// `{"unit": "day"|"week"|"month"|"quarter"|"year", "offset": n}`: this
    /// week is offset 0 (the default), last week -1, next week 1. Weeks start
    /// on Monday.
    InPeriod,
}

impl Op {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::In => "in",
            Self::Nin => "nin",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Between => "between",
            Self::Contains => "contains",
            Self::StartsWith => "starts_with",
            Self::Empty => "empty",
            Self::NotEmpty => "not_empty",
            Self::WithinDays => "within_days",
            Self::DaysAgo => "days_ago",
            Self::InPeriod => "in_period",
        }
    }

    /// Whether the op takes no value.
    #[must_use]
    pub const fn is_unary(self) -> bool {
        matches!(self, Self::Empty | Self::NotEmpty)
    }

    fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The filter value that stands for the member asking (`{"field": "owner",
/// "op": "eq", "value": "$me"}`), on member fields and `_created_by` /
/// `_updated_by`.
pub const ME: &str = "$me";

/// What relative filter values are measured against: the clock for
/// `days_ago` / `within_days` / `in_period`, the asking member for
/// [`ME`], and the tenant's zone for calendar periods.
#[derive(Debug, Clone, Copy)]
pub struct QueryEnv {
    /// The instant treated as now.
    pub now: DateTime<Utc>,
    /// The member [`ME`] stands for; `None` where nobody asks (then `$me`
    /// is refused).
    pub me: Option<UserId>,
    /// The zone calendar periods are counted in.
    pub zone: Tz,
}

impl QueryEnv {
    /// At `now`, for nobody in particular, in UTC.
    #[must_use]
    pub const fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            me: None,
            zone: Tz::UTC,
        }
    }
}

fn invalid(path: &str, message: impl Into<String>) -> QueryError {
    QueryError::invalid(path, message)
}

impl Filter {
    /// Parses a filter from JSON, checking its shape, the nesting depth
    /// ([`MAX_DEPTH`]) and the number of conditions ([`MAX_CONDITIONS`]).
    ///
    /// # Errors
    /// `invalid_query`, with the JSON path of the offending node.
    pub fn from_json(value: &Value) -> Result<Self, QueryError> {
        let mut count = 0;
        parse_node(value, "filter", 1, &mut count)
    }

    /// The filter as JSON (the inverse of [`Filter::from_json`]).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        match self {
            Self::And(children) => {
                m.insert("and".into(), children.iter().map(Self::to_json).collect());
            }
            Self::Or(children) => {
                m.insert("or".into(), children.iter().map(Self::to_json).collect());
            }
            Self::Not(child) => {
                m.insert("not".into(), child.to_json());
            }
            Self::Tag(name) => {
                m.insert("tag".into(), Value::String(name.clone()));
            }
            Self::Field(c) => {
                m.insert("field".into(), Value::String(c.field.clone()));
                m.insert("op".into(), Value::String(c.op.as_str().to_owned()));
                if let Some(v) = &c.value {
                    m.insert("value".into(), v.clone());
                }
            }
        }
        Value::Object(m)
    }

    /// Whether a condition counts calendar periods (so the tenant's zone is
    /// needed to compile it).
    #[must_use]
    pub fn uses_period(&self) -> bool {
        match self {
            Self::And(c) | Self::Or(c) => c.iter().any(Self::uses_period),
            Self::Not(c) => c.uses_period(),
            Self::Tag(_) => false,
            Self::Field(c) => c.op == Op::InPeriod,
        }
    }

    /// Nesting depth (a single condition is 1).
    #[must_use]
    pub fn depth(&self) -> usize {
        match self {
            Self::And(c) | Self::Or(c) => 1 + c.iter().map(Self::depth).max().unwrap_or(0),
            Self::Not(c) => 1 + c.depth(),
            Self::Field(_) | Self::Tag(_) => 1,
        }
    }

    /// Number of field and tag conditions.
    #[must_use]
    pub fn condition_count(&self) -> usize {
        match self {
            Self::And(c) | Self::Or(c) => c.iter().map(Self::condition_count).sum(),
            Self::Not(c) => c.condition_count(),
            Self::Field(_) | Self::Tag(_) => 1,
        }
    }
}

fn parse_node(value: &Value, path: &str, depth: usize, count: &mut usize) -> Result<Filter, QueryError> {
    if depth > MAX_DEPTH {
        return Err(invalid(
            path,
            format!("filter nesting is deeper than {MAX_DEPTH} levels"),
        ));
    }
    let Value::Object(obj) = value else {
        return Err(invalid(path, "a filter node must be an object"));
    };
    let only = |key: &str| -> Result<(), QueryError> {
        match obj.keys().find(|k| k.as_str() != key) {
            Some(other) => Err(invalid(
                path,
                format!("unexpected key `{other}` beside `{key}` in filter"),
            )),
            None => Ok(()),
        }
    };
    if let Some(children) = obj.get("and").or_else(|| obj.get("or")) {
        let is_and = obj.contains_key("and");
        let key = if is_and { "and" } else { "or" };
        only(key)?;
        let Value::Array(items) = children else {
            return Err(invalid(path, format!("`{key}` must be a list of filters")));
        };
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_node(c, &format!("{path}/{key}/{i}"), depth + 1, count))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(if is_and {
            Filter::And(parsed)
        } else {
            Filter::Or(parsed)
        });
    }
    if let Some(child) = obj.get("not") {
        only("not")?;
        let parsed = parse_node(child, &format!("{path}/not"), depth + 1, count)?;
        return Ok(Filter::Not(Box::new(parsed)));
    }
    *count += 1;
    if *count > MAX_CONDITIONS {
        return Err(invalid(
            path,
            format!("a filter may hold at most {MAX_CONDITIONS} conditions"),
        ));
    }
    if let Some(tag) = obj.get("tag") {
        only("tag")?;
        return match tag {
            Value::String(name) if !name.is_empty() => Ok(Filter::Tag(name.clone())),
            _ => Err(invalid(path, "`tag` must be a non-empty tag name")),
        };
    }
    if obj.contains_key("field") || obj.contains_key("op") {
        if let Some(other) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
        {
            return Err(invalid(
                path,
                format!("unexpected key `{other}` in filter condition"),
            ));
        }
        let Some(Value::String(field)) = obj.get("field") else {
            return Err(invalid(path, "a condition needs `field` as a string"));
        };
        let Some(Value::String(op_name)) = obj.get("op") else {
            return Err(invalid(field, "a condition needs `op` as a string"));
        };
        let Some(op) = Op::parse(op_name) else {
            return Err(invalid(field, format!("unknown op `{op_name}` in filter")));
        };
        let value = obj.get("value").cloned();
        if op.is_unary() && value.is_some() {
            return Err(invalid(field, format!("op `{op}` takes no `value`")));
        }
        if !op.is_unary() && value.is_none() {
            return Err(invalid(field, format!("op `{op}` needs a `value`")));
        }
        return Ok(Filter::Field(FieldCondition {
            field: field.clone(),
            op,
            value,
        }));
    }
    Err(invalid(
        path,
        "a filter node needs one of `and`, `or`, `not`, `field` or `tag`",
    ))
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Self::from_json(&value).map_err(|e| D::Error::custom(e.to_string()))
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortDir {
    /// Smallest first; missing values first.
    #[default]
    Asc,
    /// Largest first; missing values last.
    Desc,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortKey {
    /// Field key or system field.
    pub field: String,
    /// Direction, `asc` by default.
    #[serde(default)]
    pub dir: SortDir,
}

/// A group-by aggregate request (dashboards).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateRequest {
    /// Which records; all live records when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// At most [`MAX_GROUP_BY`] fields; none = one group over everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<GroupBy>,
    /// At most [`MAX_METRICS`]; at least one.
    pub metrics: Vec<Metric>,
    /// Set by the engine from the form's permissions, never by callers:
    /// only these records are aggregated.
    #[serde(skip)]
    pub reach: Option<super::access::Reach>,
}

/// One group-by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBy {
    /// Field key or system field.
    pub field: String,
    /// Time bucket, only for date, datetime and `_created_at`/`_updated_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<Bucket>,
}

/// A time bucket. Keys: day `YYYY-MM-DD`, week the Monday's `YYYY-MM-DD`
/// (ISO weeks), month `YYYY-MM`. Buckets are in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// Calendar day.
    Day,
    /// ISO week, starting Monday.
    Week,
    /// Calendar month.
    Month,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricOp {
    /// Records (or, with a field, non-empty values).
    Count,
    /// Sum of a number field.
    Sum,
    /// Average of a number field.
    Avg,
    /// Smallest value (number, text, date, datetime).
    Min,
    /// Largest value (number, text, date, datetime).
    Max,
}

impl MetricOp {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
        }
    }
}

/// One metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// The function.
    pub op: MetricOp,
    /// The field; required except for `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Name in the result; default `count` or `<op>_<field>`.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl Metric {
    /// The metric's name in [`AggregateGroup::values`].
    #[must_use]
    pub fn name(&self) -> String {
        match (&self.alias, &self.field) {
            (Some(alias), _) => alias.clone(),
            (None, Some(field)) => format!("{}_{field}", self.op.as_str()),
            (None, None) => self.op.as_str().to_owned(),
        }
    }
}

/// One group of an aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateGroup {
    /// The group-by field values (bucket keys for buckets); null = missing.
    pub key: Map<String, Value>,
    /// Metric values by name; null when no value contributed.
    pub values: Map<String, Value>,
}

/// Aggregate groups, ordered by key (missing values first).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregateResult {
    /// The groups.
    pub groups: Vec<AggregateGroup>,
}
