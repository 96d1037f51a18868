//! `subform`: rows of nested fields stored as an array of objects (order
//! lines, contacts of a customer). A subform cannot contain a subform.

use serde_json::{Map, Value, json};

use super::{
    FieldType, FieldTypes, Kinded, SqlCast, builtin_shared, cfg_u64, config_schema, property_schema, set,
};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Subform`].
pub const KIND: &str = "subform";

/// Rows of nested fields; config `fields` (nested field definitions),
/// `min_rows`, `max_rows`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subform;

impl Kinded for Subform {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Subform {
    fn config_schema(&self) -> &Value {
        config_schema!("subform")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        self.value_schema_in(field, builtin_shared())
    }

    fn value_schema_in(&self, field: &FieldDef, types: &FieldTypes) -> Value {
        let nested = field.sub_fields();
        let mut properties = Map::new();
        let mut required = Vec::new();
        for f in &nested {
            properties.insert(f.key.clone(), property_schema(types, f));
            let computed = types.get(&f.kind).is_ok_and(|t| t.is_computed());
            if f.required && !computed {
                required.push(Value::String(f.key.clone()));
            }
        }
        let mut s = json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            },
        });
        if let Some(n) = cfg_u64(field, "min_rows") {
            set(&mut s, "minItems", json!(n));
        }
        if let Some(n) = cfg_u64(field, "max_rows") {
            set(&mut s, "maxItems", json!(n));
        }
        s
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::None
    }

    fn parse_import(&self, _cell: &str, _field: &FieldDef) -> Result<Value, String> {
        Err("subform rows cannot be imported from a single cell".to_owned())
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        match value {
            Value::Array(rows) if rows.len() == 1 => "1 row".to_owned(),
            Value::Array(rows) => format!("{} rows", rows.len()),
            _ => String::new(),
        }
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        match (cfg_u64(field, "min_rows"), cfg_u64(field, "max_rows")) {
            (Some(lo), Some(hi)) if lo > hi => {
                vec![FieldError::new(
                    "/max_rows",
                    "`max_rows` must not be less than `min_rows`",
                )]
            }
            _ => Vec::new(),
        }
    }
}
