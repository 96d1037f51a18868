//! Column → field mapping: guessed from the header against field keys and
//! labels, editable by the caller, checked before a run.
//!
//! Matching ignores case, spaces, `_` and `-`. A bilingual label or header
//! ("客户 Customer", "Phone / 电话") matches on any of its parts. Keys win
//! over whole labels, whole labels over parts; each field takes at most one
//! column (the first). Computed fields (serial, formula) are never targets.

use serde::{Deserialize, Serialize};

use crate::error::FieldError;
use crate::meta::field_type::{FieldTypes, norm, parts};
use crate::meta::model::{FieldDef, FormDef};

/// Where one column goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMapping {
    /// Column index in the file, from 0.
    pub column: usize,
    /// The header cell (answers only; ignored in requests).
    #[serde(default)]
    pub header: String,
    /// The target field key; `null` skips the column.
    #[serde(default)]
    pub field: Option<String>,
}

/// A field that a column may be mapped to, as an import's view lists
/// them (so a client offers exactly these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportTarget {
    /// The field key.
    pub field: String,
    /// Its label.
    pub label: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether upsert and update may match records on it.
    pub key: bool,
}

/// The fields of `def` that columns may be mapped to, in form order.
#[must_use]
pub fn targets(types: &FieldTypes, def: &FormDef) -> Vec<ImportTarget> {
    writable(types, def)
        .map(|f| ImportTarget {
            field: f.key.clone(),
            label: f.label.clone(),
            kind: f.kind.clone(),
            key: can_be_key(types, f),
        })
        .collect()
}

/// Whether upsert and update may match records on `f`: a stored field
/// with an SQL form that an index can hold (text, number, date…).
#[must_use]
pub fn can_be_key(types: &FieldTypes, f: &FieldDef) -> bool {
    types
        .get(&f.kind)
        .is_ok_and(|t| t.is_indexable_for(f) && !t.is_computed())
}

/// A header-to-field match test of one guessing pass.
type Matcher = dyn Fn(&FieldDef, &str) -> bool;

fn writable<'a>(types: &'a FieldTypes, def: &'a FormDef) -> impl Iterator<Item = &'a FieldDef> + 'a {
    def.fields
        .iter()
        .filter(|f| types.get(&f.kind).is_ok_and(|t| !t.is_computed()))
}

/// Guesses a mapping for `headers`.
#[must_use]
pub fn guess(types: &FieldTypes, def: &FormDef, headers: &[String]) -> Vec<ColumnMapping> {
    let fields: Vec<&FieldDef> = writable(types, def).collect();
    let mut taken: Vec<&str> = Vec::new();
    let mut out: Vec<ColumnMapping> = headers
        .iter()
        .enumerate()
        .map(|(column, h)| ColumnMapping {
            column,
            header: h.clone(),
            field: None,
        })
        .collect();
    // Three passes, strongest first, so a weak match never steals a field
    // a later column names exactly.
    let passes: [&Matcher; 3] = [
        &|f, h| norm(&f.key) == norm(h),
        &|f, h| norm(&f.label) == norm(h),
        &|f, h| {
            let hp = parts(h);
            let fp = parts(&f.label);
            hp.iter().any(|p| fp.contains(p) || norm(&f.key) == *p)
        },
    ];
    for pass in passes {
        for m in out.iter_mut().filter(|m| m.field.is_none()) {
            if m.header.trim().is_empty() {
                continue;
            }
            if let Some(f) = fields
                .iter()
                .find(|f| !taken.contains(&f.key.as_str()) && pass(f, &m.header))
            {
                taken.push(&f.key);
                m.field = Some(f.key.clone());
            }
        }
    }
    // Last, a header that commonly names a kind of field (电话, 手机, 邮箱)
    // takes the form's only untaken field of that kind.
    for m in out.iter_mut().filter(|m| m.field.is_none()) {
        let words: Vec<String> = parts(&m.header).into_iter().chain([norm(&m.header)]).collect();
        let mut hits = fields.iter().filter(|f| {
            !taken.contains(&f.key.as_str())
                && types
                    .get(&f.kind)
                    .is_ok_and(|t| t.header_words().iter().any(|w| words.contains(&norm(w))))
        });
        if let (Some(f), None) = (hits.next(), hits.next()) {
            taken.push(&f.key);
            m.field = Some(f.key.clone());
        }
    }
    out
}

