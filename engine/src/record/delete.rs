//! `delete_record` (to the recycle bin), `restore_record`, `purge_record`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde_json::json;

use super::{RecordError, RecordView};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::files::{Holder, detach};
use crate::ids::{FormId, RecordId};
use crate::store::entity::{record, record_history, record_tag};

impl Engine {
    /// Moves a record to the recycle bin.
    ///
    /// # Errors
    /// `not_found`; `version_mismatch` when `expected_version` is stale.
    pub async fn delete_record(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
        expected_version: Option<i32>,
    ) -> Result<(), RecordError> {
        require(ctx, Action::WriteData)?;
        let (_, access) = self.form_with_access(ctx, form_id, FormAction::Delete).await?;
        let row = self
            .reachable_row(ctx, &access, FormAction::Delete, form_id, id, false)
            .await?;
        self.ensure_not_in_flow(ctx, id).await?;
        if let Some(expected) = expected_version
            && expected != row.version
        {
            return Err(RecordError::VersionMismatch {
                expected,
                actual: row.version,
            });
        }
        self.set_deleted(ctx, form_id, &row, true).await
    }

    /// Brings a record back from the recycle bin.
    ///
    /// # Errors
    /// `not_found` when it is not in the bin; `duplicate_value` when a live
    /// record took its unique value meanwhile.
    pub async fn restore_record(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
    ) -> Result<RecordView, RecordError> {
        require(ctx, Action::WriteData)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::Delete).await?;
        let row = self
            .reachable_row(ctx, &access, FormAction::Delete, form_id, id, true)
            .await?;
        self.set_deleted(ctx, form_id, &row, false)
            .await
            .map_err(|e| match e {
                RecordError::Store(crate::store::StoreError::Db(db)) => self.map_unique(&form, db),
                other => other,
            })?;
        let row = self.record_row(ctx, form_id, id, false).await?;
        Ok(self
            .views(ctx, &access.visible_def(&form.def), std::slice::from_ref(&row))
            .await?
            .remove(0))
    }

    async fn set_deleted(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        row: &record::Model,
        deleted: bool,
    ) -> Result<(), RecordError> {
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        self.set_deleted_in(&tx, ctx, form_id, row, deleted).await?;
        tx.commit().await?;
        Ok(())
    }

    /// [`Self::set_deleted`] on the caller's transaction (write lock held).
    pub(crate) async fn set_deleted_in<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form_id: FormId,
        row: &record::Model,
        deleted: bool,
    ) -> Result<(), RecordError> {
        let version = row.version + 1;
        let result = record::Entity::update_many()
            .col_expr(record::Column::DeletedAt, Expr::val(deleted.then_some(ctx.now)))
            .col_expr(record::Column::Version, Expr::val(version))
            .col_expr(record::Column::UpdatedAt, Expr::val(ctx.now))
            .col_expr(record::Column::UpdatedBy, Expr::val(ctx.actor.to_string()))
            .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record::Column::Id.eq(row.id.clone()))
            .filter(record::Column::Version.eq(row.version))
            .exec(conn)
            .await?;
        if result.rows_affected == 0 {
            return Err(RecordError::VersionMismatch {
                expected: row.version,
                actual: row.version + 1,
            });
        }
        let action = if deleted { "delete" } else { "restore" };
        self.write_history(conn, ctx, form_id, &row.id, version, action, json!({}))
            .await
    }

    /// Deletes a record from the recycle bin for good, with its history and
    /// tags.
    ///
    /// # Errors
    /// `not_found`; `conflict` when the record is live (delete it first);
    /// `forbidden` for members.
    pub async fn purge_record(&self, ctx: &Ctx, form_id: FormId, id: RecordId) -> Result<(), RecordError> {
        require(ctx, Action::PurgeData)?;
        self.load_form(ctx, form_id).await?;
        if self.record_row(ctx, form_id, id, false).await.is_ok() {
            return Err(RecordError::NotDeleted(id.to_string()));
        }
        let row = self.record_row(ctx, form_id, id, true).await?;
        let tenant = ctx.tenant.to_string();
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        record_tag::Entity::delete_many()
            .filter(record_tag::Column::TenantId.eq(tenant.clone()))
            .filter(record_tag::Column::RecordId.eq(row.id.clone()))
            .exec(&tx)
            .await?;
        record_history::Entity::delete_many()
            .filter(record_history::Column::TenantId.eq(tenant.clone()))
            .filter(record_history::Column::RecordId.eq(row.id.clone()))
            .exec(&tx)
            .await?;
        let actor = ctx.actor.to_string();
        let holder = Holder {
            tenant: &tenant,
            actor: &actor,
            now: ctx.now,
            record_id: &row.id,
        };
        detach(&tx, &holder, None, None).await?;
        record::Entity::delete_many()
            .filter(record::Column::TenantId.eq(tenant.clone()))
            .filter(record::Column::Id.eq(row.id.clone()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
