//! `date`: a calendar date stored as ISO `YYYY-MM-DD` text.

use serde_json::{Value, json};

use super::{
    FieldType, Kinded, SqlCast, check_min_max, config_schema, non_blank, parse_date_text, plain_text, set,
};
use crate::error::FieldError;
use crate::meta::compile::{KEYWORD_FORMAT_MAXIMUM, KEYWORD_FORMAT_MINIMUM};
use crate::meta::model::FieldDef;

/// Kind string of [`Date`].
pub const KIND: &str = "date";

/// A date; config `min`, `max` (ISO dates).
///
/// JSON Schema has no bound for date strings: `min`/`max` become the custom
/// `formatMinimum`/`formatMaximum` keywords of [`crate::meta::compile`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Date;

impl Kinded for Date {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Date {
    fn config_schema(&self) -> &Value {
        config_schema!("date")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        let mut s = json!({ "type": "string", "format": "date" });
        if let Some(min) = field.cfg_str("min") {
            set(&mut s, KEYWORD_FORMAT_MINIMUM, json!(min));
        }
        if let Some(max) = field.cfg_str("max") {
            set(&mut s, KEYWORD_FORMAT_MAXIMUM, json!(max));
        }
        s
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Date
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        // A date-time cell keeps its (UTC) date.
        parse_date_text(t)
            .or_else(|| super::parse_datetime_text(t).map(|d| d.date_naive()))
            .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
            .ok_or_else(|| format!("`{t}` is not a date (use yyyy-mm-dd)"))
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        plain_text(value)
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        check_min_max(field, "min", "max")
    }
}
