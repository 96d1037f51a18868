//! Import use cases: `upload_import`, `run_import` (dry run answered at
//! once, real run queued as a job), `get_import`, `import_error_report`,
//! and `import_file` (upload and run in one call, for the CLI).

use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use sea_query::Expr;
use serde_json::{Value, json};

use super::mapping::{self, ColumnMapping};
use super::plan::{ImportMode, Plan, RowError, Settings};
use super::progress::{self, Phase, Progress};
use super::read::{self, Format, Sheet};
use super::{
    ERRORS_IN_VIEW, ExchangeError, ImportSummary, ImportView, MAX_FILE_BYTES, MAX_STORED_ERRORS,
    RunImportInput,
};
use crate::Engine;
use crate::auth::access::FormAction;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{FormId, ImportId};
use crate::jobs::{JobStatus, NewJob, enqueue, get_job};
use crate::meta::form::LoadedForm;
use crate::store::entity::{import, import_file};
use crate::store::{StoreError, parse_id};

/// Status names (stored).
pub(crate) mod status {
    pub const UPLOADED: &str = "uploaded";
    pub const VALIDATED: &str = "validated";
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
}

fn corrupt(e: impl std::fmt::Display) -> ExchangeError {
    StoreError::Corrupt(e.to_string()).into()
}

/// Reads a file off the async runtime (large workbooks take a while) and
/// hands the bytes back.
pub(crate) async fn read_sheet(format: Format, bytes: Vec<u8>) -> Result<(Vec<u8>, Sheet), ExchangeError> {
    tokio::task::spawn_blocking(move || read::read(format, &bytes).map(|s| (bytes, s)))
        .await
        .map_err(|e| corrupt(format!("the file reader failed: {e}")))?
}

impl Engine {
    /// Stores an uploaded CSV or XLSX file for import into a form and
    /// guesses its column mapping.
    ///
    /// # Errors
    /// `not_found` (form), `forbidden`, `bad_request` (not CSV/XLSX, not
    /// readable, no header), `payload_too_large` (over 64 MiB, 200,000 rows
    /// or 500 columns).
    pub async fn upload_import(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        content_type: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<ImportView, ExchangeError> {
        require(ctx, Action::WriteData)?;
        let form = self.load_form(ctx, form_id).await?;
        let access = self.form_access(ctx, &form).await?;
        if !access.allows(FormAction::Edit) {
            access.require(FormAction::Create)?;
        }
        if bytes.len() > MAX_FILE_BYTES {
            return Err(ExchangeError::TooLarge(format!(
                "the file is {} bytes, over the limit of {MAX_FILE_BYTES} bytes",
                bytes.len()
            )));
        }
        let format = Format::detect(content_type, &bytes)?;
        let (bytes, sheet) = read_sheet(format, bytes).await?;
        let guessed = mapping::guess(self.field_types(), &form.def, &sheet.headers);
        let id = ImportId::new();
        let rows = sheet.rows.len() as i64;
        let row = import::ActiveModel {
            id: Set(id.to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            form_id: Set(form_id.to_string()),
            created_by: Set(ctx.actor.to_string()),
            format: Set(format.as_str().to_owned()),
            file_name: Set(file_name.chars().take(255).collect()),
            columns: Set(json!(sheet.headers)),
            rows: Set(rows),
            mapping: Set(serde_json::to_value(&guessed).map_err(corrupt)?),
            mode: Set(ImportMode::Insert.as_str().to_owned()),
            key_field: Set(None),
            status: Set(status::UPLOADED.to_owned()),
            phase: Set(Phase::Idle.as_str().to_owned()),
            job_id: Set(None),
            processed: Set(0),
            total: Set(rows),
            error_count: Set(0),
            errors: Set(json!([])),
            summary: Set(None),
            created_at: Set(ctx.now),
            updated_at: Set(ctx.now),
            finished_at: Set(None),
        };
        let file = import_file::ActiveModel {
            import_id: Set(id.to_string()),
            tenant_id: Set(ctx.tenant.to_string()),
            content: Set(bytes),
        };
        {
            let db = self.db();
            let _w = db.write_lock().await;
            let tx = db.begin().await?;
            import::Entity::insert(row).exec_without_returning(&tx).await?;
            import_file::Entity::insert(file)
                .exec_without_returning(&tx)
                .await?;
            tx.commit().await?;
        }
        self.get_import(ctx, form_id, id).await
    }

    /// An import: status, progress, error count and the first errors.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn get_import(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: ImportId,
    ) -> Result<ImportView, ExchangeError> {
        require(ctx, Action::ReadData)?;
        let form = self.load_form(ctx, form_id).await?;
        let row = self.import_row(ctx, form_id, id).await?;
        let mut view = import_view(&row, ERRORS_IN_VIEW)?;
        view.targets = mapping::targets(self.field_types(), &form.def);
        if let Some(p) = progress::get(id) {
            view.progress = p;
        }
        // A run whose job died (crashed past its attempts, cancelled) left
        // the row queued or running: show the job's end.
        if matches!(row.status.as_str(), status::QUEUED | status::RUNNING)
            && let Some(job) = view.job_id
            && let Ok(j) = get_job(self.db(), ctx.tenant, job).await
            && matches!(
                j.status,
                JobStatus::Dead | JobStatus::Cancelled | JobStatus::Skipped
            )
        {
            view.status = status::FAILED.to_owned();
            view.failure = Some(
                j.last_error
                    .unwrap_or_else(|| format!("the import job ended as `{}`", j.status.as_str())),
            );
        }
        Ok(view)
    }

    /// Every row error of the last run as CSV (`row,column,field,value,message`),
    /// UTF-8 with a byte-order mark so spreadsheets open it as such.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn import_error_report(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: ImportId,
    ) -> Result<Vec<u8>, ExchangeError> {
        require(ctx, Action::ReadData)?;
        self.load_form(ctx, form_id).await?;
        let row = self.import_row(ctx, form_id, id).await?;
        let errors: Vec<RowError> = serde_json::from_value(row.errors).map_err(corrupt)?;
        let mut out = b"\xEF\xBB\xBF".to_vec();
        {
            let mut w = csv::Writer::from_writer(&mut out);
            let io = |e: csv::Error| corrupt(e);
            w.write_record(["row", "column", "field", "value", "message"])
                .map_err(io)?;
            for e in &errors {
                w.write_record([
                    e.row.to_string().as_str(),
                    e.column.as_deref().unwrap_or_default(),
                    e.field.as_deref().unwrap_or_default(),
                    &super::export::escape_formula(e.value.as_deref().unwrap_or_default()),
                    &e.message,
                ])
                .map_err(io)?;
            }
            w.flush().map_err(corrupt)?;
        }
        Ok(out)
    }

