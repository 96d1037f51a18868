//! The field type registry: one implementation per kind, one file per kind.
//!
//! A kind knows its config schema (`schemas/field/<kind>.json`), the JSON
//! Schema fragment its values must satisfy, how SQL casts it for filtering and
//! sorting, how it parses an import cell, and its display text. Adding a kind
//! means adding a file, one line in [`builtin`] and a schema file.
//!
//! Invariants: kind strings are constants in each kind's file and never
//! change; a kind's config schema is embedded from `schemas/field/<kind>.json`
//! at build time. Callers: `meta::check` (form definitions), `meta::compile`
//! (record schemas), the query compiler (casts), import/export (parse and
//! display).

pub mod attachment;
pub mod checkbox;
pub mod date;
pub mod datetime;
pub mod email;
pub mod formula;
pub mod image;
pub mod member;
pub mod money;
pub mod multiselect;
pub mod number;
pub mod phone;
pub mod rating;
pub mod relation;
pub mod select;
pub mod serial;
pub mod subform;
pub mod text;
pub mod textarea;
pub mod url;

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Number, Value};

use super::model::FieldDef;
use crate::error::{ErrorCode, FieldError, HasCode};

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

/// What a reference field's values point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// Live records of the form with this id.
    Record {
        /// The target form (as configured; checked at design time).
        form_id: String,
    },
    /// Members of the tenant.
    Member,
}

/// What a file field holds: the record writer claims the uploaded files a
/// value names (see `crate::files`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRule {
    /// Only raster images (sniffed, never SVG).
    pub images_only: bool,
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
    /// Column headers that commonly name a field of this kind in a
    /// spreadsheet (lower case): an import maps such a column to the form's
    /// only field of this kind when no key or label matches.
    fn header_words(&self) -> &'static [&'static str] {
        &[]
    }
    /// What a value points at; the record writer checks that it exists in
    /// the caller's tenant.
    fn reference(&self, _field: &FieldDef) -> Option<Reference> {
        None
    }
    /// Set for kinds whose values are uploaded files (attachment, image).
    fn file_rule(&self) -> Option<FileRule> {
        None
    }
    /// A rhai expression over the record, evaluated on every save.
    fn computed_expr<'a>(&self, _field: &'a FieldDef) -> Option<&'a str> {
        None
    }
    /// A counter pattern whose next value is assigned on create.
    fn serial_pattern<'a>(&self, _field: &'a FieldDef) -> Option<&'a str> {
        None
    }
    /// Included in `q` text search.
    fn is_searchable(&self) -> bool {
        false
    }
    /// Whether the kind may be `unique` or `indexed`.
    fn is_indexable(&self) -> bool {
        !matches!(self.sql_cast(), SqlCast::None | SqlCast::Array)
    }
    /// The cast of one field of this kind, where the config changes it
    /// (`multiple` members and relations are arrays, a formula casts as its
    /// `result`). Defaults to [`FieldType::sql_cast`].
    fn sql_cast_for(&self, _field: &FieldDef) -> SqlCast {
        self.sql_cast()
    }
    /// Whether this field may be `unique` or `indexed`, given its config.
    fn is_indexable_for(&self, field: &FieldDef) -> bool {
        self.is_indexable() && !matches!(self.sql_cast_for(field), SqlCast::None | SqlCast::Array)
    }
    /// The value schema resolved against a registry: kinds that nest other
    /// fields (subform) look the nested kinds up in `types`. Defaults to
    /// [`FieldType::value_schema`].
    fn value_schema_in(&self, field: &FieldDef, _types: &FieldTypes) -> Value {
        self.value_schema(field)
    }
    /// Checks of the config that its JSON Schema cannot express (unique
    /// option values, `min` ≤ `max`, a well-formed serial pattern). Each
    /// error's `field` is a JSON pointer relative to the field object
    /// (`/options/1/value`, or empty for the field itself).
    fn check_config(&self, _field: &FieldDef) -> Vec<FieldError> {
        Vec::new()
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
    let mut r = FieldTypes::default();
    r.register(Arc::new(attachment::ATTACHMENT))?;
    r.register(Arc::new(checkbox::Checkbox))?;
    r.register(Arc::new(date::Date))?;
    r.register(Arc::new(datetime::DateTimeField))?;
    r.register(Arc::new(email::Email))?;
    r.register(Arc::new(formula::Formula))?;
    r.register(Arc::new(image::IMAGE))?;
    r.register(Arc::new(member::Member))?;
    r.register(Arc::new(money::Money))?;
    r.register(Arc::new(multiselect::Multiselect))?;
    r.register(Arc::new(number::NumberField))?;
    r.register(Arc::new(phone::Phone))?;
    r.register(Arc::new(rating::Rating))?;
    r.register(Arc::new(relation::Relation))?;
    r.register(Arc::new(select::Select))?;
    r.register(Arc::new(serial::Serial))?;
    r.register(Arc::new(subform::Subform))?;
    r.register(Arc::new(text::Text))?;
    r.register(Arc::new(textarea::Textarea))?;
    r.register(Arc::new(url::Url))?;
    Ok(r)
}

