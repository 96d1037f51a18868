//! Forms: create, read, save as a new version, delete, compile to a schema.
//!
//! Invariants: every save is a new, listed version; a field key is never
//! renamed; removing a field moves it to `removed_fields` and leaves record
//! data alone, so re-adding the key brings the data back; a type change that
//! existing values do not satisfy is refused unless converted in full.

pub mod cache;
mod change;
mod create;
mod read;
mod update;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

pub use update::UpdateFormOptions;

use super::MetaError;
use super::model::FormDef;
use crate::Engine;
use crate::ctx::Ctx;
use crate::ids::{AppId, FormId, UserId};
use crate::meta::field_type::FieldTypes;
use crate::store::entity::form;
use crate::store::form_index::{FieldIndex, IndexPurpose};
use crate::store::{StoreError, parse_id};

/// A form as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FormView {
    /// Id.
    pub id: FormId,
    /// Owning app.
    pub app_id: AppId,
    /// Name (the same as the definition's; serialised once, through it).
    #[serde(skip_serializing)]
    pub name: String,
    /// Current version (1 on create, +1 on every save).
    pub version: i32,
    /// The current definition.
    #[serde(flatten)]
    pub definition: FormDef,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last saved.
    pub updated_at: DateTime<Utc>,
}

/// One saved version of a form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FormVersionView {
    /// Version number.
    pub version: i32,
    /// Who saved it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The definition as saved.
    pub definition: FormDef,
}

/// A loaded form: its row and parsed definition.
#[derive(Debug, Clone)]
pub struct LoadedForm {
    /// Id.
    pub id: FormId,
    /// Owning app.
    pub app_id: AppId,
    /// Current version.
    pub version: i32,
    /// Current definition.
    pub def: FormDef,
    /// Per-form permissions; `None`: open to every member.
    pub permissions: Option<crate::auth::access::FormPermissions>,
    /// The stored row.
    pub row: form::Model,
}

impl LoadedForm {
    fn from_row(row: form::Model) -> Result<Self, MetaError> {
        let mut def: FormDef = serde_json::from_value(row.definition.clone())
            .map_err(|e| StoreError::Corrupt(format!("form definition: {e}")))?;
        crate::meta::widget::fill_missing(&mut def, &row.id);
        let permissions = row
            .permissions
            .clone()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("form permissions: {e}")))?;
        Ok(Self {
            permissions,
            id: parse_id(&row.id)?,
            app_id: parse_id(&row.app_id)?,
            version: row.version,
            def,
            row,
        })
    }

    /// The API view.
    #[must_use]
    pub fn view(&self) -> FormView {
        FormView {
            id: self.id,
            app_id: self.app_id,
            name: self.def.name.clone(),
            version: self.version,
            definition: self.def.clone(),
            created_at: self.row.created_at,
            updated_at: self.row.updated_at,
        }
    }
}

/// The indexes a definition wants: one per unique or indexed active field.
#[must_use]
pub fn wanted_indexes(types: &FieldTypes, def: &FormDef) -> Vec<FieldIndex> {
    def.fields
        .iter()
        .filter(|f| f.unique || f.indexed)
        .filter_map(|f| {
            let t = types.get(&f.kind).ok()?;
            t.is_indexable_for(f).then(|| FieldIndex {
                key: f.key.clone(),
                cast: t.sql_cast_for(f),
                purpose: if f.unique {
                    IndexPurpose::Unique
                } else {
                    IndexPurpose::Lookup
                },
            })
        })
        .collect()
}

impl Engine {
    /// Loads a live form of the caller's tenant.
    ///
    /// # Errors
    /// `not_found` when the form is not the tenant's or was deleted.
    pub async fn load_form(&self, ctx: &Ctx, id: FormId) -> Result<Arc<LoadedForm>, MetaError> {
        if let Some(form) = self.form_cache().get(ctx.tenant, id) {
            return Ok(form);
        }
        let form = Arc::new(load_form_in(self.db().conn(), ctx, id).await?);
        self.form_cache().put(ctx.tenant, Arc::clone(&form));
        Ok(form)
    }
}

/// Loads a live form through a given connection or transaction.
///
/// # Errors
/// `not_found`.
pub async fn load_form_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    id: FormId,
) -> Result<LoadedForm, MetaError> {
    {
        let row = form::Entity::find()
            .filter(form::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(form::Column::Id.eq(id.to_string()))
            .filter(form::Column::DeletedAt.is_null())
            .one(conn)
            .await?
            .ok_or_else(|| MetaError::FormNotFound(id.to_string()))?;
        LoadedForm::from_row(row)
    }
}
