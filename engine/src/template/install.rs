//! Install: a package cloned into a tenant as a new app. Every object gets a
//! fresh id and every reference between them is remapped: relation fields,
//! the form of each rule, flow and view, each chart's form, the relation
//! values and `@owner` of the sample records. Installing twice gives two
//! independent apps. If any part is refused, everything the install created
//! is removed again and the refusal names the package file.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sea_orm::ActiveModelTrait;
use serde_json::{Map, Value, json};

use super::keys::{self, DASHBOARD, FORM, NEW_TAG, RULE, TAG, VIEW, WORKFLOW};
use super::package::{Object, Parts, map_charts, map_relations, relation_targets, strip};
use super::{Package, TemplateError};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{AppId, DashboardId, FormId, RecordId, RuleId, TagId, ViewId, WorkflowId};
use crate::meta::app::AppInput;
use crate::meta::form::UpdateFormOptions;
use crate::meta::tag::TagInput;
use crate::record::RecordInput;
use crate::sample::SampleRecord;
use crate::store::entity::app_package;

/// How to install.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// The new app's name; the manifest's when `None`.
    pub name: Option<String>,
    /// Whether to load the package's sample data.
    pub sample_data: bool,
    /// Multiplies the generated sample's record counts (1.0 as shipped).
    pub sample_scale: f64,
    /// The new app's id (fresh when `None`). An install given an id that a
    /// finished install already used answers that install again; one that
    /// an interrupted install left half done removes that first.
    pub app_id: Option<AppId>,
}

impl Default for InstallOptions {
    fn default() -> Self {
        Self {
            name: None,
            sample_data: false,
            sample_scale: 1.0,
            app_id: None,
        }
    }
}

/// What an install created, by package key.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Installed {
    /// The new app.
    pub app: AppId,
    /// Forms.
    pub forms: BTreeMap<String, FormId>,
    /// Rules.
    pub rules: BTreeMap<String, RuleId>,
    /// Approval flows.
    pub workflows: BTreeMap<String, WorkflowId>,
    /// Shared views.
    pub views: BTreeMap<String, ViewId>,
    /// Dashboards.
    pub dashboards: BTreeMap<String, DashboardId>,
    /// Tags by name (reused when the tenant already had one).
    pub tags: BTreeMap<String, TagId>,
    /// Sample record local id → created record id.
    #[serde(skip)]
    pub ids: BTreeMap<String, RecordId>,
    /// The sample records as loaded (local ids in their data).
    #[serde(skip)]
    pub sample: Vec<SampleRecord>,
    /// How many sample records were created.
    pub records: usize,
    /// The tags this install created (not those it reused).
    #[serde(skip)]
    pub new_tags: Vec<TagId>,
}

impl Installed {
    /// The created form of a package form key.
    ///
    /// # Panics
    /// When the package had no such form (a caller's mistake).
    #[must_use]
    #[allow(clippy::indexing_slicing)]
    pub fn form(&self, key: &str) -> FormId {
        self.forms[key]
    }

    /// The created record of a sample local id, as text.
    ///
    /// # Panics
    /// When the sample had no such record.
    #[must_use]
    #[allow(clippy::indexing_slicing)]
    pub fn id(&self, local: &str) -> String {
        self.ids[local].to_string()
    }
}

