//! `money`: an amount in one currency, rounded to its scale.

use serde_json::Value;

use super::number::bounded_number;
use super::{
    FieldType, Kinded, SqlCast, cfg_u64, check_min_max, config_schema, group_thousands, json_number,
    non_blank, parse_number_text, plain_text, round_to,
};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Money`].
pub const KIND: &str = "money";

/// Currency when config `currency` is absent.
pub const DEFAULT_CURRENCY: &str = "CNY";

/// Decimals when config `scale` is absent.
pub const DEFAULT_SCALE: u64 = 2;

/// An amount; config `min`, `max`, `currency` (ISO 4217), `scale`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Money;

impl Kinded for Money {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// The display symbol of an ISO 4217 code, when it has a common one.
#[must_use]
pub fn currency_symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "CNY" | "JPY" => "¥",
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "HKD" => "HK$",
        "TWD" => "NT$",
        "KRW" => "₩",
        "INR" => "₹",
        "AUD" => "A$",
        "CAD" => "C$",
        "SGD" => "S$",
        _ => return None,
    })
}

fn scale_of(field: &FieldDef) -> u32 {
    u32::try_from(cfg_u64(field, "scale").unwrap_or(DEFAULT_SCALE).min(12)).unwrap_or(2)
}

impl FieldType for Money {
    fn config_schema(&self) -> &Value {
        config_schema!("money")
    }

    fn value_schema(&self, field: &FieldDef) -> Value {
        bounded_number(field)
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Numeric
    }

    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String> {
        let Some(t) = non_blank(cell) else {
            return Ok(Value::Null);
        };
        parse_number_text(t)
            .map(|x| json_number(round_to(x, scale_of(field))))
            .ok_or_else(|| format!("`{t}` is not an amount of money"))
    }

    fn display(&self, value: &Value, field: &FieldDef) -> String {
        let Some(x) = value.as_f64() else {
            return plain_text(value);
        };
        let scale = usize::try_from(scale_of(field)).unwrap_or(2);
        let code = field.cfg_str("currency").unwrap_or(DEFAULT_CURRENCY);
        let amount = group_thousands(&format!("{:.scale$}", x.abs()));
        let sign = if x < 0.0 { "-" } else { "" };
        match currency_symbol(code) {
            Some(sym) => format!("{sign}{sym}{amount}"),
            None => format!("{sign}{code} {amount}"),
        }
    }

    fn normalize(&self, value: Value, field: &FieldDef) -> Value {
        match value.as_f64() {
            Some(x) if !value.is_i64() && !value.is_u64() => json_number(round_to(x, scale_of(field))),
            _ => value,
        }
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        check_min_max(field, "min", "max")
    }
}
