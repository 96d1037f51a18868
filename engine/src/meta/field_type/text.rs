//! `text`: a single line of text, searchable.

use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, cfg_u64, check_pattern, config_schema, non_blank, plain_text, set};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Text`].
pub const KIND: &str = "text";

/// Default `maxLength` of a text value.
pub const DEFAULT_MAX_LENGTH: u64 = 2000;

/// A single line of text; config `max_length`, `min_length`, `pattern`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Text;

/// The string fragment shared by `text` and `textarea`.
pub(crate) fn string_schema(field: &FieldDef, default_max: u64) -> Value {
    let mut s = json!({
        "type": "string",
        "maxLength": cfg_u64(field, "max_length").unwrap_or(default_max),
    });
    if let Some(min) = cfg_u64(field, "min_length") {
        set(&mut s, "minLength", json!(min));
    }
    if let Some(p) = field.cfg_str("pattern") {
        set(&mut s, "pattern", json!(p));
    }
    s
}

/// Config checks shared by `text` and `textarea`.
pub(crate) fn check_string_config(field: &FieldDef) -> Vec<FieldError> {
    let mut errors = check_pattern(field.cfg_str("pattern"));
    if let (Some(lo), Some(hi)) = (cfg_u64(field, "min_length"), cfg_u64(field, "max_length"))
        && lo > hi
    {
        errors.push(FieldError::new(
            "/max_length",
            "`max_length` must not be less than `min_length`",
        ));
    }
    errors
}

impl Kinded for Text {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Text {
    fn config_schema(&self) -> &Value {
        config_schema!("text")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        string_schema(field, DEFAULT_MAX_LENGTH)
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        Ok(non_blank(cell).map_or(Value::Null, |t| Value::String(t.to_owned())))
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
