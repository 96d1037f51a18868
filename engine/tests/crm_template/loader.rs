//! A stand-in installer for the CRM package, through the engine's public
//! functions only: app, tags, forms (in manifest order, relation form keys
//! replaced by the created ids, each form named by its key so scripts find
//! it until form-key lookup lands), the generated sample records (local ids
//! mapped to created ids, `@owner` to the installing member), then rules,
//! workflows, views and dashboards. The real installer (`engine::template`)
//! replaces this at merge time.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use engine::Engine;
use engine::ctx::Ctx;
use engine::error::HasCode;
use engine::ids::{AppId, DashboardId, FormId, RecordId, RuleId, ViewId};
use engine::meta::app::AppInput;
use engine::meta::tag::TagInput;
use engine::record::RecordInput;
use engine::sample::SampleRecord;
use serde_json::{Map, Value, json};

/// What the loader created.
pub struct Installed {
    pub app: AppId,
    pub forms: BTreeMap<String, FormId>,
    pub rules: BTreeMap<String, RuleId>,
    pub views: BTreeMap<String, ViewId>,
    pub dashboards: BTreeMap<String, DashboardId>,
    /// Local sample id → created record id.
    pub ids: BTreeMap<String, RecordId>,
    /// The sample records as generated (local ids in their data).
    pub sample: Vec<SampleRecord>,
    pub rule_files: usize,
}

impl Installed {
    pub fn form(&self, key: &str) -> FormId {
        self.forms[key]
    }

    pub fn id(&self, local: &str) -> String {
        self.ids[local].to_string()
    }
}

