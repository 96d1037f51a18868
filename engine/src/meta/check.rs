//! Checks a form definition written by a caller (designer, API, template)
//! and turns it into a [`FormDef`].
//!
//! Every problem is collected, not only the first, and each names its place
//! as a JSON pointer into the input (`/fields/2/type`,
//! `/fields/0/options/1/color`). Callers: form create/update and template
//! install. `removed_fields` is engine-managed and refused here.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::{Map, Value};

use super::compile::{build_validator, describe_errors};
use super::field_type::{FieldType, FieldTypes, formula, subform};
use super::is_valid_key;
use super::model::{DefaultValue, FieldDef, FormDef};
use crate::error::FieldError;
use crate::script::Sandbox;

/// Keys every field has; the rest of a field object is its per-kind config.
pub const COMMON_FIELD_KEYS: [&str; 10] = [
    "key",
    "label",
    "type",
    "required",
    "unique",
    "indexed",
    "hidden",
    "help",
    "default",
    "widget_id",
];

static FORM_SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../schemas/form.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

/// Checks `raw` against `schemas/form.schema.json` and every field against
/// its kind: key format and uniqueness (also within each subform), a
/// registered kind, the kind's config schema and config rules, `unique` /
/// `indexed` only where the kind allows it, default values (constants
/// against the value schema, expressions compiled), formula expressions
/// compiled, and `title_field` naming a text-like field.
///
/// # Errors
/// Every problem found, each with a JSON pointer into `raw` and one
/// lower-case sentence.
pub fn check_form_def(
    types: &FieldTypes,
    sandbox: &Sandbox,
    raw: &Value,
) -> Result<FormDef, Vec<FieldError>> {
    let mut errors = Vec::new();
    if raw.get("removed_fields").is_some() {
        errors.push(FieldError::new(
            "/removed_fields",
            "`removed_fields` is managed by the engine and cannot be set",
        ));
    }
    match FORM_SCHEMA.as_ref() {
        Some(v) => errors.extend(
            describe_errors(v, raw, "is not a property of a form definition")
                .into_iter()
                .map(|(p, m)| FieldError::new(p, m)),
        ),
        None => errors.push(FieldError::new("", "the form schema does not compile (a bug)")),
    }
    let fields = raw
        .get("fields")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut checker = Checker {
        types,
        sandbox,
        config_validators: HashMap::new(),
        errors,
    };
    checker.check_fields(fields, "/fields", false);
    if let Some(title) = raw.get("title_field").and_then(Value::as_str) {
        checker.check_title(fields, title);
    }
    let mut errors = checker.errors;
    // Schema and code checks can both flag one spot: keep the first.
    let mut seen = HashSet::new();
    errors.retain(|e| seen.insert(e.field.clone()));
    if !errors.is_empty() {
        return Err(errors);
    }
    serde_json::from_value::<FormDef>(raw.clone()).map_err(|e| {
        vec![FieldError::new(
            "",
            format!("the form definition cannot be read: {e}"),
        )]
    })
}

