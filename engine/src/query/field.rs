//! Resolving a name used in a filter, sort or group-by to its SQL expression
//! and value type: a field of the active form definition (through the field
//! type registry) or a system field (`_id`, `_created_at`, ...).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_query::{Expr, Value};
use serde_json::Value as Json;

use super::error::QueryError;
use super::expr::field_expr;
use crate::meta::field_type::{FieldTypes, Reference, SqlCast};
use crate::meta::is_valid_key;
use crate::meta::model::FormDef;
use crate::store::Backend;
use crate::store::entity::record;

/// How a resolved field's values compare and bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Text, bound as a string.
    Text,
    /// Number, bound as `f64`.
    Numeric,
    /// Boolean (SQLite `->>` gives 1/0, Postgres gives `'true'`/`'false'`).
    Bool,
    /// `YYYY-MM-DD` text.
    Date,
    /// `YYYY-MM-DDTHH:MM:SS.sssZ` text.
    DateTime,
    /// JSON array of scalars (membership tests only).
    Array,
    /// A timestamp column of `records` (`created_at`, ...).
    Timestamp,
}

/// Where a resolved field's value lives.
#[derive(Debug, Clone)]
pub enum Source {
    /// A key of `records.data`.
    Data {
        /// The field key (checked against the form definition).
        key: String,
    },
    /// A column of `records`.
    Column(record::Column),
}

/// A name resolved against the form.
#[derive(Debug, Clone)]
pub struct ResolvedField {
    /// The name as the caller wrote it.
    pub name: String,
    /// Where the value lives.
    pub source: Source,
    /// How it compares.
    pub kind: ValueKind,
    /// The field type kind (`number`, `multiselect`) or `system`, for messages.
    pub label: String,
    /// Whether the values are user ids (member fields, `_created_by`,
    /// `_updated_by`), so `$me` stands for the asking member.
    pub users: bool,
}

/// System fields usable in filters, sorts and group-bys.
pub const SYSTEM_FIELDS: [&str; 5] = ["_id", "_created_at", "_updated_at", "_created_by", "_updated_by"];

/// `records.<col>`, qualified (correlated subqueries name `records` too).
#[must_use]
pub fn column(col: record::Column) -> Expr {
    Expr::col((record::Entity, col))
}

impl ResolvedField {
    /// Looks `name` up: a system field, or an active field of `def` whose
    /// kind is registered and filterable.
    ///
    /// # Errors
    /// `invalid_query` for an unknown or unfilterable field (`path` names the
    /// place in the request); `internal` for an unregistered kind.
    pub fn resolve(
        types: &FieldTypes,
        def: &FormDef,
        name: &str,
        path: &str,
        usage: &str,
    ) -> Result<Self, QueryError> {
        let system = |col, kind| Self {
            name: name.to_owned(),
            source: Source::Column(col),
            kind,
            label: "system".to_owned(),
            users: matches!(col, record::Column::CreatedBy | record::Column::UpdatedBy),
        };
        match name {
            "_id" => return Ok(system(record::Column::Id, ValueKind::Text)),
            "_created_at" => return Ok(system(record::Column::CreatedAt, ValueKind::Timestamp)),
            "_updated_at" => return Ok(system(record::Column::UpdatedAt, ValueKind::Timestamp)),
            "_created_by" => return Ok(system(record::Column::CreatedBy, ValueKind::Text)),
            "_updated_by" => return Ok(system(record::Column::UpdatedBy, ValueKind::Text)),
            _ => {}
        }
        let Some(field) = def.field(name) else {
            return Err(QueryError::invalid(
                path,
                format!("unknown field `{name}` in {usage}"),
            ));
        };
        // Keys are inlined (as quoted constants, as the indexes need them);
        // a saved definition only holds valid ones, but check again here.
        if !is_valid_key(&field.key) {
            return Err(QueryError::invalid(
                path,
                format!("field `{name}` has an invalid key"),
            ));
        }
        let ty = types
            .get(&field.kind)
            .map_err(|_| QueryError::FieldKindUnregistered {
                key: field.key.clone(),
                kind: field.kind.clone(),
            })?;
        let kind = match ty.sql_cast_for(field) {
            SqlCast::Text => ValueKind::Text,
            SqlCast::Numeric => ValueKind::Numeric,
            SqlCast::Bool => ValueKind::Bool,
            SqlCast::Date => ValueKind::Date,
            SqlCast::DateTime => ValueKind::DateTime,
            SqlCast::Array => ValueKind::Array,
            SqlCast::None => {
                return Err(QueryError::invalid(
                    path,
                    format!("field `{name}` ({}) cannot be used in {usage}", field.kind),
                ));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            source: Source::Data {
                key: field.key.clone(),
            },
            kind,
            label: field.kind.clone(),
            users: ty.reference(field) == Some(Reference::Member),
        })
    }

    /// The internal `deleted_at` key (recycle-bin order).
    #[must_use]
    pub fn deleted_at() -> Self {
        Self {
            name: "_deleted_at".to_owned(),
            source: Source::Column(record::Column::DeletedAt),
            kind: ValueKind::Timestamp,
            label: "system".to_owned(),
            users: false,
        }
    }

