//! The trigger kind registry: what makes a rule run.
//!
//! Each kind checks its own settings (the `trigger` object of a rule) and
//! says how it fires: on a record event (`record_created`,
//! `record_updated`, `record_deleted`), by the clock (`schedule`,
//! `date_field`), by a person (`manual`) or by a workflow (`workflow_event`).
//! Kinds are stored in rule definitions and never renamed.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::meta::field_type::{FieldTypes, Kinded, Registry, RegistryError, SqlCast};
use crate::meta::model::FormDef;

/// The trigger kind registry, built once and then frozen.
pub type TriggerKinds = Registry<dyn TriggerKind>;

/// How a kind is fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firing {
    /// By a record event: the `record_history` action it follows.
    RecordEvent(&'static str),
    /// By a cron schedule.
    Schedule,
    /// By a date field of the form's records.
    DateField,
    /// Only by `POST /rules/{id}/run`.
    Manual,
}

/// One trigger kind.
pub trait TriggerKind: Kinded + Send + Sync {
    /// How rules of this kind fire.
    fn firing(&self) -> Firing;
    /// Checks the settings (every key of the trigger object but `kind`)
    /// against the rule's form. Error fields are JSON pointers from the rule
    /// (`/trigger/cron`).
    fn check(&self, cfg: &Map<String, Value>, form: &FormDef, types: &FieldTypes) -> Vec<FieldError>;
    /// Whether a record event with these `changes` (`{field: {from, to}}`)
    /// fires the rule. Only record-event kinds are asked.
    fn fires_on(&self, _cfg: &Map<String, Value>, _changes: &Value) -> bool {
        true
    }
}

fn unknown_keys(cfg: &Map<String, Value>, allowed: &[&str]) -> Vec<FieldError> {
    cfg.keys()
        .filter(|k| k.as_str() != "kind" && !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(format!("/trigger/{k}"), "is not a setting of this trigger"))
        .collect()
}

macro_rules! simple_event {
    ($ty:ident, $kind:literal, $action:literal) => {
        /// Fires after a record event commits.
        pub struct $ty;
        impl Kinded for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }
        }
        impl TriggerKind for $ty {
            fn firing(&self) -> Firing {
                Firing::RecordEvent($action)
            }
            fn check(
                &self,
                cfg: &Map<String, Value>,
                _form: &FormDef,
                _types: &FieldTypes,
            ) -> Vec<FieldError> {
                unknown_keys(cfg, &[])
            }
        }
    };
}

simple_event!(RecordCreated, "record_created", "create");
simple_event!(RecordDeleted, "record_deleted", "delete");

/// Fires after an update commits; with `fields`, only when one of them
/// changed.
pub struct RecordUpdated;

impl Kinded for RecordUpdated {
    fn kind(&self) -> &'static str {
        "record_updated"
    }
}

impl TriggerKind for RecordUpdated {
    fn firing(&self) -> Firing {
        Firing::RecordEvent("update")
    }

    fn check(&self, cfg: &Map<String, Value>, form: &FormDef, _types: &FieldTypes) -> Vec<FieldError> {
        let mut errs = unknown_keys(cfg, &["fields"]);
        match cfg.get("fields") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let known = item
                        .as_str()
                        .is_some_and(|k| form.fields.iter().any(|f| f.key == k));
                    if !known {
                        errs.push(FieldError::new(
                            format!("/trigger/fields/{i}"),
                            "must name a field of the rule's form",
                        ));
                    }
                }
            }
            Some(_) => errs.push(FieldError::new("/trigger/fields", "must be a list of field keys")),
        }
        errs
    }

    fn fires_on(&self, cfg: &Map<String, Value>, changes: &Value) -> bool {
        match cfg.get("fields").and_then(Value::as_array) {
            Some(fields) if !fields.is_empty() => fields
                .iter()
                .filter_map(Value::as_str)
                .any(|k| changes.get(k).is_some()),
            _ => true,
        }
    }
}

/// Fires only through the run endpoint (a button on a record, a selection
/// or a filtered view).
pub struct Manual;

impl Kinded for Manual {
    fn kind(&self) -> &'static str {
        "manual"
    }
}

