//! `update_record`: PATCH with optimistic locking.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde_json::{Map, Value, json};

use super::prepare::WriteKind;
use super::{RecordError, RecordView};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::files::Holder;
use crate::ids::{FormId, RecordId};
use crate::meta::form::LoadedForm;
use crate::store::entity::record;

impl Engine {
    /// Applies a patch (`null` clears a field). With `expected_version`
    /// (from `If-Match` or the body) a stale version is refused, so no
    /// update is lost; the write itself is also conditional on the version
    /// read, so two concurrent patches cannot both win.
    ///
    /// # Errors
    /// `not_found`, `validation_failed`, `version_mismatch`,
    /// `duplicate_value`, `payload_too_large`.
    pub async fn update_record(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
        patch: Map<String, Value>,
        expected_version: Option<i32>,
    ) -> Result<RecordView, RecordError> {
        require(ctx, Action::WriteData)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::Edit).await?;
        let row = self
            .reachable_row(ctx, &access, FormAction::Edit, form_id, id, false)
            .await?;
        access.check_write(&patch)?;
        let visible = access.visible_def(&form.def);
        self.ensure_not_in_flow(ctx, id).await?;
        if let Some(expected) = expected_version
            && expected != row.version
        {
            return Err(RecordError::VersionMismatch {
                expected,
                actual: row.version,
            });
        }
        let base = row.data.as_object().cloned().unwrap_or_default();
        let data = self
            .prepare_data(ctx, &form, &base, patch, WriteKind::Update)
            .map_err(RecordError::Invalid)?;
        self.check_size(&data)?;
        let errs = self.check_references(ctx, &form, &data).await?;
        if !errs.is_empty() {
            return Err(RecordError::Invalid(errs));
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let Some((updated, tags)) = self.update_prepared(&tx, ctx, &form, &row, data).await? else {
            drop(tx);
            let tags = self
                .tag_names(self.db().conn(), ctx, std::slice::from_ref(&row.id))
                .await?;
            return super::view(&visible, &row, tags.get(&row.id).cloned().unwrap_or_default());
        };
        tx.commit().await?;
        super::view(&visible, &updated, tags)
    }

    /// Writes validated `data` over `row` on `conn` (the caller's
    /// transaction, write lock held): conditional on the version read, with
    /// its history row. Returns `None` when nothing changed, else the new
    /// row and its tags.
    pub(crate) async fn update_prepared<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        form: &LoadedForm,
        row: &record::Model,
        mut data: Map<String, Value>,
    ) -> Result<Option<(record::Model, Vec<String>)>, RecordError> {
        let base = row.data.as_object().cloned().unwrap_or_default();
        if self.has_file_fields(form) {
            let (tenant, actor) = (ctx.tenant.to_string(), ctx.actor.to_string());
            let holder = Holder {
                tenant: &tenant,
                actor: &actor,
                now: ctx.now,
                record_id: &row.id,
            };
            self.claim_files(conn, form, &holder, &base, &mut data).await?;
        }
        let changes: Map<String, Value> = base
            .keys()
            .chain(data.keys())
            .filter(|k| base.get(*k) != data.get(*k))
            .map(|k| {
                let from = base.get(k).cloned().unwrap_or(Value::Null);
                let to = data.get(k).cloned().unwrap_or(Value::Null);
                (k.clone(), json!({ "from": from, "to": to }))
            })
            .collect();
        if changes.is_empty() {
            return Ok(None);
        }
        let version = row.version + 1;
        let result = record::Entity::update_many()
            .col_expr(record::Column::Data, Expr::val(Value::Object(data.clone())))
            .col_expr(record::Column::Version, Expr::val(version))
            .col_expr(record::Column::FormVersion, Expr::val(form.version))
            .col_expr(record::Column::UpdatedAt, Expr::val(ctx.now))
            .col_expr(record::Column::UpdatedBy, Expr::val(ctx.actor.to_string()))
            .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record::Column::Id.eq(row.id.clone()))
            .filter(record::Column::Version.eq(row.version))
            .filter(record::Column::DeletedAt.is_null())
            .exec(conn)
            .await
            .map_err(|e| self.map_unique(form, e))?;
        if result.rows_affected == 0 {
            let actual = record::Entity::find_by_id(row.id.clone())
                .one(conn)
                .await?
                .map_or(row.version + 1, |r| r.version);
            return Err(RecordError::VersionMismatch {
                expected: row.version,
                actual,
            });
        }
        self.write_history(
            conn,
            ctx,
            form.id,
            &row.id,
            version,
            "update",
            Value::Object(changes),
        )
        .await?;
        let tags = self
            .tag_names(conn, ctx, std::slice::from_ref(&row.id))
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let updated = record::Model {
            data: Value::Object(data),
            version,
            form_version: form.version,
            updated_at: ctx.now,
            updated_by: ctx.actor.to_string(),
            ..row.clone()
        };
        Ok(Some((updated, tags)))
    }

    /// Loads a record of the form and tenant; `deleted` selects the recycle
    /// bin instead of live records.
    pub(crate) async fn record_row(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: RecordId,
        deleted: bool,
    ) -> Result<record::Model, RecordError> {
        let q = record::Entity::find()
            .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record::Column::FormId.eq(form_id.to_string()))
            .filter(record::Column::Id.eq(id.to_string()));
        let q = if deleted {
            q.filter(record::Column::DeletedAt.is_not_null())
        } else {
            q.filter(record::Column::DeletedAt.is_null())
        };
        q.one(self.db().conn())
            .await?
            .ok_or_else(|| RecordError::NotFound(id.to_string()))
    }
}
