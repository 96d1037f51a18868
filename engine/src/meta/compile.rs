//! A form definition → one JSON Schema (draft 2020-12) for its records, a
//! cache of compiled validators per form version, and the mapping of
//! validation errors to field-level messages.
//!
//! Invariants: formats are always validated (`date`, `date-time`, `email`,
//! `uri`, `uuid`); a cached validator belongs to one immutable form version,
//! so entries never go stale. Callers: the record writer (validate on
//! create/update), import (per-row errors), `meta::check` (default values).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, Keyword, ValidationError, Validator};
use serde_json::{Map, Value, json};

use super::field_type::{FieldTypes, phone, property_schema};
use super::model::FormDef;
use crate::error::{ErrorCode, FieldError, HasCode};
use crate::ids::FormId;

/// How many compiled validators a [`Validators`] cache keeps.
pub const VALIDATOR_CACHE_CAPACITY: usize = 1024;

/// The `$schema` of every compiled form schema.
pub const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

/// Failures compiling a form schema.
#[derive(Debug, thiserror::Error)]
pub enum MetaCompileError {
    /// The generated schema did not compile: a definition that slipped past
    /// `check_form_def`, or a bug.
    #[error("the schema of form `{form}` version {version} does not compile: {message}")]
    InvalidSchema {
        /// The form.
        form: FormId,
        /// Its version.
        version: i32,
        /// The compiler's message.
        message: String,
    },
}

impl HasCode for MetaCompileError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidSchema { .. } => ErrorCode::Internal,
        }
    }
}

/// The JSON Schema of a record of `def`: one property per active field (the
/// kind's fragment, `title` = label, `description` = help, `null` allowed
/// unless required), `required` = required non-computed fields, and no
/// other properties.
#[must_use]
pub fn compile_form(types: &FieldTypes, def: &FormDef) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for f in &def.fields {
        properties.insert(f.key.clone(), property_schema(types, f));
        let computed = types.get(&f.kind).is_ok_and(|t| t.is_computed());
        if f.required && !computed {
            required.push(Value::String(f.key.clone()));
        }
    }
    json!({
        "$schema": DRAFT_2020_12,
        "title": def.name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Custom keyword: a number has at most N decimals (`multipleOf` is
/// unreliable with binary floats: `0.3` is not a multiple of `0.1`).
pub const KEYWORD_DECIMALS: &str = "x-decimals";
/// Custom keyword: the lower bound of a `date` / `date-time` string
/// (the name ajv-formats uses).
pub const KEYWORD_FORMAT_MINIMUM: &str = "formatMinimum";
/// Custom keyword: the upper bound of a `date` / `date-time` string.
pub const KEYWORD_FORMAT_MAXIMUM: &str = "formatMaximum";

/// Compiles a schema as the engine always does: draft 2020-12, formats on,
/// and the custom keywords [`KEYWORD_DECIMALS`], [`KEYWORD_FORMAT_MINIMUM`]
/// and [`KEYWORD_FORMAT_MAXIMUM`].
///
/// # Errors
/// The compiler's message when the schema is invalid.
pub fn build_validator(schema: &Value) -> Result<Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .with_keyword(KEYWORD_DECIMALS, |_, value, _| {
            let n = value
                .as_u64()
                .filter(|n| *n <= 12)
                .ok_or_else(|| ValidationError::schema("`x-decimals` must be an integer from 0 to 12"))?;
            let boxed: Box<dyn for<'i> Keyword<'i>> = Box::new(Decimals(u32::try_from(n).unwrap_or(12)));
            Ok(boxed)
        })
        .with_keyword(KEYWORD_FORMAT_MINIMUM, |parent, value, _| {
            format_bound(parent, value, true)
        })
        .with_keyword(KEYWORD_FORMAT_MAXIMUM, |parent, value, _| {
            format_bound(parent, value, false)
        })
        .build(schema)
        .map_err(|e| e.to_string())
}

struct Decimals(u32);

impl<'i> Keyword<'i> for Decimals {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            return Ok(());
        }
        Err(ValidationError::custom(match self.0 {
            0 => "must be a whole number".to_owned(),
            1 => "must have at most 1 decimal".to_owned(),
            n => format!("must have at most {n} decimals"),
        }))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        let Some(x) = instance.as_f64().filter(|_| instance.is_f64()) else {
            return true;
        };
        let scaled = x * 10f64.powi(i32::try_from(self.0).unwrap_or(12));
        // Tolerate the float noise of a decimal literal (1.23 * 100 =
        // 123.00000000000001) but not a real extra digit.
        (scaled - scaled.round()).abs() <= 1e-9 * scaled.abs().max(1.0)
    }
}