    /// Runs an import: a dry run validates at once and answers the report;
    /// a real run is queued as a job (poll [`Engine::get_import`]).
    ///
    /// # Errors
    /// `not_found`, `forbidden`, `validation_failed` (mapping, mode or key;
    /// details at `mapping/<i>`, `mode`, `key`), `conflict` (already queued
    /// or running).
    pub async fn run_import(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: ImportId,
        input: RunImportInput,
    ) -> Result<ImportView, ExchangeError> {
        require(ctx, Action::WriteData)?;
        let form = self.load_form(ctx, form_id).await?;
        let row = self.import_row(ctx, form_id, id).await?;
        if matches!(row.status.as_str(), status::QUEUED | status::RUNNING)
            && !self.run_is_dead(ctx, &row).await
        {
            return Err(ExchangeError::Busy(id.to_string()));
        }
        let (mapping, settings) = self.settings(&form, &row, &input)?;
        self.check_import_access(ctx, &form, &settings).await?;
        let mapping_json = serde_json::to_value(&mapping).map_err(corrupt)?;
        if input.dry_run {
            self.update_import(ctx, id, |m| {
                m.mapping = Set(mapping_json.clone());
                m.mode = Set(settings.mode.as_str().to_owned());
                m.key_field = Set(settings.key.clone());
            })
            .await?;
            self.validate_import(ctx, &form, &row, &settings).await?;
            return self.get_import(ctx, form_id, id).await;
        }
        let db = self.db();
        {
            let _w = db.write_lock().await;
            let tx = db.begin().await?;
            // Claim the import: a second run (from any server) finds it busy.
            let claimed = import::Entity::update_many()
                .col_expr(import::Column::Status, Expr::val(status::QUEUED))
                .col_expr(import::Column::Phase, Expr::val(Phase::Idle.as_str()))
                .col_expr(import::Column::Mapping, Expr::val(mapping_json))
                .col_expr(import::Column::Mode, Expr::val(settings.mode.as_str()))
                .col_expr(import::Column::KeyField, Expr::val(settings.key.clone()))
                .col_expr(import::Column::Processed, Expr::val(0i64))
                .col_expr(import::Column::UpdatedAt, Expr::val(ctx.now))
                .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
                .filter(import::Column::Id.eq(id.to_string()))
                .filter(import::Column::UpdatedAt.eq(row.updated_at))
                .exec(&tx)
                .await?;
            if claimed.rows_affected != 1 {
                return Err(ExchangeError::Busy(id.to_string()));
            }
            let job = enqueue(
                &tx,
                NewJob {
                    tenant: ctx.tenant,
                    kind: super::job::KIND.to_owned(),
                    payload: json!({
                        "import_id": id,
                        "form_id": form_id,
                        "actor": ctx.actor,
                        "role": ctx.role,
                    }),
                    idempotency_key: format!("import:{id}:{}", uuid::Uuid::new_v4().simple()),
                    run_at: ctx.now,
                    max_attempts: 3,
                },
                ctx.now,
            )
            .await?;
            import::Entity::update_many()
                .col_expr(import::Column::JobId, Expr::val(job.id.to_string()))
                .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
                .filter(import::Column::Id.eq(id.to_string()))
                .exec(&tx)
                .await?;
            tx.commit().await?;
        }
        self.get_import(ctx, form_id, id).await
    }

