//! Streaming an upload to disk: [`Engine::begin_upload`], then
//! [`Upload::write`] per chunk, then [`Upload::finish`]. Dropping an
//! unfinished upload removes its temporary file.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, Func};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::sniff::{SNIFF_LEN, sniff};
use super::{FileError, FileView, blob_path, clean_name, tmp_dir};
use crate::Engine;
use crate::auth::AuthError;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::ids::{FileId, TenantId, UserId};
use crate::store::entity::{file, tenant};

/// An upload in progress.
pub struct Upload {
    id: FileId,
    tenant: TenantId,
    actor: UserId,
    now: DateTime<Utc>,
    tmp: PathBuf,
    out: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    limit: u64,
    done: bool,
}

impl Engine {
    /// Starts an upload for the caller. `declared` is the size the client
    /// announced, if any: refused at once when it is over a limit.
    ///
    /// # Errors
    /// `forbidden` (a role or token that may not write data, or a public
    /// link), `payload_too_large`, `quota_exceeded`, `internal` when the
    /// data directory cannot be written.
    pub async fn begin_upload(&self, ctx: &Ctx, declared: Option<u64>) -> Result<Upload, FileError> {
        require(ctx, Action::WriteData)?;
        if ctx.link.is_some() {
            return Err(AuthError::Forbidden {
                role: "public link",
                action: "upload files",
            }
            .into());
        }
        let cfg = &self.config().files;
        if declared.is_some_and(|d| d > cfg.max_file_bytes) {
            return Err(FileError::TooLarge {
                limit: cfg.max_file_bytes,
            });
        }
        let used = files_used(self.db().conn(), ctx.tenant).await?;
        if used.saturating_add(declared.unwrap_or(0)) > cfg.tenant_quota_bytes
            || used >= cfg.tenant_quota_bytes
        {
            return Err(FileError::QuotaExceeded {
                used,
                quota: cfg.tenant_quota_bytes,
            });
        }
        let id = FileId::new();
        let dir = tmp_dir(&cfg.data_dir);
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(id.to_string());
        let out = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await?;
        Ok(Upload {
            id,
            tenant: ctx.tenant,
            actor: ctx.actor,
            now: ctx.now,
            tmp,
            out: Some(out),
            hasher: Sha256::new(),
            size: 0,
            head: Vec::with_capacity(SNIFF_LEN),
            limit: cfg.max_file_bytes,
            done: false,
        })
    }
}

impl Upload {
    /// Bytes received so far.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a chunk.
    ///
    /// # Errors
    /// `payload_too_large` once the file passes the limit (nothing is kept);
    /// `internal` when the disk refuses the write.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), FileError> {
        let len = u64::try_from(chunk.len()).unwrap_or(u64::MAX);
        self.size = self.size.saturating_add(len);
        if self.size > self.limit {
            return Err(FileError::TooLarge { limit: self.limit });
        }
        if self.head.len() < SNIFF_LEN {
            let take = (SNIFF_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(chunk.get(..take).unwrap_or_default());
        }
        self.hasher.update(chunk);
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| FileError::Io("the upload is closed".to_owned()))?;
        out.write_all(chunk).await?;
        Ok(())
    }

    /// Keeps the file under `name`: checks the quota and records it in one
    /// transaction, then moves the bytes into place.
    ///
    /// # Errors
    /// `quota_exceeded`; `internal` on storage failure (nothing is kept).
    pub async fn finish(mut self, engine: &Engine, name: &str) -> Result<FileView, FileError> {
        let mut out = self
            .out
            .take()
            .ok_or_else(|| FileError::Io("the upload is closed".to_owned()))?;
        out.flush().await?;
        out.sync_all().await?;
        drop(out);
        let complete = self.size <= u64::try_from(SNIFF_LEN).unwrap_or(u64::MAX);
        let mime = sniff(&self.head, complete);
        let cfg = &engine.config().files;
        let tenant = self.tenant.to_string();
        let id = self.id.to_string();
        let row = file::Model {
            id: id.clone(),
            tenant_id: tenant.clone(),
            name: clean_name(name),
            size: i64::try_from(self.size).unwrap_or(i64::MAX),
            mime: mime.to_owned(),
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
            created_by: self.actor.to_string(),
            created_at: self.now,
            form_id: None,
            record_id: None,
            field_key: None,
            detached_at: None,
        };
        let target = blob_path(&cfg.data_dir, &tenant, &id);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        let db = engine.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        // Serialises concurrent uploads of one tenant on PostgreSQL, so two
        // cannot both fit under the quota's last bytes.
        tenant::Entity::find_by_id(tenant.clone())
            .lock_exclusive()
            .one(&tx)
            .await?;
        let used = files_used(&tx, self.tenant).await?;
        if used.saturating_add(self.size) > cfg.tenant_quota_bytes {
            return Err(FileError::QuotaExceeded {
                used,
                quota: cfg.tenant_quota_bytes,
            });
        }
        file::Entity::insert(file::ActiveModel::from(row.clone()))
            .exec_without_returning(&tx)
            .await?;
        tokio::fs::rename(&self.tmp, &target).await?;
        if let Err(e) = tx.commit().await {
            let _ = tokio::fs::remove_file(&target).await;
            return Err(e.into());
        }
        self.done = true;
        Ok(FileView::from_row(&row)?)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Bytes of files the tenant keeps (waiting removal included).
pub(crate) async fn files_used<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<u64, FileError> {
    let total: Option<Option<i64>> = file::Entity::find()
        .select_only()
        .column_as(
            Expr::from(Func::cast_as(
                Func::sum(Expr::col(file::Column::Size)),
                Alias::new("BIGINT"),
            )),
            "total",
        )
        .filter(file::Column::TenantId.eq(tenant.to_string()))
        .into_tuple()
        .one(conn)
        .await?;
    Ok(total.flatten().and_then(|t| u64::try_from(t).ok()).unwrap_or(0))
}
