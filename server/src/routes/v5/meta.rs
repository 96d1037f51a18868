//! `app/list`, `app/entry/list`, `app/entry/widget/list`: apps, their forms
//! and a form's fields as 简道云 widgets.

use actix_web::{HttpResponse, web};
use engine::Engine;
use engine::error::ErrorCode;
use engine::ids::{AppId, FormId};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::call::{FormBody, FormCall};
use super::value::widget_type;
use super::{V5Caller, V5Error, id_string, parse, parse_id, v5};
use crate::routes::Endpoint;

/// The rows of this group.
pub const ENDPOINTS: &[Endpoint] = &[
    v5!("app/list", v5_list_apps, "简道云 v5: the tenant's apps"),
    v5!(
        "app/entry/list",
        v5_list_entries,
        "简道云 v5: the forms of an app"
    ),
    v5!(
        "app/entry/widget/list",
        v5_list_widgets,
        "简道云 v5: a form's fields as widgets"
    ),
];

/// Largest `limit` of the list calls.
const MAX_LIMIT: usize = 100;

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    skip: usize,
    #[serde(default)]
    limit: Option<usize>,
}

impl Paging {
    fn window<T>(&self, items: Vec<T>) -> Result<Vec<T>, V5Error> {
        let limit = self.limit.unwrap_or(MAX_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(V5Error::bad_request(format!("`limit` must be 1 to {MAX_LIMIT}")));
        }
        Ok(items.into_iter().skip(self.skip).take(limit).collect())
    }
}

#[derive(Deserialize)]
struct AppListBody {
    #[serde(flatten)]
    paging: Paging,
}

async fn v5_list_apps(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let (b, _): (AppListBody, _) = parse(&body)?;
    let apps = engine.list_apps(&caller.ctx).await?;
    let apps = b.paging.window(apps)?;
    let apps: Vec<Value> = apps
        .iter()
        .map(|a| json!({"app_id": a.id.to_string(), "name": a.name}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "apps": apps })))
}

#[derive(Deserialize)]
struct EntryListBody {
    #[serde(deserialize_with = "id_string")]
    app_id: String,
    #[serde(flatten)]
    paging: Paging,
}

async fn v5_list_entries(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let (b, _): (EntryListBody, _) = parse(&body)?;
    let app: AppId = parse_id("app", &b.app_id)?;
    let forms = engine.list_forms(&caller.ctx, app).await?;
    let forms = b.paging.window(forms)?;
    let forms: Vec<Value> = forms
        .iter()
        .map(|f| json!({"app_id": f.app_id.to_string(), "entry_id": f.id.to_string(), "name": f.name}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "forms": forms })))
}

/// `{app_id, entry_id}`, shared by every call on one form.
#[derive(Deserialize)]
pub(crate) struct EntryRef {
    #[serde(deserialize_with = "id_string")]
    pub app_id: String,
    #[serde(deserialize_with = "id_string")]
    pub entry_id: String,
}

impl FormBody for EntryRef {
    fn entry(&self) -> &EntryRef {
        self
    }
}

impl EntryRef {
    /// The form, checked to be of the named app.
    ///
    /// # Errors
    /// 17004 when either does not exist (or belongs to another tenant).
    pub async fn load(
        &self,
        engine: &Engine,
        ctx: &engine::ctx::Ctx,
    ) -> Result<std::sync::Arc<engine::meta::form::LoadedForm>, V5Error> {
        let app: AppId = parse_id("app", &self.app_id)?;
        let form: FormId = parse_id("form", &self.entry_id)?;
        let loaded = engine.load_form(ctx, form).await?;
        if loaded.app_id != app {
            return Err(V5Error::new(
                ErrorCode::NotFound,
                format!("form `{}` is not in app `{}`", self.entry_id, self.app_id),
            ));
        }
        Ok(loaded)
    }
}

/// Whether the form has an active approval flow.
pub(crate) async fn is_flow_form(
    engine: &Engine,
    ctx: &engine::ctx::Ctx,
    form: FormId,
) -> Result<bool, V5Error> {
    Ok(engine.list_workflows(ctx, form).await?.iter().any(|w| w.active))
}

async fn v5_list_widgets(
    engine: web::Data<Engine>,
    caller: V5Caller,
    body: web::Bytes,
) -> Result<HttpResponse, V5Error> {
    let c: FormCall<EntryRef> = FormCall::load(&engine, caller, &body).await?;
    let view = engine.get_form(&c.ctx, c.form.id).await?;
    let widgets: Vec<Value> = view
        .definition
        .fields
        .iter()
        .map(|f| {
            let mut w = Map::new();
            w.insert("label".to_owned(), json!(f.label));
            w.insert("name".to_owned(), json!(f.key));
            w.insert("widget_id".to_owned(), json!(f.widget_id));
            w.insert("type".to_owned(), json!(widget_type(f)));
            w.insert("required".to_owned(), json!(f.required));
            if f.kind == "subform" {
                let items: Vec<Value> = f
                    .sub_fields()
                    .iter()
                    .map(|s| json!({"label": s.label, "name": s.key, "type": widget_type(s)}))
                    .collect();
                w.insert("items".to_owned(), Value::Array(items));
            } else if let Some(options) = f.cfg("options").and_then(Value::as_array) {
                let values: Vec<Value> = options.iter().filter_map(|o| o.get("value").cloned()).collect();
                w.insert("items".to_owned(), Value::Array(values));
            }
            Value::Object(w)
        })
        .collect();
    let mut sys: Vec<Value> = ["creator", "createTime", "updater", "updateTime"]
        .iter()
        .map(|n| json!({"name": n}))
        .collect();
    if c.reader.is_flow {
        sys.push(json!({"name": "flowState"}));
    }
    // The last change to the form's data, else to the form itself.
    let last = engine
        .query_records(
            &c.ctx,
            c.form.id,
            engine::query::model::QueryRequest::from_json(
                &json!({"sort": [{"field": "_updated_at", "dir": "desc"}], "limit": 1}),
            )?,
            false,
        )
        .await?;
    let modified = last
        .records
        .first()
        .map_or(view.updated_at, |r| r.updated_at.max(view.updated_at));
    Ok(HttpResponse::Ok().json(json!({
        "widgets": widgets,
        "sysWidgets": sys,
        "dataModifyTime": modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })))
}
