//! Attaching and detaching tags on records.

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{RecordError, RecordView};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FormId, RecordId};
use crate::store::entity::{record, record_tag, tag};

impl Engine {
    /// Attaches a tag (by name or id) to a record; attaching twice is a no-op.
    ///
    /// # Errors
    /// `not_found` for the record or tag.
    pub async fn add_record_tag(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
        tag: &str,
    ) -> Result<RecordView, RecordError> {
        self.set_record_tag(ctx, form_id, id, tag, true).await
    }

    /// Detaches a tag from a record; detaching an absent tag is a no-op.
    ///
    /// # Errors
    /// `not_found` for the record or tag.
    pub async fn remove_record_tag(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
        tag: &str,
    ) -> Result<RecordView, RecordError> {
        self.set_record_tag(ctx, form_id, id, tag, false).await
    }

    async fn set_record_tag(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
        tag: &str,
        attach: bool,
    ) -> Result<RecordView, RecordError> {
        require(ctx, Action::WriteData)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::Edit).await?;
        let row = self
            .reachable_row(ctx, &access, FormAction::Edit, form_id, id, false)
            .await?;
        let tag = self.find_tag(ctx, tag).await?;
        let existing = record_tag::Entity::find_by_id((row.id.clone(), tag.id.clone()))
            .one(self.db().conn())
            .await?;
        if existing.is_some() != attach {
            let db = self.db();
            let _w = db.write_lock().await;
            let tx = db.begin().await?;
            self.set_tag_in(&tx, ctx, form_id, &row, &tag, attach).await?;
            tx.commit().await?;
        }
        let row = self.record_row(ctx, form_id, id, false).await?;
        Ok(self
            .views(ctx, &access.visible_def(&form.def), std::slice::from_ref(&row))
            .await?
            .remove(0))
    }

    /// Attaches or detaches `tag` on `row` through `conn` (the caller's
    /// transaction), with a history row; a no-op when it is already so.
    /// Returns whether anything changed.
    pub(crate) async fn set_tag_in<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form_id: FormId,
        row: &record::Model,
        tag: &tag::Model,
        attach: bool,
    ) -> Result<bool, RecordError> {
        let existing = record_tag::Entity::find_by_id((row.id.clone(), tag.id.clone()))
            .one(conn)
            .await?;
        if existing.is_some() == attach {
            return Ok(false);
        }
        if attach {
            let link = record_tag::ActiveModel {
                record_id: Set(row.id.clone()),
                tag_id: Set(tag.id.clone()),
                tenant_id: Set(ctx.tenant.to_string()),
                created_at: Set(ctx.now),
            };
            record_tag::Entity::insert(link)
                .exec_without_returning(conn)
                .await?;
        } else {
            record_tag::Entity::delete_many()
                .filter(record_tag::Column::TenantId.eq(ctx.tenant.to_string()))
                .filter(record_tag::Column::RecordId.eq(row.id.clone()))
                .filter(record_tag::Column::TagId.eq(tag.id.clone()))
                .exec(conn)
                .await?;
        }
        let (action, change) = if attach {
            ("tag", json!({"added": tag.name}))
        } else {
            ("untag", json!({"removed": tag.name}))
        };
        self.write_history(
            conn,
            ctx,
            form_id,
            &row.id,
            row.version,
            action,
            json!({ "_tags": change }),
        )
        .await?;
        Ok(true)
    }
}
