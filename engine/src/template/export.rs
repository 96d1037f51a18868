//! Export: an app written back out as a package, in the format install
//! reads. Ids become package keys (the keys the app was installed with;
//! objects made later get one from their name); what belongs to the tenant
//! rather than the app (its users as rule runners or flow assignees, fields
//! pointing into other apps) is left out and reported.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::keys::{self, DASHBOARD, FORM, RULE, TAG, VIEW, WORKFLOW};
use super::package::{map_charts, map_relations};
use super::{Package, TemplateError};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::AppId;

/// An exported package and what could not go into it.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The package.
    pub package: Package,
    /// What was left out or changed, by package file.
    pub warnings: Vec<FieldError>,
    /// The key each form of the app was given (form id → key), forms the
    /// tenant made included.
    pub(crate) form_keys: BTreeMap<String, String>,
}

impl Exported {
    /// The bundle with the warnings beside the files (outside the hash).
    #[must_use]
    pub fn to_bundle(&self) -> Value {
        let mut b = self.package.to_bundle();
        if !self.warnings.is_empty()
            && let Some(o) = b.as_object_mut()
        {
            o.insert("warnings".into(), json!(self.warnings));
        }
        b
    }
}

/// Gives each object a package key: the one it was installed with, or one
/// made from the ASCII words of its name (or its id), unique per kind. The
/// installed keys are reserved up front, so a new object named like an old
/// one never takes the old one's key before the old one is reached.
struct Keys {
    known: BTreeMap<(String, String), String>,
    /// Keys handed out, and installed keys not yet handed out.
    taken: BTreeSet<(String, String)>,
    /// Installed keys already handed out (a copied object keeps none).
    given: BTreeSet<(String, String)>,
}

impl Keys {
    fn new(known: BTreeMap<(String, String), String>) -> Self {
        let taken = known
            .iter()
            .map(|((kind, _), key)| (kind.clone(), key.clone()))
            .collect();
        Self {
            known,
            taken,
            given: BTreeSet::new(),
        }
    }

    fn key(&mut self, kind: &str, id: &str, name: &str) -> String {
        if let Some(k) = self.known.get(&(kind.to_owned(), id.to_owned()))
            && self.given.insert((kind.to_owned(), k.clone()))
        {
            return k.clone();
        }
        let mut base = slug(name);
        if base.is_empty() {
            let tail: String = id.chars().filter(char::is_ascii_hexdigit).rev().take(8).collect();
            base = format!("{kind}_{}", tail.chars().rev().collect::<String>());
        }
        let mut key = base.clone();
        let mut n = 2;
        while !self.taken.insert((kind.to_owned(), key.clone())) {
            key = format!("{}_{n}", base.get(..base.len().min(58)).unwrap_or(&base));
            n += 1;
        }
        key
    }
}

/// `"客户 Customers"` → `customers`; empty when the name has no ASCII word.
/// The result matches the package key pattern `^[a-z][a-z0-9_]*$`: digits
/// and underscores in front are dropped (`"1 2 x"` → `x`).
fn slug(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let s = words.join("_");
    let s: String = s
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '_')
        .chars()
        .take(50)
        .collect();
    s.trim_end_matches('_').to_owned()
}

fn warn(out: &mut Vec<FieldError>, field: String, message: &str) {
    out.push(FieldError::new(field, message));
}

impl Engine {
    /// Exports an app as a package.
    ///
    /// # Errors
    /// `not_found` (app), `forbidden` (designing apps is needed).
    pub async fn export_app(&self, ctx: &Ctx, app: AppId) -> Result<Exported, TemplateError> {
        self.export_app_with(ctx, app, false).await
    }