impl TriggerKind for Manual {
    fn firing(&self) -> Firing {
        Firing::Manual
    }

    fn check(&self, cfg: &Map<String, Value>, _form: &FormDef, _types: &FieldTypes) -> Vec<FieldError> {
        unknown_keys(cfg, &[])
    }
}

/// The workflow events a rule can follow.
pub const WORKFLOW_EVENTS: [&str; 5] = ["step_entered", "approved", "rejected", "returned", "finished"];

/// The `record_history` action of a workflow event. Its changes carry the
/// event under [`WORKFLOW_CHANGE_KEY`] (a `_` key, so record history never
/// mistakes it for a field).
pub const WORKFLOW_ACTION: &str = "workflow";

/// Where a workflow event's details sit in its history row's changes:
/// `{"event", "node", "instance_id", "status"}`.
pub const WORKFLOW_CHANGE_KEY: &str = "_workflow";

/// The states a flow can be in after an event, for a trigger's `status`:
/// still `running`, or ended `approved`, `rejected`, `withdrawn` (by its
/// initiator) or `closed` (by an administrator).
pub const FLOW_STATUSES: [&str; 5] = {
    use crate::workflow::state::{APPROVED, CLOSED, REJECTED, RUNNING, WITHDRAWN};
    [RUNNING, APPROVED, REJECTED, WITHDRAWN, CLOSED]
};

/// Fires on an approval flow's event for a record of the form, optionally
/// only at one node (`node`) and only when the flow is left in one state
/// (`status`: `{"event": "finished", "status": "approved"}` follows approved
/// flows only).
pub struct WorkflowEvent;

impl Kinded for WorkflowEvent {
    fn kind(&self) -> &'static str {
        "workflow_event"
    }
}

impl TriggerKind for WorkflowEvent {
    fn firing(&self) -> Firing {
        Firing::RecordEvent(WORKFLOW_ACTION)
    }

    fn check(&self, cfg: &Map<String, Value>, _form: &FormDef, _types: &FieldTypes) -> Vec<FieldError> {
        let mut errs = unknown_keys(cfg, &["event", "node", "status"]);
        if !cfg
            .get("event")
            .and_then(Value::as_str)
            .is_some_and(|e| WORKFLOW_EVENTS.contains(&e))
        {
            errs.push(FieldError::new(
                "/trigger/event",
                format!("must be one of {}", WORKFLOW_EVENTS.join(", ")),
            ));
        }
        if cfg.get("node").is_some_and(|n| !n.is_string()) {
            errs.push(FieldError::new("/trigger/node", "must be a node id"));
        }
        if cfg
            .get("status")
            .is_some_and(|s| !s.as_str().is_some_and(|s| FLOW_STATUSES.contains(&s)))
        {
            errs.push(FieldError::new(
                "/trigger/status",
                format!("must be one of {}", FLOW_STATUSES.join(", ")),
            ));
        }
        errs
    }

    fn fires_on(&self, cfg: &Map<String, Value>, changes: &Value) -> bool {
        let Some(event) = changes.get(WORKFLOW_CHANGE_KEY) else {
            return false;
        };
        let same = |k: &str| match cfg.get(k) {
            None => true,
            Some(want) => event.get(k) == Some(want),
        };
        same("event") && same("node") && same("status")
    }
}

/// A cron schedule's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleCfg {
    /// Standard 5-field crontab (`min hour dom month dow`, 0 or 7 = Sunday).
    pub cron: String,
    /// IANA zone; the tenant's when absent.
    #[serde(default)]
    pub timezone: Option<String>,
}

impl ScheduleCfg {
    /// Reads the settings of a checked rule.
    #[must_use]
    pub fn of(cfg: &Map<String, Value>) -> Option<Self> {
        serde_json::from_value(Value::Object(cfg.clone())).ok()
    }

    /// The parsed schedule.
    ///
    /// # Errors
    /// One sentence about the expression.
    pub fn schedule(&self) -> Result<cron::Schedule, String> {
        parse_cron(&self.cron)
    }
}

const DOW_NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

