//! Planning by the clock (schedule and date-field rules), manual runs, and
//! the scheduler tick that ties dispatching, planning and running together.

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::crud::firing_prefix;
use super::run::{FiringPayload, RULE_RUN_KIND, RuleRunKind, tenant_tz};
use super::trigger::{DateFieldCfg, Firing, Repeat, ScheduleCfg, parse_tz, schedule_between};
use super::{AutomationError, BatchProgress, MAX_MANUAL_RECORDS, MAX_PLANNED_PER_RULE, ManualRun};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{FormId, RuleId, TenantId};
use crate::jobs::{DEFAULT_MAX_ATTEMPTS, JobKinds, NewJob, Worker, enqueue};
use crate::query::due::{records_on_dates, year_span, yearly_dates};
use crate::query::model::QueryRequest;
use crate::store::entity::rule;
use crate::store::parse_id;

/// How far a scheduler tick may go.
#[derive(Debug, Clone, Copy)]
pub struct TickOptions {
    /// Most dispatch/plan/run rounds (each runs one worker batch).
    pub max_rounds: usize,
}

impl Default for TickOptions {
    fn default() -> Self {
        Self { max_rounds: 10_000 }
    }
}

/// What a scheduler tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SchedulerReport {
    /// The instant it ran at.
    pub at: Option<DateTime<Utc>>,
    /// Record events dispatched.
    pub dispatched: usize,
    /// Firings planned by the clock.
    pub planned: usize,
    /// Jobs run.
    pub ran: usize,
    /// Rounds taken.
    pub rounds: usize,
    /// Files removed because no record held them any more.
    pub files_removed: usize,
}

/// A manual run request: record ids, or a filter over the rule's form.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualRunInput {
    /// The records to run on.
    #[serde(default)]
    pub record_ids: Option<Vec<String>>,
    /// Or every record matching this filter (the query language's).
    #[serde(default)]
    pub filter: Option<Value>,
}

fn local_instant(tz: Tz, day: NaiveDate, time: chrono::NaiveTime) -> Option<DateTime<Utc>> {
    let naive = day.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + TimeDelta::hours(1))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

impl Engine {
    /// Every job kind this engine runs: rule firings, emails and webhooks.
    #[must_use]
    pub fn job_kinds(&self) -> JobKinds {
        let mut kinds = JobKinds::default();
        let mut all: Vec<Arc<dyn crate::jobs::JobKind>> = vec![
            Arc::new(RuleRunKind::new(self.clone())),
            Arc::new(crate::workflow::timer::TimerKind::new(self.clone())),
        ];
        all.extend(crate::notify::job_kinds(self.config().webhook_private));
        all.push(Arc::new(crate::exchange::job::ImportKind::new(self.clone())));
        all.push(Arc::new(crate::template::job::InstallKind::new(self.clone())));
        for k in all {
            if let Err(e) = kinds.register(k) {
                tracing::error!(error = %e, "job kind registered twice");
            }
        }
        kinds
    }

    /// Plans the clock-driven firings of every enabled schedule and
    /// date-field rule of every tenant up to `now`. Returns how many jobs
    /// were planned.
    ///
    /// # Errors
    /// `internal`.
    pub async fn plan_rules(&self, now: DateTime<Utc>) -> Result<usize, AutomationError> {
        let rules = rule::Entity::find()
            .filter(rule::Column::Enabled.eq(true))
            .all(self.db().conn())
            .await?;
        let mut planned = 0;
        for r in rules {
            if r.planned_until.is_some_and(|t| t >= now) {
                continue;
            }
            if let Some(Firing::Schedule | Firing::DateField) = self.firing_of(&r) {
                planned += self.plan_rule(&r, now).await?;
            }
        }
        Ok(planned)
    }

