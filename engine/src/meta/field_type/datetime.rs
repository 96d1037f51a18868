//! `datetime`: an instant stored as UTC `YYYY-MM-DDTHH:MM:SS.sssZ` text, so
//! text order is time order.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, config_schema, non_blank, parse_datetime_text, plain_text, set};
use crate::error::FieldError;
use crate::meta::compile::{KEYWORD_FORMAT_MAXIMUM, KEYWORD_FORMAT_MINIMUM};
use crate::meta::model::FieldDef;

/// Kind string of [`DateTimeField`].
pub const KIND: &str = "datetime";

/// The stored format (UTC, milliseconds, `Z`).
pub const STORED_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// A date and time; config `min`, `max` (RFC 3339).
#[derive(Debug, Clone, Copy, Default)]
pub struct DateTimeField;

impl Kinded for DateTimeField {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// Formats an instant the way it is stored.
#[must_use]
pub fn to_stored(t: DateTime<Utc>) -> String {
    t.format(STORED_FORMAT).to_string()
}

impl FieldType for DateTimeField {
    fn config_schema(&self) -> &Value {
        config_schema!("datetime")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        let mut s = json!({ "type": "string", "format": "date-time" });
        if let Some(min) = field.cfg_str("min") {
            set(&mut s, KEYWORD_FORMAT_MINIMUM, json!(min));
        }
        if let Some(max) = field.cfg_str("max") {
            set(&mut s, KEYWORD_FORMAT_MAXIMUM, json!(max));
        }
        s
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::DateTime
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        parse_datetime_text(t)
            .map(|d| Value::String(to_stored(d)))
            .ok_or_else(|| format!("`{t}` is not a date and time (use yyyy-mm-dd hh:mm)"))
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        match value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
            Some(d) => d.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
            None => plain_text(value),
        }
    }

    fn normalize(&self, value: Value, _field: &FieldDef) -> Value {
        match value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()) {
            Some(d) => Value::String(to_stored(d.with_timezone(&Utc))),
            None => value,
        }
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        let at = |k: &str| {
            field
                .cfg_str(k)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        };
        match (at("min"), at("max")) {
            (Some(lo), Some(hi)) if lo > hi => {
                vec![FieldError::new("/max", "`max` must not be less than `min`")]
            }
            _ => Vec::new(),
        }
    }
}