/// Translates a standard 5-field crontab expression for the `cron` crate,
/// which wants a seconds field first and counts weekdays from 1 = Sunday:
/// a seconds field `0` is added and numeric weekdays become names.
///
/// # Errors
/// One sentence when the expression is not 5 fields or does not parse.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let [min, hour, dom, month, dow] = fields.as_slice() else {
        return Err(format!(
            "must have 5 fields (minute hour day-of-month month day-of-week), not {}",
            fields.len()
        ));
    };
    let mut dow_out = Vec::new();
    for part in dow.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let mut names = Vec::new();
        for bound in range.split('-') {
            names.push(match bound.parse::<usize>() {
                Ok(n) => (*DOW_NAMES
                    .get(n)
                    .ok_or_else(|| format!("day of week `{n}` is not 0 to 7"))?)
                .to_owned(),
                Err(_) => bound.to_owned(),
            });
        }
        let mut out = names.join("-");
        if let Some(step) = step {
            out = format!("{out}/{step}");
        }
        dow_out.push(out);
    }
    let six = format!("0 {min} {hour} {dom} {month} {}", dow_out.join(","));
    cron::Schedule::from_str(&six).map_err(|e| format!("is not a valid cron expression: {e}"))
}

/// Parses an IANA time zone name.
///
/// # Errors
/// One sentence.
pub fn parse_tz(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("`{name}` is not an IANA time zone"))
}

/// The next instants of `schedule` in `tz` after `from`, up to and
/// including `to`, at most `cap`.
#[must_use]
pub fn schedule_between(
    schedule: &cron::Schedule,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cap: usize,
) -> Vec<DateTime<Utc>> {
    schedule
        .after(&from.with_timezone(&tz))
        .map(|t| t.with_timezone(&Utc))
        .take_while(|t| *t <= to)
        .take(cap)
        .collect()
}

/// Fires on a cron schedule in a time zone.
pub struct Schedule;

impl Kinded for Schedule {
    fn kind(&self) -> &'static str {
        "schedule"
    }
}

impl TriggerKind for Schedule {
    fn firing(&self) -> Firing {
        Firing::Schedule
    }

    fn check(&self, cfg: &Map<String, Value>, _form: &FormDef, _types: &FieldTypes) -> Vec<FieldError> {
        let mut errs = unknown_keys(cfg, &["cron", "timezone"]);
        match cfg.get("cron").and_then(Value::as_str) {
            Some(expr) => {
                if let Err(m) = parse_cron(expr) {
                    errs.push(FieldError::new("/trigger/cron", m));
                }
            }
            None => errs.push(FieldError::new("/trigger/cron", "is required (5-field crontab)")),
        }
        check_tz(cfg, &mut errs);
        errs
    }
}

fn check_tz(cfg: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    match cfg.get("timezone") {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => {
            if let Err(m) = parse_tz(name) {
                errs.push(FieldError::new("/trigger/timezone", m));
            }
        }
        Some(_) => errs.push(FieldError::new("/trigger/timezone", "must be an IANA zone name")),
    }
}

/// How often a date-field rule fires per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Repeat {
    /// Every year on the date's month and day (birthdays, anniversaries).
    Yearly,
    /// Once, on the date itself (contract ends, follow-ups).
    Once,
}

/// A date-field trigger's settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DateFieldCfg {
    /// The date field's key.
    pub field: String,
    /// Days after (positive) or before (negative) the date.
    #[serde(default)]
    pub offset_days: i32,
    /// Local time of day, `HH:MM`.
    #[serde(default = "nine")]
    pub at: String,
    /// Yearly or once.
    pub repeat: Repeat,
    /// IANA zone; the tenant's when absent.
    #[serde(default)]
    pub timezone: Option<String>,
}

fn nine() -> String {
    "09:00".to_owned()
}

impl DateFieldCfg {
    /// Reads the settings of a checked rule.
    #[must_use]
    pub fn of(cfg: &Map<String, Value>) -> Option<Self> {
        serde_json::from_value(Value::Object(cfg.clone())).ok()
    }

    /// The local time of day.
    #[must_use]
    pub fn time(&self) -> NaiveTime {
        NaiveTime::parse_from_str(&self.at, "%H:%M").unwrap_or_default()
    }
}

