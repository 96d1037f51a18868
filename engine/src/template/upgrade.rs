//! Template upgrades, three-way. For an app installed from a template, the
//! template's change is the installed package against the newer one; the
//! tenant's change is the app now (as an export) against the snapshot taken
//! when it was installed. A template change the tenant did not touch is
//! applied; where both changed the same thing (a field of a form, or a whole
//! rule, flow, view or dashboard) the tenant's version is kept and listed as
//! a conflict. Forms are merged field by field. Forms and flows the new
//! version drops are kept (forms hold data), and listed.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde::Serialize;
use serde_json::{Value, json};

use super::keys::{self, DASHBOARD, FORM, RULE, TAG, VIEW, WORKFLOW};
use super::package::{Parts, map_charts, map_relations, strip};
use super::{Package, TemplateError, builtin};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{AppId, DashboardId, FormId, RuleId, ViewId, WorkflowId};
use crate::meta::form::UpdateFormOptions;
use crate::meta::tag::TagInput;
use crate::store::entity::app_package;

/// One difference between the installed template and the newer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The package file (`forms/customers.json`, `rules/churn_alert.json`).
    pub file: String,
    /// The field key, for a change of one field of a form; `name`,
    /// `description`, `title_field` or `layout` for a form's own settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `added`, `changed` or `removed` (by the template).
    pub change: &'static str,
    /// `apply` (taken from the template), `same` (the app already has it),
    /// `conflict` (the tenant changed it too: the tenant's version is kept)
    /// or `kept` (the template dropped a form or flow; it stays).
    pub outcome: &'static str,
}

/// What an upgrade does (or did).
#[derive(Debug, Clone, Serialize)]
pub struct UpgradePlan {
    /// The app.
    pub app_id: AppId,
    /// The template key.
    pub template: String,
    /// The version installed.
    pub from_version: String,
    /// The version offered.
    pub to_version: String,
    /// True when the offered package is the installed one.
    pub up_to_date: bool,
    /// Every difference, with its outcome.
    pub changes: Vec<Change>,
    /// The differences whose outcome is `conflict`.
    pub conflicts: Vec<Change>,
    /// Whether the changes were applied.
    pub applied: bool,
}

/// A package's objects by path (`forms/x.json`, ...), scripts inlined.
pub(crate) fn objects(parts: &Parts) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (dir, list) in [
        ("forms", &parts.forms),
        ("rules", &parts.rules),
        ("workflows", &parts.workflows),
        ("views", &parts.views),
        ("dashboards", &parts.dashboards),
    ] {
        for o in list {
            out.insert(format!("{dir}/{}.json", o.key), o.def.clone());
        }
    }
    out
}

/// The form-level settings merged like fields.
const FORM_PROPS: [&str; 4] = ["name", "description", "title_field", "layout"];

fn fields_by_key(def: Option<&Value>) -> BTreeMap<String, Value> {
    def.and_then(|d| d.get("fields"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f.get("key")?.as_str()?.to_owned(), f.clone())))
        .collect()
}

/// Puts back into `def` each relation field of `stored` that points outside
/// `ours` (the app's form ids) and that `def` lacks, after the field that
/// precedes it in `stored`; subform fields likewise.
fn restore_foreign_relations(def: &mut Value, stored: &Value, ours: &BTreeSet<String>) {
    let Some(list) = def.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    let stored_fields = stored
        .get("fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let key_of = |f: &Value| f.get("key").and_then(Value::as_str).map(str::to_owned);
    let mut before: Option<String> = None;
    for f in &stored_fields {
        let key = key_of(f);
        let at = list.iter().position(|g| key_of(g) == key);
        match at {
            Some(i) => {
                if f.get("type").and_then(Value::as_str) == Some("subform")
                    && let Some(slot) = list.get_mut(i)
                {
                    restore_foreign_relations(slot, f, ours);
                }
            }
            None => {
                let foreign = f.get("type").and_then(Value::as_str) == Some("relation")
                    && f.get("form_id")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !ours.contains(t));
                if foreign {
                    let pos = before
                        .as_ref()
                        .and_then(|b| list.iter().position(|g| key_of(g).as_ref() == Some(b)))
                        .map_or(0, |i| i + 1);
                    list.insert(pos, f.clone());
                }
            }
        }
        before = key;
    }
}

fn kind_of(change_old: Option<&Value>, change_new: Option<&Value>) -> &'static str {
    match (change_old, change_new) {
        (None, _) => "added",
        (_, None) => "removed",
        _ => "changed",
    }
}