/// The built-in registry, built once; used where a kind needs to resolve
/// nested kinds without a registry at hand (a subform's value schema).
pub(crate) fn builtin_shared() -> &'static FieldTypes {
    static SHARED: LazyLock<FieldTypes> = LazyLock::new(|| builtin().unwrap_or_default());
    &SHARED
}

/// Embeds `schemas/field/<kind>.json` and parses it once. A file that does
/// not parse becomes the `false` schema (refusing every config); the registry
/// test catches that.
macro_rules! config_schema {
    ($kind:literal) => {{
        static SCHEMA: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
            serde_json::from_str(include_str!(concat!(
                "../../../../schemas/field/",
                $kind,
                ".json"
            )))
            .unwrap_or(serde_json::Value::Bool(false))
        });
        &SCHEMA
    }};
}
pub(crate) use config_schema;

/// The trimmed cell, or `None` when it is blank.
pub(crate) fn non_blank(cell: &str) -> Option<&str> {
    let t = cell.trim();
    (!t.is_empty()).then_some(t)
}

/// A JSON number from an `f64`: integral values become JSON integers, so
/// `3.0` is stored as `3`. Non-finite values become `null`.
pub(crate) fn json_number(x: f64) -> Value {
    // 2^53: beyond it an f64 no longer holds every integer exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if x.fract() == 0.0 && x.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)] // integral and below 2^53
        return Value::from(x as i64);
    }
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Rounds to `scale` decimals (half away from zero).
pub(crate) fn round_to(x: f64, scale: u32) -> f64 {
    let factor = 10f64.powi(i32::try_from(scale.min(12)).unwrap_or(12));
    (x * factor).round() / factor
}

/// Parses a number as a spreadsheet user types it: thousands separators
/// (`1,234.5`), spaces, a leading `+`, currency symbols or codes
/// (`¥1,234.50`, `USD 12`, `12元`), and accounting negatives (`(12.5)`).
pub(crate) fn parse_number_text(text: &str) -> Option<f64> {
    let mut t = text.trim();
    let mut negative = false;
    if let Some(inner) = t.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        t = inner.trim();
    }
    let cleaned: String = t
        .chars()
        .filter(|c| !matches!(c, ',' | '，' | '_' | ' ' | '\u{a0}' | '\''))
        .collect();
    let mut s = cleaned.as_str();
    if let Some(rest) = s.strip_prefix('-') {
        negative = !negative;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    let s = strip_currency_code(s.trim_start_matches(|c: char| "¥￥$€£₩₹".contains(c)), true);
    let s = strip_currency_code(s.trim_end_matches(|c: char| "¥￥$€£₩₹元".contains(c)), false);
    let s = s.trim_start_matches(|c: char| "¥￥$€£₩₹".contains(c));
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || c == '-')
    {
        return None;
    }
    let x: f64 = s.parse().ok()?;
    x.is_finite().then_some(if negative { -x } else { x })
}

/// Strips one three-letter upper-case currency code (`USD`, `CNY`, `RMB`)
/// from the start or the end.
fn strip_currency_code(s: &str, at_start: bool) -> &str {
    let is_code = |c: &str| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase());
    if at_start {
        match s.get(..3) {
            Some(code) if is_code(code) => s.get(3..).unwrap_or_default(),
            _ => s,
        }
    } else {
        match s
            .len()
            .checked_sub(3)
            .and_then(|i| s.get(i..).map(|code| (i, code)))
        {
            Some((i, code)) if is_code(code) => s.get(..i).unwrap_or_default(),
            _ => s,
        }
    }
}

