//! Field types and values between our registry and 简道云's widget model:
//! the widget `type` of each field kind, stored values → v5 read values
//! (UTC ISO datetimes, members as objects, subform rows with ids), and v5
//! write values (`{"value": ...}` wrapping, usernames, epoch milliseconds)
//! → values the engine validates as usual.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use engine::auth::members::MemberView;
use engine::error::ErrorCode;
use engine::meta::model::{FieldDef, FormDef};
use serde_json::{Map, Value, json};

use super::V5Error;

/// 简道云's widget type of a field.
#[must_use]
pub fn widget_type(f: &FieldDef) -> &'static str {
    let multiple = f.cfg("multiple").and_then(Value::as_bool).unwrap_or(false);
    match f.kind.as_str() {
        "textarea" => "textarea",
        "serial" => "sn",
        "number" | "money" | "rating" => "number",
        "date" | "datetime" => "datetime",
        "select" if f.cfg_str("display") == Some("radio") => "radiogroup",
        "select" => "combo",
        "multiselect" if f.cfg_str("display") == Some("checkbox") => "checkboxgroup",
        "multiselect" => "combocheck",
        "member" if multiple => "usergroup",
        "member" => "user",
        "department" if multiple => "deptgroup",
        "department" => "dept",
        "address" => "address",
        "location" => "location",
        "image" => "image",
        "attachment" => "upload",
        "subform" => "subform",
        "relation" => "linkdata",
        "phone" => "phone",
        "checkbox" => "checkbox",
        "signature" => "signature",
        "formula" => match f.cfg_str("result") {
            Some("text") => "text",
            Some("date") => "datetime",
            Some("checkbox") => "checkbox",
            _ => "number",
        },
        _ => "text",
    }
}

/// Members of the tenant by user id and by username (email).
#[derive(Default)]
pub struct Directory {
    by_id: HashMap<String, MemberView>,
    by_username: HashMap<String, String>,
}

impl Directory {
    /// Indexes `members`.
    #[must_use]
    pub fn new(members: Vec<MemberView>) -> Self {
        let mut d = Self::default();
        for m in members {
            d.by_username
                .insert(m.email.to_lowercase(), m.user_id.to_string());
            d.by_id.insert(m.user_id.to_string(), m);
        }
        d
    }

    /// The user id of a username (email) or of a user id.
    #[must_use]
    pub fn user_id(&self, name: &str) -> Option<String> {
        if self.by_id.contains_key(name) {
            return Some(name.to_owned());
        }
        self.by_username.get(&name.to_lowercase()).cloned()
    }

    /// The member with this user id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&MemberView> {
        self.by_id.get(id)
    }

    /// `{name, username, status, type, departments}` of a user id.
    #[must_use]
    pub fn member(&self, id: &str) -> Value {
        match self.by_id.get(id) {
            Some(m) => json!({
                "name": if m.display_name.is_empty() { &m.email } else { &m.display_name },
                "username": m.email,
                "status": i32::from(m.status == engine::auth::MemberStatus::Active),
                "type": 0,
                "departments": m.department_id.iter().map(ToString::to_string).collect::<Vec<_>>(),
            }),
            None => json!({"name": id, "username": id, "status": 0, "type": 0, "departments": []}),
        }
    }
}

/// True when some field of `def` (or of a subform) holds members.
#[must_use]
pub fn has_members(def: &FormDef) -> bool {
    def.fields
        .iter()
        .any(|f| f.kind == "member" || f.sub_fields().iter().any(|s| s.kind == "member"))
}

/// A stored datetime or date as a UTC ISO string with milliseconds.
fn iso(v: &Value) -> Value {
    let Some(s) = v.as_str() else { return v.clone() };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Value::String(t.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Millis, true));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Value::String(
            Utc.from_utc_datetime(&t)
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        );
    }
    v.clone()
}

/// One stored value as v5 reads it.
fn read_value(f: &FieldDef, v: &Value, dir: &Directory, row_prefix: &str) -> Value {
    match f.kind.as_str() {
        "date" | "datetime" => iso(v),
        "formula" if f.cfg_str("result") == Some("date") => iso(v),
        "member" => match v {
            Value::String(id) => dir.member(id),
            Value::Array(ids) => ids
                .iter()
                .map(|i| i.as_str().map_or(Value::Null, |id| dir.member(id)))
                .collect(),
            other => other.clone(),
        },
        // 简道云 answers files as `{name, size, mime, url}`; the url needs
        // the same credentials as the record.
        "attachment" | "image" => match v {
            Value::Array(files) => files
                .iter()
                .map(|file| {
                    let mut out = file.as_object().cloned().unwrap_or_default();
                    if let Some(id) = out.get("id").and_then(Value::as_str) {
                        let url = format!("/api/v1/files/{id}/content");
                        out.insert("url".to_owned(), Value::String(url));
                    }
                    Value::Object(out)
                })
                .collect(),
            other => other.clone(),
        },
        "subform" => {
            let subs = f.sub_fields();
            let Value::Array(rows) = v else { return v.clone() };
            rows.iter()
                .enumerate()
                .map(|(i, row)| {
                    let mut out = Map::new();
                    // Rows are not stored with ids: this one names the row's
                    // place, stable until rows are inserted or removed above it.
                    out.insert(
                        "_id".to_owned(),
                        Value::String(format!("{row_prefix}-{}-{i}", f.key)),
                    );
                    if let Some(obj) = row.as_object() {
                        for s in &subs {
                            if let Some(x) = obj.get(&s.key) {
                                out.insert(s.key.clone(), read_value(s, x, dir, row_prefix));
                            }
                        }
                    }
                    Value::Object(out)
                })
                .collect()
        }
        _ => v.clone(),
    }
}

