//! `multiselect`: a set of values out of a fixed list of options.

use serde_json::{Value, json};

use super::{
    FieldType, Kinded, SqlCast, cfg_u64, check_options, config_schema, match_option, non_blank, option_label,
    options_of, set,
};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Multiselect`].
pub const KIND: &str = "multiselect";

/// Several options; config `options`, `min_items`, `max_items`, `display`
/// (`dropdown` | `checkbox`). Stored as a JSON array of option values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Multiselect;

impl Kinded for Multiselect {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl FieldType for Multiselect {
    fn config_schema(&self) -> &Value {
        config_schema!("multiselect")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        let values: Vec<String> = options_of(field).into_iter().map(|(v, _)| v).collect();
        let mut s = json!({
            "type": "array",
            "items": { "type": "string", "enum": values },
            "uniqueItems": true,
        });
        if let Some(n) = cfg_u64(field, "min_items") {
            set(&mut s, "minItems", json!(n));
        }
        if let Some(n) = cfg_u64(field, "max_items") {
            set(&mut s, "maxItems", json!(n));
        }
        s
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Array
    }

    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String> {
        if non_blank(cell).is_none() {
            return Ok(Value::Null);
        }
        let options = options_of(field);
        let mut out: Vec<Value> = Vec::new();
        for part in cell
            .split([',', '，', ';', '；'])
            .filter(|p| !p.trim().is_empty())
        {
            let v = match_option(&options, part)
                .ok_or_else(|| format!("`{}` is not an option of this field", part.trim()))?;
            let v = Value::String(v);
            if !out.contains(&v) {
                out.push(v);
            }
        }
        Ok(Value::Array(out))
    }

    fn display(&self, value: &Value, field: &FieldDef) -> String {
        let options = options_of(field);
        match value {
            Value::Array(items) => items
                .iter()
                .map(|v| option_label(&options, v))
                .collect::<Vec<_>>()
                .join(", "),
            other => option_label(&options, other),
        }
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        let mut errors = check_options(field);
        if let (Some(lo), Some(hi)) = (cfg_u64(field, "min_items"), cfg_u64(field, "max_items"))
            && lo > hi
        {
            errors.push(FieldError::new(
                "/max_items",
                "`max_items` must not be less than `min_items`",
            ));
        }
        errors
    }
}