/// Parses a date as typed in a spreadsheet: `2026-11-23`, `2026/11/23`,
/// `2026.11.23`, `2026年11月23日`, single-digit months and days allowed.
pub(crate) fn parse_date_text(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y年%m月%d号"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
}

/// Parses a date-time: RFC 3339 with any offset, or a naive
/// `2026-11-23 14:05[:30]` (also with `/` or `T`) taken as UTC.
pub(crate) fn parse_datetime_text(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.with_timezone(&Utc));
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
        "%Y年%m月%d日 %H:%M:%S",
        "%Y年%m月%d日 %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .map(|n| n.and_utc())
}

/// Groups the integer part of a plain decimal string by thousands
/// (`-1234567.5` → `-1,234,567.5`).
pub(crate) fn group_thousands(plain: &str) -> String {
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// Plain text of a scalar JSON value (`"a"` → `a`, `3` → `3`, null → empty).
pub(crate) fn plain_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A non-negative integer config value.
pub(crate) fn cfg_u64(field: &FieldDef, name: &str) -> Option<u64> {
    field.cfg(name).and_then(Value::as_u64)
}

/// An error when config `min` exceeds `max` (numbers or ISO strings).
pub(crate) fn check_min_max(field: &FieldDef, lo: &str, hi: &str) -> Vec<FieldError> {
    let bad = match (field.cfg(lo), field.cfg(hi)) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            a.as_f64().zip(b.as_f64()).is_some_and(|(a, b)| a > b)
        }
        (Some(Value::String(a)), Some(Value::String(b))) => a > b,
        _ => false,
    };
    if bad {
        vec![FieldError::new(
            format!("/{hi}"),
            format!("`{hi}` must not be less than `{lo}`"),
        )]
    } else {
        Vec::new()
    }
}

