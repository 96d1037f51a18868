//! Running an import for real: validate, and when no row has an error,
//! write every insert and update in one transaction that also records the
//! outcome on the import (and, under a job, completes the job). A failure
//! anywhere rolls the whole transaction back, so a failed import changes
//! no record.

use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde_json::{Map, Value, json};

use super::import::{stored_errors, summary_of};
use super::plan::{Op, Settings};
use super::progress::{self, Phase, Progress};
use super::read::Format;
use super::{ExchangeError, ImportSummary};
use crate::Engine;
use crate::ctx::Ctx;
use crate::error::{ErrorCode, HasCode};
use crate::ids::ImportId;
use crate::jobs::{JobCtx, JobOutcome, JobTx, RunOutcome};
use crate::meta::form::LoadedForm;
use crate::record::RecordError;
use crate::store::entity::{import, record};
use crate::store::{Backend, StoreError, WriteGuard};

use super::import::status;

/// Records per insert call (each call chunks its statements further).
const WRITE_CHUNK: usize = 2000;

/// The transaction an import writes in: the job's (completing it on
/// commit) or its own (the CLI).
enum OpenTx<'a> {
    Job(JobTx<'a>),
    Own(WriteGuard<'a>, DatabaseTransaction),
}

impl OpenTx<'_> {
    fn tx(&self) -> &DatabaseTransaction {
        match self {
            Self::Job(t) => t.tx(),
            Self::Own(_, t) => t,
        }
    }

    async fn commit(self, detail: Value) -> Result<Option<JobOutcome>, ExchangeError> {
        match self {
            Self::Job(t) => Ok(Some(t.commit(RunOutcome::Succeeded, detail).await?)),
            Self::Own(_guard, t) => {
                t.commit().await?;
                Ok(None)
            }
        }
    }
}

impl Engine {
    async fn open_tx<'a>(&'a self, job: Option<&'a JobCtx>) -> Result<OpenTx<'a>, ExchangeError> {
        Ok(match job {
            Some(j) => OpenTx::Job(j.begin().await?),
            None => {
                let guard = self.db().write_lock().await;
                let tx = self.db().begin().await?;
                OpenTx::Own(guard, tx)
            }
        })
    }

    /// Validates the stored file with `settings` and, when every row is
    /// good, writes it all in one transaction. Bad rows, a record changed
    /// meanwhile or a unique value taken meanwhile end the import as
    /// `failed` with nothing written. Returns the job's outcome when run
    /// under a job.
    ///
    /// # Errors
    /// `internal` (the job retries); other failures are recorded on the
    /// import instead.
    pub(crate) async fn execute_import(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        id: ImportId,
        settings: &Settings,
        job: Option<&JobCtx>,
    ) -> Result<Option<JobOutcome>, ExchangeError> {
        let row = self.import_row(ctx, form.id, id).await?;
        let format = Format::parse(&row.format)
            .ok_or_else(|| ExchangeError::from(StoreError::Corrupt("unknown import format".to_owned())))?;
        self.update_import(ctx, id, |m| {
            m.status = Set(status::RUNNING.to_owned());
            m.phase = Set(Phase::Reading.as_str().to_owned());
            m.error_count = Set(0);
            m.errors = Set(json!([]));
            m.summary = Set(None);
            m.finished_at = Set(None);
        })
        .await?;
        let result = self
            .validate_and_write(ctx, form, id, settings, format, job)
            .await;
        progress::clear(id);
        match result {
            Ok(outcome) => Ok(outcome),
            Err(e) if e.code() == ErrorCode::Internal => Err(e),
            Err(e) => {
                let failure = e.to_string();
                self.finish_failed(ctx, id, job, None, &[], &failure).await
            }
        }
    }

    async fn validate_and_write(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        id: ImportId,
        settings: &Settings,
        format: Format,
        job: Option<&JobCtx>,
    ) -> Result<Option<JobOutcome>, ExchangeError> {
        let (plan, _total) = self.plan_stored(ctx, form, id, settings, format).await?;
        if !plan.errors.is_empty() {
            let summary = summary_of(&plan);
            let failure = format!("{} row(s) have errors; nothing was written", summary.failed_rows);
            return self
                .finish_failed(ctx, id, job, Some(summary), &plan.errors, &failure)
                .await;
        }
        let mut summary = summary_of(&plan);
        let n_ops = plan.ops.len() as u64;
        progress::set(
            id,
            Progress {
                phase: Phase::Writing,
                processed: 0,
                total: n_ops,
            },
        );
        self.update_import(ctx, id, |m| {
            m.phase = Set(Phase::Writing.as_str().to_owned());
            m.processed = Set(0);
            m.total = Set(i64::try_from(n_ops).unwrap_or(i64::MAX));
        })
        .await?;
        let open = self.open_tx(job).await?;
        if self.db().backend() == Backend::Sqlite && matches!(open, OpenTx::Own(..)) {
            // Write first, so the transaction holds SQLite's write lock from
            // its start (another process may share the file).
            self.touch_import(open.tx(), ctx, id).await?;
        }
        let unchanged = self.write_ops(open.tx(), ctx, form, id, plan.ops, n_ops).await?;
        summary.updated -= unchanged;
        summary.unchanged += unchanged;
        let detail = json!({ "import_id": id, "status": status::SUCCEEDED, "summary": summary });
        import::Entity::update_many()
            .col_expr(import::Column::Status, Expr::val(status::SUCCEEDED))
            .col_expr(import::Column::Phase, Expr::val(Phase::Done.as_str()))
            .col_expr(
                import::Column::Processed,
                Expr::val(i64::try_from(n_ops).unwrap_or(i64::MAX)),
            )
            .col_expr(import::Column::Summary, Expr::val(json!(summary)))
            .col_expr(import::Column::UpdatedAt, Expr::val(ctx.now))
            .col_expr(import::Column::FinishedAt, Expr::val(Some(ctx.now)))
            .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(import::Column::Id.eq(id.to_string()))
            .exec(open.tx())
            .await?;
        let outcome = open.commit(detail).await?;
        self.db().optimize().await?;
        Ok(outcome)
    }

