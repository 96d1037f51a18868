//! Widget ids: every field carries a stable `_widget_<13 digits>` id, the
//! name 简道云-compatible clients (the v5 API) address it by.
//!
//! Invariants: an id is assigned when its field is first saved and never
//! changes afterwards (a key that is removed and added back gets its old id
//! back); no two fields of a form, active or removed, share one. Forms saved
//! before ids existed get a deterministic id derived from the form id and the
//! field key on load, which the next save stores, so it is stable too.
//! Called by `form::create`, `form::update` and `LoadedForm::from_row`.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use super::model::FormDef;

/// The prefix of every widget id.
pub const PREFIX: &str = "_widget_";
/// Smallest numeric part: 13 digits.
const MIN: u64 = 1_000_000_000_000;
/// Largest numeric part.
const MAX: u64 = 9_999_999_999_999;

/// True when `s` looks like a widget id (`_widget_` and 13 digits).
#[must_use]
pub fn is_widget_id(s: &str) -> bool {
    s.strip_prefix(PREFIX)
        .is_some_and(|d| d.len() == 13 && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'))
}

fn number(id: &str) -> Option<u64> {
    id.strip_prefix(PREFIX).and_then(|d| d.parse().ok())
}

fn format_id(n: u64) -> String {
    format!("{PREFIX}{n}")
}

/// Gives every field of `new` its widget id: the one its key had in
/// `previous` (active or removed), else the one the caller sent when it is
/// well-formed and free, else a fresh one counting up from `now_ms`.
/// Removed fields of `new` keep the ids they have.
pub fn assign(new: &mut FormDef, previous: Option<&FormDef>, now_ms: i64) {
    let mut by_key: HashMap<String, String> = HashMap::new();
    if let Some(prev) = previous {
        for f in prev.fields.iter().chain(prev.removed_fields.iter()) {
            if let Some(id) = &f.widget_id {
                by_key.entry(f.key.clone()).or_insert_with(|| id.clone());
            }
        }
    }
    let mut taken: HashSet<String> = by_key.values().cloned().collect();
    taken.extend(new.removed_fields.iter().filter_map(|f| f.widget_id.clone()));
    let mut next = u64::try_from(now_ms).unwrap_or(MIN).clamp(MIN, MAX);
    if let Some(max) = taken.iter().filter_map(|t| number(t)).max() {
        next = next.max(max.saturating_add(1));
    }
    // First pass: ids owned by key, and well-formed free ids the caller sent.
    let mut pending = Vec::new();
    for (i, f) in new.fields.iter_mut().enumerate() {
        if let Some(id) = by_key.get(&f.key) {
            f.widget_id = Some(id.clone());
        } else {
            match f.widget_id.take() {
                Some(id) if is_widget_id(&id) && !taken.contains(&id) => {
                    taken.insert(id.clone());
                    f.widget_id = Some(id);
                }
                _ => pending.push(i),
            }
        }
    }
    for i in pending {
        while taken.contains(&format_id(next)) {
            next = if next >= MAX { MIN } else { next + 1 };
        }
        let id = format_id(next);
        taken.insert(id.clone());
        if let Some(f) = new.fields.get_mut(i) {
            f.widget_id = Some(id);
        }
    }
}

/// Fills ids missing from a stored definition (saved before widget ids
/// existed): derived from `form_id` and the key, so every load agrees.
pub fn fill_missing(def: &mut FormDef, form_id: &str) {
    let mut taken: HashSet<String> = def
        .fields
        .iter()
        .chain(def.removed_fields.iter())
        .filter_map(|f| f.widget_id.clone())
        .collect();
    for f in def.fields.iter_mut().chain(def.removed_fields.iter_mut()) {
        if f.widget_id.is_some() {
            continue;
        }
        let digest = Sha256::digest(format!("{form_id}/{}", f.key).as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        let mut n = MIN + u64::from_be_bytes(bytes) % (MAX - MIN + 1);
        while taken.contains(&format_id(n)) {
            n = if n >= MAX { MIN } else { n + 1 };
        }
        let id = format_id(n);
        taken.insert(id.clone());
        f.widget_id = Some(id);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn def(v: serde_json::Value) -> FormDef {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn assigns_fresh_unique_ids_and_keeps_them() {
        let mut first = def(json!({"name": "f", "fields": [
            {"key": "a", "label": "A", "type": "text"},
            {"key": "b", "label": "B", "type": "text"}]}));
        assign(&mut first, None, 1_764_800_000_000);
        let a = first.fields[0].widget_id.clone().unwrap();
        let b = first.fields[1].widget_id.clone().unwrap();
        assert!(is_widget_id(&a) && is_widget_id(&b) && a != b, "{a} {b}");
        // A later save that sends a forged id for `a` and adds `c`.
        let mut second = def(json!({"name": "f", "fields": [
            {"key": "c", "label": "C", "type": "text", "widget_id": b},
            {"key": "a", "label": "A", "type": "text", "widget_id": "_widget_1111111111111"}]}));
        second.removed_fields = vec![first.fields[1].clone()];
        assign(&mut second, Some(&first), 1_764_800_000_000);
        assert_eq!(second.fields[1].widget_id.as_deref(), Some(a.as_str()));
        let c = second.fields[0].widget_id.clone().unwrap();
        assert!(c != a && c != b && is_widget_id(&c), "{c}");
        // Re-adding `b` brings its old id back.
        let mut third = def(json!({"name": "f", "fields": [
            {"key": "b", "label": "B", "type": "text"}]}));
        assign(&mut third, Some(&second), 1);
        assert_eq!(third.fields[0].widget_id.as_deref(), Some(b.as_str()));
    }

    #[test]
    fn legacy_fill_is_deterministic() {
        let raw = json!({"name": "f", "fields": [
            {"key": "a", "label": "A", "type": "text"},
            {"key": "b", "label": "B", "type": "text"}]});
        let mut x = def(raw.clone());
        let mut y = def(raw);
        fill_missing(&mut x, "form-1");
        fill_missing(&mut y, "form-1");
        assert_eq!(x, y);
        assert!(
            x.fields
                .iter()
                .all(|f| f.widget_id.as_deref().is_some_and(is_widget_id))
        );
        assert_ne!(x.fields[0].widget_id, x.fields[1].widget_id);
    }

    #[test]
    fn shape() {
        assert!(is_widget_id("_widget_1432728651402"));
        assert!(!is_widget_id("_widget_0432728651402"));
        assert!(!is_widget_id("_widget_143272865140"));
        assert!(!is_widget_id("widget_1432728651402"));
    }
}
