//! Rule management: create, read, replace (a new version), delete, versions
//! and run log.

use std::sync::LazyLock;

use jsonschema::Validator;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Map, Value};

use super::run::tenant_tz;
use super::trigger::Firing;
use super::trigger::{parse_cron, parse_tz};
use super::{AutomationError, LastRun, MAX_PREVIEW_TIMES, RuleVersionView, RuleView, SchedulePreview};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::ids::{AppId, FormId, RuleId, UserId};
use crate::jobs::{RunFilter, RunPage, cancel_pending, list_runs};
use crate::meta::compile::{build_validator, describe_errors};
use crate::meta::form::LoadedForm;
use crate::store::entity::{membership, rule, rule_version};
use crate::store::{StoreError, parse_id};

static RULE_SCHEMA: LazyLock<Option<Validator>> = LazyLock::new(|| {
    serde_json::from_str::<Value>(include_str!("../../../schemas/rule.schema.json"))
        .ok()
        .and_then(|s| build_validator(&s).ok())
});

/// A checked definition, ready to store.
pub(crate) struct Checked {
    pub def: Map<String, Value>,
    pub name: String,
    pub form: std::sync::Arc<LoadedForm>,
    pub enabled: bool,
    pub run_as: Option<UserId>,
}

/// The key prefix of every firing of a rule.
pub(crate) fn firing_prefix(id: &str) -> String {
    format!("rule:{id}:")
}

