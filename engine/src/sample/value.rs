//! Value generators: the small declarative language a sample spec writes
//! field values in, parsed once ([`Gen::parse`]) and evaluated per record
//! ([`Gen::eval`]). A generator is a JSON object with one key naming its kind
//! (`{"int": [1, 5]}`) plus that kind's modifiers; a bare string, number or
//! boolean is a constant. Dates are `yyyy-mm-dd` text, relative to the day of
//! `now`.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate, TimeDelta};
use serde_json::{Map, Value, json};

use super::cond::Cond;
use super::rng::Rng;
use crate::error::FieldError;

/// One generator.
#[derive(Debug, Clone)]
pub enum Gen {
    /// A constant (`{"const": v}` or a bare scalar).
    Const(Value),
    /// One of `items`, optionally `weights`.
    Pick(Vec<Value>, Vec<f64>),
    /// A random item of a named pool.
    Pool(String),
    /// The pool item at this record's index within its block (cycling).
    Nth(String),
    /// A uniform integer (bounds are generators too).
    Int(Box<Gen>, Box<Gen>),
    /// A uniform float rounded to `decimals`.
    Float(f64, f64, u32),
    /// A date `from..=to` days from today.
    Date(Box<Gen>, Box<Gen>),
    /// `prefix` + the zero-padded record number (from `start`).
    Index(String, usize, usize),
    /// A unique 11-digit mobile number starting with `prefix`.
    Phone(String),
    /// `<prefix><number>@<domain>`, unique within the block.
    Email(String, String),
    /// A birthday `age` years back; with `within`, one whose next
    /// anniversary is that many days ahead.
    Birthday(i64, i64, Option<(i64, i64)>),
    /// Text of every part joined.
    Concat(Vec<Gen>),
    /// A field of this record, already generated.
    Field(String),
    /// The parent record's id (`"id"`) or one of its fields.
    Parent(String),
    /// A variable of this record or of its nearest ancestor that has it.
    Var(String),
    /// The id of a random earlier record of a form.
    Ref(String),
    /// `then` with probability `p`, else `otherwise` (or no value).
    Chance(f64, Box<Gen>, Option<Box<Gen>>),
    /// A date: `base` plus `lo..=hi` days, never after today + `not_after`.
    After(Box<Gen>, i64, i64, Option<i64>),
    /// The first branch whose condition holds, else `otherwise`.
    Case(Vec<(Cond, Gen)>, Option<Box<Gen>>),
    /// `base` × a factor in `1 ± spread`, rounded.
    Around(Box<Gen>, f64, u32),
    /// `base` × `by`, rounded (or floored) to `decimals`.
    Times(Box<Gen>, f64, u32, bool),
    /// Recency-frequency-monetary tier (see docs/sample-data.md).
    Rfm(Box<Rfm>),
}

/// Bands of an RFM score: each dimension scores 3, 2 or 1.
#[derive(Debug, Clone)]
pub struct Rfm {
    recency: String,
    frequency: String,
    monetary: String,
    /// Days since the last order: ≤ r[0] scores 3, ≤ r[1] scores 2.
    r: [f64; 2],
    /// Order count: ≥ f[0] scores 3, ≥ f[1] scores 2.
    f: [f64; 2],
    /// Spend: ≥ m[0] scores 3, ≥ m[1] scores 2.
    m: [f64; 2],
    /// `(min score, tier)`, highest first.
    tiers: Vec<(f64, Value)>,
    otherwise: Value,
}

/// What a generator reads while it runs.
pub struct Scope<'a> {
    /// Today (the day of `now`).
    pub today: NaiveDate,
    /// Named pools.
    pub pools: &'a BTreeMap<String, Vec<Value>>,
    /// This record's fields so far.
    pub data: &'a Map<String, Value>,
    /// Variables: this record's, then its ancestors'.
    pub vars: &'a [&'a Map<String, Value>],
    /// The parent record's id and fields.
    pub parent: Option<(&'a str, &'a Map<String, Value>)>,
    /// Earlier record ids by form.
    pub ids: &'a BTreeMap<String, Vec<String>>,
    /// The record's number within its block, from 0.
    pub index: usize,
}

/// Counters that keep generated values unique across a whole run.
#[derive(Debug, Default)]
pub struct Counters {
    phones: u64,
}

fn bad(path: impl Into<String>, msg: impl Into<String>) -> FieldError {
    FieldError::new(path, msg)
}