    /// Exports an app as a package, with its records as the package's
    /// sample data (`sample/records.json`) when `records` is set.
    ///
    /// # Errors
    /// As [`Engine::export_app`]; `payload_too_large` over
    /// [`MAX_EXPORT_RECORDS`] records.
    pub async fn export_app_with(
        &self,
        ctx: &Ctx,
        app: AppId,
        records: bool,
    ) -> Result<Exported, TemplateError> {
        require(ctx, Action::DesignApps)?;
        let app_view = self.get_app(ctx, app).await?;
        let conn = self.db().conn();
        let installed = keys::package_of(conn, ctx.tenant, app).await?;
        let base: Option<Value> = installed
            .as_ref()
            .and_then(|p| p.files.get("manifest.json").cloned());
        let mut ks = Keys::new(keys::by_object(conn, ctx.tenant, app).await?);
        let mut files: BTreeMap<String, Value> = BTreeMap::new();
        let mut warnings = Vec::new();

        // Forms: the installed order first, then newer forms by id.
        let mut forms = self.list_forms(ctx, app).await?;
        let order: Vec<String> = base
            .as_ref()
            .and_then(|m| m.get("forms"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let rank = |id: &str| {
            ks.known
                .get(&(FORM.to_owned(), id.to_owned()))
                .and_then(|k| order.iter().position(|o| o == k))
                .unwrap_or(usize::MAX)
        };
        forms.sort_by_key(|f| rank(&f.id.to_string()));
        let mut form_keys: BTreeMap<String, String> = BTreeMap::new();
        let mut form_order = Vec::new();
        for f in &forms {
            let key = ks.key(FORM, &f.id.to_string(), &f.name);
            form_keys.insert(f.id.to_string(), key.clone());
            form_order.push(key);
        }
        for f in &forms {
            let key = form_keys.get(&f.id.to_string()).cloned().unwrap_or_default();
            let path = format!("forms/{key}.json");
            let mut def =
                serde_json::to_value(&f.definition).map_err(|e| TemplateError::Io(e.to_string()))?;
            if let Some(o) = def.as_object_mut() {
                o.remove("removed_fields");
                o.insert("key".into(), json!(key));
            }
            drop_foreign_relations(&mut def, &form_keys, &path, "", &mut warnings);
            map_relations(&mut def, &|id| form_keys.get(id).cloned());
            strip_widget_ids(&mut def);
            files.insert(path, def);
        }
        let form_key = |id: &str| form_keys.get(id).cloned().unwrap_or_default();

        for r in self
            .list_rules(ctx, app)
            .await
            .map_err(|e| TemplateError::object("rules", &e))?
        {
            let key = ks.key(RULE, &r.id.to_string(), &r.name);
            let mut def = Map::new();
            def.insert("key".into(), json!(key));
            def.insert("name".into(), json!(r.name));
            if !r.description.is_empty() {
                def.insert("description".into(), json!(r.description));
            }
            def.insert("form".into(), json!(form_key(&r.form_id.to_string())));
            def.insert("enabled".into(), json!(r.enabled));
            def.insert("trigger".into(), r.trigger.clone());
            if let Some(c) = &r.condition {
                def.insert("condition".into(), json!(c));
            }
            if let Some(a) = &r.actions {
                def.insert("actions".into(), a.clone());
            }
            if let Some(s) = &r.script {
                let file = format!("{key}.rhai");
                def.insert("script_file".into(), json!(file));
                files.insert(format!("rules/{file}"), json!(s));
            }
            if r.run_as != r.owner_id {
                warn(
                    &mut warnings,
                    format!("rules/{key}.json/run_as"),
                    "the rule ran as a member of this tenant; after import it runs as the member who imports it",
                );
            }
            files.insert(format!("rules/{key}.json"), Value::Object(def));
        }

        for f in &forms {
            let fkey = form_key(&f.id.to_string());
            let flows = self
                .list_workflows(ctx, f.id)
                .await
                .map_err(|e| TemplateError::object("workflows", &e))?;
            for w in flows.into_iter().filter(|w| w.active) {
                let key = ks.key(WORKFLOW, &w.id.to_string(), &w.name);
                let path = format!("workflows/{key}.json");
                let mut def = w.definition.clone();
                scrub_flow_users(&mut def, &path, &mut warnings);
                if let Some(o) = def.as_object_mut() {
                    o.insert("key".into(), json!(key));
                    o.insert("form".into(), json!(fkey));
                    o.insert("name".into(), json!(w.name));
                    o.remove("active");
                }
                files.insert(path, def);
            }
            for v in self.list_views(ctx, f.id).await?.into_iter().filter(|v| v.shared) {
                let key = ks.key(VIEW, &v.id.to_string(), &v.name);
                let mut def = v.definition.clone();
                if let Some(o) = def.as_object_mut() {
                    o.insert("key".into(), json!(key));
                    o.insert("form".into(), json!(fkey));
                    o.insert("name".into(), json!(v.name));
                    o.insert("shared".into(), json!(true));
                }
                files.insert(format!("views/{key}.json"), def);
            }
        }

        for d in self
            .list_dashboards(ctx, app)
            .await
            .map_err(|e| TemplateError::object("dashboards", &e))?
        {
            let key = ks.key(DASHBOARD, &d.id.to_string(), &d.name);
            let mut def = d.definition.clone();
            map_charts(&mut def, &|id| form_keys.get(id).cloned());
            if let Some(o) = def.as_object_mut() {
                o.insert("key".into(), json!(key));
                o.insert("name".into(), json!(d.name));
            }
            files.insert(format!("dashboards/{key}.json"), def);
        }

        // Tags are the tenant's; the package carries those it came with and
        // those its rules, views and dashboards name.
        let text: String = files.values().map(Value::to_string).collect();
        let package_tags: BTreeSet<String> = ks
            .known
            .iter()
            .filter(|((kind, _), _)| kind == TAG)
            .map(|(_, k)| k.clone())
            .collect();
        let tags: Vec<Value> = self
            .list_tags(ctx)
            .await?
            .into_iter()
            .filter(|t| {
                package_tags.contains(&t.name)
                    || text.contains(&format!("\"{}\"", t.name))
                    || text.contains(&format!("\\\"{}\\\"", t.name))
            })
            .map(|t| {
                let mut o = Map::new();
                o.insert("name".into(), json!(t.name));
                o.insert("color".into(), json!(t.color));
                if !t.description.is_empty() {
                    o.insert("description".into(), json!(t.description));
                }
                Value::Object(o)
            })
            .collect();

        let get = |k: &str| base.as_ref().and_then(|m| m.get(k)).cloned();
        let mut manifest = Map::new();
        let key = get("key")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                let s = slug(&app_view.name);
                if s.is_empty() { "app".to_owned() } else { s }
            });
        manifest.insert("key".into(), json!(key));
        manifest.insert("name".into(), json!(app_view.name));
        manifest.insert("version".into(), get("version").unwrap_or_else(|| json!("1.0.0")));
        if !app_view.description.is_empty() {
            manifest.insert("description".into(), json!(app_view.description));
        }
        if let Some(l) = get("locales") {
            manifest.insert("locales".into(), l);
        }
        manifest.insert("forms".into(), json!(form_order));
        if !tags.is_empty() {
            manifest.insert("tags".into(), Value::Array(tags));
        }
        if records {
            let list = self
                .package_records(ctx, &forms, &form_keys, &mut warnings)
                .await?;
            files.insert("sample/records.json".into(), Value::Array(list));
            manifest.insert("sample".into(), json!("sample/records.json"));
        }
        files.insert("manifest.json".into(), Value::Object(manifest));
        Ok(Exported {
            package: Package::from_files(files),
            warnings,
            form_keys,
        })
    }
}