    /// The SQL cast of a data field (what [`field_expr`] needs).
    #[must_use]
    pub fn sql_cast(&self) -> SqlCast {
        match self.kind {
            ValueKind::Text | ValueKind::Timestamp => SqlCast::Text,
            ValueKind::Numeric => SqlCast::Numeric,
            ValueKind::Bool => SqlCast::Bool,
            ValueKind::Date => SqlCast::Date,
            ValueKind::DateTime => SqlCast::DateTime,
            ValueKind::Array => SqlCast::Array,
        }
    }

    /// The value's SQL expression: the same one the per-form indexes use.
    #[must_use]
    pub fn expr(&self, backend: Backend) -> Expr {
        match &self.source {
            Source::Data { key } => field_expr(backend, key, self.sql_cast()),
            Source::Column(col) => column(*col),
        }
    }

    /// Converts a JSON operand to a bound value of this field's type.
    ///
    /// # Errors
    /// `invalid_query` when the operand has the wrong type or format.
    pub fn bind(&self, backend: Backend, v: &Json, path: &str) -> Result<Value, QueryError> {
        let name = &self.name;
        let wrong = |what: &str| {
            QueryError::invalid(
                path,
                format!("value for `{name}` ({}) must be {what}", self.label),
            )
        };
        match self.kind {
            ValueKind::Text | ValueKind::Array => v
                .as_str()
                .map(|s| Value::from(s.to_owned()))
                .ok_or_else(|| wrong("a string")),
            ValueKind::Numeric => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Value::from)
                .ok_or_else(|| wrong("a number")),
            ValueKind::Bool => v
                .as_bool()
                .map(|b| bool_value(backend, b))
                .ok_or_else(|| wrong("`true` or `false`")),
            ValueKind::Date => v
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                .map(|d| Value::from(format_date(d)))
                .ok_or_else(|| wrong("a date `YYYY-MM-DD`")),
            ValueKind::DateTime => v
                .as_str()
                .and_then(parse_instant)
                .map(|t| Value::from(format_datetime(t)))
                .ok_or_else(|| wrong("an rfc 3339 date-time or a date `YYYY-MM-DD`")),
            ValueKind::Timestamp => v
                .as_str()
                .and_then(parse_instant)
                .map(|t| Value::ChronoDateTimeUtc(Some(t)))
                .ok_or_else(|| wrong("an rfc 3339 date-time or a date `YYYY-MM-DD`")),
        }
    }

    /// Binds an instant (for `days_ago`/`within_days`) in this field's form.
    #[must_use]
    pub fn bind_instant(&self, t: DateTime<Utc>) -> Value {
        match self.kind {
            ValueKind::Date => Value::from(format_date(t.date_naive())),
            ValueKind::Timestamp => Value::ChronoDateTimeUtc(Some(t)),
            _ => Value::from(format_datetime(t)),
        }
    }

    /// This field's value in a stored record, as the SQL expression sees it
    /// (for cursors): JSON null when missing.
    #[must_use]
    pub fn value_of(&self, row: &record::Model) -> Json {
        match &self.source {
            Source::Column(col) => match col {
                record::Column::Id => Json::from(row.id.clone()),
                record::Column::CreatedBy => Json::from(row.created_by.clone()),
                record::Column::UpdatedBy => Json::from(row.updated_by.clone()),
                record::Column::CreatedAt => Json::from(format_exact(row.created_at)),
                record::Column::UpdatedAt => Json::from(format_exact(row.updated_at)),
                record::Column::DeletedAt => {
                    row.deleted_at.map_or(Json::Null, |t| Json::from(format_exact(t)))
                }
                _ => Json::Null,
            },
            Source::Data { key } => {
                let v = row.data.get(key).unwrap_or(&Json::Null);
                match self.kind {
                    ValueKind::Numeric => v.as_f64().map_or(Json::Null, Json::from),
                    ValueKind::Bool => v.as_bool().map_or(Json::Null, Json::from),
                    _ => match v {
                        Json::String(s) => Json::from(s.clone()),
                        _ => Json::Null,
                    },
                }
            }
        }
    }

    /// Binds a value taken by [`Self::value_of`] (a cursor value).
    #[must_use]
    pub fn bind_stored(&self, backend: Backend, v: &Json) -> Option<Value> {
        match self.kind {
            ValueKind::Numeric => v.as_f64().map(Value::from),
            ValueKind::Bool => v.as_bool().map(|b| bool_value(backend, b)),
            ValueKind::Timestamp => v
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| Value::ChronoDateTimeUtc(Some(t.with_timezone(&Utc)))),
            _ => v.as_str().map(|s| Value::from(s.to_owned())),
        }
    }
}

/// A boolean as the backend's `->>` yields it.
#[must_use]
pub fn bool_value(backend: Backend, b: bool) -> Value {
    match backend {
        Backend::Sqlite => Value::from(b),
        Backend::Postgres => Value::from(if b { "true" } else { "false" }.to_owned()),
    }
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn format_date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The stored datetime form: `YYYY-MM-DDTHH:MM:SS.sssZ`.
#[must_use]
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn format_exact(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
