//! `email`: an email address, searchable.

use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, config_schema, non_blank, plain_text};
use crate::meta::model::FieldDef;

/// Kind string of [`Email`].
pub const KIND: &str = "email";

/// An email address; no config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Email;

impl Kinded for Email {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// Trims an address and lower-cases its domain (the local part may be case
/// sensitive).
#[must_use]
pub fn normalize_address(s: &str) -> String {
    let t = s.trim();
    match t.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => t.to_owned(),
    }
}

impl FieldType for Email {
    fn header_words(&self) -> &'static [&'static str] {
        &["email", "e-mail", "mail", "邮箱", "电子邮件", "电子邮箱", "邮件"]
    }

    fn config_schema(&self) -> &Value {
        config_schema!("email")
    }

    fn value_schema(&self, _field: &FieldDef) -> Value {
        json!({ "type": "string", "format": "email", "maxLength": 254 })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        let t = t.strip_prefix("mailto:").unwrap_or(t);
        match t.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@') && !t.contains(' ') =>
            {
                Ok(Value::String(normalize_address(t)))
            }
            _ => Err(format!("`{t}` is not an email address")),
        }
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        plain_text(value)
    }

    fn normalize(&self, value: Value, _field: &FieldDef) -> Value {
        match value {
            Value::String(s) => Value::String(normalize_address(&s)),
            other => other,
        }
    }

    fn is_searchable(&self) -> bool {
        true
    }
}
