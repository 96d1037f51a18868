//! JSON ⇄ rhai values.

use rhai::{Array, Dynamic, Map};
use serde_json::{Number, Value};

/// A JSON value as a rhai value: objects become maps, arrays arrays,
/// integers `INT`, other numbers `FLOAT`, null `()`.
pub fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect::<Array>()),
        Value::Object(obj) => Dynamic::from_map(map_of(obj)),
    }
}

/// A JSON object as a rhai map.
pub fn map_of(obj: &serde_json::Map<String, Value>) -> Map {
    obj.iter()
        .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
        .collect()
}

/// A JSON object as a shared rhai map: cloning it (once per run) copies a
/// pointer, not the record.
pub fn shared_map(obj: &serde_json::Map<String, Value>) -> Dynamic {
    Dynamic::from_map(map_of(obj)).into_shared()
}

/// A rhai value as JSON: `()` and non-finite floats become null; characters
/// become one-character strings; other types (timestamps, function
/// pointers, custom types) become their text.
pub fn to_json(value: Dynamic) -> Value {
    let value = value.flatten();
    if value.is_unit() {
        return Value::Null;
    }
    if let Ok(b) = value.as_bool() {
        return Value::Bool(b);
    }
    if let Ok(i) = value.as_int() {
        return Value::from(i);
    }
    if let Ok(x) = value.as_float() {
        return Number::from_f64(x).map_or(Value::Null, Value::Number);
    }
    if let Ok(c) = value.as_char() {
        return Value::String(c.to_string());
    }
    if value.is_string() {
        return Value::String(value.into_string().unwrap_or_default());
    }
    if value.is_array() {
        let items = value.into_array().unwrap_or_default();
        return Value::Array(items.into_iter().map(to_json).collect());
    }
    if value.is_map() {
        let map = value.try_cast::<Map>().unwrap_or_default();
        return Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        );
    }
    Value::String(value.to_string())
}
