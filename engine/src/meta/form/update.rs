//! `update_form`: save a new version.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::{Value, json};

use super::change::{changed_fields, plan_conversion};
use super::{FormView, LoadedForm, wanted_indexes};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FormId, RecordHistoryId};
use crate::meta::MetaError;
use crate::meta::check::check_form_def;
use crate::meta::model::FormDef;
use crate::store::entity::{form, form_version, record, record_history};
use crate::store::{StoreError, form_index, unique_violation};

/// Options of a form save.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct UpdateFormOptions {
    /// Convert existing values that a changed field no longer accepts
    /// (all or nothing) instead of refusing the change.
    #[serde(default)]
    pub convert: bool,
}

/// Keeps removed fields: old removed + old active now missing, minus keys
/// that are active again.
fn merge_removed(old: &FormDef, new: &mut FormDef) {
    let mut removed: Vec<_> = old
        .removed_fields
        .iter()
        .chain(old.fields.iter())
        .filter(|f| new.field(&f.key).is_none())
        .cloned()
        .collect();
    removed.dedup_by(|a, b| a.key == b.key);
    new.removed_fields = removed;
}

impl Engine {
    /// Saves a new version of a form. Removed fields keep their data; a
    /// changed field is checked against every existing value.
    ///
    /// # Errors
    /// `validation_failed` (with JSON paths), `not_found`, `forbidden`,
    /// `incompatible_change` (with the count and first record ids),
    /// `duplicate_value` when a field made unique has shared values.
    pub async fn update_form(
        &self,
        ctx: &Ctx,
        id: FormId,
        raw: Value,
        opts: UpdateFormOptions,
    ) -> Result<FormView, MetaError> {
        require(ctx, Action::DesignApps)?;
        let mut new_def =
            check_form_def(self.field_types(), self.sandbox(), &raw).map_err(MetaError::Invalid)?;
        self.check_relations(ctx, &new_def).await?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        // Re-read inside the transaction: the version we bump is the latest.
        let current = super::load_form_in(&tx, ctx, id).await?;
        merge_removed(&current.def, &mut new_def);
        crate::meta::widget::assign(&mut new_def, Some(&current.def), ctx.now.timestamp_millis());
        let mut conversions = Vec::new();
        for change in changed_fields(&current.def, &new_def) {
            let planned = plan_conversion(&tx, ctx, self.field_types(), id, &change, opts.convert).await?;
            conversions.push((change.new.key.clone(), planned));
        }
        let version = current.version + 1;
        let definition = serde_json::to_value(&new_def).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for (key, planned) in conversions {
            for (record_id, (old_value, new_data)) in planned {
                convert_record(&tx, ctx, id, &record_id, &key, old_value, new_data).await?;
            }
        }
        let mut active: form::ActiveModel = current.row.clone().into();
        active.name = Set(new_def.name.clone());
        active.version = Set(version);
        active.definition = Set(definition.clone());
        active.updated_at = Set(ctx.now);
        let row = active.update(&tx).await?;
        form_version::ActiveModel {
            form_id: Set(id.to_string()),
            version: Set(version),
            tenant_id: Set(ctx.tenant.to_string()),
            definition: Set(definition),
            created_by: Set(ctx.actor.to_string()),
            created_at: Set(ctx.now),
        }
        .insert(&tx)
        .await?;
        let before = wanted_indexes(self.field_types(), &current.def);
        let after = wanted_indexes(self.field_types(), &new_def);
        if let Err(StoreError::Db(e)) = form_index::sync(&tx, db.backend(), id, &before, &after).await {
            let field = unique_violation(&e)
                .and_then(|name| after.iter().find(|i| i.name(id) == name).map(|i| i.key.clone()));
            return Err(match field {
                Some(f) => MetaError::NotUnique(f),
                None => MetaError::Store(StoreError::Db(e)),
            });
        }
        crate::audit::record(
            &tx,
            ctx,
            "form.updated",
            "form",
            &id.to_string(),
            serde_json::json!({"name": row.name, "version": row.version}),
        )
        .await?;
        tx.commit().await?;
        self.form_cache().evict(ctx.tenant, id);
        db.optimize().await?;
        LoadedForm::from_row(row).map(|f| f.view())
    }
}

/// Writes one converted record with a history row keeping the old value.
async fn convert_record<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    form: FormId,
    record_id: &str,
    key: &str,
    old_value: Value,
    new_data: Value,
) -> Result<(), MetaError> {
    let row = record::Entity::find()
        .filter(record::Column::TenantId.eq(ctx.tenant.to_string()))
        .filter(record::Column::Id.eq(record_id))
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("record `{record_id}` vanished")))?;
    let new_value = new_data.get(key).cloned().unwrap_or(Value::Null);
    let version = row.version + 1;
    let mut active: record::ActiveModel = row.into();
    active.data = Set(new_data);
    active.version = Set(version);
    active.updated_at = Set(ctx.now);
    active.updated_by = Set(ctx.actor.to_string());
    active.update(conn).await?;
    record_history::ActiveModel {
        id: Set(RecordHistoryId::new().to_string()),
        tenant_id: Set(ctx.tenant.to_string()),
        form_id: Set(form.to_string()),
        record_id: Set(record_id.to_owned()),
        version: Set(version),
        action: Set("convert".to_owned()),
        actor: Set(ctx.actor.to_string()),
        at: Set(ctx.now),
        changes: Set(json!({ key: { "from": old_value, "to": new_value } })),
        // A conversion is not a record event: no rule fires on it.
        dispatched_at: Set(Some(ctx.now)),
        cause: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}
