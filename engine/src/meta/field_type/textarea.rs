//! `textarea`: multi-line text, searchable.

use serde_json::Value;

use super::text::{check_string_config, string_schema};
use super::{FieldType, Kinded, SqlCast, config_schema, plain_text};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Textarea`].
pub const KIND: &str = "textarea";

/// Default `maxLength` of a textarea value.
pub const DEFAULT_MAX_LENGTH: u64 = 20000;

/// Multi-line text; config `max_length`, `min_length`, `pattern`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Textarea;

impl Kinded for Textarea {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Textarea {
    fn config_schema(&self) -> &Value {
        config_schema!("textarea")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        string_schema(field, DEFAULT_MAX_LENGTH)
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        // Keep inner line breaks and indentation; only a blank cell is empty.
        if cell.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(Value::String(cell.replace("\r\n", "\n")))
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        plain_text(value)
    }

    fn is_searchable(&self) -> bool {
        true
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        check_string_config(field)
    }
}
