//! Removing files nobody holds: detached files after the retention period,
//! unclaimed uploads after a day. Run by the scheduler tick.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{FileError, blob_path};
use crate::Engine;
use crate::store::entity::file;

/// Most files removed per call (the next tick takes the rest).
const BATCH: u64 = 200;
/// How long an upload may wait for a record to claim it.
pub const UNCLAIMED_HOURS: i64 = 24;

impl Engine {
    /// Whether the scheduler tick at `now` should sweep unheld files: once
    /// per clock minute, so the scan does not run every second.
    pub(crate) fn files_sweep_due(&self, now: DateTime<Utc>) -> bool {
        use std::sync::atomic::Ordering;
        let minute = now.timestamp().div_euclid(60);
        let last = self.inner.files_swept.load(Ordering::Relaxed);
        minute != last
            && self
                .inner
                .files_swept
                .compare_exchange(last, minute, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Removes up to a batch of files due for removal at `now`: the row
    /// first (conditionally, so a record claiming the file meanwhile wins),
    /// then the bytes. Returns how many were removed.
    ///
    /// # Errors
    /// `internal` on storage failure. A file whose bytes are already gone
    /// is removed all the same.
    pub async fn collect_files(&self, now: DateTime<Utc>) -> Result<usize, FileError> {
        let retention = Duration::days(i64::from(self.config().files.retention_days));
        let due = || {
            Condition::any()
                .add(file::Column::DetachedAt.lt(now - retention))
                .add(
                    Condition::all()
                        .add(file::Column::RecordId.is_null())
                        .add(file::Column::CreatedAt.lt(now - Duration::hours(UNCLAIMED_HOURS))),
                )
        };
        let conn = self.db().conn();
        let rows: Vec<(String, String)> = file::Entity::find()
            .select_only()
            .column(file::Column::Id)
            .column(file::Column::TenantId)
            .filter(due())
            .order_by_asc(file::Column::CreatedAt)
            .limit(BATCH)
            .into_tuple()
            .all(conn)
            .await?;
        let mut removed = 0;
        for (id, tenant) in rows {
            let result = {
                let _w = self.db().write_lock().await;
                file::Entity::delete_many()
                    .filter(file::Column::Id.eq(id.clone()))
                    .filter(due())
                    .exec(conn)
                    .await?
            };
            if result.rows_affected == 0 {
                continue;
            }
            let path = blob_path(&self.config().files.data_dir, &tenant, &id);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(file = %id, error = %e, "removing a file's bytes failed"),
            }
            removed += 1;
        }
        Ok(removed)
    }
}