/// A bound on a `date` (ISO text compares in date order) or `date-time`
/// (compared as instants) string.
struct FormatBound {
    bound: String,
    is_min: bool,
    is_date_time: bool,
}

fn format_bound<'a>(
    parent: &'a Map<String, Value>,
    value: &'a Value,
    is_min: bool,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    let bound = value
        .as_str()
        .ok_or_else(|| ValidationError::schema("`formatMinimum`/`formatMaximum` must be a string"))?;
    let is_date_time = parent.get("format").and_then(Value::as_str) == Some("date-time");
    if is_date_time && chrono::DateTime::parse_from_rfc3339(bound).is_err() {
        return Err(ValidationError::schema("the date-time bound is not RFC 3339"));
    }
    Ok(Box::new(FormatBound {
        bound: bound.to_owned(),
        is_min,
        is_date_time,
    }))
}

impl FormatBound {
    fn within(&self, s: &str) -> bool {
        let ord = if self.is_date_time {
            match (
                chrono::DateTime::parse_from_rfc3339(s),
                chrono::DateTime::parse_from_rfc3339(&self.bound),
            ) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                // A malformed value is the `format` keyword's error.
                _ => return true,
            }
        } else {
            s.cmp(self.bound.as_str())
        };
        if self.is_min { ord.is_ge() } else { ord.is_le() }
    }
}

impl<'i> Keyword<'i> for FormatBound {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            return Ok(());
        }
        let word = if self.is_min { "earlier" } else { "later" };
        Err(ValidationError::custom(format!(
            "must not be {word} than {}",
            self.bound
        )))
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        instance.as_str().is_none_or(|s| self.within(s))
    }
}

/// Compiled record validators keyed by (form, version); `Send + Sync`,
/// bounded to [`VALIDATOR_CACHE_CAPACITY`] entries (an arbitrary entry is
/// evicted when full: a miss only costs one compile).
pub struct Validators {
    inner: RwLock<HashMap<(FormId, i32), Arc<Validator>>>,
}

impl fmt::Debug for Validators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validators").field("len", &self.len()).finish()
    }
}

impl Default for Validators {
    fn default() -> Self {
        Self::new()
    }
}

impl Validators {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: RwLock::new(HashMap::new()),
        }
    }

    /// The validator of one form version, compiled on first use.
    ///
    /// # Errors
    /// [`MetaCompileError::InvalidSchema`] (code `internal`).
    pub fn get(
        &self,
        form: FormId,
        version: i32,
        types: &FieldTypes,
        def: &FormDef,
    ) -> Result<Arc<Validator>, MetaCompileError> {
        if let Some(v) = self
            .inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(form, version))
        {
            return Ok(Arc::clone(v));
        }
        let validator = Arc::new(build_validator(&compile_form(types, def)).map_err(|message| {
            MetaCompileError::InvalidSchema {
                form,
                version,
                message,
            }
        })?);
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= VALIDATOR_CACHE_CAPACITY
            && !map.contains_key(&(form, version))
            && let Some(victim) = map.keys().next().copied()
        {
            map.remove(&victim);
        }
        Ok(Arc::clone(map.entry((form, version)).or_insert(validator)))
    }

    /// How many validators are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether the cache is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Validates a record's data. Each error names the field key (`total_spent`,
/// or `items/0/qty` inside a subform) and says what is wrong in a short
/// lower-case phrase (`must be a number`, `is required`,
/// `must be one of: VIP, 普通`). Empty when the data is valid.
#[must_use]
pub fn validate(validator: &Validator, data: &Value) -> Vec<FieldError> {
    describe_errors(validator, data, "is not a field of this form")
        .into_iter()
        .map(|(pointer, message)| FieldError::new(pointer.trim_start_matches('/'), message))
        .collect()
}

/// The errors of a definition (`what`: "rule", "flow", "view", ...) against
/// its meta schema, compiled once at first use (`None` when the shipped
/// schema does not compile, which is reported as a bug rather than
/// accepting everything).
#[must_use]
pub(crate) fn meta_schema_errors(
    validator: Option<&Validator>,
    instance: &Value,
    what: &str,
) -> Vec<FieldError> {
    let Some(validator) = validator else {
        return vec![FieldError::new(
            "",
            format!("the {what} schema does not compile (a bug)"),
        )];
    };
    describe_errors(validator, instance, &format!("is not a property of a {what}"))
        .into_iter()
        .map(|(p, m)| FieldError::new(p, m))
        .collect()
}

