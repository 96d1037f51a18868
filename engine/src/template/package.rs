//! The package format: a package is its files by path (`manifest.json`,
//! `forms/<key>.json`, `rules/<key>.json` with the script in
//! `rules/<file>.rhai`, `workflows/`, `views/`, `dashboards/`, `sample/`),
//! the same on disk (builtin-templates/) and in a JSON bundle
//! (`{"format", "key", "version", "hash", "files"}`, what export answers and
//! import takes). The content hash is SHA-256 over the files' canonical JSON
//! (object keys sorted), so it does not depend on file order or whitespace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::TemplateError;
use crate::error::FieldError;
use crate::meta::compile::{build_validator, describe_errors};

/// The bundle's `format` value.
pub const FORMAT: &str = "formwork.package/1";

/// The directories whose `*.json` files are package objects, in install order.
pub const OBJECT_DIRS: [&str; 5] = ["forms", "rules", "workflows", "views", "dashboards"];

static SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../schemas/template.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

/// An app package: its files by path.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    files: BTreeMap<String, Value>,
}

/// A package's manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Stable key (`crm`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// `major.minor.patch`.
    pub version: String,
    /// Description.
    pub description: String,
    /// Locales the labels are written in.
    pub locales: Vec<String>,
    /// Form keys in install order.
    pub forms: Vec<String>,
    /// Tags (tenant-wide; installing reuses a tag of the same name).
    pub tags: Vec<Value>,
    /// The sample data file, if any.
    pub sample: Option<String>,
}

/// A package object (form, rule, flow, view or dashboard) with its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object's key (its file stem).
    pub key: String,
    /// The definition as the file holds it (`key` included).
    pub def: Value,
}

/// A checked package, read into its parts.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The manifest.
    pub manifest: Manifest,
    /// Forms in manifest order.
    pub forms: Vec<Object>,
    /// Rules with `script_file` read into `script`.
    pub rules: Vec<Object>,
    /// Approval flows.
    pub workflows: Vec<Object>,
    /// Shared views.
    pub views: Vec<Object>,
    /// Dashboards.
    pub dashboards: Vec<Object>,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(vec![FieldError::new(field, message)])
}

