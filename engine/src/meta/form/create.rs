//! `create_form`.

use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;

use super::{FormView, LoadedForm, wanted_indexes};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{AppId, FormId};
use crate::meta::MetaError;
use crate::meta::check::check_form_def;
use crate::store::entity::{form, form_version};
use crate::store::{StoreError, form_index};

impl Engine {
    /// Creates a form (version 1) in an app from a raw definition.
    ///
    /// # Errors
    /// `forbidden` for members; `not_found` for another tenant's app;
    /// `validation_failed` with JSON paths when the definition fails the
    /// meta schema or a field's config.
    pub async fn create_form(&self, ctx: &Ctx, app: AppId, raw: Value) -> Result<FormView, MetaError> {
        require(ctx, Action::DesignApps)?;
        self.app_row(ctx, app).await?;
        let mut def = check_form_def(self.field_types(), self.sandbox(), &raw).map_err(MetaError::Invalid)?;
        crate::meta::widget::assign(&mut def, None, ctx.now.timestamp_millis());
        self.check_relations(ctx, &def).await?;
        let id = FormId::new();
        let definition =
            serde_json::to_value(&def).map_err(|e| MetaError::Store(StoreError::Corrupt(e.to_string())))?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let row = form::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            app_id: Set(app.to_string()),
            name: Set(def.name.clone()),
            version: Set(1),
            definition: Set(definition.clone()),
            created_by: Set(ctx.actor.to_string()),
            created_at: Set(ctx.now),
            updated_at: Set(ctx.now),
            deleted_at: Set(None),
            permissions: Set(None),
        }
        .insert(&tx)
        .await?;
        form_version::ActiveModel {
            form_id: Set(id.to_string()),
            version: Set(1),
            tenant_id: Set(ctx.tenant.to_string()),
            definition: Set(definition),
            created_by: Set(ctx.actor.to_string()),
            created_at: Set(ctx.now),
        }
        .insert(&tx)
        .await?;
        form_index::sync(
            &tx,
            db.backend(),
            id,
            &[],
            &wanted_indexes(self.field_types(), &def),
        )
        .await?;
        crate::audit::record(
            &tx,
            ctx,
            "form.created",
            "form",
            &id.to_string(),
            serde_json::json!({"name": row.name, "app_id": row.app_id, "version": 1}),
        )
        .await?;
        tx.commit().await?;
        db.optimize().await?;
        Ok(LoadedForm::from_row(row)?.view())
    }
}