fn num(v: &Value, path: &str) -> Result<f64, FieldError> {
    v.as_f64().ok_or_else(|| bad(path, "must be a number"))
}

fn int(v: &Value, path: &str) -> Result<i64, FieldError> {
    v.as_i64().ok_or_else(|| bad(path, "must be an integer"))
}

fn text(v: &Value, path: &str) -> Result<String, FieldError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(path, "must be a string"))
}

fn pair<'v>(v: &'v Value, path: &str) -> Result<(&'v Value, &'v Value), FieldError> {
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((a, b)),
        _ => Err(bad(path, "must be a pair `[low, high]`")),
    }
}

fn int_pair(v: &Value, path: &str) -> Result<(i64, i64), FieldError> {
    let (a, b) = pair(v, path)?;
    Ok((int(a, path)?, int(b, path)?))
}

fn decimals(o: &Map<String, Value>, path: &str) -> Result<u32, FieldError> {
    match o.get("decimals") {
        None => Ok(0),
        Some(v) => u32::try_from(int(v, &format!("{path}/decimals"))?.clamp(0, 6))
            .map_err(|_| bad(path, "bad decimals")),
    }
}

const KINDS: &[&str] = &[
    "const", "pick", "pool", "nth", "int", "float", "date", "index", "phone", "email", "birthday", "concat",
    "field", "parent", "var", "ref", "chance", "after", "case", "around", "times", "rfm",
];

const MODIFIERS: &[&str] = &[
    "weights",
    "decimals",
    "prefix",
    "width",
    "start",
    "domain",
    "age",
    "within",
    "then",
    "else",
    "days",
    "not_after",
    "spread",
    "by",
    "floor",
];