impl Engine {
    /// Installs a package as a new app of the caller's tenant.
    ///
    /// # Errors
    /// `validation_failed` (the package; details name file and pointer), the
    /// code of any object the engine refuses (details prefixed with its
    /// file), `forbidden`. Nothing stays behind on error.
    pub async fn install_package(
        &self,
        ctx: &Ctx,
        pkg: &Package,
        opts: &InstallOptions,
    ) -> Result<Installed, TemplateError> {
        require(ctx, Action::DesignApps)?;
        let parts = pkg.parts()?;
        let sample = if opts.sample_data {
            load_sample(pkg, ctx.now, opts.sample_scale)?
        } else {
            Vec::new()
        };
        let name = opts
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| parts.manifest.name.clone());
        let id = opts.app_id.unwrap_or_default();
        if opts.app_id.is_some() {
            if let Some(done) = self.finished_install(ctx, id).await? {
                return Ok(done);
            }
            self.remove_unfinished_install(ctx, id).await?;
        }
        let app = self
            .create_app_with_id(
                ctx,
                id,
                AppInput {
                    name,
                    description: parts.manifest.description.clone(),
                },
            )
            .await
            .map_err(|e| TemplateError::object("manifest.json", &e))?
            .id;
        let mut out = Installed {
            app,
            ..Installed::default()
        };
        match self.install_parts(ctx, pkg, &parts, sample, &mut out).await {
            Ok(()) => Ok(out),
            Err(e) => {
                if let Err(purge) = self.purge_app(ctx, app).await {
                    tracing::error!(app = %app, error = %purge, "could not remove a failed install");
                }
                Err(e)
            }
        }
    }

    /// Removes what an unfinished install into `app` left (nothing when the
    /// install finished or never started).
    ///
    /// # Errors
    /// `internal`.
    pub(crate) async fn remove_unfinished_install(&self, ctx: &Ctx, app: AppId) -> Result<(), TemplateError> {
        if keys::package_of(self.db().conn(), ctx.tenant, app)
            .await?
            .is_some()
        {
            return Ok(());
        }
        if self.get_app(ctx, app).await.is_ok() {
            self.purge_app(ctx, app).await?;
        }
        Ok(())
    }

    /// Imports a bundle (what [`Engine::export_app`] gives) as a new app.
    ///
    /// # Errors
    /// As [`Engine::install_package`]; `validation_failed` on a hash that
    /// does not match the files.
    pub async fn import_package(
        &self,
        ctx: &Ctx,
        bundle: &Value,
        opts: &InstallOptions,
    ) -> Result<Installed, TemplateError> {
        require(ctx, Action::DesignApps)?;
        let pkg = Package::from_bundle(bundle)?;
        self.install_package(ctx, &pkg, opts).await
    }

    /// What an install into `app` created, if it finished (its package row
    /// is written last).
    async fn finished_install(&self, ctx: &Ctx, app: AppId) -> Result<Option<Installed>, TemplateError> {
        if keys::package_of(self.db().conn(), ctx.tenant, app)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let mut out = Installed {
            app,
            ..Installed::default()
        };
        for ((kind, id), key) in keys::by_object(self.db().conn(), ctx.tenant, app).await? {
            let (Ok(uuid), key) = (id.parse::<uuid::Uuid>(), key) else {
                continue;
            };
            match kind.as_str() {
                FORM => {
                    out.forms.insert(key, FormId(uuid));
                }
                RULE => {
                    out.rules.insert(key, RuleId(uuid));
                }
                WORKFLOW => {
                    out.workflows.insert(key, WorkflowId(uuid));
                }
                VIEW => {
                    out.views.insert(key, ViewId(uuid));
                }
                DASHBOARD => {
                    out.dashboards.insert(key, DashboardId(uuid));
                }
                TAG => {
                    out.tags.insert(key, TagId(uuid));
                }
                NEW_TAG => out.new_tags.push(TagId(uuid)),
                _ => {}
            }
        }
        Ok(Some(out))
    }

    async fn install_parts(
        &self,
        ctx: &Ctx,
        pkg: &Package,
        parts: &Parts,
        sample: Vec<SampleRecord>,
        out: &mut Installed,
    ) -> Result<(), TemplateError> {
        let app = out.app;
        self.install_tags(ctx, parts, out).await?;
        let defs = self.install_forms(ctx, app, &parts.forms, out).await?;
        let form_keys: Vec<(&str, String, String)> = out
            .forms
            .iter()
            .map(|(k, id)| (FORM, k.clone(), id.to_string()))
            .collect();
        keys::insert(self.db().conn(), ctx.tenant, app, &form_keys).await?;
        // Sample records before rules and flows: they are history, not new
        // events, and no rule may fire on them later either.
        let mut quiet = ctx.clone();
        quiet.cause.no_rules = true;
        quiet.start_flow = false;
        out.ids = self.insert_sample(&quiet, &out.forms, &defs, &sample).await?;
        out.records = sample.len();
        out.sample = sample;
        for r in &parts.rules {
            let file = format!("rules/{}.json", r.key);
            let mut def = r.def.clone();
            let form = strip(&mut def, &["key", "form"]).remove("form");
            let form_id = form_of(&out.forms, form.as_ref());
            if let Some(o) = def.as_object_mut() {
                o.insert("form_id".into(), json!(form_id));
            }
            let rule = self
                .create_rule(ctx, app, def)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
            out.rules.insert(r.key.clone(), rule.id);
        }
        for w in &parts.workflows {
            let (file, def, form_id) = on_form("workflows", w, &out.forms)?;
            let flow = self
                .create_workflow(ctx, form_id, def)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
            out.workflows.insert(w.key.clone(), flow.id);
        }
        for v in &parts.views {
            let (file, def, form_id) = on_form("views", v, &out.forms)?;
            let view = self
                .create_view(ctx, form_id, def)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
            out.views.insert(v.key.clone(), view.id);
        }
        for d in &parts.dashboards {
            let file = format!("dashboards/{}.json", d.key);
            let mut def = d.def.clone();
            strip(&mut def, &["key"]);
            map_charts(&mut def, &|k| out.forms.get(k).map(ToString::to_string));
            let dash = self
                .create_dashboard(ctx, app, def)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
            out.dashboards.insert(d.key.clone(), dash.id);
        }
        let mut rows: Vec<(&str, String, String)> = Vec::new();
        rows.extend(out.rules.iter().map(|(k, id)| (RULE, k.clone(), id.to_string())));
        rows.extend(
            out.workflows
                .iter()
                .map(|(k, id)| (WORKFLOW, k.clone(), id.to_string())),
        );
        rows.extend(out.views.iter().map(|(k, id)| (VIEW, k.clone(), id.to_string())));
        rows.extend(
            out.dashboards
                .iter()
                .map(|(k, id)| (DASHBOARD, k.clone(), id.to_string())),
        );
        rows.extend(out.tags.iter().map(|(k, id)| (TAG, k.clone(), id.to_string())));
        keys::insert(self.db().conn(), ctx.tenant, app, &rows).await?;
        let snapshot = super::upgrade::objects(&self.export_app(ctx, app).await?.package.parts()?);
        // Written last: an app with this row is a finished install.
        let (key, version) = pkg.key_version();
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        let detail = json!({"template": key, "version": version, "hash": pkg.hash()});
        app_package::ActiveModel::from(app_package::Model {
            app_id: app.to_string(),
            tenant_id: ctx.tenant.to_string(),
            template_key: key,
            version,
            hash: pkg.hash(),
            files: pkg.files_value(),
            snapshot: Value::Object(snapshot.into_iter().collect()),
            installed_at: ctx.now,
            updated_at: ctx.now,
        })
        .insert(&tx)
        .await?;
        crate::audit::record(&tx, ctx, "template.installed", "app", &app.to_string(), detail).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn install_tags(&self, ctx: &Ctx, parts: &Parts, out: &mut Installed) -> Result<(), TemplateError> {
        let existing: BTreeMap<String, TagId> = self
            .list_tags(ctx)
            .await?
            .into_iter()
            .map(|t| (t.name, t.id))
            .collect();
        for (i, tag) in parts.manifest.tags.iter().enumerate() {
            let file = format!("manifest.json/tags/{i}");
            let input: TagInput = serde_json::from_value(tag.clone()).map_err(|e| {
                TemplateError::Invalid(vec![crate::error::FieldError::new(file.clone(), e.to_string())])
            })?;
            let id = match existing.get(&input.name) {
                Some(id) => *id,
                None => {
                    let id = self
                        .create_tag(ctx, input.clone())
                        .await
                        .map_err(|e| TemplateError::object(&file, &e))?
                        .id;
                    keys::insert(
                        self.db().conn(),
                        ctx.tenant,
                        out.app,
                        &[(NEW_TAG, input.name.clone(), id.to_string())],
                    )
                    .await?;
                    out.new_tags.push(id);
                    id
                }
            };
            out.tags.insert(input.name, id);
        }
        Ok(())
    }

    /// Creates the forms in manifest order. A relation to a form not created
    /// yet (a later form, the form itself, a cycle) is left out at first and
    /// added by a second save once every form exists.
    async fn install_forms(
        &self,
        ctx: &Ctx,
        app: AppId,
        forms: &[Object],
        out: &mut Installed,
    ) -> Result<BTreeMap<String, Value>, TemplateError> {
        let mut defs = BTreeMap::new();
        let mut deferred = Vec::new();
        for f in forms {
            let file = format!("forms/{}.json", f.key);
            let mut def = f.def.clone();
            strip(&mut def, &["key"]);
            let pending: Vec<String> = relation_targets(&def)
                .into_iter()
                .map(|(_, t)| t)
                .filter(|t| !out.forms.contains_key(t))
                .collect();
            let known = out.forms.clone();
            map_relations(&mut def, &|k| known.get(k).map(ToString::to_string));
            let first = if pending.is_empty() {
                def.clone()
            } else {
                deferred.push(f.key.clone());
                without_pending(&def, &known)
            };
            let form = self
                .create_form(ctx, app, first)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
            out.forms.insert(f.key.clone(), form.id);
            defs.insert(f.key.clone(), def);
        }
        for key in deferred {
            let file = format!("forms/{key}.json");
            let Some(def) = defs.get_mut(&key) else { continue };
            let known = out.forms.clone();
            map_relations(def, &|k| known.get(k).map(ToString::to_string));
            self.update_form(ctx, out.form(&key), def.clone(), UpdateFormOptions::default())
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
        }
        Ok(defs)
    }

    /// Inserts the sample records in order, one batch per run of a form's
    /// records, relation values mapped from local ids and `@owner` to the
    /// installing member.
    async fn insert_sample(
        &self,
        ctx: &Ctx,
        forms: &BTreeMap<String, FormId>,
        defs: &BTreeMap<String, Value>,
        sample: &[SampleRecord],
    ) -> Result<BTreeMap<String, RecordId>, TemplateError> {
        let mut ids: BTreeMap<String, RecordId> = BTreeMap::new();
        let all: BTreeSet<&str> = sample.iter().map(|r| r.id.as_str()).collect();
        // Top-level relation values naming a record created later: set once
        // every record exists (record local id, its form, the values).
        let mut later: Vec<(&str, FormId, Map<String, Value>)> = Vec::new();
        let batch = self.config().max_batch.max(1);
        let mut start = 0;
        while let Some(first) = sample.get(start) {
            let form = &first.form;
            let file = format!("sample records of `{form}`");
            let mut end = start;
            while sample.get(end).is_some_and(|r| &r.form == form) && end - start < batch {
                end += 1;
            }
            let (Some(form_id), Some(def)) = (forms.get(form), defs.get(form)) else {
                return Err(TemplateError::Invalid(vec![crate::error::FieldError::new(
                    "sample",
                    format!("`{form}` is not a form of the package"),
                )]));
            };
            let chunk = sample.get(start..end).unwrap_or_default();
            let mut inputs = Vec::with_capacity(chunk.len());
            for r in chunk {
                let mut data = r.data.as_object().cloned().unwrap_or_default();
                let forward = take_forward(def, &mut data, &ids, &all);
                if !forward.is_empty() {
                    later.push((r.id.as_str(), *form_id, forward));
                }
                inputs.push(RecordInput {
                    data: sample_data(ctx, def, &r.id, data, &ids)?,
                });
            }
            let created = self
                .batch_create_records(ctx, *form_id, inputs)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
            for (r, c) in chunk.iter().zip(created) {
                ids.insert(r.id.clone(), c.id);
            }
            start = end;
        }
        for (local, form_id, values) in later {
            let form = forms
                .iter()
                .find(|(_, f)| **f == form_id)
                .map(|(k, _)| k.as_str());
            let def = form.and_then(|k| defs.get(k)).unwrap_or(&Value::Null);
            let file = format!("sample records of `{}`", form.unwrap_or_default());
            let patch = sample_data(ctx, def, local, values, &ids)?;
            let Some(id) = ids.get(local) else { continue };
            self.update_record(ctx, form_id, *id, patch, None)
                .await
                .map_err(|e| TemplateError::object(&file, &e))?;
        }
        Ok(ids)
    }
}

