//! Apps: a named group of forms in a tenant.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

use super::MetaError;
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::AppId;
use crate::store::entity::{app, form};
use crate::store::parse_id;

/// Input to create an app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInput {
    /// Display name (1–200 characters).
    pub name: String,
    /// Optional description.
    #[serde(default)]
    pub description: String,
}

/// A partial update of an app.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// An app as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    /// Id.
    pub id: AppId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<app::Model> for AppView {
    type Error = MetaError;
    fn try_from(m: app::Model) -> Result<Self, MetaError> {
        Ok(Self {
            id: parse_id(&m.id)?,
            name: m.name,
            description: m.description,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// An app name: 1 to 200 characters, not blank.
pub(crate) fn check_name(name: &str) -> Result<(), MetaError> {
    let n = name.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(MetaError::Invalid(vec![FieldError::new(
            "name",
            "must be 1 to 200 characters",
        )]));
    }
    Ok(())
}

impl Engine {
    /// Loads a live app of the caller's tenant.
    pub(crate) async fn app_row(&self, ctx: &Ctx, id: AppId) -> Result<app::Model, MetaError> {
        app::Entity::find()
            .filter(app::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(app::Column::Id.eq(id.to_string()))
            .filter(app::Column::DeletedAt.is_null())
            .one(self.db().conn())
            .await?
            .ok_or_else(|| MetaError::AppNotFound(id.to_string()))
    }

    /// Lists the tenant's apps, oldest first.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn list_apps(&self, ctx: &Ctx) -> Result<Vec<AppView>, MetaError> {
        require(ctx, Action::ReadData)?;
        app::Entity::find()
            .filter(app::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(app::Column::DeletedAt.is_null())
            .order_by_asc(app::Column::Id)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(AppView::try_from)
            .collect()
    }

    /// Creates an app.
    ///
    /// # Errors
    /// `forbidden` for members; `validation_failed` for a bad name.
    pub async fn create_app(&self, ctx: &Ctx, input: AppInput) -> Result<AppView, MetaError> {
        self.create_app_with_id(ctx, AppId::new(), input).await
    }

    /// Creates an app with a chosen id (a queued template install names its
    /// app after its job, so a second attempt finds the first one's app).
    pub(crate) async fn create_app_with_id(
        &self,
        ctx: &Ctx,
        id: AppId,
        input: AppInput,
    ) -> Result<AppView, MetaError> {
        require(ctx, Action::DesignApps)?;
        check_name(&input.name)?;
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        let row = app::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            name: Set(input.name.trim().to_owned()),
            description: Set(input.description),
            created_by: Set(ctx.actor.to_string()),
            created_at: Set(ctx.now),
            updated_at: Set(ctx.now),
            deleted_at: Set(None),
        }
        .insert(&tx)
        .await?;
        crate::audit::record(
            &tx,
            ctx,
            "app.created",
            "app",
            &row.id,
            serde_json::json!({"name": row.name}),
        )
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    /// One app.
    ///
    /// # Errors
    /// `not_found` when the app is not the tenant's.
    pub async fn get_app(&self, ctx: &Ctx, id: AppId) -> Result<AppView, MetaError> {
        require(ctx, Action::ReadData)?;
        self.app_row(ctx, id).await?.try_into()
    }

    /// Renames or re-describes an app.
    ///
    /// # Errors
    /// `not_found`, `forbidden`, `validation_failed`.
    pub async fn update_app(&self, ctx: &Ctx, id: AppId, patch: AppPatch) -> Result<AppView, MetaError> {
        require(ctx, Action::DesignApps)?;
        let row = self.app_row(ctx, id).await?;
        let mut active: app::ActiveModel = row.into();
        if let Some(name) = patch.name {
            check_name(&name)?;
            active.name = Set(name.trim().to_owned());
        }
        if let Some(d) = patch.description {
            active.description = Set(d);
        }
        active.updated_at = Set(ctx.now);
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        let row = active.update(&tx).await?;
        crate::audit::record(
            &tx,
            ctx,
            "app.updated",
            "app",
            &row.id,
            serde_json::json!({"name": row.name, "description": row.description}),
        )
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    /// Soft-deletes an app (its forms and records stay in the database).
    ///
    /// # Errors
    /// `not_found`, `forbidden`.
    pub async fn delete_app(&self, ctx: &Ctx, id: AppId) -> Result<(), MetaError> {
        require(ctx, Action::DesignApps)?;
        let row = self.app_row(ctx, id).await?;
        let mut active: app::ActiveModel = row.into();
        active.deleted_at = Set(Some(ctx.now));
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        active.update(&tx).await?;
        // Its forms go with it (their records stay stored, unreachable).
        let forms: Vec<String> = form::Entity::find()
            .select_only()
            .column(form::Column::Id)
            .filter(form::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(form::Column::AppId.eq(id.to_string()))
            .filter(form::Column::DeletedAt.is_null())
            .into_tuple()
            .all(&tx)
            .await?;
        form::Entity::update_many()
            .col_expr(form::Column::DeletedAt, sea_query::Expr::val(ctx.now))
            .filter(form::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(form::Column::AppId.eq(id.to_string()))
            .filter(form::Column::DeletedAt.is_null())
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "app.deleted",
            "app",
            &id.to_string(),
            serde_json::json!({"forms": forms.len()}),
        )
        .await?;
        tx.commit().await?;
        for f in forms.iter().filter_map(|f| f.parse().ok()) {
            self.form_cache().evict(ctx.tenant, f);
        }
        Ok(())
    }
}