    async fn plan_rule(&self, r: &rule::Model, now: DateTime<Utc>) -> Result<usize, AutomationError> {
        let tenant: TenantId = parse_id(&r.tenant_id)?;
        let trigger = r
            .def
            .get("trigger")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let kind = trigger
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let from = r.planned_until.unwrap_or(r.created_at);
        let tz_of = |name: &Option<String>, fallback: Tz| {
            name.as_deref().and_then(|n| parse_tz(n).ok()).unwrap_or(fallback)
        };
        let tenant_zone = tenant_tz(self.db().conn(), tenant).await?;
        let mut jobs: Vec<(String, FiringPayload, DateTime<Utc>)> = Vec::new();
        let mut until = now;
        match self.firing_of(r) {
            Some(Firing::Schedule) => {
                let Some(cfg) = ScheduleCfg::of(&trigger) else {
                    return Ok(0);
                };
                let Ok(schedule) = cfg.schedule() else {
                    return Ok(0);
                };
                let tz = tz_of(&cfg.timezone, tenant_zone);
                let times = schedule_between(&schedule, tz, from, now, MAX_PLANNED_PER_RULE);
                if times.len() >= MAX_PLANNED_PER_RULE
                    && let Some(last) = times.last()
                {
                    until = *last;
                }
                for t in times {
                    let key = format!("rule:{}:at:{}", r.id, t.to_rfc3339());
                    let payload = FiringPayload {
                        rule_id: r.id.clone(),
                        trigger: kind.clone(),
                        ..FiringPayload::default()
                    };
                    jobs.push((key, payload, t));
                }
            }
            Some(Firing::DateField) => {
                let Some(cfg) = DateFieldCfg::of(&trigger) else {
                    return Ok(0);
                };
                let tz = tz_of(&cfg.timezone, tenant_zone);
                let form: FormId = parse_id(&r.form_id)?;
                let time = cfg.time();
                let mut day = from.with_timezone(&tz).date_naive();
                let last_day = now.with_timezone(&tz).date_naive();
                let mut span = None;
                let mut days = 0;
                while day <= last_day && days < 400 {
                    days += 1;
                    let fire = local_instant(tz, day, time);
                    if let Some(fire) = fire.filter(|f| *f > from && *f <= now) {
                        let target = day
                            .checked_sub_signed(TimeDelta::days(i64::from(cfg.offset_days)))
                            .unwrap_or(day);
                        let dates = match cfg.repeat {
                            Repeat::Once => vec![target.format("%Y-%m-%d").to_string()],
                            Repeat::Yearly => {
                                if span.is_none() {
                                    span = Some(year_span(self.db(), tenant, form, &cfg.field).await?);
                                }
                                match span.flatten() {
                                    Some((lo, hi)) => yearly_dates(target, lo, hi),
                                    None => Vec::new(),
                                }
                            }
                        };
                        let ids = records_on_dates(self.db(), tenant, form, &cfg.field, &dates).await?;
                        let day_text = day.format("%Y-%m-%d").to_string();
                        for id in ids {
                            let key = format!("rule:{}:record:{id}:{day_text}", r.id);
                            let payload = FiringPayload {
                                rule_id: r.id.clone(),
                                trigger: kind.clone(),
                                record_id: Some(id),
                                day: Some(day_text.clone()),
                                ..FiringPayload::default()
                            };
                            jobs.push((key, payload, fire));
                        }
                        if jobs.len() >= MAX_PLANNED_PER_RULE * 100 {
                            until = fire;
                            break;
                        }
                    }
                    let Some(next) = day.checked_add_days(Days::new(1)) else {
                        break;
                    };
                    day = next;
                }
                if day <= last_day && days >= 400 {
                    until = local_instant(tz, day, time).map_or(now, |t| t.min(now) - TimeDelta::seconds(1));
                }
            }
            _ => return Ok(0),
        }
        let count = jobs.len();
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        // Claim the span first (a write, so on SQLite the transaction writes
        // from its start): only while the rule is on, at the version planned
        // for, and not already planned this far by another planner.
        let claimed = rule::Entity::update_many()
            .col_expr(rule::Column::PlannedUntil, sea_query::Expr::value(until))
            .filter(rule::Column::Id.eq(r.id.clone()))
            .filter(rule::Column::Enabled.eq(true))
            .filter(rule::Column::Version.eq(r.version))
            .filter(
                sea_query::Condition::any()
                    .add(rule::Column::PlannedUntil.is_null())
                    .add(rule::Column::PlannedUntil.lt(until)),
            )
            .exec(&tx)
            .await?;
        if claimed.rows_affected == 0 {
            return Ok(0);
        }
        for (key, payload, run_at) in jobs {
            enqueue(
                &tx,
                NewJob {
                    tenant,
                    kind: RULE_RUN_KIND.to_owned(),
                    payload: serde_json::to_value(&payload).unwrap_or(Value::Null),
                    idempotency_key: key,
                    run_at,
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(count)
    }

    /// Everything due at `now`: dispatches record events, plans clock
    /// firings and runs due jobs with `worker`, round after round until a
    /// round finds nothing to do (rules triggering rules take more rounds).
    ///
    /// # Errors
    /// `internal`.
    pub async fn scheduler_tick(
        &self,
        worker: &Worker,
        now: DateTime<Utc>,
        opts: TickOptions,
    ) -> Result<SchedulerReport, AutomationError> {
        let mut report = SchedulerReport {
            at: Some(now),
            ..SchedulerReport::default()
        };
        for _ in 0..opts.max_rounds.max(1) {
            report.rounds += 1;
            let dispatched = self.dispatch_events(now).await?;
            let planned = self.plan_rules(now).await?;
            let ran = worker.run_once(now).await?;
            report.dispatched += dispatched;
            report.planned += planned;
            report.ran += ran;
            if dispatched == 0 && planned == 0 && ran == 0 {
                break;
            }
        }
        // Removing unheld files is housekeeping, once a minute: a failure is logged and
        // retried a minute later rather than failing the tick.
        if self.files_sweep_due(now) {
            match self.collect_files(now).await {
                Ok(n) => report.files_removed = n,
                Err(e) => tracing::warn!(error = %e, "removing unheld files failed"),
            }
        }
        Ok(report)
    }

    /// Starts a manual rule over records (by id, or every record matching a
    /// filter): one job per record, run by the worker; watch it with
    /// [`Engine::batch_progress`].
    ///
    /// # Errors
    /// `validation_failed` (neither or both given, too many records, a rule
    /// that is not manual or is disabled), `invalid_query`, `not_found`.
    pub async fn run_rule(
        &self,
        ctx: &Ctx,
        id: RuleId,
        input: ManualRunInput,
    ) -> Result<ManualRun, AutomationError> {
        require(ctx, Action::WriteData)?;
        let row = self.rule_row(ctx, id).await?;
        if self.firing_of(&row) != Some(Firing::Manual) {
            return Err(AutomationError::Invalid(vec![FieldError::new(
                "/trigger/kind",
                "only a rule with a manual trigger can be run by hand",
            )]));
        }
        if !row.enabled {
            return Err(AutomationError::Invalid(vec![FieldError::new(
                "enabled",
                "the rule is disabled",
            )]));
        }
        let form: FormId = parse_id(&row.form_id)?;
        let ids: Vec<String> = match (input.record_ids, input.filter) {
            (Some(ids), None) => {
                if ids.len() > MAX_MANUAL_RECORDS {
                    return Err(AutomationError::Invalid(vec![FieldError::new(
                        "record_ids",
                        format!("at most {MAX_MANUAL_RECORDS} records per run"),
                    )]));
                }
                let mut checked = Vec::with_capacity(ids.len());
                for (i, rid) in ids.iter().enumerate() {
                    let rid = rid.parse().map_err(|_| {
                        AutomationError::Invalid(vec![FieldError::new(
                            format!("record_ids/{i}"),
                            "is not a record id",
                        )])
                    })?;
                    self.record_row(ctx, form, rid, false).await.map_err(|_| {
                        AutomationError::Invalid(vec![FieldError::new(
                            format!("record_ids/{i}"),
                            "names no live record of the rule's form",
                        )])
                    })?;
                    checked.push(rid.to_string());
                }
                checked
            }
            (None, Some(filter)) => {
                let mut out = Vec::new();
                let mut cursor = None;
                loop {
                    let mut req = QueryRequest::from_json(&serde_json::json!({ "filter": filter }))?;
                    req.limit = Some(1000);
                    req.cursor = cursor.take();
                    let page = self.query_records(ctx, form, req, false).await?;
                    out.extend(page.records.iter().map(|r| r.id.to_string()));
                    if out.len() > MAX_MANUAL_RECORDS {
                        return Err(AutomationError::Invalid(vec![FieldError::new(
                            "filter",
                            format!("matches more than {MAX_MANUAL_RECORDS} records"),
                        )]));
                    }
                    match page.next_cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
                out
            }
            _ => {
                return Err(AutomationError::Invalid(vec![FieldError::new(
                    "",
                    "send either `record_ids` or `filter`",
                )]));
            }
        };
        let batch = uuid::Uuid::now_v7().simple().to_string();
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        for rid in &ids {
            let payload = FiringPayload {
                rule_id: row.id.clone(),
                trigger: row
                    .def
                    .get("trigger")
                    .and_then(|t| t.get("kind"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                record_id: Some(rid.clone()),
                ..FiringPayload::default()
            };
            enqueue(
                &tx,
                NewJob {
                    tenant: ctx.tenant,
                    kind: RULE_RUN_KIND.to_owned(),
                    payload: serde_json::to_value(&payload).unwrap_or(Value::Null),
                    idempotency_key: format!("rule:{}:manual:{batch}:{rid}", row.id),
                    run_at: ctx.now,
                    max_attempts: DEFAULT_MAX_ATTEMPTS,
                },
                ctx.now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ManualRun {
            batch_id: batch,
            total: ids.len(),
        })
    }

    /// Progress of a manual run.
    ///
    /// # Errors
    /// `not_found` (rule or batch).
    pub async fn batch_progress(
        &self,
        ctx: &Ctx,
        id: RuleId,
        batch: &str,
    ) -> Result<BatchProgress, AutomationError> {
        require(ctx, Action::ReadData)?;
        let row = self.rule_row(ctx, id).await?;
        if batch.is_empty() || !batch.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AutomationError::NotFound(batch.to_owned()));
        }
        let prefix = format!("{}manual:{batch}:", firing_prefix(&row.id));
        let statuses = crate::jobs::count_by_status(self.db(), ctx.tenant, &prefix).await?;
        let mut p = BatchProgress {
            batch_id: batch.to_owned(),
            ..BatchProgress::default()
        };
        for (status, n) in statuses {
            p.total += n;
            match status.as_str() {
                "pending" | "failed" => p.pending += n,
                "running" => p.running += n,
                "succeeded" => p.succeeded += n,
                "skipped" => p.skipped += n,
                "dead" => p.failed += n,
                "cancelled" => p.cancelled += n,
                _ => {}
            }
        }
        if p.total == 0 {
            return Err(AutomationError::NotFound(batch.to_owned()));
        }
        p.done = p.pending == 0 && p.running == 0;
        Ok(p)
    }
}