/// What [`Engine::merge`] found.
struct Merged {
    plan: UpgradePlan,
    edits: Vec<Edit>,
    new_pkg: Package,
    row: app_package::Model,
    /// Every form of the app by the key the export gave it.
    form_keys: BTreeMap<String, FormId>,
}

/// The planned edit of one object.
struct Edit {
    file: String,
    /// The definition to store (package style, keys not ids); `None` deletes.
    def: Option<Value>,
    /// Field keys taken from the template (forms), for the next snapshot.
    fields: Vec<String>,
    /// Form settings ([`FORM_PROPS`]) taken from the template, likewise: a
    /// setting in conflict keeps its old base, so the tenant's edit stays
    /// an edit at the next upgrade.
    props: Vec<&'static str>,
}

/// Merges one form; pushes its changes and answers the merged definition
/// when anything is taken from the template.
fn merge_form(
    file: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    base: Option<&Value>,
    mine: Option<&Value>,
    changes: &mut Vec<Change>,
) -> Option<Edit> {
    let new = new?;
    let Some(mine) = mine else {
        // The tenant deleted a form the template changed: it stays deleted,
        // and the plan says so.
        changes.push(Change {
            file: file.to_owned(),
            field: None,
            change: kind_of(old, Some(new)),
            outcome: "conflict",
        });
        return None;
    };
    let mut merged = mine.clone();
    let mut taken = Vec::new();
    let mut props = Vec::new();
    let mut touched = false;
    for prop in FORM_PROPS {
        let (o, n) = (old.and_then(|d| d.get(prop)), new.get(prop));
        if o == n {
            continue;
        }
        let (b, m) = (base.and_then(|d| d.get(prop)), mine.get(prop));
        let outcome = if m == n {
            "same"
        } else if b == m {
            "apply"
        } else {
            "conflict"
        };
        if outcome == "apply"
            && let Some(obj) = merged.as_object_mut()
        {
            match n {
                Some(v) => obj.insert(prop.to_owned(), v.clone()),
                None => obj.remove(prop),
            };
            touched = true;
            props.push(prop);
        }
        changes.push(Change {
            file: file.to_owned(),
            field: Some(prop.to_owned()),
            change: kind_of(o, n),
            outcome,
        });
    }
    let (old_f, new_f, base_f, mine_f) = (
        fields_by_key(old),
        fields_by_key(Some(new)),
        fields_by_key(base),
        fields_by_key(Some(mine)),
    );
    let keys: BTreeSet<&String> = old_f.keys().chain(new_f.keys()).collect();
    // New fields go where the template puts them: after the field that
    // precedes them there.
    let new_order: Vec<String> = new
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("key")?.as_str().map(str::to_owned))
        .collect();
    for key in keys {
        let (o, n) = (old_f.get(key), new_f.get(key));
        if o == n {
            continue;
        }
        let (b, m) = (base_f.get(key), mine_f.get(key));
        // Both removing a field is agreement, like both making it the same.
        let outcome = if m == n {
            "same"
        } else if b == m {
            "apply"
        } else {
            "conflict"
        };
        changes.push(Change {
            file: file.to_owned(),
            field: Some(key.clone()),
            change: kind_of(o, n),
            outcome,
        });
        if outcome != "apply" {
            continue;
        }
        touched = true;
        taken.push(key.clone());
        let Some(list) = merged.get_mut("fields").and_then(Value::as_array_mut) else {
            continue;
        };
        let at = list
            .iter()
            .position(|f| f.get("key").and_then(Value::as_str) == Some(key));
        match (at, n) {
            (Some(i), Some(v)) => {
                if let Some(slot) = list.get_mut(i) {
                    *slot = v.clone();
                }
            }
            (Some(i), None) => {
                list.remove(i);
            }
            (None, Some(v)) => {
                let before = new_order
                    .iter()
                    .position(|k| k == key)
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| new_order.get(i));
                let pos = before
                    .and_then(|k| {
                        list.iter()
                            .position(|f| f.get("key").and_then(Value::as_str) == Some(k))
                    })
                    .map_or(list.len(), |i| i + 1);
                list.insert(pos, v.clone());
            }
            (None, None) => {}
        }
    }
    touched.then(|| Edit {
        file: file.to_owned(),
        def: Some(merged),
        fields: taken,
        props,
    })
}

impl Engine {
    /// What upgrading an app to `offered` (the builtin template of the same
    /// key when `None`) would change, and where the tenant's edits collide.
    ///
    /// # Errors
    /// `not_found` (app), `conflict` (not installed from a template, or the
    /// offered package is another template), `validation_failed` (package).
    pub async fn plan_upgrade(
        &self,
        ctx: &Ctx,
        app: AppId,
        offered: Option<&Package>,
    ) -> Result<UpgradePlan, TemplateError> {
        Ok(self.merge(ctx, app, offered).await?.plan)
    }

