//! Reading files: metadata and content, for callers who may see them.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{FileError, FileView, blob_path};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FileId, FormId, RecordId};
use crate::meta::field_type::file_ids;
use crate::store::entity::file;
use crate::store::parse_id;

impl Engine {
    /// A file's metadata.
    ///
    /// # Errors
    /// `not_found` unless the caller may see it: an unclaimed upload only
    /// by its uploader; a claimed file by whoever may read the record and
    /// sees the field holding it (the form's permissions, data scope and
    /// hidden fields apply).
    pub async fn file_meta(&self, ctx: &Ctx, id: FileId) -> Result<FileView, FileError> {
        let row = self.readable_file(ctx, id).await?;
        Ok(FileView::from_row(&row)?)
    }

    /// A file's metadata and its content, opened for reading.
    ///
    /// # Errors
    /// As [`Engine::file_meta`]; `internal` when the bytes are missing.
    pub async fn open_file(&self, ctx: &Ctx, id: FileId) -> Result<(FileView, tokio::fs::File), FileError> {
        let row = self.readable_file(ctx, id).await?;
        let path = blob_path(&self.config().files.data_dir, &row.tenant_id, &row.id);
        let content = tokio::fs::File::open(&path)
            .await
            .map_err(|e| FileError::Io(format!("the content of file `{}` cannot be read: {e}", row.id)))?;
        Ok((FileView::from_row(&row)?, content))
    }

    async fn readable_file(&self, ctx: &Ctx, id: FileId) -> Result<file::Model, FileError> {
        require(ctx, Action::ReadData)?;
        let not_found = || FileError::NotFound(id.to_string());
        if ctx.link.is_some() {
            return Err(not_found());
        }
        let row = file::Entity::find_by_id(id.to_string())
            .filter(file::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(not_found)?;
        if row.detached_at.is_some() {
            return Err(not_found());
        }
        let (Some(form), Some(record), Some(key)) = (&row.form_id, &row.record_id, &row.field_key) else {
            return if row.created_by == ctx.actor.to_string() {
                Ok(row)
            } else {
                Err(not_found())
            };
        };
        let form: FormId = parse_id(form)?;
        let record: RecordId = parse_id(record)?;
        // The one permission check of record reads decides: scope, form
        // permissions and hidden fields (a hidden field is absent here).
        let Ok(view) = self.get_record(ctx, form, record).await else {
            return Err(not_found());
        };
        if file_ids(view.data.get(key)).contains(&row.id) {
            Ok(row)
        } else {
            Err(not_found())
        }
    }
}