/// Builds the API view of a stored rule.
pub(crate) fn view(row: &rule::Model) -> Result<RuleView, AutomationError> {
    let def = row.def.as_object().cloned().unwrap_or_default();
    let text = |k: &str| def.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(RuleView {
        id: parse_id(&row.id)?,
        app_id: parse_id(&row.app_id)?,
        form_id: parse_id(&row.form_id)?,
        name: row.name.clone(),
        description: text("description").unwrap_or_default(),
        enabled: row.enabled,
        version: row.version,
        trigger: def.get("trigger").cloned().unwrap_or(Value::Null),
        condition: text("condition"),
        script: text("script"),
        actions: def.get("actions").cloned(),
        run_as: parse_id(&row.run_as)?,
        owner_id: parse_id(&row.owner_id)?,
        consecutive_failures: row.consecutive_failures,
        disabled_reason: row.disabled_reason.clone(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_run: None,
    })
}

impl Engine {
    /// Checks a rule definition: the meta schema, the form (of this app),
    /// the trigger kind and its settings, the condition and script (compiled:
    /// a syntax error names line and column), the actions, and `run_as`.
    pub(crate) async fn check_rule(
        &self,
        ctx: &Ctx,
        app: AppId,
        raw: Value,
    ) -> Result<Checked, AutomationError> {
        let Value::Object(def) = raw else {
            return Err(AutomationError::Invalid(vec![FieldError::new(
                "",
                "must be a JSON object",
            )]));
        };
        let Some(validator) = RULE_SCHEMA.as_ref() else {
            return Err(AutomationError::Invalid(vec![FieldError::new(
                "",
                "the rule schema does not compile (a bug)",
            )]));
        };
        let errs: Vec<FieldError> = describe_errors(
            validator,
            &Value::Object(def.clone()),
            "is not a property of a rule",
        )
        .into_iter()
        .map(|(p, m)| FieldError::new(p, m))
        .collect();
        if !errs.is_empty() {
            return Err(AutomationError::Invalid(errs));
        }
        let form_id: FormId = def
            .get("form_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                AutomationError::Invalid(vec![FieldError::new("/form_id", "must be a form id")])
            })?;
        let form = self.load_form(ctx, form_id).await.map_err(|_| {
            AutomationError::Invalid(vec![FieldError::new("/form_id", "names no form of this tenant")])
        })?;
        if form.app_id != app {
            return Err(AutomationError::Invalid(vec![FieldError::new(
                "/form_id",
                "names a form of another app",
            )]));
        }
        let trigger = def
            .get("trigger")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let kind_name = trigger.get("kind").and_then(Value::as_str).unwrap_or_default();
        let kind = self
            .triggers()
            .get(kind_name)
            .map_err(|_| AutomationError::UnknownKind {
                what: "trigger",
                field: "/trigger/kind".to_owned(),
                kind: kind_name.to_owned(),
            })?;
        let mut errs = kind.check(&trigger, &form.def, self.field_types());
        if let Some(actions) = def.get("actions").and_then(Value::as_array) {
            for (i, a) in actions.iter().enumerate() {
                let cfg = a.as_object().cloned().unwrap_or_default();
                let name = cfg.get("kind").and_then(Value::as_str).unwrap_or_default();
                let action = self
                    .actions()
                    .get(name)
                    .map_err(|_| AutomationError::UnknownKind {
                        what: "action",
                        field: format!("/actions/{i}/kind"),
                        kind: name.to_owned(),
                    })?;
                errs.extend(super::action::check(action.as_ref(), i, &cfg, self.sandbox()));
            }
        }
        if !errs.is_empty() {
            return Err(AutomationError::Invalid(errs));
        }
        for part in ["condition", "script"] {
            if let Some(src) = def.get(part).and_then(Value::as_str) {
                self.sandbox()
                    .compile_rule(src)
                    .map_err(|e| AutomationError::script(part, e))?;
            }
        }
        let run_as = match def.get("run_as").and_then(Value::as_str) {
            Some(s) => {
                let user: UserId = s.parse().map_err(|_| {
                    AutomationError::Invalid(vec![FieldError::new("/run_as", "must be a user id")])
                })?;
                if !self.is_member(self.db().conn(), ctx, user).await? {
                    return Err(AutomationError::Invalid(vec![FieldError::new(
                        "/run_as",
                        "must be a member of this tenant",
                    )]));
                }
                Some(user)
            }
            None => None,
        };
        Ok(Checked {
            name: def
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            enabled: def.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            def,
            form,
            run_as,
        })
    }

    async fn is_member<C: ConnectionTrait>(
        &self,
        conn: &C,
        ctx: &Ctx,
        user: UserId,
    ) -> Result<bool, AutomationError> {
        Ok(
            membership::Entity::find_by_id((ctx.tenant.to_string(), user.to_string()))
                .one(conn)
                .await?
                .is_some(),
        )
    }

    /// The tenant's rules of an app, by name.
    ///
    /// # Errors
    /// `not_found` (app), `forbidden`.
    pub async fn list_rules(&self, ctx: &Ctx, app: AppId) -> Result<Vec<RuleView>, AutomationError> {
        require(ctx, Action::ReadData)?;
        self.get_app(ctx, app).await?;
        let rows = rule::Entity::find()
            .filter(rule::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(rule::Column::AppId.eq(app.to_string()))
            .order_by_asc(rule::Column::Name)
            .all(self.db().conn())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut v = view(row)?;
            // One indexed lookup per rule: an app has tens of rules, and
            // the run log is keyed by rule, not grouped.
            let filter = RunFilter {
                key_prefix: Some(firing_prefix(&row.id)),
                ..RunFilter::default()
            };
            let page = list_runs(self.db(), ctx.tenant, &filter, 1, None).await?;
            v.last_run = page.runs.into_iter().next().map(|r| LastRun {
                outcome: r.outcome.as_str().to_owned(),
                at: r.finished_at,
                error: r.error,
            });
            out.push(v);
        }
        Ok(out)
    }

    /// The next `count` instants (at most [`MAX_PREVIEW_TIMES`]) of a
    /// 5-field cron expression after the context's now, read in `timezone` (the
    /// tenant's when absent), as a schedule trigger would fire.
    ///
    /// # Errors
    /// `validation_failed` on `cron` or `timezone`, `forbidden`.
    pub async fn preview_schedule(
        &self,
        ctx: &Ctx,
        cron: &str,
        timezone: Option<&str>,
        count: usize,
    ) -> Result<SchedulePreview, AutomationError> {
        require(ctx, Action::ReadData)?;
        let mut errs = Vec::new();
        let schedule = parse_cron(cron)
            .map_err(|m| errs.push(FieldError::new("cron", m)))
            .ok();
        let tz = match timezone.filter(|z| !z.is_empty()) {
            Some(name) => parse_tz(name)
                .map_err(|m| errs.push(FieldError::new("timezone", m)))
                .ok(),
            None => Some(tenant_tz(self.db().conn(), ctx.tenant).await?),
        };
        let (Some(schedule), Some(tz)) = (schedule, tz) else {
            return Err(AutomationError::Invalid(errs));
        };
        let times = schedule
            .after(&ctx.now.with_timezone(&tz))
            .take(count.clamp(1, MAX_PREVIEW_TIMES))
            .map(|t| t.with_timezone(&chrono::Utc))
            .collect();
        Ok(SchedulePreview {
            timezone: tz.name().to_owned(),
            times,
        })
    }

    /// Creates a rule (version 1) in an app.
    ///
    /// # Errors
    /// `validation_failed` (JSON pointers), `unknown_kind`, `script_syntax`
    /// (line and column), `not_found` (app), `forbidden`.
    pub async fn create_rule(&self, ctx: &Ctx, app: AppId, raw: Value) -> Result<RuleView, AutomationError> {
        require(ctx, Action::DesignApps)?;
        self.get_app(ctx, app).await?;
        let checked = self.check_rule(ctx, app, raw).await?;
        let id = RuleId::new();
        let run_as = checked.run_as.unwrap_or(ctx.actor);
        let row = rule::Model {
            id: id.to_string(),
            tenant_id: ctx.tenant.to_string(),
            app_id: app.to_string(),
            form_id: checked.form.id.to_string(),
            name: checked.name,
            enabled: checked.enabled,
            version: 1,
            def: Value::Object(checked.def.clone()),
            owner_id: ctx.actor.to_string(),
            run_as: run_as.to_string(),
            consecutive_failures: 0,
            disabled_reason: None,
            planned_until: Some(ctx.now),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        rule::Entity::insert(rule::ActiveModel::from(row.clone()))
            .exec_without_returning(&tx)
            .await?;
        insert_version(&tx, ctx, &id.to_string(), 1, Value::Object(checked.def)).await?;
        crate::audit::record(
            &tx,
            ctx,
            "rule.created",
            "rule",
            &row.id,
            serde_json::json!({"name": row.name, "app_id": row.app_id, "version": 1}),
        )
        .await?;
        tx.commit().await?;
        view(&row)
    }

    pub(crate) async fn rule_row(&self, ctx: &Ctx, id: RuleId) -> Result<rule::Model, AutomationError> {
        rule::Entity::find_by_id(id.to_string())
            .filter(rule::Column::TenantId.eq(ctx.tenant.to_string()))
            .one(self.db().conn())
            .await?
            .ok_or_else(|| AutomationError::NotFound(id.to_string()))
    }

    /// One rule.
    ///
    /// # Errors
    /// `not_found` (also another tenant's rule).
    pub async fn get_rule(&self, ctx: &Ctx, id: RuleId) -> Result<RuleView, AutomationError> {
        require(ctx, Action::ReadData)?;
        view(&self.rule_row(ctx, id).await?)
    }

    /// Replaces a rule's definition: a new version. Turning it off, or
    /// changing a clock trigger, cancels its pending planned firings in the
    /// same transaction; turning it back on plans from now (nothing missed
    /// while it was off is fired) and clears the failure count.
    ///
    /// # Errors
    /// As [`Engine::create_rule`]; `not_found`.
    pub async fn update_rule(&self, ctx: &Ctx, id: RuleId, raw: Value) -> Result<RuleView, AutomationError> {
        require(ctx, Action::DesignApps)?;
        let row = self.rule_row(ctx, id).await?;
        let app: AppId = parse_id(&row.app_id)?;
        let checked = self.check_rule(ctx, app, raw).await?;
        let old_trigger = row.def.get("trigger").cloned().unwrap_or(Value::Null);
        let new_trigger = checked.def.get("trigger").cloned().unwrap_or(Value::Null);
        let version = row.version + 1;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        let prefix = firing_prefix(&row.id);
        if !checked.enabled {
            cancel_pending(&tx, ctx.tenant, &prefix).await?;
        } else if old_trigger != new_trigger || checked.form.id.to_string() != row.form_id {
            cancel_pending(&tx, ctx.tenant, &format!("{prefix}at:")).await?;
            cancel_pending(&tx, ctx.tenant, &format!("{prefix}record:")).await?;
        }
        let mut active: rule::ActiveModel = row.clone().into();
        active.name = Set(checked.name);
        active.form_id = Set(checked.form.id.to_string());
        active.enabled = Set(checked.enabled);
        active.version = Set(version);
        active.def = Set(Value::Object(checked.def.clone()));
        if let Some(user) = checked.run_as {
            active.run_as = Set(user.to_string());
        }
        if checked.enabled && (!row.enabled || old_trigger != new_trigger) {
            active.planned_until = Set(Some(ctx.now));
        }
        if checked.enabled && !row.enabled {
            active.consecutive_failures = Set(0);
            active.disabled_reason = Set(None);
        }
        active.updated_at = Set(ctx.now);
        let updated = active.update(&tx).await?;
        insert_version(&tx, ctx, &row.id, version, Value::Object(checked.def)).await?;
        crate::audit::record(
            &tx,
            ctx,
            "rule.updated",
            "rule",
            &row.id,
            serde_json::json!({"name": updated.name, "enabled": updated.enabled, "version": version}),
        )
        .await?;
        tx.commit().await?;
        view(&updated)
    }

    /// Deletes a rule and its versions, cancelling its pending firings in
    /// the same transaction. Its run log stays.
    ///
    /// # Errors
    /// `not_found`, `forbidden`.
    pub async fn delete_rule(&self, ctx: &Ctx, id: RuleId) -> Result<(), AutomationError> {
        require(ctx, Action::DesignApps)?;
        let row = self.rule_row(ctx, id).await?;
        let db = self.db();
        let _w = db.write_lock().await;
        let tx = db.begin().await?;
        cancel_pending(&tx, ctx.tenant, &firing_prefix(&row.id)).await?;
        rule_version::Entity::delete_many()
            .filter(rule_version::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(rule_version::Column::RuleId.eq(row.id.clone()))
            .exec(&tx)
            .await?;
        rule::Entity::delete_many()
            .filter(rule::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(rule::Column::Id.eq(row.id.clone()))
            .exec(&tx)
            .await?;
        crate::audit::record(
            &tx,
            ctx,
            "rule.deleted",
            "rule",
            &row.id,
            serde_json::json!({"name": row.name}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every saved version of a rule, newest first.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn rule_versions(
        &self,
        ctx: &Ctx,
        id: RuleId,
    ) -> Result<Vec<RuleVersionView>, AutomationError> {
        require(ctx, Action::ReadData)?;
        let row = self.rule_row(ctx, id).await?;
        rule_version::Entity::find()
            .filter(rule_version::Column::TenantId.eq(ctx.tenant.to_string()))
            .filter(rule_version::Column::RuleId.eq(row.id))
            .order_by_desc(rule_version::Column::Version)
            .all(self.db().conn())
            .await?
            .into_iter()
            .map(|v| {
                Ok(RuleVersionView {
                    version: v.version,
                    definition: v.def,
                    created_by: parse_id(&v.created_by)?,
                    created_at: v.created_at,
                })
            })
            .collect::<Result<_, StoreError>>()
            .map_err(Into::into)
    }

    /// A rule's run log, newest first.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn rule_runs(
        &self,
        ctx: &Ctx,
        id: RuleId,
        limit: u64,
        cursor: Option<crate::ids::RunId>,
    ) -> Result<RunPage, AutomationError> {
        require(ctx, Action::ReadData)?;
        let row = self.rule_row(ctx, id).await?;
        let filter = RunFilter {
            key_prefix: Some(firing_prefix(&row.id)),
            ..RunFilter::default()
        };
        Ok(list_runs(self.db(), ctx.tenant, &filter, limit, cursor).await?)
    }

    /// How a rule fires, from its stored trigger.
    pub(crate) fn firing_of(&self, row: &rule::Model) -> Option<Firing> {
        let kind = row.def.get("trigger")?.get("kind")?.as_str()?;
        self.triggers().get(kind).ok().map(|k| k.firing())
    }
}

async fn insert_version<C: ConnectionTrait>(
    conn: &C,
    ctx: &Ctx,
    rule_id: &str,
    version: i32,
    def: Value,
) -> Result<(), AutomationError> {
    rule_version::Entity::insert(rule_version::ActiveModel {
        tenant_id: Set(ctx.tenant.to_string()),
        rule_id: Set(rule_id.to_owned()),
        version: Set(version),
        def: Set(def),
        created_by: Set(ctx.actor.to_string()),
        created_at: Set(ctx.now),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}