/// A record's data as v5 reads it, keyed by field key, limited to `only`
/// (keys) when given.
#[must_use]
pub fn read_data(
    def: &FormDef,
    data: &Map<String, Value>,
    dir: &Directory,
    record_id: &str,
    only: Option<&[String]>,
) -> Map<String, Value> {
    def.fields
        .iter()
        .filter(|f| only.is_none_or(|o| o.contains(&f.key)))
        .filter_map(|f| {
            data.get(&f.key)
                .map(|v| (f.key.clone(), read_value(f, v, dir, record_id)))
        })
        .collect()
}

fn invalid(field: &str, msg: impl std::fmt::Display) -> V5Error {
    V5Error::new(ErrorCode::ValidationFailed, format!("field `{field}`: {msg}"))
}

/// A v5 datetime (ISO string or epoch milliseconds) as the field stores it.
fn write_time(f: &FieldDef, v: &Value, name: &str) -> Result<Value, V5Error> {
    let t: DateTime<Utc> = match v {
        Value::Null => return Ok(Value::Null),
        Value::Number(n) => n
            .as_i64()
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .ok_or_else(|| invalid(name, "is not a time in epoch milliseconds"))?,
        Value::String(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            // A plain date is left for the field to check.
            Err(_) => return Ok(v.clone()),
        },
        _ => {
            return Err(invalid(
                name,
                "must be an ISO date-time string or epoch milliseconds",
            ));
        }
    };
    Ok(Value::String(if f.kind == "date" {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format(engine::meta::field_type::datetime::STORED_FORMAT)
            .to_string()
    }))
}

fn write_user(v: &Value, dir: &Directory, name: &str) -> Result<Value, V5Error> {
    let one = |x: &Value| -> Result<Value, V5Error> {
        let s = match x {
            Value::String(s) => s.as_str(),
            Value::Object(o) => o.get("username").and_then(Value::as_str).unwrap_or_default(),
            _ => "",
        };
        dir.user_id(s)
            .map(Value::String)
            .ok_or_else(|| invalid(name, format!("`{s}` is not a member's username")))
    };
    match v {
        Value::Null => Ok(Value::Null),
        Value::Array(items) => items
            .iter()
            .map(one)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => one(other),
    }
}

/// Unwraps `{"value": v}`.
fn unwrap_value<'a>(name: &str, wrapped: &'a Value) -> Result<&'a Value, V5Error> {
    wrapped
        .as_object()
        .and_then(|o| o.get("value"))
        .ok_or_else(|| invalid(name, "must be written as `{\"value\": ...}`"))
}

fn write_value(f: &FieldDef, v: &Value, dir: &Directory, name: &str) -> Result<Value, V5Error> {
    match f.kind.as_str() {
        "date" | "datetime" => write_time(f, v, name),
        "member" => write_user(v, dir, name),
        "subform" => {
            let subs = f.sub_fields();
            let Value::Array(rows) = v else {
                return Ok(v.clone());
            };
            let mut out = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let Some(obj) = row.as_object() else {
                    return Err(invalid(&format!("{name}/{i}"), "a subform row must be an object"));
                };
                let mut stored = Map::new();
                for (k, wrapped) in obj {
                    if k == "_id" {
                        continue;
                    }
                    let path = format!("{name}/{i}/{k}");
                    let sub = subs
                        .iter()
                        .find(|s| &s.key == k || s.widget_id.as_deref() == Some(k))
                        .ok_or_else(|| invalid(&path, "is not a field of this subform"))?;
                    let inner = unwrap_value(&path, wrapped)?;
                    stored.insert(sub.key.clone(), write_value(sub, inner, dir, &path)?);
                }
                out.push(Value::Object(stored));
            }
            Ok(Value::Array(out))
        }
        _ => Ok(v.clone()),
    }
}

/// A v5 write body (`{"<key or widget id>": {"value": ...}}`) as engine
/// record data keyed by field key.
///
/// # Errors
/// 17005 naming the field: an unknown name, a missing `value` wrapper, a
/// username that is not a member, a bad time.
pub fn write_data(
    def: &FormDef,
    data: &Map<String, Value>,
    dir: &Directory,
) -> Result<Map<String, Value>, V5Error> {
    let mut out = Map::new();
    for (name, wrapped) in data {
        let f = def
            .field_by_name(name)
            .ok_or_else(|| invalid(name, "is not a field of this form"))?;
        let v = unwrap_value(name, wrapped)?;
        out.insert(f.key.clone(), write_value(f, v, dir, name)?);
    }
    Ok(out)
}