impl Gen {
    /// Parses a generator at JSON path `path`.
    ///
    /// # Errors
    /// A field error naming the path for an unknown kind, a missing or
    /// mistyped setting.
    pub fn parse(v: &Value, path: &str) -> Result<Self, FieldError> {
        let Some(o) = v.as_object() else {
            return match v {
                Value::Array(_) | Value::Null => Err(bad(path, "must be a generator object or a scalar")),
                other => Ok(Self::Const(other.clone())),
            };
        };
        let kinds: Vec<&str> = o
            .keys()
            .map(String::as_str)
            .filter(|k| KINDS.contains(k))
            .collect();
        let [kind] = kinds.as_slice() else {
            return Err(bad(
                path,
                format!("must name exactly one generator kind of {}", KINDS.join(", ")),
            ));
        };
        if let Some(k) = o
            .keys()
            .find(|k| !KINDS.contains(&k.as_str()) && !MODIFIERS.contains(&k.as_str()))
        {
            return Err(bad(format!("{path}/{k}"), "unknown generator setting"));
        }
        let arg = o.get(*kind).unwrap_or(&Value::Null);
        let at = format!("{path}/{kind}");
        let sub = |v: &Value, p: &str| Self::parse(v, p).map(Box::new);
        Ok(match *kind {
            "const" => Self::Const(arg.clone()),
            "pick" => {
                let items = arg.as_array().filter(|a| !a.is_empty()).cloned();
                let items = items.ok_or_else(|| bad(&at, "must be a non-empty list"))?;
                let weights = match o.get("weights") {
                    None => Vec::new(),
                    Some(w) => {
                        let w = w
                            .as_array()
                            .ok_or_else(|| bad(format!("{path}/weights"), "must be a list"))?;
                        if w.len() != items.len() {
                            return Err(bad(format!("{path}/weights"), "needs one weight per item"));
                        }
                        w.iter()
                            .map(|x| num(x, &format!("{path}/weights")))
                            .collect::<Result<_, _>>()?
                    }
                };
                Self::Pick(items, weights)
            }
            "pool" => Self::Pool(text(arg, &at)?),
            "nth" => Self::Nth(text(arg, &at)?),
            "int" => {
                let (a, b) = pair(arg, &at)?;
                Self::Int(sub(a, &format!("{at}/0"))?, sub(b, &format!("{at}/1"))?)
            }
            "float" => {
                let (a, b) = pair(arg, &at)?;
                Self::Float(num(a, &at)?, num(b, &at)?, decimals(o, path)?)
            }
            "date" => {
                let (a, b) = pair(arg, &at)?;
                Self::Date(sub(a, &format!("{at}/0"))?, sub(b, &format!("{at}/1"))?)
            }
            "index" => {
                let width = o.get("width").map(|w| int(w, path)).transpose()?.unwrap_or(4);
                let start = o.get("start").map(|w| int(w, path)).transpose()?.unwrap_or(1);
                Self::Index(
                    text(arg, &at)?,
                    usize::try_from(width.clamp(0, 12)).unwrap_or(4),
                    usize::try_from(start.max(0)).unwrap_or(1),
                )
            }
            "phone" => {
                let p = text(arg, &at)?;
                if p.len() != 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(&at, "must be a three-digit prefix such as `138`"));
                }
                Self::Phone(p)
            }
            "email" => {
                let domain = o.get("domain").map(|d| text(d, path)).transpose()?;
                Self::Email(
                    text(arg, &at)?,
                    domain.unwrap_or_else(|| "example.com".to_owned()),
                )
            }
            "birthday" => {
                let (lo, hi) = int_pair(o.get("age").unwrap_or(&json!([20, 60])), &format!("{path}/age"))?;
                let within = o
                    .get("within")
                    .map(|w| int_pair(w, &format!("{path}/within")))
                    .transpose()?;
                Self::Birthday(lo.clamp(0, 120), hi.clamp(0, 120), within)
            }
            "concat" => {
                let parts = arg.as_array().ok_or_else(|| bad(&at, "must be a list"))?;
                let parts = parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Self::parse(p, &format!("{at}/{i}")));
                Self::Concat(parts.collect::<Result<_, _>>()?)
            }
            "field" => Self::Field(text(arg, &at)?),
            "parent" => Self::Parent(text(arg, &at)?),
            "var" => Self::Var(text(arg, &at)?),
            "ref" => Self::Ref(text(arg, &at)?),
            "chance" => {
                let p = num(arg, &at)?;
                let then = o.get("then").ok_or_else(|| bad(path, "`chance` needs `then`"))?;
                let otherwise = o
                    .get("else")
                    .map(|e| sub(e, &format!("{path}/else")))
                    .transpose()?;
                Self::Chance(p, sub(then, &format!("{path}/then"))?, otherwise)
            }
            "after" => {
                let (lo, hi) = int_pair(o.get("days").unwrap_or(&json!([0, 0])), &format!("{path}/days"))?;
                let cap = o
                    .get("not_after")
                    .map(|n| int(n, &format!("{path}/not_after")))
                    .transpose()?;
                Self::After(sub(arg, &at)?, lo, hi, cap)
            }
            "case" => {
                let list = arg
                    .as_array()
                    .ok_or_else(|| bad(&at, "must be a list of `{if, then}`"))?;
                let mut branches = Vec::with_capacity(list.len());
                for (i, b) in list.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    let cond = b.get("if").ok_or_else(|| bad(&p, "needs `if`"))?;
                    let then = b.get("then").ok_or_else(|| bad(&p, "needs `then`"))?;
                    branches.push((
                        Cond::parse(cond, &format!("{p}/if"))?,
                        Self::parse(then, &format!("{p}/then"))?,
                    ));
                }
                let otherwise = o
                    .get("else")
                    .map(|e| sub(e, &format!("{path}/else")))
                    .transpose()?;
                Self::Case(branches, otherwise)
            }
            "around" => {
                let spread = o.get("spread").map(|s| num(s, path)).transpose()?.unwrap_or(0.3);
                Self::Around(sub(arg, &at)?, spread.clamp(0.0, 1.0), decimals(o, path)?)
            }
            "times" => {
                let by = num(o.get("by").unwrap_or(&json!(1)), &format!("{path}/by"))?;
                let floor = o.get("floor").and_then(Value::as_bool).unwrap_or(false);
                Self::Times(sub(arg, &at)?, by, decimals(o, path)?, floor)
            }
            _ => Self::Rfm(Box::new(Rfm::parse(arg, &at)?)),
        })
    }

    /// Fields of the same record this generator reads (to order a
    /// record's fields).
    pub fn deps(&self, out: &mut Vec<String>) {
        match self {
            Self::Field(f) => out.push(f.clone()),
            Self::Int(a, b) | Self::Date(a, b) => {
                a.deps(out);
                b.deps(out);
            }
            Self::Concat(parts) => parts.iter().for_each(|p| p.deps(out)),
            Self::Chance(_, t, e) => {
                t.deps(out);
                if let Some(e) = e {
                    e.deps(out);
                }
            }
            Self::After(b, ..) | Self::Around(b, ..) | Self::Times(b, ..) => b.deps(out),
            Self::Case(branches, e) => {
                for (c, g) in branches {
                    c.deps(out);
                    g.deps(out);
                }
                if let Some(e) = e {
                    e.deps(out);
                }
            }
            Self::Rfm(r) => out.extend([r.recency.clone(), r.frequency.clone(), r.monetary.clone()]),
            _ => {}
        }
    }

    /// Evaluates the generator; `None` means "leave the field out".
    pub fn eval(&self, s: &Scope<'_>, rng: &mut Rng, counters: &mut Counters) -> Option<Value> {
        match self {
            Self::Const(v) => Some(v.clone()),
            Self::Pick(items, weights) => {
                let i = if weights.is_empty() {
                    usize::try_from(rng.below(items.len() as u64)).unwrap_or(0)
                } else {
                    rng.weighted(weights)
                };
                items.get(i).cloned()
            }
            Self::Pool(name) => {
                let pool = s.pools.get(name)?;
                pool.get(usize::try_from(rng.below(pool.len() as u64)).unwrap_or(0))
                    .cloned()
            }
            Self::Nth(name) => {
                let pool = s.pools.get(name)?;
                pool.get(s.index.checked_rem(pool.len())?).cloned()
            }
            Self::Int(a, b) => {
                let lo = a.eval(s, rng, counters)?.as_f64()?;
                let hi = b.eval(s, rng, counters)?.as_f64()?;
                Some(json!(rng.between(lo.round() as i64, hi.round() as i64)))
            }
            Self::Float(lo, hi, d) => Some(round(lo + (hi - lo) * rng.unit(), *d)),
            Self::Date(a, b) => {
                let lo = a.eval(s, rng, counters)?.as_f64()?;
                let hi = b.eval(s, rng, counters)?.as_f64()?;
                let days = rng.between(lo.round() as i64, hi.round() as i64);
                Some(day_text(s.today + TimeDelta::days(days)))
            }
            Self::Index(prefix, width, start) => Some(json!(format!("{prefix}{:0width$}", s.index + start))),
            Self::Phone(prefix) => {
                counters.phones += 1;
                // n ↦ n·K mod 10⁸ with K coprime to 10 is a bijection: unique numbers that do not look sequential.
                let body = (counters.phones.wrapping_mul(7_919_413) + 12_345_678) % 100_000_000;
                Some(json!(format!("{prefix}{body:08}")))
            }
            Self::Email(prefix, domain) => Some(json!(format!("{prefix}{:05}@{domain}", s.index + 1))),
            Self::Birthday(lo, hi, within) => Some(day_text(birthday(s.today, *lo, *hi, *within, rng))),
            Self::Concat(parts) => {
                let mut out = String::new();
                for p in parts {
                    match p.eval(s, rng, counters)? {
                        Value::String(t) => out.push_str(&t),
                        other => out.push_str(&other.to_string()),
                    }
                }
                Some(json!(out))
            }
            Self::Field(f) => s.data.get(f).cloned(),
            Self::Parent(f) => {
                let (id, data) = s.parent?;
                if f == "id" {
                    Some(json!(id))
                } else {
                    data.get(f).cloned()
                }
            }
            Self::Var(name) => s.vars.iter().find_map(|m| m.get(name)).cloned(),
            Self::Ref(form) => {
                let ids = s.ids.get(form)?;
                ids.get(usize::try_from(rng.below(ids.len() as u64)).unwrap_or(0))
                    .map(|i| json!(i))
            }
            Self::Chance(p, then, otherwise) => {
                if rng.chance(*p) {
                    then.eval(s, rng, counters)
                } else {
                    otherwise.as_ref().and_then(|e| e.eval(s, rng, counters))
                }
            }
            Self::After(base, lo, hi, cap) => {
                let base = parse_day(base.eval(s, rng, counters)?.as_str()?)?;
                let mut d = base + TimeDelta::days(rng.between(*lo, *hi));
                if let Some(cap) = cap {
                    d = d.min(s.today + TimeDelta::days(*cap));
                }
                Some(day_text(d))
            }
            Self::Case(branches, otherwise) => {
                for (c, g) in branches {
                    if c.holds(s.data, s.today) {
                        return g.eval(s, rng, counters);
                    }
                }
                otherwise.as_ref().and_then(|e| e.eval(s, rng, counters))
            }
            Self::Around(base, spread, d) => {
                let x = base.eval(s, rng, counters)?.as_f64()?;
                Some(round(x * (1.0 + spread * (2.0 * rng.unit() - 1.0)), *d))
            }
            Self::Times(base, by, d, floor) => {
                let x = base.eval(s, rng, counters)?.as_f64()? * by;
                let p = 10f64.powi(i32::try_from(*d).unwrap_or(0));
                if *floor {
                    Some(number((x * p).floor() / p, *d))
                } else {
                    Some(round(x, *d))
                }
            }
            Self::Rfm(r) => Some(r.tier(s.data, s.today)),
        }
    }
}