/// Recursively sorts nothing (serde_json maps are ordered by key) but is the
/// single place that renders canonical bytes.
fn canonical(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

impl Package {
    /// A package from its files. Nothing is checked until [`Package::parts`].
    #[must_use]
    pub fn from_files(files: BTreeMap<String, Value>) -> Self {
        Self { files }
    }

    /// Reads a package directory (`manifest.json` at its root).
    ///
    /// # Errors
    /// `validation_failed` naming the file that cannot be read.
    pub fn from_dir(dir: &Path) -> Result<Self, TemplateError> {
        let mut files = BTreeMap::new();
        read_dir_into(dir, dir, &mut files)?;
        if !files.contains_key("manifest.json") {
            return Err(invalid("manifest.json", "the package has no manifest.json"));
        }
        Ok(Self { files })
    }

    /// A package from a bundle (what export answers). A `hash` in the
    /// bundle must match the files.
    ///
    /// # Errors
    /// `validation_failed`: not a bundle, or the hash does not match.
    pub fn from_bundle(bundle: &Value) -> Result<Self, TemplateError> {
        check_schema(bundle)?;
        let files: BTreeMap<String, Value> = bundle
            .get("files")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let pkg = Self { files };
        if let Some(hash) = bundle.get("hash").and_then(Value::as_str)
            && hash != pkg.hash()
        {
            return Err(invalid(
                "hash",
                format!(
                    "the files do not match the package hash (they hash to {}); the package was changed or cut short",
                    pkg.hash()
                ),
            ));
        }
        Ok(pkg)
    }

    /// The bundle: format, key, version, hash and files.
    #[must_use]
    pub fn to_bundle(&self) -> Value {
        let manifest = self.files.get("manifest.json");
        json!({
            "format": FORMAT,
            "key": manifest.and_then(|m| m.get("key")).cloned().unwrap_or(Value::Null),
            "version": manifest.and_then(|m| m.get("version")).cloned().unwrap_or(Value::Null),
            "hash": self.hash(),
            "files": self.files_value(),
        })
    }

    /// The files as one JSON object.
    #[must_use]
    pub fn files_value(&self) -> Value {
        Value::Object(self.files.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// The files by path.
    #[must_use]
    pub fn files(&self) -> &BTreeMap<String, Value> {
        &self.files
    }

    /// `sha256:<hex>` over the canonical JSON of the files.
    #[must_use]
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(canonical(&self.files_value()));
        format!("sha256:{}", hex::encode(digest))
    }

    /// Writes the package as a directory (created if missing). JSON files are
    /// pretty-printed, scripts written as text. Every path must be a plain
    /// relative one (no `..`, no root, no drive), so a package never writes
    /// outside `dir`; nothing is written when one is not.
    ///
    /// # Errors
    /// `validation_failed` naming a path that leaves the directory;
    /// `internal` when a file cannot be written.
    pub fn write_dir(&self, dir: &Path) -> Result<(), TemplateError> {
        for path in self.files.keys() {
            if !is_plain_relative(path) {
                return Err(invalid(
                    path,
                    "a package path must be relative and stay inside the package (no `..`, no leading `/`)",
                ));
            }
        }
        for (path, content) in &self.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| TemplateError::Io(format!("{}: {e}", parent.display())))?;
            }
            let text = match content {
                Value::String(s) if path.ends_with(".rhai") => s.clone(),
                v => {
                    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
                    s.push('\n');
                    s
                }
            };
            std::fs::write(&target, text)
                .map_err(|e| TemplateError::Io(format!("{}: {e}", target.display())))?;
        }
        Ok(())
    }

    /// The manifest's key and version (unchecked; empty when missing).
    #[must_use]
    pub fn key_version(&self) -> (String, String) {
        let m = self.files.get("manifest.json");
        let text = |k: &str| {
            m.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (text("key"), text("version"))
    }

    /// The sample records or generator spec, if the manifest names one.
    #[must_use]
    pub fn sample(&self) -> Option<(&str, &Value)> {
        let path = self.files.get("manifest.json")?.get("sample")?.as_str()?;
        self.files.get(path).map(|v| (path, v))
    }

    /// Checks the package (the schema, then every reference between its
    /// files) and reads it into its parts.
    ///
    /// # Errors
    /// `validation_failed` with one detail per problem, each naming the file
    /// and the JSON pointer inside it.
    pub fn parts(&self) -> Result<Parts, TemplateError> {
        check_schema(&json!({ "files": self.files_value() }))?;
        let mut errs = Vec::new();
        let m = self.files.get("manifest.json").cloned().unwrap_or(Value::Null);
        let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let strings = |k: &str| -> Vec<String> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let manifest = Manifest {
            key: text("key"),
            name: text("name"),
            version: text("version"),
            description: text("description"),
            locales: strings("locales"),
            forms: strings("forms"),
            tags: m
                .get("tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            sample: m.get("sample").and_then(Value::as_str).map(str::to_owned),
        };
        if let Some(s) = &manifest.sample
            && !self.files.contains_key(s)
        {
            errs.push(FieldError::new(
                "manifest.json/sample",
                format!("`{s}` is not in the package"),
            ));
        }
        let mut objects: BTreeMap<&str, Vec<Object>> = BTreeMap::new();
        for (path, def) in &self.files {
            let Some((dir, file)) = path.split_once('/') else {
                continue;
            };
            let Some(key) = file.strip_suffix(".json") else {
                continue;
            };
            if !OBJECT_DIRS.contains(&dir) {
                continue;
            }
            if def.get("key").and_then(Value::as_str) != Some(key) {
                errs.push(FieldError::new(
                    format!("{path}/key"),
                    format!("must be `{key}`, the file's name"),
                ));
            }
            objects.entry(dir).or_default().push(Object {
                key: key.to_owned(),
                def: def.clone(),
            });
        }
        let mut take = |dir: &str| objects.remove(dir).unwrap_or_default();
        let mut forms_by_key: BTreeMap<String, Object> =
            take("forms").into_iter().map(|o| (o.key.clone(), o)).collect();
        let mut forms = Vec::new();
        for (i, key) in manifest.forms.iter().enumerate() {
            match forms_by_key.remove(key) {
                Some(o) => forms.push(o),
                None => errs.push(FieldError::new(
                    format!("manifest.json/forms/{i}"),
                    format!("`forms/{key}.json` is not in the package"),
                )),
            }
        }
        for key in forms_by_key.keys() {
            errs.push(FieldError::new(
                format!("forms/{key}.json"),
                "the form is not listed in manifest.json `forms`",
            ));
        }
        let form_keys: BTreeSet<&str> = manifest.forms.iter().map(String::as_str).collect();
        for f in &forms {
            for (pointer, target) in relation_targets(&f.def) {
                if !form_keys.contains(target.as_str()) {
                    errs.push(FieldError::new(
                        format!("forms/{}.json{pointer}", f.key),
                        format!("the relation names form `{target}`, which the package does not have"),
                    ));
                }
            }
        }
        let mut rules = take("rules");
        let mut used_scripts = BTreeSet::new();
        for r in &mut rules {
            let path = format!("rules/{}.json", r.key);
            if let Some(file) = r
                .def
                .get("script_file")
                .and_then(Value::as_str)
                .map(str::to_owned)
            {
                let script_path = format!("rules/{file}");
                match self.files.get(&script_path).and_then(Value::as_str) {
                    Some(text) => {
                        if let Some(o) = r.def.as_object_mut() {
                            o.remove("script_file");
                            o.insert("script".into(), Value::String(text.to_owned()));
                        }
                        used_scripts.insert(script_path);
                    }
                    None => errs.push(FieldError::new(
                        format!("{path}/script_file"),
                        format!("`{script_path}` is not in the package"),
                    )),
                }
            }
        }
        for path in self.files.keys().filter(|p| p.ends_with(".rhai")) {
            if !used_scripts.contains(path) {
                errs.push(FieldError::new(
                    path.clone(),
                    "no rule names this script in `script_file`",
                ));
            }
        }
        let workflows = take("workflows");
        let views = take("views");
        let dashboards = take("dashboards");
        for (dir, list) in [("rules", &rules), ("workflows", &workflows), ("views", &views)] {
            for o in list {
                let form = o.def.get("form").and_then(Value::as_str).unwrap_or_default();
                if !form_keys.contains(form) {
                    errs.push(FieldError::new(
                        format!("{dir}/{}.json/form", o.key),
                        format!("`{form}` is not a form of the package"),
                    ));
                }
            }
        }
        for d in &dashboards {
            for (i, chart) in d
                .def
                .get("charts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let form = chart.get("form_id").and_then(Value::as_str).unwrap_or_default();
                if !form_keys.contains(form) {
                    errs.push(FieldError::new(
                        format!("dashboards/{}.json/charts/{i}/form_id", d.key),
                        format!("`{form}` is not a form of the package"),
                    ));
                }
            }
        }
        if !errs.is_empty() {
            return Err(TemplateError::Invalid(errs));
        }
        Ok(Parts {
            manifest,
            forms,
            rules,
            workflows,
            views,
            dashboards,
        })
    }
}

fn check_schema(bundle: &Value) -> Result<(), TemplateError> {
    let Some(validator) = SCHEMA.as_ref() else {
        return Err(invalid("", "the package schema does not compile (a bug)"));
    };
    let errs: Vec<FieldError> = describe_errors(validator, bundle, "is not part of a package")
        .into_iter()
        .map(|(p, m)| {
            // `/files/forms~1x.json/...` reads better as `forms/x.json/...`.
            let p = p.strip_prefix("/files/").map_or(p.clone(), |rest| {
                let (file, inner) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
                let file = file.replace("~1", "/").replace("~0", "~");
                if inner.is_empty() {
                    file
                } else {
                    format!("{file}/{inner}")
                }
            });
            FieldError::new(p, m)
        })
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::Invalid(errs))
    }
}