/// Most records an export with records carries.
pub const MAX_EXPORT_RECORDS: usize = 100_000;

impl Engine {
    /// Every live record of the app's forms, in manifest order, as package
    /// sample records: local ids (`customers-1`), relation values mapped to
    /// them (also to later records, which install fills in once they exist),
    /// computed fields left out (install computes them again), the exporter
    /// as `@owner` (in multi-member values too) and other members left out.
    async fn package_records(
        &self,
        ctx: &Ctx,
        forms: &[crate::meta::form::FormView],
        form_keys: &BTreeMap<String, String>,
        warnings: &mut Vec<FieldError>,
    ) -> Result<Vec<Value>, TemplateError> {
        let mut rows: Vec<(String, crate::record::RecordView)> = Vec::new();
        for f in forms {
            let key = form_keys.get(&f.id.to_string()).cloned().unwrap_or_default();
            let mut cursor = None;
            loop {
                let req = crate::query::model::QueryRequest {
                    limit: Some(1000),
                    cursor,
                    sort: vec![crate::query::model::SortKey {
                        field: "_id".into(),
                        dir: crate::query::model::SortDir::Asc,
                    }],
                    ..crate::query::model::QueryRequest::default()
                };
                let page = self
                    .query_records(ctx, f.id, req, false)
                    .await
                    .map_err(|e| TemplateError::object(&format!("forms/{key}.json"), &e))?;
                rows.extend(page.records.into_iter().map(|r| (key.clone(), r)));
                if rows.len() > MAX_EXPORT_RECORDS {
                    return Err(TemplateError::TooLarge(format!(
                        "the app holds more than {MAX_EXPORT_RECORDS} records; export it without records and move them with the spreadsheet export"
                    )));
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        let mut counters: BTreeMap<String, usize> = BTreeMap::new();
        let locals: BTreeMap<String, (usize, String)> = rows
            .iter()
            .enumerate()
            .map(|(i, (key, r))| {
                let n = counters.entry(key.clone()).or_default();
                *n += 1;
                (r.id.to_string(), (i, format!("{key}-{n}")))
            })
            .collect();
        let defs: BTreeMap<String, &crate::meta::model::FormDef> =
            forms.iter().map(|f| (f.id.to_string(), &f.definition)).collect();
        let mut dropped = ExportDrops::default();
        let mut out = Vec::with_capacity(rows.len());
        for (i, (key, r)) in rows.iter().enumerate() {
            let Some(def) = defs.get(&r.form_id.to_string()) else {
                continue;
            };
            let mut data = r.data.clone();
            let at = At {
                record: i,
                in_subform: false,
            };
            self.localize(ctx, &def.fields, &mut data, at, &locals, &mut dropped);
            let local = locals
                .get(&r.id.to_string())
                .map(|l| l.1.clone())
                .unwrap_or_default();
            out.push(json!({"form": key, "id": local, "data": data}));
        }
        if dropped.members > 0 {
            warn(
                warnings,
                "sample/records.json".into(),
                &format!(
                    "{} member values named other members of this tenant and are left out",
                    dropped.members
                ),
            );
        }
        if dropped.forward > 0 {
            warn(
                warnings,
                "sample/records.json".into(),
                &format!(
                    "{} relation values in subform rows pointed at a later record and are left out",
                    dropped.forward
                ),
            );
        }
        Ok(out)
    }

    fn localize(
        &self,
        ctx: &Ctx,
        fields: &[crate::meta::model::FieldDef],
        data: &mut Map<String, Value>,
        at: At,
        locals: &BTreeMap<String, (usize, String)>,
        dropped: &mut ExportDrops,
    ) {
        data.retain(|k, _| fields.iter().any(|f| &f.key == k));
        for f in fields {
            let Some(v) = data.get_mut(&f.key) else { continue };
            let computed = self.field_types().get(&f.kind).is_ok_and(|t| t.is_computed());
            let keep = match f.kind.as_str() {
                _ if computed => false,
                "member" => {
                    let me = ctx.actor.to_string();
                    let owner = |id: &Value| (id.as_str() == Some(me.as_str())).then(|| json!("@owner"));
                    map_value(v, owner, &mut dropped.members)
                }
                "relation" => {
                    // Install sets a top-level relation to a later record
                    // once that record exists; a subform row's relation
                    // must name an earlier one.
                    let map = |id: &Value| {
                        id.as_str()
                            .and_then(|id| locals.get(id))
                            .filter(|(i, _)| !at.in_subform || *i < at.record)
                            .map(|(_, l)| json!(l))
                    };
                    map_value(v, map, &mut dropped.forward)
                }
                "subform" => {
                    let sub: Vec<crate::meta::model::FieldDef> = f
                        .config
                        .get("fields")
                        .and_then(|v| serde_json::from_value(v.clone()).ok())
                        .unwrap_or_default();
                    for row in v.as_array_mut().into_iter().flatten() {
                        if let Some(row) = row.as_object_mut() {
                            row.remove("_id");
                            let inner = At {
                                in_subform: true,
                                ..at
                            };
                            self.localize(ctx, &sub, row, inner, locals, dropped);
                        }
                    }
                    true
                }
                _ => true,
            };
            if !keep {
                data.remove(&f.key);
            }
        }
    }
}

/// Where a value being localized sits: its record's place in the export,
/// and whether in a subform row.
#[derive(Clone, Copy)]
struct At {
    record: usize,
    in_subform: bool,
}

/// Maps a value, or each item of a list, through `map`; what does not map
/// is left out and counted. False when a single value is left out (the
/// field goes).
fn map_value(v: &mut Value, map: impl Fn(&Value) -> Option<Value>, dropped: &mut usize) -> bool {
    match v {
        Value::Array(items) => {
            let mapped: Vec<Value> = items.iter().filter_map(map).collect();
            *dropped += items.len() - mapped.len();
            *items = mapped;
            true
        }
        other => match map(other) {
            Some(m) => {
                *other = m;
                true
            }
            None => {
                *dropped += 1;
                false
            }
        },
    }
}

#[derive(Default)]
struct ExportDrops {
    members: usize,
    forward: usize,
}

/// Removes the engine's `widget_id` from every field (a fresh one is given
/// on install).
fn strip_widget_ids(def: &mut Value) {
    for f in def
        .get_mut("fields")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(o) = f.as_object_mut() {
            o.remove("widget_id");
        }
        strip_widget_ids(f);
    }
}

/// Removes relation fields that point outside the app (a package cannot
/// carry them) and says so.
fn drop_foreign_relations(
    def: &mut Value,
    forms: &BTreeMap<String, String>,
    path: &str,
    at: &str,
    warnings: &mut Vec<FieldError>,
) {
    let Some(fields) = def.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    fields.retain(|f| {
        let foreign = f.get("type").and_then(Value::as_str) == Some("relation")
            && !f
                .get("form_id")
                .and_then(Value::as_str)
                .is_some_and(|t| forms.contains_key(t));
        if foreign {
            let key = f.get("key").and_then(Value::as_str).unwrap_or_default();
            warn(
                warnings,
                format!("{path}{at}/{key}"),
                "the relation points to a form of another app; the field is left out",
            );
        }
        !foreign
    });
    for f in fields {
        let key = f
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        drop_foreign_relations(f, forms, path, &format!("{at}/{key}"), warnings);
    }
}

/// Removes the tenant's users from a flow (named assignees, escalation
/// targets) and says so; a step left with no assignee goes to the
/// initiator's manager.
fn scrub_flow_users(def: &mut Value, path: &str, warnings: &mut Vec<FieldError>) {
    for node in def
        .get_mut("nodes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let id = node
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if let Some(a) = node.get_mut("assignees").and_then(Value::as_object_mut)
            && a.remove("users").is_some()
        {
            let msg = if a.is_empty() {
                a.insert("initiator_manager".into(), json!(true));
                "the step's assignees were members of this tenant; after import it goes to the initiator's manager until assignees are set"
            } else {
                "the step's named members are left out; its other assignees stay"
            };
            warn(warnings, format!("{path}/nodes/{id}/assignees/users"), msg);
        }
        if let Some(t) = node.get_mut("timeout").and_then(Value::as_object_mut)
            && t.remove("to").is_some()
        {
            if t.get("then").and_then(Value::as_str) == Some("escalate") {
                t.insert("then".into(), json!("remind"));
            }
            warn(
                warnings,
                format!("{path}/nodes/{id}/timeout/to"),
                "the escalation target was a member of this tenant; the timeout now reminds instead",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Keys, slug};
    use std::collections::BTreeMap;

    #[test]
    fn slugs_are_valid_package_keys() {
        assert_eq!(slug("客户 Customers"), "customers");
        assert_eq!(slug("1 2 x"), "x");
        assert_eq!(slug("2024 Orders list"), "orders_list");
        assert_eq!(slug("客户"), "");
        assert_eq!(slug("42"), "");
        let long = slug(&format!("{} y", "a".repeat(49)));
        assert_eq!(long, "a".repeat(49), "no trailing underscore after the cut");
    }

    #[test]
    fn installed_keys_are_reserved_before_new_ones_are_made() {
        let known = BTreeMap::from([(("form".to_owned(), "old".to_owned()), "customers".to_owned())]);
        let mut ks = Keys::new(known);
        // A new form named like the installed one comes first in the export.
        assert_eq!(ks.key("form", "new", "Customers"), "customers_2");
        assert_eq!(ks.key("form", "old", "Clients"), "customers");
        // Another kind has its own keys.
        assert_eq!(ks.key("rule", "r1", "Customers"), "customers");
        // A name with no ASCII word falls back to the id.
        assert_eq!(ks.key("view", "0a1b-2c3d-4e5f", "客户"), "view_2c3d4e5f");
    }
}
