//! The rule script API: the functions a rule script calls, and the per-run
//! state they read and append to.
//!
//! One `rhai::Engine` serves every run, so the functions are registered
//! once ([`register`]) and find their run through a thread-local
//! [`RunState`] that [`super::Sandbox::run_rule`] installs for the duration
//! of one evaluation (the evaluation is synchronous and stays on its
//! thread). Outside a rule run (formulas, default values) the rule-only
//! functions fail with a clear message.
//!
//! Reads (`find`, `count`, `sum`) go through a [`Host`], which the
//! automation engine implements with tenant-scoped, bounded queries under
//! the rule's identity; effects are only recorded here.

use std::cell::RefCell;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, SecondsFormat, TimeDelta, Utc};
use rhai::{Dynamic, EvalAltResult, ImmutableString};
use serde_json::{Map, Value};

use super::convert;
use super::effect::Effect;

/// Most effects one run may request.
pub const MAX_EFFECTS: usize = 1000;
/// Most log lines one run keeps.
pub const MAX_LOGS: usize = 200;
/// Longest kept log line, in characters.
pub const MAX_LOG_LEN: usize = 2000;
/// Most records one `find` returns.
pub const MAX_FIND: i64 = 1000;
/// Most reads (`find`, `count`, `sum`) one run may make.
pub const MAX_READS: usize = 500;

/// Tenant-scoped reads for a rule run, implemented by the automation engine.
pub trait Host: Send + Sync {
    /// Records of `form` (id or name) matching `filter` (the query
    /// language's filter object, or null), at most `limit`.
    ///
    /// # Errors
    /// One sentence for the script's error.
    fn find(&self, form: &str, filter: Value, limit: u32) -> Result<Vec<Value>, String>;
    /// How many records of `form` match `filter`.
    ///
    /// # Errors
    /// One sentence.
    fn count(&self, form: &str, filter: Value) -> Result<i64, String>;
    /// The sum of `field` over matching records.
    ///
    /// # Errors
    /// One sentence.
    fn sum(&self, form: &str, field: &str, filter: Value) -> Result<f64, String>;
}

/// One rule run's inputs and outputs.
pub struct RunState {
    /// The run's clock.
    pub now: DateTime<Utc>,
    /// `now` as RFC 3339 text (what scripts see).
    pub now_text: rhai::ImmutableString,
    /// The date in the tenant's time zone at `now`.
    pub today: NaiveDate,
    /// `today` as `yyyy-mm-dd`.
    pub today_text: rhai::ImmutableString,
    /// Reads, when the run may read.
    pub host: Option<Arc<dyn Host>>,
    /// Requested effects, in call order.
    pub effects: Vec<Effect>,
    /// `log(text)` lines.
    pub logs: Vec<String>,
    /// Reads made so far.
    pub reads: usize,
}

impl RunState {
    /// A fresh state.
    #[must_use]
    pub fn new(now: DateTime<Utc>, today: NaiveDate, host: Option<Arc<dyn Host>>) -> Self {
        Self {
            now,
            now_text: now.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
            today,
            today_text: day_text(today).into(),
            host,
            effects: Vec::new(),
            logs: Vec::new(),
            reads: 0,
        }
    }
}

thread_local! {
    static RUN: RefCell<Option<RunState>> = const { RefCell::new(None) };
}

/// Installs `state` on this thread for one evaluation; [`StateGuard::take`]
/// (or drop) removes it again.
pub(crate) struct StateGuard(Option<RunState>);

impl StateGuard {
    pub(crate) fn install(state: RunState) -> Self {
        Self(RUN.with(|r| r.replace(Some(state))))
    }

