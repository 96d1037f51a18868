//! The builtin templates, embedded in the binary at build time (see
//! `engine/build.rs`): `builtin-templates/<key>/` as packages.

use std::collections::BTreeMap;

use super::package::parse_file;
use super::{Package, TemplateError};

/// `(template key, [(path, contents)])`, written by the build script.
type Table = &'static [(&'static str, &'static [(&'static str, &'static str)])];

static TABLE: Table = include!(concat!(env!("OUT_DIR"), "/builtin_templates.rs"));

fn package(files: &[(&str, &str)]) -> Result<Package, TemplateError> {
    let mut map = BTreeMap::new();
    for (path, text) in files {
        map.insert((*path).to_owned(), parse_file(path, text)?);
    }
    Ok(Package::from_files(map))
}

/// Every builtin template, by key.
///
/// # Errors
/// `validation_failed` when an embedded file is not valid JSON (a build
/// that shipped a broken template).
pub fn builtins() -> Result<Vec<(String, Package)>, TemplateError> {
    TABLE
        .iter()
        .map(|(key, files)| Ok(((*key).to_owned(), package(files)?)))
        .collect()
}

/// One builtin template.
///
/// # Errors
/// `not_found` for an unknown key.
pub fn builtin(key: &str) -> Result<Package, TemplateError> {
    let (_, files) = TABLE
        .iter()
        .find(|(k, _)| *k == key)
        .ok_or_else(|| TemplateError::NotFound(key.to_owned()))?;
    package(files)
}

/// A builtin template as the gallery lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TemplateInfo {
    /// Key (`crm`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// `major.minor.patch`.
    pub version: String,
    /// Description.
    pub description: String,
    /// Label locales.
    pub locales: Vec<String>,
    /// Content hash.
    pub hash: String,
    /// How many forms, rules, flows, views and dashboards it holds.
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    /// Whether it ships sample data.
    pub sample_data: bool,
}

/// The gallery: every builtin template's manifest and counts.
///
/// # Errors
/// `validation_failed` when an embedded template is broken.
pub fn catalogue() -> Result<Vec<TemplateInfo>, TemplateError> {
    let mut out = Vec::new();
    for (key, pkg) in builtins()? {
        let parts = pkg.parts()?;
        let counts = [
            ("forms", parts.forms.len()),
            ("rules", parts.rules.len()),
            ("workflows", parts.workflows.len()),
            ("views", parts.views.len()),
            ("dashboards", parts.dashboards.len()),
        ]
        .into_iter()
        .collect();
        out.push(TemplateInfo {
            key,
            name: parts.manifest.name,
            version: parts.manifest.version,
            description: parts.manifest.description,
            locales: parts.manifest.locales,
            hash: pkg.hash(),
            counts,
            sample_data: parts.manifest.sample.is_some(),
        });
    }
    Ok(out)
}
