//! Apps, forms, fields and tags: the metadata that shapes records.
//!
//! Invariants: a field key never changes once created; every save of a form
//! creates a new version; removed fields keep their data.

pub mod app;
pub mod check;
pub mod compile;
mod error;
pub mod field_type;
pub mod form;
pub mod model;
pub mod tag;
pub mod view;
pub mod widget;

pub use error::MetaError;

use std::sync::LazyLock;

use regex::Regex;

/// What a field key looks like: `snake_case`, starting with a letter.
pub const KEY_PATTERN: &str = "^[a-z][a-z0-9_]{0,62}$";

#[allow(clippy::expect_used)] // a constant pattern, tested below
static KEY_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(KEY_PATTERN).expect("valid key pattern"));

/// True when `key` may name a field.
#[must_use]
pub fn is_valid_key(key: &str) -> bool {
    KEY_RE.is_match(key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys() {
        assert!(super::is_valid_key("total_spent"));
        assert!(!super::is_valid_key("Total"));
        assert!(!super::is_valid_key("a'--"));
        assert!(!super::is_valid_key(""));
    }
}