    /// Applies the template's changes that the tenant did not also make;
    /// the conflicts keep the tenant's version.
    ///
    /// # Errors
    /// As [`Engine::plan_upgrade`]; the code of any change the engine
    /// refuses (details prefixed with its file).
    pub async fn apply_upgrade(
        &self,
        ctx: &Ctx,
        app: AppId,
        offered: Option<&Package>,
    ) -> Result<UpgradePlan, TemplateError> {
        let Merged {
            mut plan,
            edits,
            new_pkg,
            row,
            form_keys,
        } = self.merge(ctx, app, offered).await?;
        if plan.up_to_date {
            return Ok(plan);
        }
        let new_parts = new_pkg.parts()?;
        let mut forms: BTreeMap<String, FormId> = BTreeMap::new();
        let mut ids: BTreeMap<(String, String), String> = BTreeMap::new();
        for ((kind, id), key) in keys::by_object(self.db().conn(), ctx.tenant, app).await? {
            if kind == FORM
                && let Ok(f) = id.parse()
            {
                forms.insert(key.clone(), f);
            }
            ids.insert((kind, key), id);
        }
        // Forms the tenant made have no package key but may be named by the
        // merged definitions (a relation to them): the export's keys.
        for (key, id) in form_keys {
            forms.entry(key).or_insert(id);
        }
        // New tags of the template.
        let have: BTreeSet<String> = self.list_tags(ctx).await?.into_iter().map(|t| t.name).collect();
        // Each created object gets its key at once: an upgrade that fails
        // half-way leaves what it made findable, so the retry replaces those
        // objects instead of making them twice.
        let conn = self.db().conn();
        for tag in &new_parts.manifest.tags {
            let Ok(input) = serde_json::from_value::<TagInput>(tag.clone()) else {
                continue;
            };
            if !have.contains(&input.name) {
                let created = self
                    .create_tag(ctx, input.clone())
                    .await
                    .map_err(|e| TemplateError::object("manifest.json/tags", &e))?;
                keys::insert(
                    conn,
                    ctx.tenant,
                    app,
                    &[(TAG, input.name, created.id.to_string())],
                )
                .await?;
            }
        }
        // Forms first (new ones before edits, so relations resolve), then
        // the objects that name forms.
        let mut ordered: Vec<&Edit> = edits.iter().filter(|e| e.file.starts_with("forms/")).collect();
        ordered.sort_by_key(|e| ids.contains_key(&(FORM.to_owned(), file_key(&e.file))));
        ordered.extend(edits.iter().filter(|e| !e.file.starts_with("forms/")));
        for edit in &ordered {
            let key = file_key(&edit.file);
            let kind = kind_for(&edit.file);
            let existing = ids.get(&(kind.to_owned(), key.clone())).cloned();
            let Some(def) = &edit.def else {
                self.delete_object(ctx, kind, existing.as_deref(), &edit.file)
                    .await?;
                continue;
            };
            if let Some(id) = self
                .put_object(ctx, app, kind, existing.as_deref(), def, &forms, &edit.file)
                .await?
            {
                if kind == FORM
                    && let Ok(f) = id.parse()
                {
                    forms.insert(key.clone(), f);
                }
                keys::insert(conn, ctx.tenant, app, &[(kind, key, id)]).await?;
            }
        }
        // The next snapshot: what was applied as it is stored now; the rest
        // as it was (so a conflict stays measured against the old base).
        let now = objects(&self.export_app(ctx, app).await?.package.parts()?);
        let mut snapshot: BTreeMap<String, Value> = row
            .snapshot
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for edit in &edits {
            let stored = now.get(&edit.file);
            if !edit.file.starts_with("forms/") || !snapshot.contains_key(&edit.file) {
                match stored {
                    Some(v) => snapshot.insert(edit.file.clone(), v.clone()),
                    None => snapshot.remove(&edit.file),
                };
                continue;
            }
            let Some(base) = snapshot.get_mut(&edit.file) else {
                continue;
            };
            let fresh = fields_by_key(stored);
            if let Some(list) = base.get_mut("fields").and_then(Value::as_array_mut) {
                for key in &edit.fields {
                    let at = list
                        .iter()
                        .position(|f| f.get("key").and_then(Value::as_str) == Some(key));
                    match (at, fresh.get(key)) {
                        (Some(i), Some(v)) => {
                            if let Some(slot) = list.get_mut(i) {
                                *slot = v.clone();
                            }
                        }
                        (Some(i), None) => {
                            list.remove(i);
                        }
                        (None, Some(v)) => list.push(v.clone()),
                        (None, None) => {}
                    }
                }
            }
            for prop in &edit.props {
                if let Some(o) = base.as_object_mut() {
                    match stored.and_then(|s| s.get(*prop)) {
                        Some(v) => o.insert((*prop).to_owned(), v.clone()),
                        None => o.remove(*prop),
                    };
                }
            }
        }
        let (_, version) = new_pkg.key_version();
        let mut active: app_package::ActiveModel = row.into();
        active.version = Set(version);
        active.hash = Set(new_pkg.hash());
        active.files = Set(new_pkg.files_value());
        active.snapshot = Set(Value::Object(snapshot.into_iter().collect()));
        active.updated_at = Set(ctx.now);
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        active.update(&tx).await?;
        let detail = json!({"template": plan.template, "from": plan.from_version, "to": plan.to_version,
                            "conflicts": plan.conflicts.len()});
        crate::audit::record(&tx, ctx, "template.upgraded", "app", &app.to_string(), detail).await?;
        tx.commit().await?;
        plan.applied = true;
        Ok(plan)
    }