/// Every validation error of `instance` as (JSON pointer, message).
/// `unknown` is the message for a property the schema does not allow.
pub(crate) fn describe_errors(
    validator: &Validator,
    instance: &Value,
    unknown: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in validator.iter_errors(instance) {
        describe(&e, unknown, &mut out);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(p, m)| seen.insert((p.clone(), m.clone())));
    out
}

fn child(path: &str, name: &str) -> String {
    format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"))
}

fn type_name(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "empty",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "a whole number",
        JsonType::Number => "a number",
        JsonType::String => "text",
        JsonType::Array => "a list",
        JsonType::Object => "an object",
    }
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn format_message(format: &str) -> String {
    match format {
        "date" => "must be a date (yyyy-mm-dd)".to_owned(),
        "date-time" => "must be a date and time with a time zone (like 2026-11-23T14:05:00Z)".to_owned(),
        "email" => "must be an email address".to_owned(),
        "uri" | "iri" => "must be a web address".to_owned(),
        "uuid" => "must be a uuid".to_owned(),
        "regex" => "must be a valid regular expression".to_owned(),
        other => format!("must be a valid {other}"),
    }
}

fn pattern_message(pattern: &str) -> String {
    if pattern == phone::DEFAULT_PATTERN {
        "must be a phone number".to_owned()
    } else if pattern.starts_with("^https?://") {
        "must start with http:// or https://".to_owned()
    } else if pattern == "^[A-Z]{3}$" {
        "must be a three-letter currency code such as CNY or USD".to_owned()
    } else if pattern == "^#[0-9a-fA-F]{6}$" {
        "must be a colour such as #1e90ff".to_owned()
    } else if pattern == super::KEY_PATTERN {
        "must be a lower-case letter followed by lower-case letters, digits or `_` (at most 63)".to_owned()
    } else {
        format!("must match the pattern `{pattern}`")
    }
}

