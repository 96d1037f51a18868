//! `checkbox`: yes or no.

use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, config_schema, non_blank};
use crate::meta::model::FieldDef;

/// Kind string of [`Checkbox`].
pub const KIND: &str = "checkbox";

/// A boolean; no config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkbox;

impl Kinded for Checkbox {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// Reads yes/no text: 是/否, true/false, yes/no, y/n, on/off, 1/0, ✓/✗.
#[must_use]
pub fn parse_bool_text(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "是" | "true" | "yes" | "y" | "on" | "1" | "✓" | "✔" | "√" | "对" | "t" => Some(true),
        "否" | "false" | "no" | "n" | "off" | "0" | "✗" | "✘" | "×" | "错" | "f" => Some(false),
        _ => None,
    }
}

impl FieldType for Checkbox {
    fn config_schema(&self) -> &Value {
        config_schema!("checkbox")
    }

    fn value_schema(&self, _field: &FieldDef) -> Value {
        json!({ "type": "boolean" })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Bool
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        parse_bool_text(t)
            .map(Value::Bool)
            .ok_or_else(|| format!("`{t}` is not yes or no (use 是/否, true/false, yes/no or 1/0)"))
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        match value.as_bool() {
            Some(true) => "是".to_owned(),
            Some(false) => "否".to_owned(),
            None => String::new(),
        }
    }
}
