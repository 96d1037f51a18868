//! Running a rule: the `rule_run` job kind, and the test-run that does the
//! same without writing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::runtime::Handle;

use super::action::ActionInput;
use super::crud::firing_prefix;
use super::effects::Staged;
use super::trigger::Firing;
use super::{AutomationError, MAX_CONSECUTIVE_FAILURES};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::{Cause, Ctx, Role};
use crate::error::{FieldError, HasCode};
use crate::ids::{AppId, FormId, RecordId, RuleId, TenantId, UserId};
use crate::jobs::{BoxFuture, JobCtx, JobError, JobKind, JobOutcome, RunOutcome, cancel_pending};
use crate::meta::field_type::Kinded;
use crate::meta::form::LoadedForm;
use crate::query::model::{AggregateRequest, QueryRequest};
use crate::record::RecordView;
use crate::script::host::Host;
use crate::script::{Effect, RunState, ScriptError};
use crate::store::entity::{membership, rule};
use crate::store::parse_id;

/// The job kind of one rule firing.
pub const RULE_RUN_KIND: &str = "rule_run";

/// What a `rule_run` job carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FiringPayload {
    pub rule_id: String,
    /// The trigger kind that planned it.
    pub trigger: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    /// For updates: the changed fields' previous values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Map<String, Value>>,
    /// The record event (history row) it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The local day a date-field firing is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// The rules whose effects caused the event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cause: Vec<RuleId>,
}

/// The `rule_run` handler.
pub struct RuleRunKind {
    engine: Engine,
}

impl RuleRunKind {
    /// A handler running rules of `engine`.
    #[must_use]
    pub fn new(engine: Engine) -> Self {
        Self { engine }
    }
}

impl Kinded for RuleRunKind {
    fn kind(&self) -> &'static str {
        RULE_RUN_KIND
    }
}

impl JobKind for RuleRunKind {
    fn run<'a>(&'a self, ctx: JobCtx, payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move { self.engine.run_firing(ctx, payload).await })
    }
}

/// A test-run request: a record (by id, or inline values) and an optional
/// instant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRunInput {
    /// A record of the rule's form.
    #[serde(default)]
    pub record_id: Option<RecordId>,
    /// Or values to run over as if they were a record.
    #[serde(default)]
    pub record: Option<Map<String, Value>>,
    /// Previous values, for update rules.
    #[serde(default)]
    pub old: Option<Map<String, Value>>,
    /// The instant to run at (default now).
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// What a test-run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestRunOutput {
    /// Whether the condition held (true when there is none).
    pub condition: bool,
    /// The effects the run would apply.
    pub effects: Vec<Effect>,
    /// Its log lines.
    pub logs: Vec<String>,
    /// The error that would fail the run, in the API's error shape.
    pub error: Option<Value>,
}

/// What evaluating a rule gave.
pub(crate) enum Evaluated {
    /// The condition did not hold.
    ConditionFalse { logs: Vec<String> },
    /// The script or actions ran.
    Ran { effects: Vec<Effect>, logs: Vec<String> },
}

/// An evaluation failure with the log lines gathered before it.
pub(crate) struct EvalFailure {
    pub error: AutomationError,
    pub logs: Vec<String>,
}

impl From<AutomationError> for EvalFailure {
    fn from(error: AutomationError) -> Self {
        Self {
            error,
            logs: Vec::new(),
        }
    }
}

/// Tenant-scoped reads for scripts, as the rule's member.
struct RuleHost {
    engine: Engine,
    ctx: Ctx,
    app: AppId,
    rt: Handle,
    forms: Mutex<HashMap<String, Arc<LoadedForm>>>,
}

impl RuleHost {
    /// The form a script names. An id that names no form of the rule's app
    /// (another tenant's form, say) finds nothing rather than failing, so a
    /// script learns nothing about other tenants; an unknown name fails, to
    /// catch typos.
    fn form(&self, name: &str) -> Result<Option<FormId>, String> {
        let mut cache = self
            .forms
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let found = self
            .rt
            .block_on(self.engine.resolve_form(&self.ctx, self.app, name, &mut cache))
            .map_err(|e| e.to_string())?;
        if let Ok(mut c) = self.forms.lock() {
            *c = cache;
        }
        match found {
            Some(f) => Ok(Some(f.id)),
            None if name.parse::<FormId>().is_ok() => Ok(None),
            None => Err(format!("no form `{name}` exists in the rule's app")),
        }
    }
}

