//! `member`: one user of the tenant, or several.

use serde_json::Value;

use super::{
    FieldType, Kinded, Reference, SqlCast, config_schema, non_blank, parse_uuid_cell, plain_text, uuid_schema,
};
use crate::meta::model::FieldDef;

/// Kind string of [`Member`].
pub const KIND: &str = "member";

/// A user id (UUID); config `multiple` stores an array of them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Member;

impl Kinded for Member {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// Whether config `multiple` is set.
pub(crate) fn is_multiple(field: &FieldDef) -> bool {
    field.cfg("multiple").and_then(Value::as_bool).unwrap_or(false)
}

/// Display text of one id or an array of ids.
pub(crate) fn display_ids(value: &Value) -> String {
    match value {
        Value::Array(items) => items.iter().map(plain_text).collect::<Vec<_>>().join(", "),
        other => plain_text(other),
    }
}

impl FieldType for Member {
    fn reference(&self, _field: &FieldDef) -> Option<Reference> {
        Some(Reference::Member)
    }

    fn config_schema(&self) -> &Value {
        config_schema!("member")
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
        // Names are resolved by the caller, who has the member list.
        display_ids(value)
    }
}