    /// Removes and returns this run's state, restoring any outer one.
    pub(crate) fn take(mut self) -> Option<RunState> {
        let outer = self.0.take();
        RUN.with(|r| r.replace(outer))
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        let outer = self.0.take();
        if outer.is_some() {
            RUN.with(|r| r.replace(outer));
        }
    }
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn with_run<T>(what: &str, f: impl FnOnce(&mut RunState) -> Fallible<T>) -> Fallible<T> {
    RUN.with(|r| match r.borrow_mut().as_mut() {
        Some(state) => f(state),
        None => Err(format!("{what} is available in rule scripts only").into()),
    })
}

fn push(what: &str, effect: Effect) -> Fallible<()> {
    with_run(what, |s| {
        if s.effects.len() >= MAX_EFFECTS {
            return Err(format!("a run may request at most {MAX_EFFECTS} effects").into());
        }
        s.effects.push(effect);
        Ok(())
    })
}

/// One read through the run's host: counted against [`MAX_READS`] and run
/// off the script's clock (see [`super::sandbox::off_the_clock`]).
fn read<T>(what: &str, f: impl FnOnce(&dyn Host) -> Result<T, String>) -> Fallible<T> {
    let host = with_run(what, |s| {
        let host = s
            .host
            .clone()
            .ok_or_else(|| -> Box<EvalAltResult> { format!("{what} cannot read records here").into() })?;
        if s.reads >= MAX_READS {
            return Err(format!("a run may make at most {MAX_READS} reads (find, count, sum)").into());
        }
        s.reads += 1;
        Ok(host)
    })?;
    Ok(super::sandbox::off_the_clock(|| f(&*host))?)
}

/// A date from `yyyy-mm-dd` or RFC 3339 text.
///
/// # Errors
/// A script error naming the text.
pub fn parse_day(s: &str) -> Fallible<NaiveDate> {
    let t = s.trim();
    if let Some(d) = fast_day(t) {
        return Ok(d);
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.with_timezone(&Utc).date_naive())
        })
        .ok_or_else(|| format!("`{t}` is not a date (use yyyy-mm-dd)").into())
}

/// `yyyy-mm-dd` read digit by digit (the common case, several times
/// faster than a format-string parse).
fn fast_day(t: &str) -> Option<NaiveDate> {
    let b = t.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)
}

fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn map_arg(what: &str, v: Dynamic) -> Fallible<Map<String, Value>> {
    match convert::to_json(v) {
        Value::Object(m) => Ok(m),
        _ => Err(format!("{what} expects a map of field values").into()),
    }
}

fn filter_arg(v: Dynamic) -> Value {
    convert::to_json(v)
}

