//! `phone`: a phone number as text, searchable.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, check_pattern, config_schema, non_blank, plain_text};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Phone`].
pub const KIND: &str = "phone";

/// The pattern when config `pattern` is absent: an optional `+`, a digit,
/// then 4–30 digits, spaces, parentheses or dashes.
pub const DEFAULT_PATTERN: &str = r"^\+?[0-9][0-9 ()-]{4,30}$";

static DEFAULT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(DEFAULT_PATTERN).ok());

/// A phone number; config `pattern` (a regex replacing the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Phone;

impl Kinded for Phone {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Phone {
    fn header_words(&self) -> &'static [&'static str] {
        &[
            "phone",
            "tel",
            "telephone",
            "mobile",
            "电话",
            "手机",
            "手机号",
            "手机号码",
            "联系电话",
            "电话号码",
        ]
    }

    fn config_schema(&self) -> &Value {
        config_schema!("phone")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        json!({
            "type": "string",
            "maxLength": 64,
            "pattern": field.cfg_str("pattern").unwrap_or(DEFAULT_PATTERN),
        })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        // Spreadsheets often turn long numbers into `13800138000.0`.
        let t = t.strip_suffix(".0").unwrap_or(t);
        let ok = match field.cfg_str("pattern") {
            Some(p) => Regex::new(p).is_ok_and(|re| re.is_match(t)),
            None => DEFAULT_RE.as_ref().is_some_and(|re| re.is_match(t)),
        };
        if ok {
            Ok(Value::String(t.to_owned()))
        } else {
            Err(format!("`{t}` is not a phone number"))
        }
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        plain_text(value)
    }

    fn normalize(&self, value: Value, _field: &FieldDef) -> Value {
        match value {
            Value::String(s) => Value::String(s.trim().to_owned()),
            other => other,
        }
    }

    fn is_searchable(&self) -> bool {
        true
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        check_pattern(field.cfg_str("pattern"))
    }
}