impl Rfm {
    fn parse(v: &Value, path: &str) -> Result<Self, FieldError> {
        let o = v.as_object().ok_or_else(|| bad(path, "must be an object"))?;
        let get = |k: &str| o.get(k).ok_or_else(|| bad(format!("{path}/{k}"), "is required"));
        let two = |k: &str| -> Result<[f64; 2], FieldError> {
            let (a, b) = pair(get(k)?, &format!("{path}/{k}"))?;
            Ok([num(a, path)?, num(b, path)?])
        };
        let tiers = get("tiers")?
            .as_array()
            .ok_or_else(|| bad(format!("{path}/tiers"), "must be a list"))?;
        let tiers = tiers
            .iter()
            .map(|t| {
                let (score, tier) = pair(t, &format!("{path}/tiers"))?;
                Ok((num(score, path)?, tier.clone()))
            })
            .collect::<Result<_, FieldError>>()?;
        Ok(Self {
            recency: text(get("recency")?, path)?,
            frequency: text(get("frequency")?, path)?,
            monetary: text(get("monetary")?, path)?,
            r: two("r")?,
            f: two("f")?,
            m: two("m")?,
            tiers,
            otherwise: get("else")?.clone(),
        })
    }

    fn tier(&self, data: &Map<String, Value>, today: NaiveDate) -> Value {
        let since = data
            .get(&self.recency)
            .and_then(Value::as_str)
            .and_then(parse_day)
            .map_or(f64::INFINITY, |d| (today - d).num_days() as f64);
        let r = if since <= self.r[0] {
            3.0
        } else if since <= self.r[1] {
            2.0
        } else {
            1.0
        };
        let count = data.get(&self.frequency).and_then(Value::as_f64).unwrap_or(0.0);
        let f = if count >= self.f[0] {
            3.0
        } else if count >= self.f[1] {
            2.0
        } else {
            1.0
        };
        let spent = data.get(&self.monetary).and_then(Value::as_f64).unwrap_or(0.0);
        let m = if spent >= self.m[0] {
            3.0
        } else if spent >= self.m[1] {
            2.0
        } else {
            1.0
        };
        let score = r + f + m;
        self.tiers
            .iter()
            .find(|(min, _)| score >= *min)
            .map_or_else(|| self.otherwise.clone(), |(_, t)| t.clone())
    }
}