/// Largest accepted `offset_days` magnitude.
pub const MAX_OFFSET_DAYS: i64 = 3660;

/// Fires N days before or after a date field of each record.
pub struct DateField;

impl Kinded for DateField {
    fn kind(&self) -> &'static str {
        "date_field"
    }
}

impl TriggerKind for DateField {
    fn firing(&self) -> Firing {
        Firing::DateField
    }

    fn check(&self, cfg: &Map<String, Value>, form: &FormDef, types: &FieldTypes) -> Vec<FieldError> {
        let mut errs = unknown_keys(cfg, &["field", "offset_days", "at", "repeat", "timezone"]);
        match cfg.get("field").and_then(Value::as_str) {
            Some(key) => {
                let is_date = form.fields.iter().any(|f| {
                    f.key == key
                        && types
                            .get(&f.kind)
                            .is_ok_and(|t| t.sql_cast_for(f) == SqlCast::Date)
                });
                if !is_date {
                    errs.push(FieldError::new(
                        "/trigger/field",
                        "must name a date field of the rule's form",
                    ));
                }
            }
            None => errs.push(FieldError::new("/trigger/field", "is required")),
        }
        match cfg.get("offset_days") {
            None => {}
            Some(v) if v.as_i64().is_some_and(|n| n.abs() <= MAX_OFFSET_DAYS) => {}
            Some(_) => errs.push(FieldError::new(
                "/trigger/offset_days",
                format!("must be a whole number from -{MAX_OFFSET_DAYS} to {MAX_OFFSET_DAYS}"),
            )),
        }
        match cfg.get("at") {
            None => {}
            Some(Value::String(s)) if s.len() == 5 && NaiveTime::parse_from_str(s, "%H:%M").is_ok() => {}
            Some(_) => errs.push(FieldError::new("/trigger/at", "must be a time of day as HH:MM")),
        }
        if !matches!(cfg.get("repeat").and_then(Value::as_str), Some("yearly" | "once")) {
            errs.push(FieldError::new("/trigger/repeat", "must be `yearly` or `once`"));
        }
        check_tz(cfg, &mut errs);
        errs
    }
}

/// Every built-in trigger kind.
///
/// # Errors
/// [`RegistryError::Duplicate`] if two kinds collide (a bug).
pub fn builtin() -> Result<TriggerKinds, RegistryError> {
    let mut r = TriggerKinds::default();
    r.register(Arc::new(RecordCreated))?;
    r.register(Arc::new(RecordUpdated))?;
    r.register(Arc::new(RecordDeleted))?;
    r.register(Arc::new(Schedule))?;
    r.register(Arc::new(DateField))?;
    r.register(Arc::new(Manual))?;
    r.register(Arc::new(WorkflowEvent))?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn crontab_is_translated() {
        // Monday 09:00 in Shanghai is 01:00 UTC.
        let s = parse_cron("0 9 * * 1").unwrap();
        let from = Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).unwrap(); // a Wednesday
        let got = schedule_between(
            &s,
            parse_tz("Asia/Shanghai").unwrap(),
            from,
            from + chrono::TimeDelta::days(14),
            10,
        );
        assert_eq!(
            got,
            vec![
                Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap()
            ]
        );
        // 0 and 7 are Sunday; ranges and lists of numbers work.
        assert!(parse_cron("30 8 * * 0").is_ok());
        assert!(parse_cron("30 8 * * 7").is_ok());
        assert!(parse_cron("30 8 * * 1-5").is_ok());
        assert!(parse_cron("*/15 * * * 1,3,5").is_ok());
        assert!(parse_cron("0 9 * *").is_err());
        assert!(parse_cron("0 9 * * 8").is_err());
        assert!(parse_cron("61 9 * * *").is_err());
    }

    #[test]
    fn weekday_range_is_monday_to_friday() {
        let s = parse_cron("0 12 * * 1-5").unwrap();
        let from = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap(); // Saturday
        let got = schedule_between(&s, Tz::UTC, from, from + chrono::TimeDelta::days(7), 10);
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap());
    }
}