/// Checks a caller's mapping against the file and the form and fills in
/// the headers. Returns `(column, field)` pairs of mapped columns.
///
/// # Errors
/// Field errors at `mapping/<i>`: a column out of range, a field that is
/// not a writable field of the form, a field mapped twice.
pub fn check(
    types: &FieldTypes,
    def: &FormDef,
    headers: &[String],
    mapping: &mut [ColumnMapping],
) -> Result<Vec<(usize, String)>, Vec<FieldError>> {
    let mut errs = Vec::new();
    let mut pairs: Vec<(usize, String)> = Vec::new();
    for (i, m) in mapping.iter_mut().enumerate() {
        let at = format!("mapping/{i}");
        let Some(header) = headers.get(m.column) else {
            errs.push(FieldError::new(
                at,
                format!(
                    "column {} is not in the file (it has {})",
                    m.column,
                    headers.len()
                ),
            ));
            continue;
        };
        m.header.clone_from(header);
        let Some(key) = &m.field else { continue };
        match def.field(key) {
            None => errs.push(FieldError::new(
                at,
                format!("`{key}` is not a field of this form"),
            )),
            Some(f) if !writable(types, def).any(|w| w.key == f.key) => {
                errs.push(FieldError::new(
                    at,
                    format!("`{key}` is computed and cannot be imported"),
                ));
            }
            Some(_) if pairs.iter().any(|(_, k)| k == key) => {
                errs.push(FieldError::new(at, format!("`{key}` is mapped from two columns")));
            }
            Some(_) if pairs.iter().any(|(c, _)| *c == m.column) => {
                errs.push(FieldError::new(
                    at,
                    format!("column {} is mapped twice", m.column),
                ));
            }
            Some(_) => pairs.push((m.column, key.clone())),
        }
    }
    if pairs.is_empty() && errs.is_empty() {
        errs.push(FieldError::new("mapping", "no column is mapped to a field"));
    }
    if errs.is_empty() { Ok(pairs) } else { Err(errs) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form() -> FormDef {
        serde_json::from_value(json!({
            "name": "c",
            "fields": [
                {"key": "name", "label": "客户 Customer", "type": "text"},
                {"key": "phone", "label": "电话", "type": "phone"},
                {"key": "total_spent", "label": "Total spent", "type": "number"},
                {"key": "code", "label": "Code", "type": "serial", "pattern": "C{seq:4}"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn guesses_by_key_label_and_bilingual_parts() {
        let types = crate::meta::field_type::builtin().unwrap();
        let headers: Vec<String> = ["Customer", "Phone 电话", "TOTAL_SPENT", "code", "other"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let m = guess(&types, &form(), &headers);
        let fields: Vec<Option<&str>> = m.iter().map(|m| m.field.as_deref()).collect();
        assert_eq!(
            fields,
            vec![Some("name"), Some("phone"), Some("total_spent"), None, None]
        );
        let m = guess(&types, &form(), &["客户".to_owned(), "total spent".to_owned()]);
        assert_eq!(m[0].field.as_deref(), Some("name"));
        assert_eq!(m[1].field.as_deref(), Some("total_spent"));
    }

    #[test]
    fn targets_leave_out_computed_fields_and_mark_keys() {
        let types = crate::meta::field_type::builtin().unwrap();
        let mut def = form();
        def.fields.push(
            serde_json::from_value(json!({"key": "items", "label": "Items", "type": "subform",
                "fields": [{"key": "sku", "label": "SKU", "type": "text"}]}))
            .unwrap(),
        );
        let got: Vec<(String, bool)> = targets(&types, &def)
            .into_iter()
            .map(|t| (t.field, t.key))
            .collect();
        let want: Vec<(String, bool)> = [
            ("name", true),
            ("phone", true),
            ("total_spent", true),
            ("items", false),
        ]
        .iter()
        .map(|(f, k)| ((*f).to_owned(), *k))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn guesses_contact_columns_by_their_kind() {
        let types = crate::meta::field_type::builtin().unwrap();
        let def: FormDef = serde_json::from_value(json!({
            "name": "c",
            "fields": [
                {"key": "name", "label": "客户名称 Name", "type": "text"},
                {"key": "mobile_no", "label": "手机 Phone", "type": "phone"},
                {"key": "mail", "label": "Contact", "type": "email"}
            ]
        }))
        .unwrap();
        let headers: Vec<String> = ["客户名称", "电话", "电子邮件", "联系电话", "备注"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let fields: Vec<Option<String>> = guess(&types, &def, &headers)
            .into_iter()
            .map(|m| m.field)
            .collect();
        assert_eq!(
            fields,
            [Some("name"), Some("mobile_no"), Some("mail"), None, None].map(|f| f.map(str::to_owned))
        );
        // A label match wins over the kind: 手机 names the phone field, and
        // 电话 then finds no other phone field.
        let headers = vec!["电话".to_owned(), "手机".to_owned()];
        let fields: Vec<Option<String>> = guess(&types, &def, &headers)
            .into_iter()
            .map(|m| m.field)
            .collect();
        assert_eq!(fields, [None, Some("mobile_no".to_owned())]);
        // Two phone fields: the kind names neither.
        let two: FormDef = serde_json::from_value(json!({
            "name": "c",
            "fields": [
                {"key": "home", "label": "Home", "type": "phone"},
                {"key": "work", "label": "Work", "type": "phone"}
            ]
        }))
        .unwrap();
        assert_eq!(guess(&types, &two, &["电话".to_owned()])[0].field, None);
    }

    #[test]
    fn check_refuses_unknown_computed_and_twice_mapped_fields() {
        let types = crate::meta::field_type::builtin().unwrap();
        let headers = vec!["a".to_owned(), "b".to_owned()];
        let mut m = vec![
            ColumnMapping {
                column: 0,
                header: String::new(),
                field: Some("name".into()),
            },
            ColumnMapping {
                column: 1,
                header: String::new(),
                field: Some("name".into()),
            },
            ColumnMapping {
                column: 5,
                header: String::new(),
                field: Some("phone".into()),
            },
            ColumnMapping {
                column: 1,
                header: String::new(),
                field: Some("code".into()),
            },
            ColumnMapping {
                column: 1,
                header: String::new(),
                field: Some("nope".into()),
            },
        ];
        let errs = check(&types, &form(), &headers, &mut m).unwrap_err();
        let at: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(at, vec!["mapping/1", "mapping/2", "mapping/3", "mapping/4"]);
    }
}