    async fn touch_import(
        &self,
        tx: &DatabaseTransaction,
        ctx: &Ctx,
        id: ImportId,
    ) -> Result<(), ExchangeError> {
        import::Entity::update_many()
            .col_expr(import::Column::Phase, Expr::val(Phase::Writing.as_str()))
            .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(import::Column::Id.eq(id.to_string()))
            .exec(tx)
            .await?;
        Ok(())
    }

    /// Inserts in multi-row batches, then updates each record conditional
    /// on the version validated. Returns how many updates found nothing to
    /// change after all.
    async fn write_ops(
        &self,
        tx: &DatabaseTransaction,
        ctx: &Ctx,
        form: &LoadedForm,
        id: ImportId,
        ops: Vec<(usize, Op)>,
        total: u64,
    ) -> Result<u64, ExchangeError> {
        let mut done = 0u64;
        let mut inserts: Vec<Map<String, Value>> = Vec::new();
        let mut updates: Vec<(Box<record::Model>, Map<String, Value>)> = Vec::new();
        for (_, op) in ops {
            match op {
                Op::Insert(d) => inserts.push(d),
                Op::Update(row, d) => updates.push((row, d)),
            }
        }
        let mut inserts = inserts.into_iter().peekable();
        while inserts.peek().is_some() {
            let chunk: Vec<(&Ctx, Map<String, Value>)> =
                inserts.by_ref().take(WRITE_CHUNK).map(|d| (ctx, d)).collect();
            done += chunk.len() as u64;
            self.insert_prepared_many(tx, form, chunk).await?;
            self.write_progress(ctx, id, done, total).await;
        }
        let mut unchanged = 0;
        for (i, (row, data)) in updates.into_iter().enumerate() {
            match self.update_prepared(tx, ctx, form, &row, data).await {
                Ok(Some(_)) => {}
                Ok(None) => unchanged += 1,
                Err(RecordError::VersionMismatch { .. }) => return Err(ExchangeError::Changed),
                Err(e) => return Err(e.into()),
            }
            done += 1;
            if i % WRITE_CHUNK == WRITE_CHUNK - 1 {
                self.write_progress(ctx, id, done, total).await;
            }
        }
        Ok(unchanged)
    }

    /// Live progress; on PostgreSQL also on the import row (a separate
    /// connection, so other servers see it; the transaction touches that
    /// row only at its end).
    async fn write_progress(&self, ctx: &Ctx, id: ImportId, done: u64, total: u64) {
        progress::set(
            id,
            Progress {
                phase: Phase::Writing,
                processed: done,
                total,
            },
        );
        if self.db().backend() == Backend::Postgres {
            let _ = import::Entity::update_many()
                .col_expr(
                    import::Column::Processed,
                    Expr::val(i64::try_from(done).unwrap_or(0)),
                )
                .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
                .filter(import::Column::Id.eq(id.to_string()))
                .exec(self.db().conn())
                .await;
        }
        tokio::task::yield_now().await;
    }

    /// Ends a run as `failed` (nothing written), completing its job.
    pub(crate) async fn finish_failed(
        &self,
        ctx: &Ctx,
        id: ImportId,
        job: Option<&JobCtx>,
        summary: Option<ImportSummary>,
        errors: &[super::RowError],
        failure: &str,
    ) -> Result<Option<JobOutcome>, ExchangeError> {
        let (count, kept) = stored_errors(errors);
        let mut summary_json = json!(summary.unwrap_or_default());
        if let Some(obj) = summary_json.as_object_mut() {
            obj.insert("failure".to_owned(), Value::String(failure.to_owned()));
        }
        let open = self.open_tx(job).await?;
        import::Entity::update_many()
            .col_expr(import::Column::Status, Expr::val(status::FAILED))
            .col_expr(import::Column::Phase, Expr::val(Phase::Done.as_str()))
            .col_expr(import::Column::ErrorCount, Expr::val(count))
            .col_expr(import::Column::Errors, Expr::val(kept))
            .col_expr(import::Column::Summary, Expr::val(summary_json))
            .col_expr(import::Column::UpdatedAt, Expr::val(ctx.now))
            .col_expr(import::Column::FinishedAt, Expr::val(Some(ctx.now)))
            .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(import::Column::Id.eq(id.to_string()))
            .exec(open.tx())
            .await?;
        open.commit(json!({ "import_id": id, "status": status::FAILED, "failure": failure }))
            .await
    }
}