/// The errors of the most plausible branch of an `anyOf`/`oneOf`: the one
/// with the fewest errors, skipping branches that only wanted `null`.
fn best_branch<'a>(context: &'a [Vec<ValidationError<'static>>]) -> Option<&'a [ValidationError<'static>]> {
    let only_null = |b: &[ValidationError<'_>]| {
        b.len() == 1
            && b.iter().all(|e| {
                matches!(
                    e.kind(),
                    ValidationErrorKind::Type {
                        kind: TypeKind::Single(JsonType::Null)
                    }
                )
            })
    };
    context
        .iter()
        .map(Vec::as_slice)
        .filter(|b| !b.is_empty() && !only_null(b))
        .min_by_key(|b| b.len())
}

fn describe(e: &ValidationError<'_>, unknown: &str, out: &mut Vec<(String, String)>) {
    let path = e.instance_path().as_str().to_owned();
    let message = match e.kind() {
        ValidationErrorKind::Required { property } => {
            out.push((child(&path, &scalar_text(property)), "is required".to_owned()));
            return;
        }
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            for name in unexpected {
                out.push((child(&path, name), unknown.to_owned()));
            }
            return;
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            if let Some(branch) = best_branch(context) {
                for inner in branch {
                    describe(inner, unknown, out);
                }
                return;
            }
            "does not have an accepted form".to_owned()
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => "matches more than one accepted form".to_owned(),
        ValidationErrorKind::Type { kind } => {
            let names: Vec<&str> = match kind {
                TypeKind::Single(t) => vec![type_name(*t)],
                TypeKind::Multiple(set) => set
                    .iter()
                    .filter(|t| *t != JsonType::Null)
                    .map(type_name)
                    .collect(),
            };
            if names.is_empty() {
                "must be empty".to_owned()
            } else {
                format!("must be {}", names.join(" or "))
            }
        }
        ValidationErrorKind::Enum { options } => {
            let values: Vec<String> = options
                .as_array()
                .map(|a| a.iter().filter(|v| !v.is_null()).map(scalar_text).collect())
                .unwrap_or_default();
            format!("must be one of: {}", values.join(", "))
        }
        ValidationErrorKind::Constant { expected_value } => {
            format!("must be {}", scalar_text(expected_value))
        }
        ValidationErrorKind::Format { format } => format_message(format),
        ValidationErrorKind::Pattern { pattern } => pattern_message(pattern),
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {}", plural(*limit, "character"))
        }
        ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_owned(),
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {}", plural(*limit, "character"))
        }
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        ValidationErrorKind::MultipleOf { multiple_of, .. } => format!("must be a multiple of {multiple_of}"),
        ValidationErrorKind::MinItems { limit } => format!("must have at least {}", plural(*limit, "item")),
        ValidationErrorKind::MaxItems { limit } => format!("must have at most {}", plural(*limit, "item")),
        ValidationErrorKind::UniqueItems => "must not repeat a value".to_owned(),
        ValidationErrorKind::MinProperties { limit } => {
            format!("must have at least {}", plural(*limit, "entry"))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            format!("must have at most {}", plural(*limit, "entry"))
        }
        ValidationErrorKind::FalseSchema | ValidationErrorKind::Not { .. } => "is not allowed".to_owned(),
        ValidationErrorKind::Custom { message, .. } => message.clone(),
        _ => {
            let raw = e.to_string();
            let mut chars = raw.chars();
            chars
                .next()
                .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
        }
    };
    out.push((path, message));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::meta::field_type::builtin;

    fn form(fields: Value) -> FormDef {
        serde_json::from_value(json!({ "name": "customers", "fields": fields })).unwrap()
    }

    fn errors(def: &FormDef, data: Value) -> Vec<(String, String)> {
        let types = builtin().unwrap();
        let v = build_validator(&compile_form(&types, def)).unwrap();
        validate(&v, &data)
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn e(field: &str, message: &str) -> (String, String) {
        (field.to_owned(), message.to_owned())
    }

    #[test]
    fn compiled_schema_shape() {
        let types = builtin().unwrap();
        let def = form(json!([
            {"key": "name", "label": "Name", "type": "text", "required": true, "help": "legal name"},
            {"key": "code", "label": "Code", "type": "serial", "required": true, "pattern": "C{seq:4}"},
            {"key": "total_spent", "label": "Total", "type": "money"}
        ]));
        let s = compile_form(&types, &def);
        assert_eq!(s["$schema"], DRAFT_2020_12);
        assert_eq!(s["required"], json!(["name"]));
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["properties"]["name"]["title"], "Name");
        assert_eq!(s["properties"]["name"]["description"], "legal name");
        assert_eq!(s["properties"]["name"]["type"], "string");
        assert_eq!(s["properties"]["total_spent"]["type"], json!(["number", "null"]));
        assert!(jsonschema::meta::is_valid(&s));
    }

    #[test]
    fn messages() {
        let def = form(json!([
            {"key": "name", "label": "Name", "type": "text", "required": true, "max_length": 5},
            {"key": "total_spent", "label": "Total", "type": "money", "min": 0},
            {"key": "tier", "label": "Tier", "type": "select", "options": [{"value": "VIP"}, {"value": "普通"}]},
            {"key": "email", "label": "Email", "type": "email"},
            {"key": "items", "label": "Items", "type": "subform", "fields": [
                {"key": "qty", "label": "Qty", "type": "number", "required": true}
            ]}
        ]));
        assert_eq!(errors(&def, json!({"name": "ok"})), vec![]);
        assert_eq!(
            errors(
                &def,
                json!({"name": null, "tier": null, "email": null, "total_spent": null})
            ),
            vec![e("name", "must be text")]
        );
        let got = errors(
            &def,
            json!({
                "name": "too long name",
                "total_spent": "12",
                "tier": "gold",
                "email": "nope",
                "items": [{"qty": 1}, {"qty": "x"}, {}],
                "extra": 1
            }),
        );
        for want in [
            e("name", "must be at most 5 characters"),
            e("total_spent", "must be a number"),
            e("tier", "must be one of: VIP, 普通"),
            e("email", "must be an email address"),
            e("items/1/qty", "must be a number"),
            e("items/2/qty", "is required"),
            e("extra", "is not a field of this form"),
        ] {
            assert!(got.contains(&want), "missing {want:?} in {got:?}");
        }
        assert_eq!(errors(&def, json!({})), vec![e("name", "is required")]);
        assert_eq!(
            errors(&def, json!({"name": "a", "total_spent": -1})),
            vec![e("total_spent", "must be at least 0")]
        );
    }

    #[test]
    fn cache_reuses_and_is_bounded() {
        let types = builtin().unwrap();
        let def = form(json!([{"key": "a", "label": "A", "type": "text"}]));
        let cache = Validators::new();
        let id = FormId::new();
        let v1 = cache.get(id, 1, &types, &def).unwrap();
        let v2 = cache.get(id, 1, &types, &def).unwrap();
        assert!(Arc::ptr_eq(&v1, &v2));
        for version in 0..(VALIDATOR_CACHE_CAPACITY as i32 + 5) {
            cache.get(id, version + 2, &types, &def).unwrap();
        }
        assert!(cache.len() <= VALIDATOR_CACHE_CAPACITY);
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Validators>();
    }
}