/// True for `a/b.json`: only normal components, separated by `/`.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// Reads every file under `dir` into `files`, keyed by its path from `root`.
/// Hidden entries (`.DS_Store`, `.git`, editor swap files) are skipped; a
/// symbolic link is refused, so a package directory cannot pull in a file
/// from elsewhere on the machine.
fn read_dir_into(root: &Path, dir: &Path, files: &mut BTreeMap<String, Value>) -> Result<(), TemplateError> {
    let rel_of = |p: &Path| {
        p.strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default()
    };
    let unreadable = |rel: &str, e: std::io::Error| {
        invalid(
            if rel.is_empty() { "." } else { rel },
            format!("cannot be read: {e}"),
        )
    };
    let entries = std::fs::read_dir(dir).map_err(|e| unreadable(&rel_of(dir), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unreadable(&rel_of(dir), e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let rel = rel_of(&path);
        let kind = entry.file_type().map_err(|e| unreadable(&rel, e))?;
        if kind.is_symlink() {
            return Err(invalid(
                &rel,
                "is a symbolic link; a package holds its files itself (copy the file in)",
            ));
        }
        if kind.is_dir() {
            read_dir_into(root, &path, files)?;
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&rel, e))?;
        files.insert(rel.clone(), parse_file(&rel, &text)?);
    }
    Ok(())
}

/// One file's content: JSON parsed, a script kept as text, anything else
/// refused (the schema names it).
///
/// # Errors
/// `validation_failed` when a `.json` file is not JSON.
pub fn parse_file(path: &str, text: &str) -> Result<Value, TemplateError> {
    if path.ends_with(".json") {
        serde_json::from_str(text).map_err(|e| invalid(path, format!("is not valid JSON: {e}")))
    } else {
        Ok(Value::String(text.to_owned()))
    }
}

/// Every relation field of a form definition (subform fields included):
/// its JSON pointer and the form it names.
#[must_use]
pub fn relation_targets(def: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk_fields(def, "", &mut |pointer, f| {
        if f.get("type").and_then(Value::as_str) == Some("relation")
            && let Some(t) = f.get("form_id").and_then(Value::as_str)
        {
            out.push((format!("{pointer}/form_id"), t.to_owned()));
        }
    });
    out
}

fn walk_fields(def: &Value, at: &str, visit: &mut dyn FnMut(&str, &Value)) {
    for (i, f) in def
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pointer = format!("{at}/fields/{i}");
        visit(&pointer, f);
        walk_fields(f, &pointer, visit);
    }
}