fn birthday(today: NaiveDate, lo: i64, hi: i64, within: Option<(i64, i64)>, rng: &mut Rng) -> NaiveDate {
    let age = u32::try_from(rng.between(lo, hi)).unwrap_or(30);
    let anniversary = match within {
        Some((a, b)) => today + TimeDelta::days(rng.between(a, b)),
        None => today - TimeDelta::days(rng.between(0, 364)),
    };
    let born_year = anniversary.year() - i32::try_from(age).unwrap_or(30);
    // An anniversary on 29 February needs a leap birth year; else the 28th.
    NaiveDate::from_ymd_opt(born_year, anniversary.month(), anniversary.day())
        .or_else(|| NaiveDate::from_ymd_opt(born_year, anniversary.month(), 28))
        .or_else(|| anniversary.checked_sub_months(Months::new(age * 12)))
        .unwrap_or(anniversary)
}

/// `yyyy-mm-dd` as JSON text.
pub fn day_text(d: NaiveDate) -> Value {
    json!(d.format("%Y-%m-%d").to_string())
}

/// Parses `yyyy-mm-dd` (or the date part of an RFC 3339 text).
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

fn number(x: f64, decimals: u32) -> Value {
    if decimals == 0 { json!(x as i64) } else { json!(x) }
}

/// `x` rounded to `decimals` places (an integer when 0).
pub fn round(x: f64, decimals: u32) -> Value {
    let p = 10f64.powi(i32::try_from(decimals).unwrap_or(0));
    number((x * p).round() / p, decimals)
}
