//! The `exchange_import` job kind: a real import run, queued by
//! `run_import` and executed by any server's worker.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::RunImportInput;
use super::mapping::ColumnMapping;
use super::plan::ImportMode;
use crate::Engine;
use crate::auth::AuthError;
use crate::ctx::{Ctx, Role};
use crate::error::{ErrorCode, HasCode};
use crate::ids::{FormId, ImportId, UserId};
use crate::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobOutcome};
use crate::meta::field_type::Kinded;

/// Kind string of [`ImportKind`].
pub const KIND: &str = "exchange_import";

/// Runs one import (validate, then write all or nothing).
pub struct ImportKind {
    engine: Engine,
}

impl ImportKind {
    /// The handler over `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

#[derive(Deserialize)]
struct Payload {
    import_id: ImportId,
    form_id: FormId,
    actor: UserId,
    role: Role,
}

impl Kinded for ImportKind {
    fn kind(&self) -> &'static str {
        KIND
    }
}

fn job_error(e: &impl HasCode) -> JobError {
    JobError::handler(e)
}

impl JobKind for ImportKind {
    fn run<'a>(&'a self, job: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            let p: Payload = serde_json::from_value(payload.clone()).map_err(|e| JobError::Handler {
                code: ErrorCode::Internal,
                message: format!("the import job's payload is unreadable: {e}"),
            })?;
            // The role the member holds now (capped by the one queued with):
            // a member demoted or removed since does not act with the old role.
            let engine = &self.engine;
            let ctx = match engine
                .queued_ctx(job.job().tenant, p.actor, p.role, job.now())
                .await
            {
                Ok(ctx) => ctx,
                // Never retried: the import ends failed, saying why, and
                // writes nothing.
                Err(e @ AuthError::NoLongerMember) => {
                    let ctx = Ctx::new(job.job().tenant, p.actor, Role::Member).at(job.now());
                    let done = engine
                        .finish_failed(&ctx, p.import_id, Some(&job), None, &[], &e.to_string())
                        .await
                        .map_err(|e| job_error(&e))?;
                    return Ok(
                        done.unwrap_or_else(|| JobOutcome::Skipped(json!({ "import_id": p.import_id })))
                    );
                }
                Err(e) => return Err(job_error(&e)),
            };
            let form = match engine.load_form(&ctx, p.form_id).await {
                Ok(f) => f,
                Err(e) if e.code() == ErrorCode::NotFound => {
                    return Ok(JobOutcome::Skipped(
                        json!({ "import_id": p.import_id, "reason": "the form is gone" }),
                    ));
                }
                Err(e) => return Err(job_error(&e)),
            };
            let row = engine
                .import_row(&ctx, p.form_id, p.import_id)
                .await
                .map_err(|e| job_error(&e))?;
            let input = RunImportInput {
                mapping: serde_json::from_value::<Vec<ColumnMapping>>(row.mapping.clone()).ok(),
                mode: ImportMode::parse(&row.mode).unwrap_or_default(),
                key: row.key_field.clone(),
                dry_run: false,
            };
            let settings = match engine.settings(&form, &row, &input) {
                Ok((_, s)) => s,
                // The form changed since the run was asked for.
                Err(e) => {
                    let failure = e.to_string();
                    let done = engine
                        .finish_failed(&ctx, p.import_id, Some(&job), None, &[], &failure)
                        .await
                        .map_err(|e| job_error(&e))?;
                    return Ok(
                        done.unwrap_or_else(|| JobOutcome::Skipped(json!({ "import_id": p.import_id })))
                    );
                }
            };
            match engine
                .execute_import(&ctx, &form, p.import_id, &settings, Some(&job))
                .await
            {
                Ok(Some(outcome)) => Ok(outcome),
                Ok(None) => Ok(JobOutcome::Succeeded(json!({ "import_id": p.import_id }))),
                Err(e) => Err(job_error(&e)),
            }
        })
    }

    fn time_budget(&self) -> Option<Duration> {
        // Validation and writing of the largest files; the worker caps it
        // at its lease.
        Some(Duration::from_secs(290))
    }
}