/// The options of a select or multiselect: `(value, label)`, the label
/// falling back to the value.
pub(crate) fn options_of(field: &FieldDef) -> Vec<(String, String)> {
    field
        .cfg("options")
        .and_then(Value::as_array)
        .map(|opts| {
            opts.iter()
                .filter_map(|o| {
                    let value = o.get("value")?.as_str()?.to_owned();
                    let label = o
                        .get("label")
                        .and_then(Value::as_str)
                        .filter(|l| !l.is_empty())
                        .map_or_else(|| value.clone(), str::to_owned);
                    Some((value, label))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Duplicate option values, pointed at `/options/<i>/value`.
pub(crate) fn check_options(field: &FieldDef) -> Vec<FieldError> {
    let mut seen = std::collections::HashSet::new();
    let mut errors = Vec::new();
    for (i, opt) in field
        .cfg("options")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(v) = opt.get("value").and_then(Value::as_str)
            && !seen.insert(v)
        {
            errors.push(FieldError::new(
                format!("/options/{i}/value"),
                format!("option value `{v}` is used twice"),
            ));
        }
    }
    errors
}

/// Finds an option by value, then by label, then ignoring case, then by
/// one part of a bilingual label (`个人客户` or `b2c` for `个人客户 B2C`) when
/// only one option has that part.
pub(crate) fn match_option(options: &[(String, String)], text: &str) -> Option<String> {
    let t = text.trim();
    options
        .iter()
        .find(|(v, _)| v == t)
        .or_else(|| options.iter().find(|(_, l)| l == t))
        .or_else(|| {
            options
                .iter()
                .find(|(v, l)| v.eq_ignore_ascii_case(t) || l.eq_ignore_ascii_case(t))
        })
        .or_else(|| {
            let want = norm(t);
            if want.is_empty() {
                return None;
            }
            let mut hits = options.iter().filter(|(_, l)| parts(l).contains(&want));
            let first = hits.next()?;
            hits.next().is_none().then_some(first)
        })
        .map(|(v, _)| v.clone())
}

/// A text for loose comparison: lower case, without spaces, `_` and `-`.
pub(crate) fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The parts of a bilingual text: split at spaces, slashes, bars and
/// brackets, and between Chinese and Latin runs.
pub(crate) fn parts(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_cjk = None;
    for c in s.chars() {
        if c.is_whitespace() || "/|()（）[]【】:：,，".contains(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur_cjk = None;
            continue;
        }
        let cjk = !c.is_ascii();
        if cur_cjk.is_some_and(|k| k != cjk) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur_cjk = Some(cjk);
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.iter().map(|p| norm(p)).filter(|p| !p.is_empty()).collect()
}

/// The label of an option value (the value itself when unknown).
pub(crate) fn option_label(options: &[(String, String)], value: &Value) -> String {
    let v = plain_text(value);
    options
        .iter()
        .find(|(ov, _)| *ov == v)
        .map_or(v, |(_, l)| l.clone())
}

/// Checks that `pattern` compiles as a JSON Schema `pattern` (the regex
/// dialect the record validator uses).
pub(crate) fn check_pattern(pattern: Option<&str>) -> Vec<FieldError> {
    match pattern {
        Some(p) if jsonschema::draft202012::new(&serde_json::json!({ "pattern": p })).is_err() => {
            vec![FieldError::new(
                "/pattern",
                format!("`{p}` is not a valid regular expression"),
            )]
        }
        _ => Vec::new(),
    }
}

/// Parses one UUID cell (`member`, `relation`).
pub(crate) fn parse_uuid_cell(text: &str, multiple: bool) -> Result<Value, String> {
    let one = |s: &str| {
        uuid::Uuid::parse_str(s.trim())
            .map(|u| Value::String(u.hyphenated().to_string()))
            .map_err(|_| format!("`{}` is not a uuid", s.trim()))
    };
    if multiple {
        text.split([',', '，', ';', '；'])
            .filter(|s| !s.trim().is_empty())
            .map(one)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    } else {
        one(text)
    }
}

/// A UUID string fragment, or an array of unique ones.
pub(crate) fn uuid_schema(multiple: bool) -> Value {
    let one = serde_json::json!({ "type": "string", "format": "uuid" });
    if multiple {
        serde_json::json!({ "type": "array", "items": one, "uniqueItems": true })
    } else {
        one
    }
}

/// The value fragment of a file field: an array of file ids, or of the
/// `{id, name, size, mime}` objects a read returns (so a value read can be
/// written back); config `max_files` caps the count.
pub(crate) fn files_schema(field: &FieldDef) -> Value {
    let id = serde_json::json!({ "type": "string", "format": "uuid" });
    let mut frag = serde_json::json!({
        "type": "array",
        "items": {
            "anyOf": [
                id,
                { "type": "object", "properties": { "id": id }, "required": ["id"] }
            ]
        }
    });
    if let Some(max) = cfg_u64(field, "max_files") {
        set(&mut frag, "maxItems", Value::from(max));
    }
    frag
}

/// The file ids of a file field's value, first occurrence kept.
#[must_use]
pub fn file_ids(value: Option<&Value>) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for item in value.and_then(Value::as_array).into_iter().flatten() {
        let id = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("id").and_then(Value::as_str),
            _ => None,
        };
        if let Some(id) = id.and_then(|s| uuid::Uuid::parse_str(s).ok()) {
            let id = id.hyphenated().to_string();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Display text of a file field: the file names.
pub(crate) fn display_files(value: &Value) -> String {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| match item {
            Value::Object(o) => o
                .get("name")
                .or_else(|| o.get("id"))
                .map(plain_text)
                .unwrap_or_default(),
            other => plain_text(other),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Makes a value fragment also accept `null` (an empty optional field).
/// Adds `null` to `type` (and to `enum`) where that is equivalent, so
/// validation errors stay direct; otherwise wraps in `anyOf`.
#[must_use]
pub fn nullable(mut frag: Value) -> Value {
    let Some(obj) = frag.as_object_mut() else {
        return frag;
    };
    let has_combinator = ["anyOf", "oneOf", "allOf", "const", "$ref", "not"]
        .iter()
        .any(|k| obj.contains_key(*k));
    let typed = match obj.get_mut("type") {
        Some(Value::String(t)) if !has_combinator => {
            let t = std::mem::take(t);
            obj.insert("type".to_owned(), serde_json::json!([t, "null"]));
            true
        }
        Some(Value::Array(ts)) if !has_combinator => {
            if !ts.iter().any(|t| t == "null") {
                ts.push(Value::from("null"));
            }
            true
        }
        _ => false,
    };
    if !typed {
        return serde_json::json!({ "anyOf": [frag, { "type": "null" }] });
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    frag
}

/// The property schema of one field inside a record (or subform row): the
/// kind's value fragment with `title` = label and `description` = help,
/// accepting `null` unless the field is required. An unregistered kind
/// accepts any value (its definition was checked when saved).
#[must_use]
pub fn property_schema(types: &FieldTypes, field: &FieldDef) -> Value {
    let Ok(kind) = types.get(&field.kind) else {
        return serde_json::json!({ "title": field.label });
    };
    let mut frag = kind.value_schema_in(field, types);
    if !field.required || kind.is_computed() {
        frag = nullable(frag);
    }
    if let Some(obj) = frag.as_object_mut() {
        obj.insert("title".to_owned(), Value::String(field.label.clone()));
        if !field.help.is_empty() {
            obj.insert("description".to_owned(), Value::String(field.help.clone()));
        }
    }
    frag
}

/// Sets `key` on a JSON object (no-op on other values).
pub(crate) fn set(target: &mut Value, key: &str, value: Value) {
    if let Some(obj) = target.as_object_mut() {
        obj.insert(key.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn options_by_value_label_case_and_one_half_of_a_label() {
        let opts: Vec<(String, String)> = [
            ("B2B", "企业客户 B2B"),
            ("B2C", "个人客户 B2C"),
            ("new", "新客户 New"),
            ("renew", "新客户 Renewed"),
        ]
        .iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
        .collect();
        let m = |t: &str| match_option(&opts, t);
        assert_eq!(m("B2C").as_deref(), Some("B2C"));
        assert_eq!(m("个人客户 B2C").as_deref(), Some("B2C"));
        assert_eq!(m("b2b").as_deref(), Some("B2B"));
        assert_eq!(m(" 个人客户 ").as_deref(), Some("B2C"));
        assert_eq!(m("企业客户").as_deref(), Some("B2B"));
        assert_eq!(m("renewed").as_deref(), Some("renew"));
        // Two options share the half: neither is guessed.
        assert_eq!(m("新客户"), None);
        assert_eq!(m("客户"), None);
        assert_eq!(m(""), None);
    }

    #[test]
    fn numbers_as_typed() {
        assert_eq!(parse_number_text("1,234.50"), Some(1234.5));
        assert_eq!(parse_number_text("¥1,234.50"), Some(1234.5));
        assert_eq!(parse_number_text("(12)"), Some(-12.0));
        assert_eq!(parse_number_text("1e3"), Some(1000.0));
        assert_eq!(parse_number_text("12abc34"), None);
        assert_eq!(parse_number_text("abc123"), None);
        assert_eq!(parse_number_text("12 USD"), Some(12.0));
        assert_eq!(parse_number_text("RMB 1,000"), Some(1000.0));
        assert_eq!(parse_number_text("100元"), Some(100.0));
        assert_eq!(parse_number_text("12%"), None);
        assert_eq!(parse_number_text(""), None);
        assert_eq!(json_number(3.0), json!(3));
        assert_eq!(json_number(f64::NAN), Value::Null);
        assert_eq!(group_thousands("-1234567.5"), "-1,234,567.5");
        assert_eq!(group_thousands("123"), "123");
        assert!((round_to(2.675, 2) - 2.68).abs() < 1e-9 || (round_to(2.675, 2) - 2.67).abs() < 1e-9);
    }

    #[test]
    fn dates_as_typed() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        for t in ["2026-11-23", "2026/11/23", "2026.11.23", "2026年11月23日"] {
            assert_eq!(parse_date_text(t), Some(d), "{t}");
        }
        assert_eq!(parse_date_text("23.11.2026"), None);
        let t = parse_datetime_text("2026-11-23 14:05").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T14:05:00+00:00");
        assert!(parse_datetime_text("2026-11-23T14:05:00+08:00").is_some());
    }

    #[test]
    fn nullable_keeps_errors_direct() {
        assert_eq!(
            nullable(json!({"type": "string"})),
            json!({"type": ["string", "null"]})
        );
        assert_eq!(
            nullable(json!({"type": "string", "enum": ["a"]})),
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
        assert_eq!(
            nullable(json!({"const": 1})),
            json!({"anyOf": [{"const": 1}, {"type": "null"}]})
        );
    }

    #[test]
    fn registry_refuses_duplicates_and_unknown_kinds() {
        let mut r = builtin().unwrap();
        assert!(matches!(
            r.register(Arc::new(text::Text)),
            Err(RegistryError::Duplicate("text"))
        ));
        let err = r.get("nope").err().unwrap();
        assert_eq!(err.to_string(), "field type `nope` is not registered");
        assert_eq!(err.code(), ErrorCode::UnknownKind);
    }
}
