//! The `template_install` job kind: a builtin template installed by any
//! server's worker (installs with sample data take seconds). The app is
//! named after the job, so an attempt after a crash finds what the first
//! one left: a finished install is answered again, a half-done one is
//! removed and redone. Nothing is installed twice, and an install whose
//! last attempt fails or is cut off leaves nothing behind.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{InstallOptions, builtin};
use crate::Engine;
use crate::ctx::{Ctx, Role};
use crate::error::{ErrorCode, HasCode};
use crate::ids::{AppId, JobId, UserId};
use crate::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobOutcome, NewJob, enqueue};
use crate::meta::field_type::Kinded;

/// Kind string of [`InstallKind`].
pub const KIND: &str = "template_install";

/// Attempts an install gets before it is dead-lettered.
pub const INSTALL_ATTEMPTS: i32 = 3;

/// What a queued install is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payload {
    template: String,
    name: Option<String>,
    sample_data: bool,
    actor: UserId,
    role: Role,
}

/// Runs one queued install.
pub struct InstallKind {
    engine: Engine,
}

impl InstallKind {
    /// The handler over `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

/// A job's stored error (`<code>: <message>`, the message the JSON
/// [`install_error`] wrote) as the status answers it.
fn stored_error(stored: &str) -> Value {
    let (code, message) = stored.split_once(": ").unwrap_or(("internal", stored));
    serde_json::from_str::<Value>(message)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"code": code, "message": message}))
}

/// A failed install as the status answers it: the error's code, message
/// and details as JSON.
fn install_error<E: HasCode + std::fmt::Display>(e: &E) -> JobError {
    JobError::Handler {
        code: e.code(),
        message: json!({"code": e.code().as_str(), "message": e.to_string(), "details": e.details()})
            .to_string(),
    }
}

impl Kinded for InstallKind {
    fn kind(&self) -> &'static str {
        KIND
    }
}

impl JobKind for InstallKind {
    fn run<'a>(&'a self, job: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            let p: Payload = serde_json::from_value(payload.clone()).map_err(|e| JobError::Handler {
                code: ErrorCode::Internal,
                message: format!("the install job's payload is unreadable: {e}"),
            })?;
            // The role the member holds now (capped by the one queued with):
            // a member demoted or removed since does not act with the old role.
            let ctx = self
                .engine
                .queued_ctx(job.job().tenant, p.actor, p.role, job.now())
                .await
                .map_err(|e| install_error(&e))?;
            let pkg = builtin(&p.template).map_err(|e| JobError::handler(&e))?;
            let opts = InstallOptions {
                name: p.name,
                sample_data: p.sample_data,
                app_id: Some(AppId(job.job().id.0)),
                ..InstallOptions::default()
            };
            match self.engine.install_package(&ctx, &pkg, &opts).await {
                Ok(done) => Ok(JobOutcome::Succeeded(json!({
                    "app_id": done.app,
                    "forms": done.forms.len(),
                    "rules": done.rules.len(),
                    "workflows": done.workflows.len(),
                    "views": done.views.len(),
                    "dashboards": done.dashboards.len(),
                    "records": done.records,
                }))),
                Err(e) => Err(install_error(&e)),
            }
        })
    }

    fn time_budget(&self) -> Option<Duration> {
        Some(Duration::from_secs(290))
    }

    /// The last attempt failed or was cut off: whatever it left of the app
    /// goes (a finished install is never removed).
    fn on_dead<'a>(&'a self, job: JobCtx, payload: &'a Value) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(p) = serde_json::from_value::<Payload>(payload.clone()) else {
                return;
            };
            let ctx = Ctx::new(job.job().tenant, p.actor, p.role).at(job.now());
            let app = AppId(job.job().id.0);
            if let Err(e) = self.engine.remove_unfinished_install(&ctx, app).await {
                tracing::error!(app = %app, code = e.code().as_str(), "could not remove an abandoned install: {e}");
            }
        })
    }
}

impl Engine {
    /// Queues the install of a builtin template; the job's result names the
    /// new app. The app id is the job id.
    ///
    /// # Errors
    /// `not_found` (no such template), `validation_failed` (a blank name),
    /// `forbidden`.
    pub async fn queue_template_install(
        &self,
        ctx: &Ctx,
        template: &str,
        name: Option<String>,
        sample_data: bool,
    ) -> Result<JobId, super::TemplateError> {
        crate::auth::policy::require(ctx, crate::auth::policy::Action::DesignApps)?;
        builtin(template)?.parts()?;
        // Refused now, not when the queued install runs into it.
        if let Some(n) = &name
            && let Err(crate::meta::MetaError::Invalid(errs)) = crate::meta::app::check_name(n)
        {
            return Err(super::TemplateError::Invalid(errs));
        }
        let payload = Payload {
            template: template.to_owned(),
            name,
            sample_data,
            actor: ctx.actor,
            role: ctx.role,
        };
        let job = NewJob {
            tenant: ctx.tenant,
            kind: KIND.to_owned(),
            payload: serde_json::to_value(&payload).unwrap_or_default(),
            idempotency_key: format!("template_install:{}", uuid::Uuid::now_v7()),
            run_at: ctx.now,
            // A worker lost mid-install leaves a half-done app that the next
            // attempt removes and redoes (see the module note), and a
            // database hiccup deserves another try too.
            max_attempts: INSTALL_ATTEMPTS,
        };
        Ok(enqueue(self.db().conn(), job, ctx.now).await?.id)
    }
}

/// A queued install as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct InstallStatus {
    /// The job.
    pub job_id: JobId,
    /// `pending`, `running`, `succeeded`, `failed` (an attempt failed; it is
    /// retried), `dead` (the last attempt failed; nothing was kept).
    pub status: crate::jobs::JobStatus,
    /// The new app (its id is the job id), once it exists.
    pub app_id: Option<AppId>,
    /// What was created, once succeeded.
    pub result: Option<Value>,
    /// Why it failed: `{code, message, details}`.
    pub error: Option<Value>,
}

impl Engine {
    /// Where a queued install is.
    ///
    /// # Errors
    /// `not_found` (also another tenant's job, or a job of another kind).
    pub async fn template_install_status(
        &self,
        ctx: &Ctx,
        id: JobId,
    ) -> Result<InstallStatus, super::TemplateError> {
        crate::auth::policy::require(ctx, crate::auth::policy::Action::DesignApps)?;
        let job = crate::jobs::get_job(self.db(), ctx.tenant, id).await?;
        if job.kind != KIND {
            return Err(super::TemplateError::JobNotFound(id.to_string()));
        }
        let filter = crate::jobs::RunFilter {
            job_id: Some(id),
            ..crate::jobs::RunFilter::default()
        };
        let last = crate::jobs::list_runs(self.db(), ctx.tenant, &filter, 1, None)
            .await?
            .runs
            .into_iter()
            .next();
        let succeeded = job.status == crate::jobs::JobStatus::Succeeded;
        let error = job.last_error.as_deref().filter(|_| !succeeded).map(stored_error);
        Ok(InstallStatus {
            job_id: id,
            status: job.status,
            app_id: succeeded.then_some(AppId(id.0)),
            result: last.filter(|_| succeeded).map(|r| r.detail),
            error,
        })
    }
}
