//! `data/list` filters: `{rel: "and"|"or", cond: [{field, type, method,
//! value: [...]}]}` compiled into the engine's own filter language, so a v5
//! list runs the same SQL (and uses the same indexes and permissions) as
//! `/api/v1/.../records/query`.

use engine::error::ErrorCode;
use engine::meta::model::FormDef;
use serde::Deserialize;
use serde_json::{Value, json};

use super::V5Error;
use super::value::Directory;

/// Most values of one `in`/`nin` condition.
pub const MAX_IN_VALUES: usize = 200;

/// A v5 filter.
#[derive(Debug, Deserialize)]
pub struct V5Filter {
    /// `and` (default) or `or`.
    #[serde(default)]
    pub rel: Option<String>,
    /// The conditions.
    #[serde(default)]
    pub cond: Vec<V5Cond>,
}

/// One condition.
#[derive(Debug, Deserialize)]
pub struct V5Cond {
    /// A field key, widget id or system field.
    pub field: String,
    /// The widget type the caller believes the field has (informative).
    #[serde(default, rename = "type")]
    pub _kind: Option<String>,
    /// `eq ne in nin range like empty not_empty gt lt all verified unverified`.
    pub method: String,
    /// Operands; a scalar is taken as a one-item list.
    #[serde(default)]
    pub value: Value,
}

fn bad(i: usize, msg: impl std::fmt::Display) -> V5Error {
    V5Error::new(ErrorCode::InvalidQuery, format!("filter.cond[{i}]: {msg}"))
}

/// The engine field and kind a v5 filter field names.
fn resolve(def: &FormDef, name: &str) -> Option<(String, String)> {
    let system = match name {
        "_id" => Some("_id"),
        "createTime" => Some("_created_at"),
        "updateTime" => Some("_updated_at"),
        "creator" => Some("_created_by"),
        "updater" => Some("_updated_by"),
        _ => None,
    };
    if let Some(s) = system {
        let kind = if s.ends_with("_by") { "member" } else { "system" };
        return Some((s.to_owned(), kind.to_owned()));
    }
    def.field_by_name(name).map(|f| (f.key.clone(), f.kind.clone()))
}

/// One operand as the engine compares it: usernames become user ids and
/// epoch milliseconds become the stored time format.
fn operand(kind: &str, v: &Value, dir: &Directory) -> Value {
    match (kind, v) {
        ("member", Value::String(s)) => dir.user_id(s).map_or_else(|| v.clone(), Value::String),
        ("datetime" | "system", Value::Number(n)) => n
            .as_i64()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or_else(
                || v.clone(),
                |t| {
                    Value::String(
                        t.format(engine::meta::field_type::datetime::STORED_FORMAT)
                            .to_string(),
                    )
                },
            ),
        ("date", Value::Number(n)) => n
            .as_i64()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or_else(|| v.clone(), |t| Value::String(t.format("%Y-%m-%d").to_string())),
        ("date", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).map_or_else(
            |_| v.clone(),
            |t| Value::String(t.with_timezone(&chrono::Utc).format("%Y-%m-%d").to_string()),
        ),
        _ => v.clone(),
    }
}

/// Compiles a v5 filter into an engine filter (JSON, parsed and checked
/// against the form by the engine).
///
/// # Errors
/// 17007 naming the condition: an unknown field or method, a wrong operand
/// count, more than [`MAX_IN_VALUES`] values.
pub fn compile(def: &FormDef, f: &V5Filter, dir: &Directory) -> Result<Value, V5Error> {
    let mut parts = Vec::with_capacity(f.cond.len());
    for (i, c) in f.cond.iter().enumerate() {
        let (key, kind) = resolve(def, &c.field)
            .ok_or_else(|| bad(i, format!("`{}` is not a field of this form", c.field)))?;
        let values: Vec<Value> = match &c.value {
            Value::Array(items) => items.iter().map(|v| operand(&kind, v, dir)).collect(),
            Value::Null => Vec::new(),
            other => vec![operand(&kind, other, dir)],
        };
        let first = || {
            values
                .first()
                .cloned()
                .filter(|v| !v.is_null())
                .ok_or_else(|| bad(i, format!("`{}` needs a value", c.method)))
        };
        let cond = |op: &str, v: Value| json!({"field": key, "op": op, "value": v});
        let part = match c.method.as_str() {
            "eq" => cond("eq", first()?),
            "ne" => cond("ne", first()?),
            "gt" => cond("gt", first()?),
            "lt" => cond("lt", first()?),
            "like" => cond("contains", first()?),
            "in" | "nin" => {
                if values.len() > MAX_IN_VALUES {
                    return Err(bad(
                        i,
                        format!("`{}` takes at most {MAX_IN_VALUES} values", c.method),
                    ));
                }
                cond(&c.method, Value::Array(values.clone()))
            }
            "range" => {
                let lo = values.first().cloned().unwrap_or(Value::Null);
                let hi = values.get(1).cloned().unwrap_or(Value::Null);
                if values.len() > 2 {
                    return Err(bad(i, "`range` takes `[from, to]`, `null` for an open end"));
                }
                let mut ends = Vec::new();
                if !lo.is_null() {
                    ends.push(cond("gte", lo));
                }
                if !hi.is_null() {
                    ends.push(cond("lte", hi));
                }
                json!({"and": ends})
            }
            "empty" => json!({"field": key, "op": "empty"}),
            "not_empty" => json!({"field": key, "op": "not_empty"}),
            "all" => {
                if values.is_empty() {
                    return Err(bad(i, "`all` needs at least one value"));
                }
                json!({"and": values.iter().map(|v| cond("contains", v.clone())).collect::<Vec<_>>()})
            }
            // Formwork does not verify phone numbers by SMS: no stored
            // number is verified, every stored one is unverified.
            "verified" | "unverified" if kind != "phone" => {
                return Err(bad(i, format!("`{}` applies to phone fields only", c.method)));
            }
            "verified" => json!({"or": []}),
            "unverified" => json!({"field": key, "op": "not_empty"}),
            other => return Err(bad(i, format!("unknown method `{other}`"))),
        };
        parts.push(part);
    }
    Ok(match f.rel.as_deref() {
        None | Some("and") => json!({"and": parts}),
        Some("or") => json!({"or": parts}),
        Some(other) => {
            return Err(V5Error::new(
                ErrorCode::InvalidQuery,
                format!("filter.rel must be `and` or `or`, not `{other}`"),
            ));
        }
    })
}
