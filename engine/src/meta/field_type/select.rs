//! `select`: one value out of a fixed list of options.

use serde_json::{Value, json};

use super::{
    FieldType, Kinded, SqlCast, check_options, config_schema, match_option, non_blank, option_label,
    options_of,
};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Select`].
pub const KIND: &str = "select";

/// One option; config `options` (`[{value, label, color}]`, unique values),
/// `display` (`dropdown` | `radio`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Select;

impl Kinded for Select {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Select {
    fn config_schema(&self) -> &Value {
        config_schema!("select")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        let values: Vec<String> = options_of(field).into_iter().map(|(v, _)| v).collect();
        json!({ "type": "string", "enum": values })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        match_option(&options_of(field), t)
            .map(Value::String)
            .ok_or_else(|| format!("`{t}` is not an option of this field"))
    }

    fn display(&self, value: &Value, field: &FieldDef) -> String {
        option_label(&options_of(field), value)
    }

    fn is_searchable(&self) -> bool {
        true
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        check_options(field)
    }
}