/// Rewrites every relation field's `form_id` (subform fields included)
/// through `map`; a target `map` does not know is left as it is.
pub fn map_relations(def: &mut Value, map: &dyn Fn(&str) -> Option<String>) {
    let Some(fields) = def.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    for f in fields {
        if f.get("type").and_then(Value::as_str) == Some("relation")
            && let Some(to) = f.get("form_id").and_then(Value::as_str).and_then(map)
            && let Some(o) = f.as_object_mut()
        {
            o.insert("form_id".into(), Value::String(to));
        }
        map_relations(f, map);
    }
}

/// Rewrites each chart's `form_id` of a dashboard through `map` (the empty
/// string where `map` knows none: the dashboard check then names it).
pub fn map_charts(def: &mut Value, map: &dyn Fn(&str) -> Option<String>) {
    for chart in def
        .get_mut("charts")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let to = chart
            .get("form_id")
            .and_then(Value::as_str)
            .and_then(map)
            .unwrap_or_default();
        if let Some(o) = chart.as_object_mut() {
            o.insert("form_id".into(), Value::String(to));
        }
    }
}

/// Removes `keys` from an object value.
pub(crate) fn strip(def: &mut Value, keys: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(o) = def.as_object_mut() {
        for k in keys {
            if let Some(v) = o.remove(*k) {
                out.insert((*k).to_owned(), v);
            }
        }
    }
    out
}
