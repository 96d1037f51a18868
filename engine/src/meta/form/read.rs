//! `list_forms`, `get_form`, `form_schema`, `form_versions`, `delete_form`.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

use super::{FormVersionView, FormView, LoadedForm};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{AppId, FormId};
use crate::meta::MetaError;
use crate::meta::compile::compile_form;
use crate::meta::field_type::Reference;
use crate::meta::model::FormDef;
use crate::store::entity::{form, form_version};
use crate::store::{StoreError, parse_id};

impl Engine {
    /// The live forms of an app.
    ///
    /// # Errors
    /// `not_found` for another tenant's app.
    pub async fn list_forms(&self, ctx: &Ctx, app: AppId) -> Result<Vec<FormView>, MetaError> {
        require(ctx, Action::ReadData)?;
        self.app_row(ctx, app).await?;
        form::Entity::find()
            .filter(form::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(form::Column::AppId.eq(app.to_string()))
            .filter(form::Column::DeletedAt.is_null())
            .order_by_asc(form::Column::Id)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|row| LoadedForm::from_row(row).map(|f| f.view()))
            .collect()
    }

    /// One form.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_form(&self, ctx: &Ctx, id: FormId) -> Result<FormView, MetaError> {
        require(ctx, Action::ReadData)?;
        Ok(self.load_form(ctx, id).await?.view())
    }

    /// The JSON Schema (draft 2020-12) that record data of the form's
    /// current version must satisfy.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn form_schema(&self, ctx: &Ctx, id: FormId) -> Result<Value, MetaError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, id).await?;
        Ok(compile_form(self.field_types(), &form.def))
    }

    /// Every saved version, newest first.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn form_versions(&self, ctx: &Ctx, id: FormId) -> Result<Vec<FormVersionView>, MetaError> {
        require(ctx, Action::ReadData)?;
        self.load_form(ctx, id).await?;
        form_version::Entity::find()
            .filter(form_version::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(form_version::Column::FormId.eq(id.to_string()))
            .order_by_desc(form_version::Column::Version)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|v| {
                Ok(FormVersionView {
                    version: v.version,
                    created_by: parse_id(&v.created_by)?,
                    created_at: v.created_at,
                    definition: serde_json::from_value(v.definition)
                        .map_err(|e| StoreError::Corrupt(format!("form version: {e}")))?,
                })
            })
            .collect()
    }

    /// Soft-deletes a form; its records stay in the database.
    ///
    /// # Errors
    /// `not_found`, `forbidden`.
    pub async fn delete_form(&self, ctx: &Ctx, id: FormId) -> Result<(), MetaError> {
        require(ctx, Action::DesignApps)?;
        let form = self.load_form(ctx, id).await?;
        let mut active: form::ActiveModel = form.row.clone().into();
        active.deleted_at = Set(Some(ctx.now));
        let _w = self.db().write_lock().await;
        let tx = self.db().begin().await?;
        active.update(&tx).await?;
        crate::audit::record(
            &tx,
            ctx,
            "form.deleted",
            "form",
            &id.to_string(),
            serde_json::json!({"name": form.row.name}),
        )
        .await?;
        tx.commit().await?;
        self.form_cache().evict(ctx.tenant, id);
        Ok(())
    }

    /// Checks that every relation field targets a live form of the tenant.
    pub(crate) async fn check_relations(&self, ctx: &Ctx, def: &FormDef) -> Result<(), MetaError> {
        let mut errs = Vec::new();
        for (i, f) in def.fields.iter().enumerate() {
            let Some(Reference::Record { form_id }) =
                self.field_types().get(&f.kind).ok().and_then(|t| t.reference(f))
            else {
                continue;
            };
            let target = form_id.parse::<FormId>().ok();
            let exists = match target {
                Some(t) => self.load_form(ctx, t).await.is_ok(),
                None => false,
            };
            if !exists {
                errs.push(FieldError::new(
                    format!("/fields/{i}/form_id"),
                    "must name a form of this tenant",
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(MetaError::Invalid(errs))
        }
    }
}
