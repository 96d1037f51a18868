//! `rating`: a whole number of stars from 0 to `max`.

use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, cfg_u64, config_schema, non_blank, plain_text};
use crate::meta::model::FieldDef;

/// Kind string of [`Rating`].
pub const KIND: &str = "rating";

/// Stars when config `max` is absent.
pub const DEFAULT_MAX: u64 = 5;

/// Stars 0..=max; config `max` (1..=10, default 5).
#[derive(Debug, Clone, Copy, Default)]
pub struct Rating;

impl Kinded for Rating {
    fn kind(&self) -> &'static str {
        KIND
    }
}

fn max_of(field: &FieldDef) -> u64 {
    cfg_u64(field, "max").unwrap_or(DEFAULT_MAX).clamp(1, 10)
}

impl FieldType for Rating {
    fn config_schema(&self) -> &Value {
        config_schema!("rating")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        json!({ "type": "integer", "minimum": 0, "maximum": max_of(field) })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Numeric
    }

    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        // `★★★☆☆` as copied from a rendered sheet.
        let stars = if t.chars().all(|c| c == '★' || c == '☆') {
            Some(t.chars().filter(|&c| c == '★').count() as f64)
        } else {
            t.parse::<f64>().ok()
        };
        match stars {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked whole and in range
            Some(x) if x.fract() == 0.0 && x >= 0.0 && x <= max_of(field) as f64 => Ok(json!(x as u64)),
            _ => Err(format!("`{t}` is not a rating from 0 to {}", max_of(field))),
        }
    }

    fn display(&self, value: &Value, field: &FieldDef) -> String {
        match value.as_u64() {
            Some(n) => {
                let max = max_of(field);
                let n = n.min(max);
                let filled = usize::try_from(n).unwrap_or(0);
                let empty = usize::try_from(max - n).unwrap_or(0);
                format!("{}{}", "★".repeat(filled), "☆".repeat(empty))
            }
            None => plain_text(value),
        }
    }
}
