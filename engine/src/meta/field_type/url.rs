//! `url`: an `http` or `https` address, searchable.

use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, config_schema, non_blank, plain_text};
use crate::meta::model::FieldDef;

/// Kind string of [`Url`].
pub const KIND: &str = "url";

/// A web address (`http://` or `https://` only); no config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Url;

impl Kinded for Url {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Url {
    fn config_schema(&self) -> &Value {
        config_schema!("url")
    }

    fn value_schema(&self, _field: &FieldDef) -> Value {
        json!({ "type": "string", "format": "uri", "pattern": "^https?://[^\\s/?#]+", "maxLength": 2048 })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        let lower = t.to_ascii_lowercase();
        let full = if lower.starts_with("http://") || lower.starts_with("https://") {
            t.to_owned()
        } else if lower.starts_with("www.") {
            // A bare `www.` address as people type it.
            format!("https://{t}")
        } else {
            return Err(format!(
                "`{t}` is not a web address (it must start with http:// or https://)"
            ));
        };
        if full.contains(char::is_whitespace) {
            return Err(format!("`{t}` is not a web address"));
        }
        Ok(Value::String(full))
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        plain_text(value)
    }

    fn is_searchable(&self) -> bool {
        true
    }
}