    /// Uploads and runs a file in one call, without a job (the CLI): a dry
    /// run validates; a real run validates and writes in this process.
    ///
    /// # Errors
    /// As [`Engine::upload_import`] and [`Engine::run_import`].
    pub async fn import_file(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        content_type: &str,
        file_name: &str,
        bytes: Vec<u8>,
        input: RunImportInput,
    ) -> Result<ImportView, ExchangeError> {
        let uploaded = self
            .upload_import(ctx, form_id, content_type, file_name, bytes)
            .await?;
        if input.dry_run {
            return self.run_import(ctx, form_id, uploaded.id, input).await;
        }
        let form = self.load_form(ctx, form_id).await?;
        let row = self.import_row(ctx, form_id, uploaded.id).await?;
        let (mapping, settings) = self.settings(&form, &row, &input)?;
        self.check_import_access(ctx, &form, &settings).await?;
        let mapping_json = serde_json::to_value(&mapping).map_err(corrupt)?;
        self.update_import(ctx, uploaded.id, |m| {
            m.mapping = Set(mapping_json.clone());
            m.mode = Set(settings.mode.as_str().to_owned());
            m.key_field = Set(settings.key.clone());
            m.status = Set(status::RUNNING.to_owned());
        })
        .await?;
        self.execute_import(ctx, &form, uploaded.id, &settings, None)
            .await?;
        self.get_import(ctx, form_id, uploaded.id).await
    }

    /// Whether a queued or running import's job has ended without
    /// finishing it (so the import may run again).
    async fn run_is_dead(&self, ctx: &Ctx, row: &import::Model) -> bool {
        let Some(job) = row.job_id.as_deref().and_then(|j| parse_id(j).ok()) else {
            return false;
        };
        get_job(self.db(), ctx.tenant, job).await.is_ok_and(|j| {
            matches!(
                j.status,
                JobStatus::Dead | JobStatus::Cancelled | JobStatus::Skipped
            )
        })
    }

    /// Refuses a run the form's permissions do not allow: inserts need
    /// `create`, updates `edit` (upserts both), and no column may be mapped
    /// to a field hidden from the caller or read-only for them.
    pub(crate) async fn check_import_access(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        settings: &Settings,
    ) -> Result<(), ExchangeError> {
        let access = self.form_access(ctx, form).await?;
        if matches!(settings.mode, ImportMode::Insert | ImportMode::Upsert) {
            access.require(FormAction::Create)?;
        }
        if matches!(settings.mode, ImportMode::Update | ImportMode::Upsert) {
            access.require(FormAction::Edit)?;
        }
        let targets: serde_json::Map<String, Value> = settings
            .pairs
            .iter()
            .map(|(_, key)| (key.clone(), Value::Null))
            .collect();
        access.check_write(&targets)?;
        Ok(())
    }

