//! Saved views: a named query over a form (filter, sort, search, columns).
//! A personal view is seen and changed only by its creator; a shared view
//! (made by an admin or owner) is seen by everyone in the tenant.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use jsonschema::Validator;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use sea_query::Expr;
use serde::Serialize;
use serde_json::{Value, json};

use super::MetaError;
use super::compile::{build_validator, meta_schema_errors};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::{Ctx, Role};
use crate::error::FieldError;
use crate::ids::{AppId, FormId, UserId, ViewId};
use crate::query::model::QueryRequest;
use crate::store::entity::view;
use crate::store::parse_id;

static VIEW_SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../schemas/view.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

/// A saved view as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SavedView {
    /// Id.
    pub id: ViewId,
    /// The form's app.
    pub app_id: AppId,
    /// The form.
    pub form_id: FormId,
    /// Name.
    pub name: String,
    /// Seen by everyone in the tenant.
    pub shared: bool,
    /// The creator (for personal views, the only one who sees it).
    pub created_by: UserId,
    /// The definition: `filter`, `sort`, `q`, `columns`, `page_size`.
    pub definition: Value,
    /// The query body the view stands for (`POST .../records/query`).
    pub query: Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

fn saved(row: &view::Model) -> Result<SavedView, MetaError> {
    Ok(SavedView {
        id: parse_id(&row.id)?,
        app_id: parse_id(&row.app_id)?,
        form_id: parse_id(&row.form_id)?,
        name: row.name.clone(),
        shared: row.owner_id.is_none(),
        created_by: parse_id(&row.created_by)?,
        query: query_of(&row.def),
        definition: row.def.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The query request body a view definition stands for.
fn query_of(def: &Value) -> Value {
    let mut q = json!({});
    for k in ["filter", "sort", "q"] {
        if let Some(v) = def.get(k)
            && let Some(o) = q.as_object_mut()
        {
            o.insert(k.to_owned(), v.clone());
        }
    }
    if let Some(n) = def.get("page_size")
        && let Some(o) = q.as_object_mut()
    {
        o.insert("limit".to_owned(), n.clone());
    }
    q
}

impl Engine {
    /// Checks a view against the meta schema and its query against the form
    /// (fields, ops, sort keys), so a saved view always runs.
    async fn check_view(&self, ctx: &Ctx, form_id: FormId, raw: &Value) -> Result<bool, MetaError> {
        let errs = meta_schema_errors(VIEW_SCHEMA.as_ref(), raw, "view");
        if !errs.is_empty() {
            return Err(MetaError::Invalid(errs));
        }
        let form = self.load_form(ctx, form_id).await?;
        let mut errs = Vec::new();
        if let Some(cols) = raw.get("columns").and_then(Value::as_array) {
            for (i, c) in cols.iter().enumerate() {
                let ok = c
                    .as_str()
                    .is_some_and(|k| k.starts_with('_') || form.def.fields.iter().any(|f| f.key == k));
                if !ok {
                    errs.push(FieldError::new(
                        format!("columns/{i}"),
                        "no such field in the form",
                    ));
                }
            }
        }
        let mut probe = query_of(raw);
        if let Some(o) = probe.as_object_mut() {
            o.insert("limit".to_owned(), json!(1));
        }
        match QueryRequest::from_json(&probe) {
            Ok(req) => {
                if let Err(e) = self.query_records(ctx, form_id, req, false).await {
                    errs.extend(crate::error::HasCode::details(&e));
                    if errs.is_empty() {
                        errs.push(FieldError::new("filter", e.to_string()));
                    }
                }
            }
            Err(e) => errs.extend(crate::error::HasCode::details(&e)),
        }
        if !errs.is_empty() {
            return Err(MetaError::Invalid(errs));
        }
        let shared = raw.get("shared").and_then(Value::as_bool).unwrap_or(false);
        if shared && !matches!(ctx.role, Role::Owner | Role::Admin) {
            return Err(MetaError::Invalid(vec![FieldError::new(
                "shared",
                "only admins and owners share views with everyone",
            )]));
        }
        Ok(shared)
    }

    /// Saves a view of a form.
    ///
    /// # Errors
    /// `validation_failed` naming the field or filter node; `not_found`.
    pub async fn create_view(&self, ctx: &Ctx, form_id: FormId, raw: Value) -> Result<SavedView, MetaError> {
        require(ctx, Action::ReadData)?;
        let shared = self.check_view(ctx, form_id, &raw).await?;
        let form = self.load_form(ctx, form_id).await?;
        let row = view::Model {
            id: ViewId::new().to_string(),
            tenant_id: ctx.tenant.to_string(),
            app_id: form.app_id.to_string(),
            form_id: form_id.to_string(),
            name: raw
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            owner_id: (!shared).then(|| ctx.actor.to_string()),
            def: raw,
            created_by: ctx.actor.to_string(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        let db = self.db();
        let _w = db.write_lock().await;
        view::Entity::insert(view::ActiveModel::from(row.clone()))
            .exec_without_returning(db.conn())
            .await?;
        saved(&row)
    }

    /// The views of a form the caller sees: shared ones, then their own.
    ///
    /// # Errors
    /// `not_found` (form).
    pub async fn list_views(&self, ctx: &Ctx, form_id: FormId) -> Result<Vec<SavedView>, MetaError> {
        require(ctx, Action::ReadData)?;
        self.load_form(ctx, form_id).await?;
        view::Entity::find()
            .filter(view::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(view::Column::FormId.eq(form_id.to_string()))
            .filter(
                Condition::any()
                    .add(view::Column::OwnerId.is_null())
                    .add(view::Column::OwnerId.eq(ctx.actor.to_string())),
            )
            .order_by_asc(view::Column::CreatedAt)
            .all(self.db().conn())
            .await?
            .iter()
            .map(saved)
            .collect()
    }

    /// A view the caller sees.
    async fn view_row(&self, ctx: &Ctx, id: ViewId) -> Result<view::Model, MetaError> {
        view::Entity::find_by_id(id.to_string())
            .filter(view::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(
                Condition::any()
                    .add(view::Column::OwnerId.is_null())
                    .add(view::Column::OwnerId.eq(ctx.actor.to_string())),
            )
            .one(self.db().conn())
            .await?
            .ok_or_else(|| MetaError::ViewNotFound(id.to_string()))
    }

    /// One view.
    ///
    /// # Errors
    /// `not_found` (also another member's personal view).
    pub async fn get_view(&self, ctx: &Ctx, id: ViewId) -> Result<SavedView, MetaError> {
        require(ctx, Action::ReadData)?;
        saved(&self.view_row(ctx, id).await?)
    }

    /// Replaces a view. Shared views are changed by admins and owners only.
    ///
    /// # Errors
    /// As [`Engine::create_view`]; `forbidden`.
    pub async fn update_view(&self, ctx: &Ctx, id: ViewId, raw: Value) -> Result<SavedView, MetaError> {
        require(ctx, Action::ReadData)?;
        let row = self.view_row(ctx, id).await?;
        if row.owner_id.is_none() {
            require(ctx, Action::DesignApps)?;
        }
        let form_id: FormId = parse_id(&row.form_id)?;
        let shared = self.check_view(ctx, form_id, &raw).await?;
        let name = raw
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let owner = (!shared).then(|| ctx.actor.to_string());
        let db = self.db();
        let _w = db.write_lock().await;
        view::Entity::update_many()
            .col_expr(view::Column::Def, Expr::val(raw.clone()))
            .col_expr(view::Column::Name, Expr::val(name.clone()))
            .col_expr(view::Column::OwnerId, Expr::val(owner.clone()))
            .col_expr(view::Column::UpdatedAt, Expr::val(ctx.now))
            .filter(view::Column::Id.eq(row.id.clone()))
            .exec(db.conn())
            .await?;
        saved(&view::Model {
            def: raw,
            name,
            owner_id: owner,
            updated_at: ctx.now,
            ..row
        })
    }

    /// Deletes a view. Shared views are deleted by admins and owners only.
    ///
    /// # Errors
    /// `not_found`; `forbidden`.
    pub async fn delete_view(&self, ctx: &Ctx, id: ViewId) -> Result<(), MetaError> {
        require(ctx, Action::ReadData)?;
        let row = self.view_row(ctx, id).await?;
        if row.owner_id.is_none() {
            require(ctx, Action::DesignApps)?;
        }
        let db = self.db();
        let _w = db.write_lock().await;
        view::Entity::delete_by_id(row.id).exec(db.conn()).await?;
        Ok(())
    }
}