fn filter_of(filter: Value) -> Value {
    if filter.is_null() {
        json!({})
    } else {
        json!({ "filter": filter })
    }
}

impl Host for RuleHost {
    fn find(&self, form: &str, filter: Value, limit: u32) -> Result<Vec<Value>, String> {
        let Some(form_id) = self.form(form)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut cursor = None;
        while out.len() < limit as usize {
            let mut req = QueryRequest::from_json(&filter_of(filter.clone())).map_err(|e| e.to_string())?;
            req.limit = Some(
                limit
                    .saturating_sub(u32::try_from(out.len()).unwrap_or(u32::MAX))
                    .clamp(1, 1000),
            );
            req.cursor = cursor.take();
            let page = self
                .rt
                .block_on(self.engine.query_records(&self.ctx, form_id, req, false))
                .map_err(|e| e.to_string())?;
            out.extend(page.records.iter().map(script_record));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    fn count(&self, form: &str, filter: Value) -> Result<i64, String> {
        let v = self.aggregate(form, filter, json!({"op": "count", "as": "n"}))?;
        Ok(v.as_i64().unwrap_or(0))
    }

    fn sum(&self, form: &str, field: &str, filter: Value) -> Result<f64, String> {
        let v = self.aggregate(form, filter, json!({"op": "sum", "field": field, "as": "n"}))?;
        Ok(v.as_f64().unwrap_or(0.0))
    }
}

impl RuleHost {
    fn aggregate(&self, form: &str, filter: Value, metric: Value) -> Result<Value, String> {
        let Some(form_id) = self.form(form)? else {
            return Ok(Value::Null);
        };
        let mut body = filter_of(filter);
        if let Some(obj) = body.as_object_mut() {
            obj.insert("metrics".to_owned(), json!([metric]));
        }
        let req = AggregateRequest::from_json(&body).map_err(|e| e.to_string())?;
        let result = self
            .rt
            .block_on(self.engine.aggregate_records(&self.ctx, form_id, req))
            .map_err(|e| e.to_string())?;
        Ok(result
            .groups
            .first()
            .and_then(|g| g.values.get("n"))
            .cloned()
            .unwrap_or(Value::Null))
    }
}

/// A record as scripts see it: its fields plus `id`, `tags`, `created_at`,
/// `updated_at` and `created_by`.
pub(crate) fn script_record(r: &RecordView) -> Value {
    let mut m = r.data.clone();
    m.insert("id".to_owned(), json!(r.id));
    m.insert("tags".to_owned(), json!(r.tags));
    m.insert("created_at".to_owned(), json!(r.created_at));
    m.insert("updated_at".to_owned(), json!(r.updated_at));
    m.insert("created_by".to_owned(), json!(r.created_by));
    Value::Object(m)
}

/// The tenant's time zone (UTC when unset or unknown).
pub(crate) async fn tenant_tz<C: ConnectionTrait>(conn: &C, tenant: TenantId) -> Result<Tz, AutomationError> {
    Ok(crate::store::tenant_zone(conn, tenant).await?)
}

fn error_body(e: &AutomationError) -> Value {
    json!({
        "code": e.code().as_str(),
        "message": e.to_string(),
        "details": e.details(),
    })
}

impl Engine {
    /// The context a rule runs in: its `run_as` member, at `now`, with the
    /// chain of rules that led here plus this one.
    pub(crate) async fn rule_ctx(
        &self,
        row: &rule::Model,
        now: DateTime<Utc>,
        cause: &[RuleId],
    ) -> Result<Ctx, AutomationError> {
        let tenant: TenantId = parse_id(&row.tenant_id)?;
        let user: UserId = parse_id(&row.run_as)?;
        let member = membership::Entity::find_by_id((row.tenant_id.clone(), row.run_as.clone()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| {
                AutomationError::Invalid(vec![FieldError::new(
                    "run_as",
                    "the rule's run-as user is no longer a member of the tenant",
                )])
            })?;
        let role = Role::parse(&member.role).unwrap_or(Role::Member);
        let mut ctx = Ctx::new(tenant, user, role).at(now);
        let mut rules = cause.to_vec();
        rules.push(parse_id(&row.id)?);
        ctx.cause = Cause {
            rules,
            ..Cause::default()
        };
        Ok(ctx)
    }

    /// Evaluates the condition and then the script or actions over `record`
    /// (`None` for schedule rules) on a blocking thread.
    pub(crate) async fn evaluate(
        &self,
        ctx: &Ctx,
        row: &rule::Model,
        record: Option<Value>,
        old: Option<Map<String, Value>>,
    ) -> Result<Evaluated, EvalFailure> {
        let app: AppId = parse_id(&row.app_id).map_err(AutomationError::from)?;
        let tz = tenant_tz(self.db().conn(), ctx.tenant).await?;
        let today = ctx.now.with_timezone(&tz).date_naive();
        let host: Arc<dyn Host> = Arc::new(RuleHost {
            engine: self.clone(),
            ctx: ctx.clone(),
            app,
            rt: Handle::current(),
            forms: Mutex::new(HashMap::new()),
        });
        let engine = self.clone();
        let def = row.def.clone();
        let now = ctx.now;
        let form_id = row.form_id.clone();
        tokio::task::spawn_blocking(move || {
            engine.evaluate_blocking(&def, &form_id, record.as_ref(), old.as_ref(), now, today, &host)
        })
        .await
        .map_err(|e| {
            EvalFailure::from(AutomationError::script(
                "script",
                ScriptError::Runtime {
                    message: format!("the run was lost: {e}"),
                    line: None,
                    col: None,
                },
            ))
        })?
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_blocking(
        &self,
        def: &Value,
        form_id: &str,
        record: Option<&Value>,
        old: Option<&Map<String, Value>>,
        now: DateTime<Utc>,
        today: NaiveDate,
        host: &Arc<dyn Host>,
    ) -> Result<Evaluated, EvalFailure> {
        let sandbox = self.sandbox();
        let record_map = record
            .and_then(Value::as_object)
            .map(crate::script::convert::shared_map);
        let old_map = old.map(crate::script::convert::shared_map);
        let mut logs = Vec::new();
        let run =
            |part: &str, src: &str, logs: &mut Vec<String>| -> Result<(Value, Vec<Effect>), EvalFailure> {
                let ast = sandbox.compile_rule(src).map_err(|e| EvalFailure {
                    error: AutomationError::script(part, e),
                    logs: logs.clone(),
                })?;
                let state = RunState::new(now, today, Some(Arc::clone(host)));
                let (result, state) = sandbox.run_rule(&ast, record_map.as_ref(), old_map.as_ref(), state);
                let (effects, new_logs) = state.map(|s| (s.effects, s.logs)).unwrap_or_default();
                logs.extend(new_logs);
                match result {
                    Ok(v) => Ok((v, effects)),
                    Err(e) => Err(EvalFailure {
                        error: AutomationError::script(part, e),
                        logs: logs.clone(),
                    }),
                }
            };
        if let Some(cond) = def.get("condition").and_then(Value::as_str) {
            let (v, _) = run("condition", cond, &mut logs)?;
            match v {
                Value::Bool(true) => {}
                Value::Bool(false) | Value::Null => return Ok(Evaluated::ConditionFalse { logs }),
                other => {
                    return Err(EvalFailure {
                        error: AutomationError::script(
                            "condition",
                            ScriptError::Runtime {
                                message: format!("the condition gave {other}, not true or false"),
                                line: None,
                                col: None,
                            },
                        ),
                        logs,
                    });
                }
            }
        }
        if let Some(script) = def.get("script").and_then(Value::as_str) {
            let (_, effects) = run("script", script, &mut logs)?;
            return Ok(Evaluated::Ran { effects, logs });
        }
        let mut effects = Vec::new();
        let record_id = record.and_then(|r| r.get("id")).and_then(Value::as_str);
        let input = ActionInput { form_id, record_id };
        for (i, action) in def
            .get("actions")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .enumerate()
        {
            let cfg = action.as_object().cloned().unwrap_or_default();
            let kind_name = cfg.get("kind").and_then(Value::as_str).unwrap_or_default();
            let kind = self.actions().get(kind_name).map_err(|_| {
                EvalFailure::from(AutomationError::UnknownKind {
                    what: "action",
                    field: format!("/actions/{i}/kind"),
                    kind: kind_name.to_owned(),
                })
            })?;
            let mut failure = None;
            let mut eval = |src: &str| -> Result<Value, ScriptError> {
                match run(&format!("/actions/{i}"), src, &mut logs) {
                    Ok((v, _)) => Ok(v),
                    Err(f) => {
                        let message = f.error.to_string();
                        failure = Some(f);
                        Err(ScriptError::Runtime {
                            message,
                            line: None,
                            col: None,
                        })
                    }
                }
            };
            let effect = kind.effect(&cfg, &input, &mut eval);
            if let Some(f) = failure {
                return Err(f);
            }
            effects.push(effect.map_err(|m| EvalFailure {
                error: AutomationError::Invalid(vec![FieldError::new(format!("/actions/{i}"), m)]),
                logs: logs.clone(),
            })?);
        }
        Ok(Evaluated::Ran { effects, logs })
    }

    /// Loads the triggering record (also from the recycle bin, for delete
    /// rules), as scripts see it.
    async fn firing_record(
        &self,
        ctx: &Ctx,
        row: &rule::Model,
        record_id: &str,
    ) -> Result<Option<Value>, AutomationError> {
        let form_id: FormId = parse_id(&row.form_id)?;
        let id: RecordId = parse_id(record_id)?;
        for deleted in [false, true] {
            match self.record_row(ctx, form_id, id, deleted).await {
                Ok(r) => {
                    let form = self.load_form(ctx, form_id).await?;
                    let tags = self
                        .tag_names(self.db().conn(), ctx, std::slice::from_ref(&r.id))
                        .await?
                        .remove(&r.id)
                        .unwrap_or_default();
                    let view = crate::record::view(&form.def, &r, tags)?;
                    return Ok(Some(script_record(&view)));
                }
                Err(crate::record::RecordError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Runs one firing (the `rule_run` job).
    pub(crate) async fn run_firing(&self, jctx: JobCtx, payload: &Value) -> Result<JobOutcome, JobError> {
        let firing: FiringPayload = serde_json::from_value(payload.clone())
            .map_err(|e| JobError::Invalid(vec![FieldError::new("payload", e.to_string())]))?;
        let tenant = jctx.job().tenant;
        let Some(row) = rule::Entity::find_by_id(firing.rule_id.clone())
            .filter(rule::Column::TenantId.eq(tenant.to_string()))
            .one(self.db().conn())
            .await?
        else {
            return Ok(JobOutcome::Skipped(
                json!({"rule_id": firing.rule_id, "reason": "the rule was deleted"}),
            ));
        };
        let mut detail = json!({
            "rule_id": row.id,
            "version": row.version,
            "trigger": firing.trigger,
            "record_id": firing.record_id,
            "day": firing.day,
        });
        if !row.enabled {
            if let Some(d) = detail.as_object_mut() {
                d.insert("reason".to_owned(), json!("the rule is disabled"));
            }
            return Ok(JobOutcome::Skipped(detail));
        }
        let result = self.run_checked(&jctx, &row, &firing).await;
        let set = |detail: &mut Value, k: &str, v: Value| {
            if let Some(d) = detail.as_object_mut() {
                d.insert(k.to_owned(), v);
            }
        };
        match result {
            Ok(Outcome::Skip(reason, logs)) => {
                set(&mut detail, "reason", json!(reason));
                set(&mut detail, "logs", json!(logs));
                let tx = jctx.begin().await?;
                tx.commit(RunOutcome::Skipped, detail).await
            }
            Ok(Outcome::Apply { ctx, staged, logs }) => {
                set(&mut detail, "logs", json!(logs));
                let tx = jctx.begin().await?;
                let source = json!({"rule_id": row.id, "record_id": firing.record_id});
                match self.apply_effects(tx.tx(), &ctx, &source, staged).await {
                    Ok(done) => {
                        reset_failures(tx.tx(), &row)
                            .await
                            .map_err(|e| JobError::handler(&e))?;
                        set(&mut detail, "effects", json!(done));
                        tx.commit(RunOutcome::Succeeded, detail).await
                    }
                    Err(e) => {
                        drop(tx);
                        self.fail_run(
                            &jctx,
                            &row,
                            EvalFailure {
                                error: e,
                                logs: Vec::new(),
                            },
                            detail,
                        )
                        .await
                    }
                }
            }
            Err(f) => self.fail_run(&jctx, &row, f, detail).await,
        }
    }

    async fn run_checked(
        &self,
        jctx: &JobCtx,
        row: &rule::Model,
        firing: &FiringPayload,
    ) -> Result<Outcome, EvalFailure> {
        // A clock firing runs at its planned instant, so `now()` and
        // `today()` name the day it is for even when it runs late (after
        // downtime, within the misfire window).
        let by_clock = self
            .triggers()
            .get(&firing.trigger)
            .is_ok_and(|k| matches!(k.firing(), Firing::Schedule | Firing::DateField));
        let now = if by_clock { jctx.job().run_at } else { jctx.now() };
        let ctx = self.rule_ctx(row, now, &firing.cause).await?;
        let record = match &firing.record_id {
            Some(id) => match self.firing_record(&ctx, row, id).await? {
                Some(r) => Some(r),
                None => return Ok(Outcome::Skip("the record no longer exists", Vec::new())),
            },
            None => None,
        };
        let old = firing.old.clone().map(|changed| {
            let mut old = record
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            old.extend(changed);
            old
        });
        match self.evaluate(&ctx, row, record, old).await? {
            Evaluated::ConditionFalse { logs } => Ok(Outcome::Skip("the condition was false", logs)),
            Evaluated::Ran { effects, logs } => {
                let app: AppId = parse_id(&row.app_id).map_err(AutomationError::from)?;
                match self.stage_effects(&ctx, app, &effects).await {
                    Ok(staged) => Ok(Outcome::Apply { ctx, staged, logs }),
                    Err(error) => Err(EvalFailure { error, logs }),
                }
            }
        }
    }

    /// Records a failed run: a permanent failure ends the job (no retry),
    /// counts toward disabling the rule and is logged with its error; a
    /// passing fault (the database) fails the attempt for a retry.
    async fn fail_run(
        &self,
        jctx: &JobCtx,
        row: &rule::Model,
        failure: EvalFailure,
        mut detail: Value,
    ) -> Result<JobOutcome, JobError> {
        if !failure.error.is_permanent() {
            return Err(JobError::handler(&failure.error));
        }
        if let Some(d) = detail.as_object_mut() {
            d.insert("logs".to_owned(), json!(failure.logs));
            d.insert("error".to_owned(), error_body(&failure.error));
        }
        let message = format!("{}: {}", failure.error.code().as_str(), failure.error);
        let tx = jctx.begin().await?;
        count_failure(tx.tx(), row, &message, jctx.now())
            .await
            .map_err(|e| JobError::handler(&e))?;
        tx.fail_final(&message, detail).await
    }

    /// Test-runs a rule over a record (by id or inline values): the effects
    /// it would apply (staged, so a validation failure shows), its log lines
    /// and any error. Writes nothing.
    ///
    /// # Errors
    /// `not_found` (rule or record), `forbidden`; run failures are part of
    /// the answer, not errors.
    pub async fn test_rule(
        &self,
        ctx: &Ctx,
        id: RuleId,
        input: TestRunInput,
    ) -> Result<TestRunOutput, AutomationError> {
        require(ctx, Action::DesignApps)?;
        let row = self.rule_row(ctx, id).await?;
        let now = input.at.unwrap_or(ctx.now);
        let rctx = self.rule_ctx(&row, now, &[]).await?;
        let record = match (input.record_id, input.record) {
            (Some(rid), _) => Some(
                self.firing_record(&rctx, &row, &rid.to_string())
                    .await?
                    .ok_or_else(|| {
                        AutomationError::Record(crate::record::RecordError::NotFound(rid.to_string()))
                    })?,
            ),
            (None, Some(values)) => Some(Value::Object(values)),
            (None, None) => None,
        };
        let old = input.old.map(|changed| {
            let mut old = record
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            old.extend(changed);
            old
        });
        let out = match self.evaluate(&rctx, &row, record, old).await {
            Ok(Evaluated::ConditionFalse { logs }) => TestRunOutput {
                condition: false,
                effects: Vec::new(),
                logs,
                error: None,
            },
            Ok(Evaluated::Ran { effects, logs }) => {
                let app: AppId = parse_id(&row.app_id)?;
                let error = match self.stage_effects(&rctx, app, &effects).await {
                    Ok(_) => None,
                    Err(e) if e.is_permanent() => Some(error_body(&e)),
                    Err(e) => return Err(e),
                };
                TestRunOutput {
                    condition: true,
                    effects,
                    logs,
                    error,
                }
            }
            Err(f) if f.error.is_permanent() => TestRunOutput {
                condition: true,
                effects: Vec::new(),
                logs: f.logs,
                error: Some(error_body(&f.error)),
            },
            Err(f) => return Err(f.error),
        };
        Ok(out)
    }
}

pub(crate) enum Outcome {
    Skip(&'static str, Vec<String>),
    Apply {
        ctx: Ctx,
        staged: Vec<Staged>,
        logs: Vec<String>,
    },
}

async fn reset_failures<C: ConnectionTrait>(conn: &C, row: &rule::Model) -> Result<(), AutomationError> {
    if row.consecutive_failures != 0 {
        rule::ActiveModel {
            id: Set(row.id.clone()),
            consecutive_failures: Set(0),
            ..Default::default()
        }
        .update(conn)
        .await?;
    }
    Ok(())
}

/// Counts a failed run; at [`MAX_CONSECUTIVE_FAILURES`] in a row the rule
/// is disabled, its pending firings cancelled and its owner notified.
async fn count_failure<C: ConnectionTrait>(
    conn: &C,
    row: &rule::Model,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(), AutomationError> {
    let fresh = rule::Entity::find_by_id(row.id.clone())
        .one(conn)
        .await?
        .unwrap_or_else(|| row.clone());
    let failures = fresh.consecutive_failures + 1;
    let mut active = rule::ActiveModel {
        id: Set(row.id.clone()),
        consecutive_failures: Set(failures),
        ..Default::default()
    };
    if failures >= MAX_CONSECUTIVE_FAILURES && fresh.enabled {
        let reason = format!("disabled after {failures} failed runs in a row; last error: {message}");
        active.enabled = Set(false);
        active.disabled_reason = Set(Some(reason.clone()));
        active.updated_at = Set(now);
        let tenant: TenantId = parse_id(&row.tenant_id)?;
        cancel_pending(conn, tenant, &firing_prefix(&row.id)).await?;
        let told = crate::notify::notify_in(
            conn,
            tenant,
            &row.owner_id,
            &format!("Rule “{}” was disabled", row.name),
            &reason,
            json!({"rule_id": row.id}),
            now,
        )
        .await;
        // An owner who left the tenant cannot be told; the rule is still
        // disabled (the recipient check reads only, so the transaction is intact).
        match told {
            Err(e) if e.code() == crate::error::ErrorCode::ValidationFailed => {
                tracing::warn!(rule = %row.id, error = %e, "the disabled rule's owner could not be notified");
            }
            other => {
                other?;
            }
        }
    }
    active.update(conn).await?;
    Ok(())
}
