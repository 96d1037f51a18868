//! `number`: a decimal number with optional bounds and precision.

use serde_json::{Value, json};

use super::{
    FieldType, Kinded, SqlCast, cfg_u64, check_min_max, config_schema, json_number, non_blank,
    parse_number_text, round_to, set,
};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`NumberField`].
pub const KIND: &str = "number";

/// A number; config `min`, `max`, `precision` (decimals).
///
/// `precision` is checked by the custom `x-decimals` keyword (`multipleOf`
/// is unreliable with binary floats); [`FieldType::normalize`] also rounds
/// to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NumberField;

impl Kinded for NumberField {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// `type: number` with `minimum`/`maximum` from config `min`/`max`.
pub(crate) fn bounded_number(field: &FieldDef) -> Value {
    let mut s = json!({ "type": "number" });
    if let Some(min) = field.cfg("min").filter(|v| v.is_number()) {
        set(&mut s, "minimum", min.clone());
    }
    if let Some(max) = field.cfg("max").filter(|v| v.is_number()) {
        set(&mut s, "maximum", max.clone());
    }
    s
}

/// Formats a number with `decimals` fixed decimals when given.
pub(crate) fn format_number(x: f64, decimals: Option<u64>) -> String {
    match decimals {
        Some(d) => format!("{x:.prec$}", prec = usize::try_from(d.min(12)).unwrap_or(12)),
        None => json_number(x).to_string(),
    }
}

impl FieldType for NumberField {
    fn config_schema(&self) -> &Value {
        config_schema!("number")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        let mut s = bounded_number(field);
        if let Some(p) = cfg_u64(field, "precision") {
            set(&mut s, crate::meta::compile::KEYWORD_DECIMALS, json!(p));
        }
        s
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Numeric
    }

    fn parse_import(&self, cell: &str, _field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        parse_number_text(t)
            .map(json_number)
            .ok_or_else(|| format!("`{}` is not a number", cell.trim()))
    }

    fn display(&self, value: &Value, field: &FieldDef) -> String {
        match value.as_f64() {
            Some(x) => format_number(x, cfg_u64(field, "precision")),
            None => super::plain_text(value),
        }
    }

    fn normalize(&self, value: Value, field: &FieldDef) -> Value {
        match (value.as_f64(), cfg_u64(field, "precision")) {
            (Some(x), Some(p)) if !value.is_i64() && !value.is_u64() => {
                json_number(round_to(x, u32::try_from(p).unwrap_or(12)))
            }
            _ => value,
        }
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        check_min_max(field, "min", "max")
    }
}