    /// Checks a run's mapping, mode and key against the file and the form.
    pub(crate) fn settings(
        &self,
        form: &LoadedForm,
        row: &import::Model,
        input: &RunImportInput,
    ) -> Result<(Vec<ColumnMapping>, Settings), ExchangeError> {
        let headers: Vec<String> = serde_json::from_value(row.columns.clone()).map_err(corrupt)?;
        let mut mapping = match &input.mapping {
            Some(m) => m.clone(),
            None => serde_json::from_value(row.mapping.clone()).map_err(corrupt)?,
        };
        let mut errs = Vec::new();
        let pairs = match mapping::check(self.field_types(), &form.def, &headers, &mut mapping) {
            Ok(p) => p,
            Err(e) => {
                errs.extend(e);
                Vec::new()
            }
        };
        let key = match (input.mode, &input.key) {
            (ImportMode::Insert, _) => None,
            (_, None) => {
                errs.push(FieldError::new("key", "upsert and update need a `key` field"));
                None
            }
            (_, Some(k)) => {
                match form.def.field(k) {
                    None => errs.push(FieldError::new(
                        "key",
                        format!("`{k}` is not a field of this form"),
                    )),
                    Some(f) if !mapping::can_be_key(self.field_types(), f) => {
                        errs.push(FieldError::new(
                            "key",
                            format!("`{k}` cannot be a key (use a text, number or date field)"),
                        ));
                    }
                    Some(_) if errs.is_empty() && !pairs.iter().any(|(_, f)| f == k) => {
                        errs.push(FieldError::new(
                            "key",
                            format!("no column is mapped to the key `{k}`"),
                        ));
                    }
                    Some(_) => {}
                }
                Some(k.clone())
            }
        };
        if !errs.is_empty() {
            return Err(ExchangeError::InvalidSettings(errs));
        }
        Ok((
            mapping,
            Settings {
                pairs,
                mode: input.mode,
                key,
            },
        ))
    }

