//! The field type registry: one implementation per kind, one file per kind.
//!
//! A kind knows its config schema (`schemas/field/<kind>.json`), the JSON
//! Schema fragment its values must satisfy, how SQL casts it for filtering and
//! sorting, how it parses an import cell, and its display text. Adding a kind
//! means adding a file, one line in [`builtin`] and a schema file.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::model::FieldDef;
use crate::error::{ErrorCode, HasCode};

/// How a field's stored JSON value is cast in SQL for filters, sorts and
/// indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlCast {
    /// Compared as text (`data ->> 'k'`).
    Text,
    /// Compared as a number (`CAST(data ->> 'k' AS NUMERIC)`).
    Numeric,
    /// Compared as a boolean.
    Bool,
    /// ISO date text (`YYYY-MM-DD`): text order is date order.
    Date,
    /// UTC RFC 3339 text normalised to `...Z`: text order is time order.
    DateTime,
    /// A JSON array of scalars (multiselect): `contains`/`in` test membership.
    Array,
    /// Not filterable or sortable (subform).
    None,
}

/// Registry failures.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two implementations claim one kind.
    #[error("kind `{0}` is registered twice")]
    Duplicate(&'static str),
    /// The kind is not registered.
    #[error("field type `{0}` is not registered")]
    UnknownKind(String),
}

impl HasCode for RegistryError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Duplicate(_) => ErrorCode::Internal,
            Self::UnknownKind(_) => ErrorCode::UnknownKind,
        }
    }
}

/// Something registered under a stable kind string.
pub trait Kinded {
    /// Stable kind stored in definitions (`money`). Never rename.
    fn kind(&self) -> &'static str;
}

/// One field type.
///
/// # Example
/// ```
/// let registry = engine::meta::field_type::builtin().unwrap();
/// let number = registry.get("number").unwrap();
/// assert_eq!(number.sql_cast(), engine::meta::field_type::SqlCast::Numeric);
/// ```
pub trait FieldType: Kinded + Send + Sync + 'static {
    /// JSON Schema of this kind's per-field config (the keys of
    /// [`FieldDef::config`]); unknown keys are refused.
    fn config_schema(&self) -> &Value;
    /// The JSON Schema fragment a value of this field must satisfy.
    fn value_schema(&self, field: &FieldDef) -> Value;
    /// Cast for filters, sorts and indexes.
    fn sql_cast(&self) -> SqlCast;
    /// Parses one import cell (CSV/XLSX text).
    ///
    /// # Errors
    /// A one-sentence message when the text is not a valid value.
    fn parse_import(&self, cell: &str, field: &FieldDef) -> Result<Value, String>;
    /// Human-readable text of a stored value.
    fn display(&self, value: &Value, field: &FieldDef) -> String;
    /// Canonical stored form of a valid value (datetimes to UTC
    /// `YYYY-MM-DDTHH:MM:SS.sssZ` so text order is time order, money rounded
    /// to its scale, trimmed phone numbers). Called after validation.
    fn normalize(&self, value: Value, _field: &FieldDef) -> Value {
        value
    }
    /// Values are computed by the engine (serial, formula) and refused on write.
    fn is_computed(&self) -> bool {
        false
    }
    /// Included in `q` text search.
    fn is_searchable(&self) -> bool {
        false
    }
    /// Whether the kind may be `unique` or `indexed`.
    fn is_indexable(&self) -> bool {
        !matches!(self.sql_cast(), SqlCast::None | SqlCast::Array)
    }
}

/// A frozen set of implementations keyed by kind.
pub struct Registry<T: ?Sized> {
    by_kind: BTreeMap<&'static str, Arc<T>>,
}

impl<T: ?Sized + Kinded> Default for Registry<T> {
    fn default() -> Self {
        Self {
            by_kind: BTreeMap::new(),
        }
    }
}

impl<T: ?Sized + Kinded> Registry<T> {
    /// Adds an implementation.
    ///
    /// # Errors
    /// [`RegistryError::Duplicate`] when the kind is taken.
    pub fn register(&mut self, item: Arc<T>) -> Result<(), RegistryError> {
        let kind = item.kind();
        if self.by_kind.insert(kind, item).is_some() {
            return Err(RegistryError::Duplicate(kind));
        }
        Ok(())
    }

    /// Looks a kind up.
    ///
    /// # Errors
    /// [`RegistryError::UnknownKind`].
    pub fn get(&self, kind: &str) -> Result<&Arc<T>, RegistryError> {
        self.by_kind
            .get(kind)
            .ok_or_else(|| RegistryError::UnknownKind(kind.to_owned()))
    }

    /// Every registered kind, A–Z.
    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_kind.keys().copied()
    }
}

/// The field type registry.
pub type FieldTypes = Registry<dyn FieldType>;

/// Every built-in field type.
///
/// # Errors
/// [`RegistryError::Duplicate`] if two kinds collide (a bug).
pub fn builtin() -> Result<FieldTypes, RegistryError> {
    let r = FieldTypes::default();
    Ok(r)
}