    async fn merge(&self, ctx: &Ctx, app: AppId, offered: Option<&Package>) -> Result<Merged, TemplateError> {
        require(ctx, Action::DesignApps)?;
        self.get_app(ctx, app).await?;
        let row = keys::package_of(self.db().conn(), ctx.tenant, app)
            .await?
            .ok_or_else(|| TemplateError::NotInstalled(app.to_string()))?;
        let new_pkg = match offered {
            Some(p) => p.clone(),
            None => builtin(&row.template_key)?,
        };
        let (new_key, to_version) = new_pkg.key_version();
        if new_key != row.template_key {
            return Err(TemplateError::Invalid(vec![crate::error::FieldError::new(
                "manifest.json/key",
                format!(
                    "the app was installed from `{}`, not `{new_key}`",
                    row.template_key
                ),
            )]));
        }
        let old_files: BTreeMap<String, Value> = row
            .files
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let old = objects(&Package::from_files(old_files).parts()?);
        let new = objects(&new_pkg.parts()?);
        let base: BTreeMap<String, Value> = row
            .snapshot
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let exported = self.export_app(ctx, app).await?;
        let mine = objects(&exported.package.parts()?);
        let mut changes = Vec::new();
        let mut edits = Vec::new();
        let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for path in paths {
            let (o, n) = (old.get(path), new.get(path));
            if o == n {
                continue;
            }
            let (b, m) = (base.get(path), mine.get(path));
            if path.starts_with("forms/") && o.is_some() && n.is_some() {
                if let Some(edit) = merge_form(path, o, n, b, m, &mut changes) {
                    edits.push(edit);
                }
                continue;
            }
            let keeps = path.starts_with("forms/") || path.starts_with("workflows/");
            let outcome = if n.is_none() && keeps {
                "kept"
            } else if m == n {
                // Both made it the same, or both removed it.
                "same"
            } else if b == m {
                "apply"
            } else {
                "conflict"
            };
            changes.push(Change {
                file: path.clone(),
                field: None,
                change: kind_of(o, n),
                outcome,
            });
            if outcome == "apply" {
                edits.push(Edit {
                    file: path.clone(),
                    def: n.cloned(),
                    fields: Vec::new(),
                    props: Vec::new(),
                });
            }
        }
        let conflicts = changes
            .iter()
            .filter(|c| c.outcome == "conflict")
            .cloned()
            .collect();
        let plan = UpgradePlan {
            app_id: app,
            template: row.template_key.clone(),
            from_version: row.version.clone(),
            to_version,
            up_to_date: new_pkg.hash() == row.hash,
            changes,
            conflicts,
            applied: false,
        };
        let form_keys = exported
            .form_keys
            .into_iter()
            .filter_map(|(id, key)| Some((key, id.parse().ok()?)))
            .collect();
        Ok(Merged {
            plan,
            edits,
            new_pkg,
            row,
            form_keys,
        })
    }

