//! `formula`: a value computed from the record by a rhai expression.
//!
//! The expression is compiled by `meta::check` through the script sandbox and
//! evaluated on save by the record writer; the value is refused on write.

use serde_json::{Value, json};

use super::checkbox::Checkbox;
use super::{FieldType, Kinded, SqlCast, config_schema, plain_text};
use crate::meta::model::FieldDef;

/// Kind string of [`Formula`].
pub const KIND: &str = "formula";

/// A computed value; config `expr` (required, rhai over `record` and `now`),
/// `result` (`number` | `text` | `date` | `checkbox`, default `number`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Formula;

impl Kinded for Formula {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// The declared result type of a formula field.
#[must_use]
pub fn result_of(field: &FieldDef) -> &str {
    field.cfg_str("result").unwrap_or("number")
}

impl FieldType for Formula {
    fn computed_expr<'a>(&self, field: &'a FieldDef) -> Option<&'a str> {
        field.cfg_str("expr")
    }

    fn config_schema(&self) -> &Value {
        config_schema!("formula")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        match result_of(field) {
            "text" => json!({ "type": "string", "readOnly": true }),
            "date" => json!({ "type": "string", "format": "date", "readOnly": true }),
            "checkbox" => json!({ "type": "boolean", "readOnly": true }),
            _ => json!({ "type": "number", "readOnly": true }),
        }
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Numeric
    }

    fn sql_cast_for(&self, field: &FieldDef) -> SqlCast {
        match result_of(field) {
            "text" => SqlCast::Text,
            "date" => SqlCast::Date,
            "checkbox" => SqlCast::Bool,
            _ => SqlCast::Numeric,
        }
    }

    fn parse_import(&self, _cell: &str, _field: &FieldDef) -> Result<Value, String> {
        Err("formula values are computed by the engine and cannot be imported".to_owned())
    }

    fn display(&self, value: &Value, field: &FieldDef) -> String {
        match result_of(field) {
            "checkbox" => Checkbox.display(value, field),
            _ => plain_text(value),
        }
    }

    fn is_computed(&self) -> bool {
        true
    }
}
