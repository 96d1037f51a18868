//! `serial`: a computed, human-readable sequence number such as
//! `SO-20261123-0042`.
//!
//! The engine renders the number on create from config `pattern` and a
//! counter per (form, field, period); the counter restarts when
//! [`serial_period`] changes (a new day for a pattern with `{dd}`).

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Value, json};

use super::{FieldType, Kinded, SqlCast, config_schema, plain_text};
use crate::error::FieldError;
use crate::meta::model::FieldDef;

/// Kind string of [`Serial`].
pub const KIND: &str = "serial";

/// A computed sequence number; config `pattern` (required) with tokens
/// `{yyyy}` `{yy}` `{mm}` `{dd}` and exactly one `{seq:N}` (N in 1..=12,
/// the zero-padded width).
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Kinded for Serial {
    fn kind(&self) -> &'static str {
        KIND
    }
}

/// One piece of a serial pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialToken {
    /// Text copied as is.
    Literal(String),
    /// `{yyyy}`: four-digit year.
    Year,
    /// `{yy}`: two-digit year.
    ShortYear,
    /// `{mm}`: two-digit month.
    Month,
    /// `{dd}`: two-digit day.
    Day,
    /// `{seq:N}`: the counter, zero-padded to N digits.
    Seq(usize),
}

/// Splits a serial pattern into tokens.
///
/// # Errors
/// A lower-case sentence when a `{...}` token is unknown or unclosed, `N` is
/// outside 1..=12, or the pattern has no or several `{seq:N}`.
pub fn parse_serial_pattern(pattern: &str) -> Result<Vec<SerialToken>, String> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let text = rest.get(..open).unwrap_or_default();
        if text.contains('}') {
            return Err("the pattern has a `}` without an opening `{`".to_owned());
        }
        literal.push_str(text);
        let after = rest.get(open + 1..).unwrap_or_default();
        let Some(close) = after.find('}') else {
            return Err("the pattern has a `{` without a closing `}`".to_owned());
        };
        let name = after.get(..close).unwrap_or_default();
        let token = match name {
            "yyyy" => SerialToken::Year,
            "yy" => SerialToken::ShortYear,
            "mm" => SerialToken::Month,
            "dd" => SerialToken::Day,
            _ => match name.strip_prefix("seq:").map(str::parse::<usize>) {
                Some(Ok(n)) if (1..=12).contains(&n) => SerialToken::Seq(n),
                Some(_) => {
                    return Err(format!(
                        "`{{{name}}}` needs a width from 1 to 12, as in `{{seq:4}}`"
                    ));
                }
                None => {
                    return Err(format!(
                        "`{{{name}}}` is not a serial token (use {{yyyy}}, {{yy}}, {{mm}}, {{dd}} or {{seq:N}})"
                    ));
                }
            },
        };
        if !literal.is_empty() {
            tokens.push(SerialToken::Literal(std::mem::take(&mut literal)));
        }
        tokens.push(token);
        rest = after.get(close + 1..).unwrap_or_default();
    }
    literal.push_str(rest);
    if literal.contains('}') {
        return Err("the pattern has a `}` without an opening `{`".to_owned());
    }
    if !literal.is_empty() {
        tokens.push(SerialToken::Literal(literal));
    }
    match tokens.iter().filter(|t| matches!(t, SerialToken::Seq(_))).count() {
        1 => Ok(tokens),
        0 => Err("the pattern needs one `{seq:N}` token".to_owned()),
        _ => Err("the pattern may have only one `{seq:N}` token".to_owned()),
    }
}

fn render(pattern: &str, seq: Option<i64>, now: DateTime<Utc>) -> String {
    let Ok(tokens) = parse_serial_pattern(pattern) else {
        // Definitions are checked on save; render an unchecked one verbatim
        // plus the counter rather than failing a record write.
        return match seq {
            Some(n) => format!("{pattern}{n}"),
            None => pattern.to_owned(),
        };
    };
    let mut out = String::new();
    for t in tokens {
        match t {
            SerialToken::Literal(s) => out.push_str(&s),
            SerialToken::Year => out.push_str(&format!("{:04}", now.year())),
            SerialToken::ShortYear => out.push_str(&format!("{:02}", now.year().rem_euclid(100))),
            SerialToken::Month => out.push_str(&format!("{:02}", now.month())),
            SerialToken::Day => out.push_str(&format!("{:02}", now.day())),
            SerialToken::Seq(width) => {
                if let Some(n) = seq {
                    out.push_str(&format!("{n:0width$}"));
                }
            }
        }
    }
    out
}

/// Renders a serial number: date tokens from `now` (UTC), `{seq:N}` as
/// `seq` zero-padded to N digits (wider numbers are kept whole).
#[must_use]
pub fn render_serial(pattern: &str, seq: i64, now: DateTime<Utc>) -> String {
    render(pattern, Some(seq), now)
}

/// The counter period of a pattern at `now`: the pattern with `{seq:N}`
/// removed and date tokens rendered (`SO-{yyyy}{mm}-{seq:4}` →
/// `SO-202611-`). The counter resets when this text changes.
#[must_use]
pub fn serial_period(pattern: &str, now: DateTime<Utc>) -> String {
    render(pattern, None, now)
}

impl FieldType for Serial {
    fn serial_pattern<'a>(&self, field: &'a FieldDef) -> Option<&'a str> {
        Some(field.cfg_str("pattern").unwrap_or("{seq:6}"))
    }

    fn config_schema(&self) -> &Value {
        config_schema!("serial")
    }

    fn value_schema(&self, _field: &FieldDef) -> Value {
        json!({ "type": "string", "readOnly": true })
    }

    fn sql_cast(&self) -> SqlCast {
        SqlCast::Text
    }

    fn parse_import(&self, _cell: &str, _field: &FieldDef) -> Result<Value, String> {
        Err("serial numbers are generated by the engine and cannot be imported".to_owned())
    }

    fn display(&self, value: &Value, _field: &FieldDef) -> String {
        plain_text(value)
    }

    fn is_computed(&self) -> bool {
        true
    }

    fn is_searchable(&self) -> bool {
        true
    }

    fn check_config(&self, field: &FieldDef) -> Vec<FieldError> {
        match field.cfg_str("pattern").map(parse_serial_pattern) {
            Some(Err(message)) => vec![FieldError::new("/pattern", message)],
            _ => Vec::new(),
        }
    }
}
