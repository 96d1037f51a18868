//! Claiming files for record fields, inside the record write's transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};

use super::sniff::is_image;
use crate::Engine;
use crate::error::FieldError;
use crate::meta::field_type::file_ids;
use crate::meta::form::LoadedForm;
use crate::record::RecordError;
use crate::store::entity::file;

/// The record a write is for, and who writes it when.
pub(crate) struct Holder<'a> {
    pub tenant: &'a str,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
    pub record_id: &'a str,
}

impl Engine {
    /// Brings the file fields of `after` in line with the `files` table, on
    /// the record write's own connection: every file a field names is
    /// claimed for this record and field (it must be the writer's own
    /// unclaimed upload, or already held by this field), its value becomes
    /// `{id, name, size, mime}`, and files the field no longer names are
    /// detached. `before` is the stored data (empty on create).
    ///
    /// # Errors
    /// `validation_failed` naming the field for a file the writer may not
    /// use, or a non-image in an image field.
    pub(crate) async fn claim_files<C: ConnectionTrait>(
        &self,
        conn: &C,
        form: &LoadedForm,
        holder: &Holder<'_>,
        before: &Map<String, Value>,
        after: &mut Map<String, Value>,
    ) -> Result<(), RecordError> {
        let mut errs = Vec::new();
        for f in &form.def.fields {
            let Some(rule) = self.field_types().get(&f.kind).ok().and_then(|t| t.file_rule()) else {
                continue;
            };
            if before.get(&f.key) == after.get(&f.key) {
                continue;
            }
            let old = file_ids(before.get(&f.key));
            let new = file_ids(after.get(&f.key));
            let rows = if new.is_empty() {
                Vec::new()
            } else {
                file::Entity::find()
                    .filter(file::Column::TenantId.eq(holder.tenant))
                    .filter(file::Column::Id.is_in(new.clone()))
                    .all(conn)
                    .await?
            };
            let mut items = Vec::with_capacity(new.len());
            let mut to_claim = Vec::new();
            for id in &new {
                let row = rows.iter().find(|r| &r.id == id);
                let held = row.is_some_and(|r| {
                    r.record_id.as_deref() == Some(holder.record_id) && r.field_key.as_deref() == Some(&f.key)
                });
                let own = row.is_some_and(|r| r.record_id.is_none() && r.created_by == holder.actor);
                match row {
                    Some(r) if held || own => {
                        if rule.images_only && !is_image(&r.mime) {
                            errs.push(FieldError::new(
                                f.key.clone(),
                                format!(
                                    "`{}` is {}, not an image (PNG, JPEG, GIF, WebP or BMP)",
                                    r.name, r.mime
                                ),
                            ));
                            continue;
                        }
                        if !held || r.detached_at.is_some() {
                            to_claim.push(id.clone());
                        }
                        items.push(json!({"id": r.id, "name": r.name, "size": r.size, "mime": r.mime}));
                    }
                    _ => errs.push(FieldError::new(
                        f.key.clone(),
                        format!("`{id}` is not a file you uploaded, nor one this field already holds"),
                    )),
                }
            }
            if !to_claim.is_empty() {
                let claimed = file::Entity::update_many()
                    .col_expr(file::Column::FormId, Expr::val(form.id.to_string()))
                    .col_expr(file::Column::RecordId, Expr::val(holder.record_id))
                    .col_expr(file::Column::FieldKey, Expr::val(f.key.clone()))
                    .col_expr(file::Column::DetachedAt, Expr::val(None::<DateTime<Utc>>))
                    .filter(file::Column::TenantId.eq(holder.tenant))
                    .filter(file::Column::Id.is_in(to_claim.clone()))
                    .filter(
                        Condition::any()
                            .add(
                                Condition::all()
                                    .add(file::Column::RecordId.is_null())
                                    .add(file::Column::CreatedBy.eq(holder.actor)),
                            )
                            .add(
                                Condition::all()
                                    .add(file::Column::RecordId.eq(holder.record_id))
                                    .add(file::Column::FieldKey.eq(f.key.clone())),
                            ),
                    )
                    .exec(conn)
                    .await?;
                if claimed.rows_affected != to_claim.len() as u64 {
                    // Another write claimed one meanwhile (or it was removed).
                    errs.push(FieldError::new(
                        f.key.clone(),
                        "a file of this value was taken by another record meanwhile; upload it again",
                    ));
                }
            }
            let removed: Vec<String> = old.into_iter().filter(|id| !new.contains(id)).collect();
            if !removed.is_empty() {
                detach(conn, holder, Some(&f.key), Some(removed)).await?;
            }
            if new.is_empty() {
                after.remove(&f.key);
            } else {
                after.insert(f.key.clone(), Value::Array(items));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Invalid(errs))
        }
    }
}

/// Marks files the record (field) no longer holds as detached, so
/// [`Engine::collect_files`] removes them after the retention period.
/// `ids` narrows to those files; `None` detaches all of the record's.
pub(crate) async fn detach<C: ConnectionTrait>(
    conn: &C,
    holder: &Holder<'_>,
    field_key: Option<&str>,
    ids: Option<Vec<String>>,
) -> Result<(), sea_orm::DbErr> {
    let mut q = file::Entity::update_many()
        .col_expr(file::Column::DetachedAt, Expr::val(Some(holder.now)))
        .filter(file::Column::TenantId.eq(holder.tenant))
        .filter(file::Column::RecordId.eq(holder.record_id))
        .filter(file::Column::DetachedAt.is_null());
    if let Some(key) = field_key {
        q = q.filter(file::Column::FieldKey.eq(key));
    }
    if let Some(ids) = ids {
        q = q.filter(file::Column::Id.is_in(ids));
    }
    q.exec(conn).await.map(|_| ())
}

/// Detaches every file of the given forms' records (an app's data purged
/// at once).
pub(crate) async fn detach_forms<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    form_ids: Vec<String>,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    file::Entity::update_many()
        .col_expr(file::Column::DetachedAt, Expr::val(Some(now)))
        .filter(file::Column::TenantId.eq(tenant))
        .filter(file::Column::FormId.is_in(form_ids))
        .filter(file::Column::DetachedAt.is_null())
        .exec(conn)
        .await
        .map(|_| ())
}
