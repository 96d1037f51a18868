//! The stored shape of a form definition and its fields.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A form definition as saved (one version of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormDef {
    /// Display name.
    pub name: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Active fields, in display order.
    pub fields: Vec<FieldDef>,
    /// Fields removed from the form. Their record data is kept and shows
    /// again when a field with the same key is added back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed_fields: Vec<FieldDef>,
    /// Key of the field shown as the record's title (relations, pickers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_field: Option<String>,
    /// UI layout (columns, sections), kept apart from field semantics.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub layout: Value,
}

/// A default value: a constant or a rhai expression evaluated on create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DefaultValue {
    /// `{"expr": "..."}`: a rhai expression over `record` and `now`.
    Expr {
        /// The expression.
        expr: String,
    },
    /// `{"value": ...}`: a constant.
    Value {
        /// The constant.
        value: Value,
    },
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// Stable key (`snake_case`); immutable once created.
    pub key: String,
    /// Display label; changes freely.
    pub label: String,
    /// Registered field type kind (`number`, `select`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// A value must be present on write.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// No two live records of the form share a value (enforced by an index).
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// Gets a partial expression index for filtering and sorting.
    #[serde(default, skip_serializing_if = "is_false")]
    pub indexed: bool,
    /// Hidden in forms and listings (the value is still stored).
    #[serde(default, skip_serializing_if = "is_false")]
    pub hidden: bool,
    /// Help text shown under the input.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    /// Default on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultValue>,
    /// Stable `_widget_<13 digits>` id, assigned by the engine on the first
    /// save and kept forever (see [`crate::meta::widget`]); the v5 API
    /// addresses fields by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget_id: Option<String>,
    /// Per-kind settings (`options`, `min`, `max`, `max_length`, `pattern`,
    /// `form_id`, `fields`, `expr`, ...), checked by the kind's config schema.
    #[serde(flatten)]
    pub config: Map<String, Value>,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

impl FieldDef {
    /// A config value by name.
    #[must_use]
    pub fn cfg(&self, name: &str) -> Option<&Value> {
        self.config.get(name)
    }

    /// A numeric config value.
    #[must_use]
    pub fn cfg_f64(&self, name: &str) -> Option<f64> {
        self.config.get(name).and_then(Value::as_f64)
    }

    /// A string config value.
    #[must_use]
    pub fn cfg_str(&self, name: &str) -> Option<&str> {
        self.config.get(name).and_then(Value::as_str)
    }

    /// Nested fields (subform).
    #[must_use]
    pub fn sub_fields(&self) -> Vec<FieldDef> {
        self.config
            .get("fields")
            .and_then(|v| serde_json::from_value::<Vec<FieldDef>>(v.clone()).ok())
            .unwrap_or_default()
    }
}

impl FormDef {
    /// An active field by key.
    #[must_use]
    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// An active field by key or by widget id.
    #[must_use]
    pub fn field_by_name(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.key == name || f.widget_id.as_deref() == Some(name))
    }
}