    async fn delete_object(
        &self,
        ctx: &Ctx,
        kind: &str,
        id: Option<&str>,
        file: &str,
    ) -> Result<(), TemplateError> {
        let Some(id) = id else { return Ok(()) };
        let bad = |_| TemplateError::Io(format!("{file}: a stored id does not parse"));
        match kind {
            RULE => self
                .delete_rule(ctx, id.parse::<RuleId>().map_err(bad)?)
                .await
                .map_err(|e| TemplateError::object(file, &e)),
            VIEW => self
                .delete_view(ctx, id.parse::<ViewId>().map_err(bad)?)
                .await
                .map_err(|e| TemplateError::object(file, &e)),
            DASHBOARD => self
                .delete_dashboard(ctx, id.parse::<DashboardId>().map_err(bad)?)
                .await
                .map_err(|e| TemplateError::object(file, &e)),
            _ => Ok(()),
        }
    }

    /// Creates or replaces one object from its package-style definition;
    /// answers the id of a created one.
    #[allow(clippy::too_many_arguments)]
    async fn put_object(
        &self,
        ctx: &Ctx,
        app: AppId,
        kind: &str,
        existing: Option<&str>,
        def: &Value,
        forms: &BTreeMap<String, FormId>,
        file: &str,
    ) -> Result<Option<String>, TemplateError> {
        let bad = || TemplateError::Io(format!("{file}: a stored id does not parse"));
        let mut def = def.clone();
        let form = strip(&mut def, &["key", "form"]).remove("form");
        let form_id = form
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|k| forms.get(k))
            .copied();
        let need_form = || {
            form_id.ok_or_else(|| {
                TemplateError::Invalid(vec![crate::error::FieldError::new(
                    format!("{file}/form"),
                    "names no form of the app",
                )])
            })
        };
        match kind {
            FORM => {
                map_relations(&mut def, &|k| forms.get(k).map(ToString::to_string));
                match existing {
                    Some(id) => {
                        let id: FormId = id.parse().map_err(|_| bad())?;
                        // The merged definition comes from an export, which
                        // leaves out relations to other apps' forms: they
                        // go back where they were.
                        let stored = self
                            .get_form(ctx, id)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?;
                        let stored = serde_json::to_value(&stored.definition)
                            .map_err(|e| TemplateError::Io(e.to_string()))?;
                        let ours: BTreeSet<String> = forms.values().map(ToString::to_string).collect();
                        restore_foreign_relations(&mut def, &stored, &ours);
                        self.update_form(ctx, id, def, UpdateFormOptions::default())
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?;
                        Ok(None)
                    }
                    None => Ok(Some(
                        self.create_form(ctx, app, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?
                            .id
                            .to_string(),
                    )),
                }
            }
            RULE => {
                let f = need_form()?;
                if let Some(o) = def.as_object_mut() {
                    o.insert("form_id".into(), json!(f.to_string()));
                }
                match existing {
                    Some(id) => {
                        self.update_rule(ctx, id.parse().map_err(|_| bad())?, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?;
                        Ok(None)
                    }
                    None => Ok(Some(
                        self.create_rule(ctx, app, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?
                            .id
                            .to_string(),
                    )),
                }
            }
            WORKFLOW => {
                let f = need_form()?;
                match existing {
                    Some(id) => {
                        self.update_workflow(ctx, id.parse::<WorkflowId>().map_err(|_| bad())?, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?;
                        Ok(None)
                    }
                    None => Ok(Some(
                        self.create_workflow(ctx, f, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?
                            .id
                            .to_string(),
                    )),
                }
            }
            VIEW => {
                let f = need_form()?;
                match existing {
                    Some(id) => {
                        self.update_view(ctx, id.parse().map_err(|_| bad())?, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?;
                        Ok(None)
                    }
                    None => Ok(Some(
                        self.create_view(ctx, f, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?
                            .id
                            .to_string(),
                    )),
                }
            }
            DASHBOARD => {
                map_charts(&mut def, &|k| forms.get(k).map(ToString::to_string));
                match existing {
                    Some(id) => {
                        self.update_dashboard(ctx, id.parse().map_err(|_| bad())?, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?;
                        Ok(None)
                    }
                    None => Ok(Some(
                        self.create_dashboard(ctx, app, def)
                            .await
                            .map_err(|e| TemplateError::object(file, &e))?
                            .id
                            .to_string(),
                    )),
                }
            }
            _ => Ok(None),
        }
    }
}

fn file_key(file: &str) -> String {
    file.rsplit('/')
        .next()
        .and_then(|f| f.strip_suffix(".json"))
        .unwrap_or_default()
        .to_owned()
}

fn kind_for(file: &str) -> &'static str {
    match file.split('/').next() {
        Some("forms") => FORM,
        Some("rules") => RULE,
        Some("workflows") => WORKFLOW,
        Some("views") => VIEW,
        _ => DASHBOARD,
    }
}