/// The form id a package form key maps to (empty when unknown: the engine's
/// own check then refuses it with its usual message).
fn form_of(forms: &BTreeMap<String, FormId>, key: Option<&Value>) -> String {
    key.and_then(Value::as_str)
        .and_then(|k| forms.get(k))
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A flow's or view's file name, definition without `key` and `form`, and
/// the created form it belongs to.
fn on_form(
    dir: &str,
    o: &Object,
    forms: &BTreeMap<String, FormId>,
) -> Result<(String, Value, FormId), TemplateError> {
    let file = format!("{dir}/{}.json", o.key);
    let mut def = o.def.clone();
    let form = strip(&mut def, &["key", "form"]).remove("form");
    let id = form_of(forms, form.as_ref()).parse().map_err(|_| {
        TemplateError::Invalid(vec![crate::error::FieldError::new(file.clone(), "names no form")])
    })?;
    Ok((file, def, id))
}

/// The definition without relation fields whose target is not created yet.
fn without_pending(def: &Value, known: &BTreeMap<String, FormId>) -> Value {
    let mut def = def.clone();
    let done: Vec<String> = known.values().map(ToString::to_string).collect();
    prune(&mut def, &done);
    def
}

fn prune(def: &mut Value, done: &[String]) {
    let Some(fields) = def.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    fields.retain(|f| {
        f.get("type").and_then(Value::as_str) != Some("relation")
            || f.get("form_id")
                .and_then(Value::as_str)
                .is_some_and(|t| done.iter().any(|d| d == t))
    });
    for f in fields {
        prune(f, done);
    }
}

fn load_sample(pkg: &Package, now: DateTime<Utc>, scale: f64) -> Result<Vec<SampleRecord>, TemplateError> {
    let Some((path, content)) = pkg.sample() else {
        return Ok(Vec::new());
    };
    if path.ends_with("generator.json") {
        let mut spec = content.clone();
        if let Some(o) = spec.as_object_mut() {
            let base = o.get("scale").and_then(Value::as_f64).unwrap_or(1.0);
            o.insert("scale".into(), json!(base * scale));
        }
        crate::sample::generate(&spec, now).map_err(|e| TemplateError::object(path, &e))
    } else {
        serde_json::from_value::<Vec<SampleRecordIn>>(content.clone())
            .map(|v| {
                v.into_iter()
                    .map(|r| SampleRecord {
                        form: r.form,
                        id: r.id,
                        data: r.data,
                    })
                    .collect()
            })
            .map_err(|e| TemplateError::Invalid(vec![crate::error::FieldError::new(path, e.to_string())]))
    }
}

#[derive(serde::Deserialize)]
struct SampleRecordIn {
    form: String,
    id: String,
    data: Value,
}

/// Moves out of `data` the top-level relation values that name a sample
/// record not created yet (one that comes later in the sample).
fn take_forward(
    def: &Value,
    data: &mut Map<String, Value>,
    ids: &BTreeMap<String, RecordId>,
    all: &BTreeSet<&str>,
) -> Map<String, Value> {
    let pending = |v: &Value| {
        v.as_str()
            .is_some_and(|l| !ids.contains_key(l) && all.contains(l))
    };
    let mut out = Map::new();
    for f in def.get("fields").and_then(Value::as_array).into_iter().flatten() {
        if f.get("type").and_then(Value::as_str) != Some("relation") {
            continue;
        }
        let Some(key) = f.get("key").and_then(Value::as_str) else {
            continue;
        };
        let forward = match data.get(key) {
            Some(Value::Array(items)) => items.iter().any(pending),
            Some(v) => pending(v),
            None => false,
        };
        if forward && let Some(v) = data.remove(key) {
            out.insert(key.to_owned(), v);
        }
    }
    out
}

/// One sample record's data with relation values (top level and in subform
/// rows) mapped to created ids and `@owner` to the installing member.
fn sample_data(
    ctx: &Ctx,
    def: &Value,
    local: &str,
    mut data: Map<String, Value>,
    ids: &BTreeMap<String, RecordId>,
) -> Result<Map<String, Value>, TemplateError> {
    map_values(ctx, def, &mut data, ids).map_err(|name| {
        TemplateError::Invalid(vec![crate::error::FieldError::new(
            format!("sample/{local}"),
            format!("`{name}` is not a sample record (a subform row may only name an earlier one)"),
        )])
    })?;
    Ok(data)
}

fn map_values(
    ctx: &Ctx,
    def: &Value,
    data: &mut Map<String, Value>,
    ids: &BTreeMap<String, RecordId>,
) -> Result<(), String> {
    let map_one = |v: &mut Value| -> Result<(), String> {
        if let Some(local) = v.as_str() {
            let id = ids.get(local).ok_or_else(|| local.to_owned())?;
            *v = json!(id.to_string());
        }
        Ok(())
    };
    for f in def.get("fields").and_then(Value::as_array).into_iter().flatten() {
        let Some(key) = f.get("key").and_then(Value::as_str) else {
            continue;
        };
        let Some(v) = data.get_mut(key) else { continue };
        match f.get("type").and_then(Value::as_str) {
            Some("relation") => match v {
                Value::Array(items) => items.iter_mut().try_for_each(map_one)?,
                other => map_one(other)?,
            },
            Some("member") => {
                let owner = |v: &mut Value| {
                    if v == "@owner" {
                        *v = json!(ctx.actor.to_string());
                    }
                };
                match v {
                    Value::Array(items) => items.iter_mut().for_each(owner),
                    other => owner(other),
                }
            }
            Some("subform") => {
                for row in v.as_array_mut().into_iter().flatten() {
                    if let Some(row) = row.as_object_mut() {
                        map_values(ctx, f, row, ids)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