    /// The import row of this tenant and form.
    pub(crate) async fn import_row(
        &self,
        ctx: &Ctx,
        form_id: FormId,
        id: ImportId,
    ) -> Result<import::Model, ExchangeError> {
        import::Entity::find()
            .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(import::Column::FormId.eq(form_id.to_string()))
            .filter(import::Column::Id.eq(id.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| ExchangeError::ImportNotFound(id.to_string()))
    }

    /// The uploaded bytes.
    pub(crate) async fn import_bytes(&self, ctx: &Ctx, id: ImportId) -> Result<Vec<u8>, ExchangeError> {
        import_file::Entity::find()
            .filter(import_file::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(import_file::Column::ImportId.eq(id.to_string()))
            .one(self.db().conn())
            .await?
            .map(|f| f.content)
            .ok_or_else(|| ExchangeError::ImportNotFound(id.to_string()))
    }

    /// Changes some columns of an import row (outside any transaction).
    pub(crate) async fn update_import(
        &self,
        ctx: &Ctx,
        id: ImportId,
        change: impl FnOnce(&mut import::ActiveModel),
    ) -> Result<(), ExchangeError> {
        let mut m = import::ActiveModel {
            updated_at: Set(std::cmp::max(ctx.now, Utc::now())),
            ..Default::default()
        };
        change(&mut m);
        let _w = self.db().write_lock().await;
        import::Entity::update_many()
            .set(m)
            .filter(import::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(import::Column::Id.eq(id.to_string()))
            .exec(self.db().conn())
            .await?;
        Ok(())
    }

    /// Reads the file and validates every row, reporting progress; stores
    /// nothing but progress.
    pub(crate) async fn plan_stored(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        id: ImportId,
        settings: &Settings,
        format: Format,
    ) -> Result<(Plan, u64), ExchangeError> {
        progress::set(
            id,
            Progress {
                phase: Phase::Reading,
                processed: 0,
                total: 0,
            },
        );
        let bytes = self.import_bytes(ctx, id).await?;
        let (_, sheet) = read_sheet(format, bytes).await?;
        let total = sheet.rows.len() as u64;
        progress::set(
            id,
            Progress {
                phase: Phase::Validating,
                processed: 0,
                total,
            },
        );
        self.update_import(ctx, id, |m| {
            m.phase = Set(Phase::Validating.as_str().to_owned());
            m.processed = Set(0);
            m.total = Set(i64::try_from(total).unwrap_or(i64::MAX));
        })
        .await?;
        let mut last_saved = std::time::Instant::now();
        let mut pending_save: Option<u64> = None;
        let plan = {
            let mut report = |n: u64| {
                progress::set(
                    id,
                    Progress {
                        phase: Phase::Validating,
                        processed: n,
                        total,
                    },
                );
                if last_saved.elapsed() >= std::time::Duration::from_millis(500) {
                    last_saved = std::time::Instant::now();
                    pending_save = Some(n);
                }
            };
            self.plan_import(ctx, form, &sheet, settings, &mut report).await?
        };
        if let Some(n) = pending_save {
            // The row keeps the last figure for other servers.
            self.update_import(ctx, id, |m| m.processed = Set(i64::try_from(n).unwrap_or(0)))
                .await?;
        }
        Ok((plan, total))
    }

    /// A dry run: validates and stores the report.
    async fn validate_import(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        row: &import::Model,
        settings: &Settings,
    ) -> Result<(), ExchangeError> {
        let id: ImportId = parse_id(&row.id)?;
        let format = Format::parse(&row.format).ok_or_else(|| corrupt("unknown import format"))?;
        let result = self.plan_stored(ctx, form, id, settings, format).await;
        progress::clear(id);
        let (plan, total) = result?;
        let summary = summary_of(&plan);
        let (count, errors) = stored_errors(&plan.errors);
        self.update_import(ctx, id, |m| {
            m.status = Set(status::VALIDATED.to_owned());
            m.phase = Set(Phase::Done.as_str().to_owned());
            m.processed = Set(i64::try_from(total).unwrap_or(i64::MAX));
            m.error_count = Set(count);
            m.errors = Set(errors);
            m.summary = Set(Some(json!(summary)));
            m.finished_at = Set(Some(ctx.now));
        })
        .await
    }
}

/// The counts of a plan.
pub(crate) fn summary_of(plan: &Plan) -> ImportSummary {
    let failed_rows = plan
        .errors
        .iter()
        .map(|e| e.row)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    ImportSummary {
        inserted: plan.inserts(),
        updated: plan.updates(),
        unchanged: plan.unchanged,
        failed_rows,
    }
}

/// The error count and the kept errors as JSON.
pub(crate) fn stored_errors(errors: &[RowError]) -> (i64, Value) {
    let kept: Vec<&RowError> = errors.iter().take(MAX_STORED_ERRORS).collect();
    (i64::try_from(errors.len()).unwrap_or(i64::MAX), json!(kept))
}

fn import_view(row: &import::Model, errors_in_view: usize) -> Result<ImportView, ExchangeError> {
    let mut errors: Vec<RowError> = serde_json::from_value(row.errors.clone()).map_err(corrupt)?;
    errors.truncate(errors_in_view);
    let phase = match row.phase.as_str() {
        "reading" => Phase::Reading,
        "validating" => Phase::Validating,
        "writing" => Phase::Writing,
        "done" => Phase::Done,
        _ => Phase::Idle,
    };
    let summary: Option<ImportSummary> = row
        .summary
        .as_ref()
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let failure = row
        .summary
        .as_ref()
        .and_then(|s| s.get("failure"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(ImportView {
        id: parse_id(&row.id)?,
        form_id: parse_id(&row.form_id)?,
        format: Format::parse(&row.format).ok_or_else(|| corrupt("unknown import format"))?,
        file_name: row.file_name.clone(),
        columns: serde_json::from_value(row.columns.clone()).map_err(corrupt)?,
        mapping: serde_json::from_value(row.mapping.clone()).map_err(corrupt)?,
        targets: Vec::new(),
        rows: u64::try_from(row.rows).unwrap_or(0),
        mode: ImportMode::parse(&row.mode).unwrap_or_default(),
        key: row.key_field.clone(),
        status: row.status.clone(),
        progress: Progress {
            phase,
            processed: u64::try_from(row.processed).unwrap_or(0),
            total: u64::try_from(row.total).unwrap_or(0),
        },
        error_count: u64::try_from(row.error_count).unwrap_or(0),
        errors,
        summary,
        failure,
        job_id: row.job_id.as_deref().map(parse_id).transpose()?,
        created_by: parse_id(&row.created_by)?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        finished_at: row.finished_at,
    })
}
