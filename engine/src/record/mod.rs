//! Records: create (single, batch, idempotent), read, update with optimistic
//! versions, soft delete / restore / purge, history, tags, queries.
//!
//! Invariants: every write is validated against the form's compiled schema;
//! every change writes a history row in the same transaction; data of
//! removed fields stays stored and is hidden from responses; unique fields
//! are enforced by per-form unique indexes.

mod batch;
mod create;
mod delete;
mod error;
mod expand;
pub mod group;
pub(crate) mod prepare;
mod read;
mod tags;
pub mod transaction;
mod update;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use error::RecordError;

use crate::Engine;
use crate::auth::access::{FormAccess, FormAction};
use crate::ctx::Ctx;
use crate::ids::{FormId, RecordId, UserId};
use crate::meta::form::LoadedForm;
use crate::meta::model::FormDef;
use crate::store::entity::{record, record_tag, tag};
use crate::store::parse_id;

/// Input of a record write.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// Field key → value.
    pub data: Map<String, Value>,
}

/// A record as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordView {
    /// Id (UUIDv7).
    pub id: RecordId,
    /// Form.
    pub form_id: FormId,
    /// Values of the form's active fields.
    pub data: Map<String, Value>,
    /// Optimistic-lock version, also the `ETag`.
    pub version: i32,
    /// Tag names.
    pub tags: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Creator.
    pub created_by: UserId,
    /// Last editor.
    pub updated_by: UserId,
    /// Set while the record is in the recycle bin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Titles of related records, for the relation fields named in
    /// `expand`: `{"customer": {"id": "...", "title": "..."}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expanded: Option<Map<String, Value>>,
}

/// One history row.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// The record version this change produced.
    pub version: i32,
    /// `create`, `update`, `delete`, `restore`, `convert`, `tag`, `untag`.
    pub action: String,
    /// Who.
    pub actor: UserId,
    /// When.
    pub at: DateTime<Utc>,
    /// Field key → `{"from": old, "to": new}`.
    pub changes: Value,
}

/// A page of records.
#[derive(Debug, Clone, Serialize)]
pub struct PageView {
    /// The records.
    pub records: Vec<RecordView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// Total matches, only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// The stored data reduced to the form's active fields.
#[must_use]
pub fn project(def: &FormDef, data: &Value) -> Map<String, Value> {
    let Some(obj) = data.as_object() else {
        return Map::new();
    };
    def.fields
        .iter()
        .filter_map(|f| obj.get(&f.key).map(|v| (f.key.clone(), v.clone())))
        .collect()
}

/// Builds a view from a row and its tag names.
///
/// # Errors
/// `internal` when stored ids are corrupt.
pub fn view(def: &FormDef, row: &record::Model, tags: Vec<String>) -> Result<RecordView, RecordError> {
    Ok(RecordView {
        id: parse_id(&row.id)?,
        form_id: parse_id(&row.form_id)?,
        data: project(def, &row.data),
        version: row.version,
        tags,
        created_at: row.created_at,
        updated_at: row.updated_at,
        created_by: parse_id(&row.created_by)?,
        updated_by: parse_id(&row.updated_by)?,
        deleted_at: row.deleted_at,
        expanded: None,
    })
}

impl Engine {
    /// The form and what the caller may do with its records; refuses
    /// `action` when the form's permissions do not grant it.
    pub(crate) async fn form_with_access(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        action: FormAction,
    ) -> Result<(std::sync::Arc<LoadedForm>, FormAccess), RecordError> {
        let form = self.load_form(ctx, form_id).await?;
        let access = self.form_access(ctx, &form).await?;
        access.require(action)?;
        Ok((form, access))
    }

    /// A record that `action` reaches for the caller; a record outside their
    /// data scope answers `not_found`, like one that does not exist.
    pub(crate) async fn reachable_row(
        &self,
        ctx: &Ctx,
        access: &FormAccess,
        action: FormAction,
        form_id: FormId,
        id: RecordId,
        deleted: bool,
    ) -> Result<record::Model, RecordError> {
        let row = self.record_row(ctx, form_id, id, deleted).await?;
        if access.covers(action, &row) {
            Ok(row)
        } else {
            Err(RecordError::NotFound(id.to_string()))
        }
    }

    /// Tag names of many records in one query.
    pub(crate) async fn tag_names<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        record_ids: &[String],
    ) -> Result<HashMap<String, Vec<String>>, RecordError> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        if record_ids.is_empty() {
            return Ok(out);
        }
        let rows: Vec<(String, String)> = record_tag::Entity::find()
            .select_only()
            .column(record_tag::Column::RecordId)
            .column(tag::Column::Name)
            .join(JoinType::InnerJoin, record_tag::Relation::Tag.def())
            .filter(record_tag::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(record_tag::Column::RecordId.is_in(record_ids.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        for (rid, name) in rows {
            out.entry(rid).or_default().push(name);
        }
        for names in out.values_mut() {
            names.sort();
        }
        Ok(out)
    }

    /// Views of many rows, tags loaded in one query.
    pub(crate) async fn views(
        &self,
        ctx: &Ctx,
        def: &FormDef,
        rows: &[record::Model],
    ) -> Result<Vec<RecordView>, RecordError> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut tags = self.tag_names(self.db().conn(), ctx, &ids).await?;
        rows.iter()
            .map(|r| view(def, r, tags.remove(&r.id).unwrap_or_default()))
            .collect()
    }
}
