//! `batch_update_records` and `batch_delete_records`: one change or one
//! delete over many records of a form, in one transaction (all or nothing).
//! Callers: the v5 API's `batch_update` and `batch_delete`.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::prepare::WriteKind;
use super::{RecordError, RecordView};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{FormId, RecordId};

impl Engine {
    /// Applies `patch` to every record of `ids` (repeats are taken once),
    /// all or nothing: every record is checked first, and the writes share
    /// one transaction, so a failure (including a unique clash found only
    /// by the write) leaves every record as it was. Records whose values
    /// would not change are left alone and still answered.
    ///
    /// # Errors
    /// `payload_too_large` over the batch limit; `not_found` naming the
    /// first id the caller cannot reach; `conflict` for a record in a
    /// running flow; `validation_failed` with details `<index>/<field>`;
    /// `duplicate_value`; `version_mismatch` when a record changed meanwhile.
    pub async fn batch_update_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        ids: &[RecordId],
        patch: Map<String, Value>,
    ) -> Result<Vec<RecordView>, RecordError> {
        require(ctx, Action::WriteData)?;
        let ctx = &ctx.as_batch();
        let ids = self.batch_ids(ids)?;
        let (form, access) = self.form_with_access(ctx, form_id, FormAction::Edit).await?;
        access.check_write(&patch)?;
        let mut rows = Vec::with_capacity(ids.len());
        let mut details = Vec::new();
        let mut bad_items = 0;
        for (i, id) in ids.iter().enumerate() {
            let row = self
                .reachable_row(ctx, &access, FormAction::Edit, form_id, *id, false)
                .await?;
            self.ensure_not_in_flow(ctx, *id).await?;
            let base = row.data.as_object().cloned().unwrap_or_default();
            let result = match self.prepare_data(ctx, &form, &base, patch.clone(), WriteKind::Update) {
                Ok(data) => match self.check_references(ctx, &form, &data).await? {
                    errs if errs.is_empty() => Ok(data),
                    errs => Err(errs),
                },
                Err(errs) => Err(errs),
            };
            match result {
                Ok(data) => {
                    self.check_size(&data)?;
                    rows.push((row, data));
                }
                Err(errs) => {
                    bad_items += 1;
                    details.extend(
                        errs.into_iter()
                            .map(|e| FieldError::new(format!("{i}/{}", e.field), e.message)),
                    );
                }
            }
        }
        if bad_items > 0 {
            return Err(RecordError::BatchInvalid {
                items: bad_items,
                details,
            });
        }
        let visible = access.visible_def(&form.def);
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, data) in rows {
            match self.update_prepared(&tx, ctx, &form, &row, data).await? {
                Some((updated, tags)) => out.push(super::view(&visible, &updated, tags)?),
                None => {
                    let mut tags = self.tag_names(&tx, ctx, std::slice::from_ref(&row.id)).await?;
                    out.push(super::view(
                        &visible,
                        &row,
                        tags.remove(&row.id).unwrap_or_default(),
                    )?);
                }
            }
        }
        tx.commit().await?;
        db.optimize().await?;
        Ok(out)
    }

    /// Moves every record of `ids` (repeats are taken once) to the recycle
    /// bin, all or nothing. Returns the ids deleted, in order.
    ///
    /// # Errors
    /// `payload_too_large` over the batch limit; `not_found` naming the
    /// first id the caller cannot reach; `conflict` for a record in a
    /// running flow; `version_mismatch` when a record changed meanwhile.
    pub async fn batch_delete_records(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        ids: &[RecordId],
    ) -> Result<Vec<RecordId>, RecordError> {
        require(ctx, Action::WriteData)?;
        let ctx = &ctx.as_batch();
        let ids = self.batch_ids(ids)?;
        let (_, access) = self.form_with_access(ctx, form_id, FormAction::Delete).await?;
        let mut rows = Vec::with_capacity(ids.len());
        for id in &ids {
            rows.push(
                self.reachable_row(ctx, &access, FormAction::Delete, form_id, *id, false)
                    .await?,
            );
            self.ensure_not_in_flow(ctx, *id).await?;
        }
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        for row in &rows {
            self.set_deleted_in(&tx, ctx, form_id, row, true).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The ids once each, in order, within the batch limit.
    fn batch_ids(&self, ids: &[RecordId]) -> Result<Vec<RecordId>, RecordError> {
        let limit = self.config().max_batch;
        if ids.len() > limit {
            return Err(RecordError::BatchTooLarge {
                size: ids.len(),
                limit,
            });
        }
        let mut seen = BTreeSet::new();
        Ok(ids.iter().copied().filter(|id| seen.insert(*id)).collect())
    }
}