struct Checker<'a> {
    types: &'a FieldTypes,
    sandbox: &'a Sandbox,
    config_validators: HashMap<&'static str, Option<Validator>>,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn push(&mut self, pointer: String, message: impl Into<String>) {
        self.errors.push(FieldError::new(pointer, message));
    }

    fn check_fields(&mut self, fields: &[Value], base: &str, nested: bool) {
        let mut seen: HashSet<&str> = HashSet::new();
        for (i, f) in fields.iter().enumerate() {
            let ptr = format!("{base}/{i}");
            let Some(obj) = f.as_object() else { continue };
            if let Some(key) = obj.get("key").and_then(Value::as_str) {
                if !is_valid_key(key) {
                    self.push(
                        format!("{ptr}/key"),
                        format!(
                            "`{key}` is not a valid key: use a lower-case letter, then lower-case letters, digits or `_` (at most 63)"
                        ),
                    );
                } else if !seen.insert(key) {
                    let scope = if nested { "this subform" } else { "this form" };
                    self.push(
                        format!("{ptr}/key"),
                        format!("key `{key}` is used twice in {scope}"),
                    );
                }
            }
            let Some(kind_name) = obj.get("type").and_then(Value::as_str) else {
                continue;
            };
            let Ok(kind) = self.types.get(kind_name) else {
                self.push(
                    format!("{ptr}/type"),
                    format!("field type `{kind_name}` is not registered"),
                );
                continue;
            };
            let kind = std::sync::Arc::clone(kind);
            if nested && kind.kind() == subform::KIND {
                self.push(format!("{ptr}/type"), "a subform cannot contain another subform");
                continue;
            }
            if nested && kind.file_rule().is_some() {
                self.push(
                    format!("{ptr}/type"),
                    "files go in a field of the form itself, not inside a subform",
                );
                continue;
            }
            self.check_field(kind.as_ref(), obj, &ptr, nested);
        }
    }

    fn check_field(&mut self, kind: &dyn FieldType, obj: &Map<String, Value>, ptr: &str, nested: bool) {
        let config: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !COMMON_FIELD_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let before = self.errors.len();
        self.check_config_schema(kind, &Value::Object(config), ptr);
        let Ok(field) = serde_json::from_value::<FieldDef>(Value::Object(obj.clone())) else {
            // The form schema has already said what is wrong with it.
            return;
        };
        if self.errors.len() == before {
            for e in kind.check_config(&field) {
                self.push(format!("{ptr}{}", e.field), e.message);
            }
        }
        // Defaults are only checked against a config that is itself valid.
        let config_ok = self.errors.len() == before;
        for (flag, on, word) in [
            ("unique", field.unique, "unique"),
            ("indexed", field.indexed, "indexed"),
        ] {
            if !on {
                continue;
            }
            if nested {
                self.push(
                    format!("{ptr}/{flag}"),
                    format!("fields inside a subform cannot be {word}"),
                );
            } else if !kind.is_indexable_for(&field) {
                self.push(
                    format!("{ptr}/{flag}"),
                    format!("`{}` fields cannot be {word}", kind.kind()),
                );
            }
        }
        match &field.default {
            Some(_) if kind.is_computed() => self.push(
                format!("{ptr}/default"),
                format!("`{}` fields are computed and cannot have a default", kind.kind()),
            ),
            Some(DefaultValue::Expr { expr }) => {
                if let Err(e) = self.sandbox.check(expr) {
                    self.push(format!("{ptr}/default/expr"), e.to_string());
                }
            }
            Some(DefaultValue::Value { value }) if config_ok && !value.is_null() => {
                self.check_default_value(kind, &field, value, ptr);
            }
            _ => {}
        }
        if kind.kind() == formula::KIND
            && let Some(expr) = field.cfg_str("expr")
            && let Err(e) = self.sandbox.check(expr)
        {
            self.push(format!("{ptr}/expr"), e.to_string());
        }
        if kind.kind() == subform::KIND
            && !nested
            && let Some(nested_fields) = obj.get("fields").and_then(Value::as_array)
        {
            self.check_fields(nested_fields, &format!("{ptr}/fields"), true);
        }
    }

    fn check_config_schema(&mut self, kind: &dyn FieldType, config: &Value, ptr: &str) {
        let name = kind.kind();
        let validator = self
            .config_validators
            .entry(name)
            .or_insert_with(|| build_validator(kind.config_schema()).ok());
        let Some(validator) = validator.as_ref() else {
            let message = format!("the config schema of `{name}` fields does not compile (a bug)");
            self.push(format!("{ptr}/type"), message);
            return;
        };
        let unknown = format!("is not a setting of `{name}` fields");
        for (p, m) in describe_errors(validator, config, &unknown) {
            self.errors.push(FieldError::new(format!("{ptr}{p}"), m));
        }
    }

    fn check_default_value(&mut self, kind: &dyn FieldType, field: &FieldDef, value: &Value, ptr: &str) {
        match build_validator(&kind.value_schema_in(field, self.types)) {
            Ok(v) => {
                for (p, m) in describe_errors(&v, value, "is not a field of this subform") {
                    self.push(format!("{ptr}/default/value{p}"), m);
                }
            }
            Err(e) => self.push(
                format!("{ptr}/type"),
                format!("the value schema of this field does not compile: {e}"),
            ),
        }
    }

    fn check_title(&mut self, fields: &[Value], title: &str) {
        let found = fields
            .iter()
            .find(|f| f.get("key").and_then(Value::as_str) == Some(title));
        let Some(f) = found else {
            self.push(
                "/title_field".to_owned(),
                format!("`{title}` is not a field of this form"),
            );
            return;
        };
        let kind_name = f.get("type").and_then(Value::as_str).unwrap_or_default();
        if !self.types.get(kind_name).is_ok_and(|k| k.is_searchable()) {
            self.push(
                "/title_field".to_owned(),
                format!("`{title}` is a `{kind_name}` field; the title must be a text-like field (text, textarea, phone, email, url, select or serial)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::meta::field_type::builtin;

    fn check(raw: Value) -> Result<FormDef, Vec<(String, String)>> {
        let types = builtin().unwrap();
        check_form_def(&types, &Sandbox::default(), &raw)
            .map_err(|errs| errs.into_iter().map(|e| (e.field, e.message)).collect())
    }

    fn errs(raw: Value) -> Vec<(String, String)> {
        check(raw).unwrap_err()
    }

    fn has(errors: &[(String, String)], field: &str, needle: &str) -> bool {
        errors.iter().any(|(f, m)| f == field && m.contains(needle))
    }

    #[test]
    fn a_good_form_passes() {
        let def = check(json!({
            "name": "客户",
            "title_field": "name",
            "layout": {"columns": 2},
            "fields": [
                {"key": "name", "label": "名称", "type": "text", "required": true, "unique": true, "max_length": 100},
                {"key": "tier", "label": "等级", "type": "select", "indexed": true,
                 "options": [{"value": "VIP", "color": "#ff0000"}, {"value": "普通"}],
                 "default": {"value": "普通"}},
                {"key": "since", "label": "Since", "type": "date", "default": {"expr": "now"}},
                {"key": "code", "label": "Code", "type": "serial", "pattern": "C{yyyy}-{seq:4}"},
                {"key": "total", "label": "Total", "type": "formula", "expr": "record.a + 1"},
                {"key": "owner", "label": "Owner", "type": "relation", "form_id": "0195f4a0-0000-7000-8000-000000000001"},
                {"key": "items", "label": "Items", "type": "subform", "fields": [
                    {"key": "qty", "label": "Qty", "type": "number", "required": true},
                    {"key": "sku", "label": "SKU", "type": "text"}
                ]}
            ]
        }))
        .unwrap();
        assert_eq!(def.fields.len(), 7);
        assert_eq!(def.title_field.as_deref(), Some("name"));
    }

    #[test]
    fn every_problem_is_reported_with_a_pointer() {
        let e = errs(json!({
            "name": "",
            "removed_fields": [],
            "title_field": "amount",
            "fields": [
                {"key": "Bad Key", "label": "A", "type": "text"},
                {"key": "a", "label": "A", "type": "nope"},
                {"key": "a", "label": "A2", "type": "text", "colour": 1},
                {"key": "tier", "label": "T", "type": "select",
                 "options": [{"value": "x"}, {"value": "x", "color": "red"}]},
                {"key": "amount", "label": "Amt", "type": "money", "currency": "yuan", "default": {"value": "12"}},
                {"key": "f", "label": "F", "type": "formula", "expr": "record.a +"},
                {"key": "s", "label": "S", "type": "serial", "pattern": "X-{seq:0}"},
                {"key": "tags", "label": "Tags", "type": "multiselect", "unique": true, "options": [{"value": "a"}]},
                {"key": "r", "label": "R", "type": "relation", "form_id": "not-a-uuid"},
                {"key": "d", "label": "D", "type": "date", "default": {"expr": "nope_var"}},
                {"key": "sub", "label": "Sub", "type": "subform", "fields": [
                    {"key": "q", "label": "Q", "type": "number"},
                    {"key": "q", "label": "Q2", "type": "number"},
                    {"key": "inner", "label": "I", "type": "subform", "fields": []}
                ]}
            ]
        }));
        assert!(has(&e, "/name", "must not be empty"), "{e:?}");
        assert!(has(&e, "/removed_fields", "managed by the engine"), "{e:?}");
        assert!(has(&e, "/fields/0/key", "lower-case"), "{e:?}");
        assert!(
            has(&e, "/fields/1/type", "field type `nope` is not registered"),
            "{e:?}"
        );
        assert!(has(&e, "/fields/2/key", "used twice"), "{e:?}");
        assert!(
            has(&e, "/fields/2/colour", "is not a setting of `text` fields"),
            "{e:?}"
        );
        assert!(has(&e, "/fields/3/options/1/color", "colour"), "{e:?}");
        assert!(has(&e, "/fields/4/currency", "currency code"), "{e:?}");
        assert!(has(&e, "/fields/5/expr", "does not compile"), "{e:?}");
        assert!(has(&e, "/fields/6/pattern", "width from 1 to 12"), "{e:?}");
        assert!(has(&e, "/fields/7/unique", "cannot be unique"), "{e:?}");
        assert!(has(&e, "/fields/8/form_id", "uuid"), "{e:?}");
        assert!(has(&e, "/fields/9/default/expr", "does not compile"), "{e:?}");
        assert!(
            has(&e, "/fields/10/fields/1/key", "used twice in this subform"),
            "{e:?}"
        );
        assert!(
            has(&e, "/fields/10/fields/2/type", "cannot contain another subform"),
            "{e:?}"
        );
        assert!(has(&e, "/title_field", "text-like"), "{e:?}");
        for (_, m) in &e {
            let first = m.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{m}");
        }
    }

    #[test]
    fn duplicate_option_values_and_bad_defaults() {
        let e = errs(json!({"name": "f", "fields": [
            {"key": "tier", "label": "T", "type": "select", "options": [{"value": "x"}, {"value": "x"}]},
            {"key": "n", "label": "N", "type": "number", "max": 10, "default": {"value": 11}},
            {"key": "m", "label": "M", "type": "number", "min": 5, "max": 1},
            {"key": "c", "label": "C", "type": "serial", "pattern": "C", "default": {"value": "x"}}
        ]}));
        assert!(has(&e, "/fields/0/options/1/value", "used twice"), "{e:?}");
        assert!(has(&e, "/fields/1/default/value", "must be at most 10"), "{e:?}");
        assert!(has(&e, "/fields/2/max", "must not be less than"), "{e:?}");
        assert!(has(&e, "/fields/3/pattern", "`{seq:N}`"), "{e:?}");
        assert!(has(&e, "/fields/3/default", "computed"), "{e:?}");
    }

    #[test]
    fn missing_required_config_and_unknown_title() {
        let e = errs(json!({"name": "f", "title_field": "zzz", "fields": [
            {"key": "s", "label": "S", "type": "select"},
            {"key": "r", "label": "R", "type": "relation"},
            {"label": "no key", "type": "text"}
        ]}));
        assert!(has(&e, "/fields/0/options", "is required"), "{e:?}");
        assert!(has(&e, "/fields/1/form_id", "is required"), "{e:?}");
        assert!(has(&e, "/fields/2/key", "is required"), "{e:?}");
        assert!(has(&e, "/title_field", "is not a field"), "{e:?}");
    }

    #[test]
    fn not_an_object() {
        let e = errs(json!([1]));
        assert!(has(&e, "", "must be an object"), "{e:?}");
    }

    #[test]
    fn schema_key_pattern_matches_the_engine() {
        let s: Value = serde_json::from_str(include_str!("../../../schemas/form.schema.json")).unwrap();
        assert_eq!(
            s["$defs"]["field"]["properties"]["key"]["pattern"],
            crate::meta::KEY_PATTERN
        );
        assert!(FORM_SCHEMA.is_some());
    }
}