pub fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../builtin-templates/crm")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `dir/*.json`, sorted by file name.
fn json_files(dir: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = std::fs::read_dir(package_dir().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                read_json(&p),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn fail<E: HasCode + std::fmt::Display>(what: &str, e: E) -> ! {
    panic!("{what}: {e} {:?}", e.details())
}

/// Installs the package with its sample data generated at `now` and scaled
/// by `scale`.
pub async fn install(engine: &Engine, ctx: &Ctx, now: DateTime<Utc>, scale: f64) -> Installed {
    let dir = package_dir();
    let manifest = read_json(&dir.join("manifest.json"));
    let app = engine
        .create_app(
            ctx,
            AppInput {
                name: manifest["name"].as_str().unwrap().to_owned(),
                description: manifest["description"].as_str().unwrap_or_default().to_owned(),
            },
        )
        .await
        .unwrap_or_else(|e| fail("app", e))
        .id;
    for tag in manifest["tags"].as_array().unwrap() {
        let input: TagInput = serde_json::from_value(tag.clone()).unwrap();
        engine
            .create_tag(ctx, input)
            .await
            .unwrap_or_else(|e| fail("tag", e));
    }
    let mut forms = BTreeMap::new();
    let mut defs = BTreeMap::new();
    for key in manifest["forms"].as_array().unwrap() {
        let key = key.as_str().unwrap();
        let mut def = read_json(&dir.join(format!("forms/{key}.json")));
        assert_eq!(def["key"], json!(key), "forms/{key}.json names its key");
        let obj = def.as_object_mut().unwrap();
        obj.remove("key");
        obj.insert("name".into(), json!(key));
        for f in obj["fields"].as_array_mut().unwrap() {
            if f["type"] == "relation" {
                let target = f["form_id"].as_str().unwrap().to_owned();
                let id: &FormId = forms
                    .get(&target)
                    .unwrap_or_else(|| panic!("{key}: relation to `{target}` before it"));
                f["form_id"] = json!(id.to_string());
            }
        }
        let form = engine
            .create_form(ctx, app, def.clone())
            .await
            .unwrap_or_else(|e| fail(&format!("form {key}"), e));
        forms.insert(key.to_owned(), form.id);
        defs.insert(key.to_owned(), def);
    }
    // Sample data, before any rule exists: it is history, not new events.
    let mut spec = read_json(&dir.join(manifest["sample"].as_str().unwrap()));
    spec["scale"] = json!(scale);
    let sample = engine::sample::generate(&spec, now).unwrap_or_else(|e| fail("sample", e));
    let ids = insert_sample(engine, ctx, &forms, &defs, &sample).await;
    while engine.dispatch_events(now).await.unwrap() > 0 {}
    let mut rules = BTreeMap::new();
    let rule_files = json_files("rules");
    for (file, mut def) in rule_files.clone() {
        let obj = def.as_object_mut().unwrap();
        let key = obj.remove("key").unwrap();
        assert_eq!(key, json!(file));
        let form = obj.remove("form").unwrap();
        obj.insert("form_id".into(), json!(forms[form.as_str().unwrap()].to_string()));
        if let Some(script) = obj.remove("script_file") {
            let text = std::fs::read_to_string(dir.join("rules").join(script.as_str().unwrap())).unwrap();
            obj.insert("script".into(), json!(text));
        }
        let rule = engine
            .create_rule(ctx, app, def)
            .await
            .unwrap_or_else(|e| fail(&format!("rules/{file}"), e));
        rules.insert(file, rule.id);
    }
    for (file, mut def) in json_files("workflows") {
        let obj = def.as_object_mut().unwrap();
        obj.remove("key");
        let form = obj.remove("form").unwrap();
        engine
            .create_workflow(ctx, forms[form.as_str().unwrap()], def)
            .await
            .unwrap_or_else(|e| fail(&format!("workflows/{file}"), e));
    }
    let mut views = BTreeMap::new();
    for (file, mut def) in json_files("views") {
        let obj = def.as_object_mut().unwrap();
        obj.remove("key");
        let form = obj.remove("form").unwrap();
        let view = engine
            .create_view(ctx, forms[form.as_str().unwrap()], def)
            .await
            .unwrap_or_else(|e| fail(&format!("views/{file}"), e));
        views.insert(file, view.id);
    }
    let mut dashboards = BTreeMap::new();
    for (file, mut def) in json_files("dashboards") {
        def.as_object_mut().unwrap().remove("key");
        for chart in def["charts"].as_array_mut().unwrap() {
            let key = chart["form_id"].as_str().unwrap().to_owned();
            chart["form_id"] = json!(forms[&key].to_string());
        }
        let d = engine
            .create_dashboard(ctx, app, def)
            .await
            .unwrap_or_else(|e| fail(&format!("dashboards/{file}"), e));
        dashboards.insert(file, d.id);
    }
    Installed {
        app,
        forms,
        rules,
        views,
        dashboards,
        ids,
        sample,
        rule_files: rule_files.len(),
    }
}

/// Inserts the records in order, a batch per run of one form's records.
async fn insert_sample(
    engine: &Engine,
    ctx: &Ctx,
    forms: &BTreeMap<String, FormId>,
    defs: &BTreeMap<String, Value>,
    sample: &[SampleRecord],
) -> BTreeMap<String, RecordId> {
    let mut ids: BTreeMap<String, RecordId> = BTreeMap::new();
    let batch = engine.config().max_batch;
    let mut start = 0;
    while start < sample.len() {
        let form = &sample[start].form;
        let mut end = start;
        while end < sample.len() && &sample[end].form == form && end - start < batch {
            end += 1;
        }
        let fields = defs[form]["fields"].as_array().unwrap();
        let inputs: Vec<RecordInput> = sample[start..end]
            .iter()
            .map(|r| {
                let mut data: Map<String, Value> = r.data.as_object().unwrap().clone();
                for f in fields {
                    let key = f["key"].as_str().unwrap();
                    let Some(v) = data.get_mut(key) else { continue };
                    match f["type"].as_str().unwrap() {
                        "relation" => {
                            let local = v.as_str().unwrap();
                            *v = json!(
                                ids.get(local)
                                    .unwrap_or_else(|| panic!("{}: `{local}` is not earlier", r.id))
                                    .to_string()
                            );
                        }
                        "member" if v == "@owner" => *v = json!(ctx.actor.to_string()),
                        _ => {}
                    }
                }
                RecordInput { data }
            })
            .collect();
        let created = engine
            .batch_create_records(ctx, forms[form], inputs)
            .await
            .unwrap_or_else(|e| fail(&format!("sample {form}"), e));
        for (r, c) in sample[start..end].iter().zip(created) {
            ids.insert(r.id.clone(), c.id);
        }
        start = end;
    }
    ids
}