/// Whole years from `birth` to `on` (a 29 February birthday counts on
/// 28 February in other years... and 1 March is past it either way).
#[must_use]
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> i64 {
    let mut years = i64::from(on.year() - birth.year());
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// Registers the rule API on `e`: clock and date helpers, bounded reads and
/// effects. See `docs/scripting.md`.
pub(crate) fn register(e: &mut rhai::Engine) {
    e.register_fn("now", || -> Fallible<String> {
        with_run("now()", |s| Ok(s.now_text.to_string()))
    });
    e.register_fn("today", || -> Fallible<ImmutableString> {
        with_run("today()", |s| Ok(s.today_text.clone()))
    });
    e.register_fn("add_days", |d: ImmutableString, n: i64| -> Fallible<String> {
        let day = parse_day(&d)?;
        TimeDelta::try_days(n)
            .and_then(|delta| day.checked_add_signed(delta))
            .map(day_text)
            .ok_or_else(|| "the date is out of range".into())
    });
    e.register_fn("add_months", |d: ImmutableString, n: i64| -> Fallible<String> {
        let day = parse_day(&d)?;
        let months = Months::new(u32::try_from(n.unsigned_abs()).unwrap_or(u32::MAX));
        let moved = if n >= 0 {
            day.checked_add_months(months)
        } else {
            day.checked_sub_months(months)
        };
        moved
            .map(day_text)
            .ok_or_else(|| "the date is out of range".into())
    });
    e.register_fn("age", |d: ImmutableString| -> Fallible<i64> {
        let birth = parse_day(&d)?;
        with_run("age()", |s| Ok(age_on(birth, s.today)))
    });
    e.register_fn(
        "age",
        |d: ImmutableString, on: ImmutableString| -> Fallible<i64> {
            Ok(age_on(parse_day(&d)?, parse_day(&on)?))
        },
    );
    e.register_fn("year", |d: ImmutableString| -> Fallible<i64> {
        Ok(i64::from(parse_day(&d)?.year()))
    });
    e.register_fn("month", |d: ImmutableString| -> Fallible<i64> {
        Ok(i64::from(parse_day(&d)?.month()))
    });
    e.register_fn("day", |d: ImmutableString| -> Fallible<i64> {
        Ok(i64::from(parse_day(&d)?.day()))
    });
    e.register_fn("log", |text: Dynamic| -> Fallible<()> {
        with_run("log()", |s| {
            if s.logs.len() < MAX_LOGS {
                let line = if text.is_string() {
                    text.into_string().unwrap_or_default()
                } else {
                    convert::to_json(text).to_string()
                };
                s.logs.push(line.chars().take(MAX_LOG_LEN).collect());
            }
            Ok(())
        })
    });
    e.register_fn(
        "find",
        |form: ImmutableString, filter: Dynamic, limit: i64| -> Fallible<rhai::Array> {
            let limit = u32::try_from(limit.clamp(1, MAX_FIND)).unwrap_or(1);
            let rows = read("find()", |h| h.find(&form, filter_arg(filter), limit))?;
            Ok(rows.iter().map(convert::to_dynamic).collect())
        },
    );
    e.register_fn(
        "count",
        |form: ImmutableString, filter: Dynamic| -> Fallible<i64> {
            read("count()", |h| h.count(&form, filter_arg(filter)))
        },
    );
    e.register_fn(
        "sum",
        |form: ImmutableString, field: ImmutableString, filter: Dynamic| -> Fallible<f64> {
            read("sum()", |h| h.sum(&form, &field, filter_arg(filter)))
        },
    );
    e.register_fn("create", |form: ImmutableString, data: Dynamic| -> Fallible<()> {
        let data = map_arg("create()", data)?;
        push(
            "create()",
            Effect::Create {
                form: form.to_string(),
                data,
            },
        )
    });
    e.register_fn(
        "update",
        |form: ImmutableString, id: ImmutableString, data: Dynamic| -> Fallible<()> {
            let data = map_arg("update()", data)?;
            push(
                "update()",
                Effect::Update {
                    form: form.to_string(),
                    id: id.to_string(),
                    data,
                },
            )
        },
    );
    e.register_fn(
        "tag",
        |id: ImmutableString, name: ImmutableString| -> Fallible<()> {
            push(
                "tag()",
                Effect::Tag {
                    id: id.to_string(),
                    name: name.to_string(),
                },
            )
        },
    );
    e.register_fn(
        "untag",
        |id: ImmutableString, name: ImmutableString| -> Fallible<()> {
            push(
                "untag()",
                Effect::Untag {
                    id: id.to_string(),
                    name: name.to_string(),
                },
            )
        },
    );
    e.register_fn(
        "notify",
        |to: ImmutableString, title: ImmutableString, body: ImmutableString| -> Fallible<()> {
            push(
                "notify()",
                Effect::Notify {
                    to: to.to_string(),
                    title: title.to_string(),
                    body: body.to_string(),
                },
            )
        },
    );
    e.register_fn(
        "email",
        |to: ImmutableString, subject: ImmutableString, body: ImmutableString| -> Fallible<()> {
            push(
                "email()",
                Effect::Email {
                    to: to.to_string(),
                    subject: subject.to_string(),
                    body: body.to_string(),
                },
            )
        },
    );
    e.register_fn(
        "webhook",
        |name: ImmutableString, payload: Dynamic| -> Fallible<()> {
            push(
                "webhook()",
                Effect::Webhook {
                    name: name.to_string(),
                    payload: convert::to_json(payload),
                },
            )
        },
    );
}
