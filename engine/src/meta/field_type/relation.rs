//! `relation`: a link to a record of another form, or several.

use serde_json::Value;

use super::member::{display_ids, is_multiple};
use super::{FieldType, Kinded, Reference, SqlCast, config_schema, non_blank, parse_uuid_cell, uuid_schema};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Relation`].
pub const KIND: &str = "relation";

/// A record id (UUID) of form `form_id`; config `form_id` (required),
/// `multiple`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relation;

impl Kinded for Relation {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Relation {
    fn reference(&self, field: &FieldDef) -> Option<Reference> {
        Some(Reference::Record {
            form_id: field.cfg_str("form_id").unwrap_or_default().to_owned(),
        })
    }

    fn config_schema(&self) -> &Value {
        config_schema!("relation")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        uuid_schema(is_multiple(field))
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn sql_cast_for(&self, field: &FieldDef) -> SqlCast {
        if is_multiple(field) {
            SqlCast::Array
        } else {
            SqlCast::Text
        }
    }

    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String> {
        match non_blank(cell) {
            None => Ok(Value::Null),
            Some(t) => parse_uuid_cell(t, is_multiple(field)),
        }
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        // Titles of related records are loaded by the caller, one query per page.
        display_ids(value)
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        match field.cfg_str("form_id") {
            Some(id) if uuid::Uuid::parse_str(id).is_err() => {
                vec![FieldError::new(
                    "/form_id",
                    format!("`{id}` is not a form id (a uuid)"),
                )]
            }
            _ => Vec::new(),
        }
    }
}
