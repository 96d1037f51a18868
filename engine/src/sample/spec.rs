//! The parsed shape of `sample/generator.json` (see docs/sample-data.md):
//! top-level settings, named pools, form blocks (roots with a count, or
//! children `per` parent record, optionally as a dated `series`), then
//! rollups and derived fields computed over the generated records.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::cond::Cond;
use super::value::Gen;
use crate::error::FieldError;

/// A parsed spec.
#[derive(Debug)]
pub struct Spec {
    pub seed: u64,
    pub scale: f64,
    pub window_days: i64,
    pub max_records: usize,
    pub pools: BTreeMap<String, Vec<Value>>,
    pub blocks: Vec<Block>,
    pub rollups: Vec<Rollup>,
    pub derive: Vec<Derive>,
}

/// One form block.
#[derive(Debug)]
pub struct Block {
    pub form: String,
    pub count: Option<Gen>,
    pub per: Option<String>,
    pub filter: Option<Cond>,
    pub scaled: bool,
    pub vars: Vec<(String, Gen)>,
    pub fields: Vec<(String, Gen)>,
    pub segments: Vec<Segment>,
    pub series: Option<Series>,
}

/// A share of a block's records with their own vars and fields.
#[derive(Debug)]
pub struct Segment {
    pub share: f64,
    pub vars: Vec<(String, Gen)>,
    pub fields: Vec<(String, Gen)>,
}

/// Children dated backwards from the last one at a rhythm.
#[derive(Debug)]
pub struct Series {
    pub field: String,
    pub gap: Gen,
    pub last_days_ago: Gen,
    pub not_before: Option<Gen>,
    pub jitter: f64,
    pub max: usize,
}

/// Aggregates of children written onto their parents.
#[derive(Debug)]
pub struct Rollup {
    pub form: String,
    pub from: String,
    pub via: String,
    pub filter: Option<Cond>,
    pub fields: Vec<(String, Agg)>,
}

/// One aggregate.
#[derive(Debug, Clone)]
pub enum Agg {
    Count,
    Sum(String),
    Min(String),
    Max(String),
    AvgGapDays(String),
}

/// Fields computed last, over a record's complete data.
#[derive(Debug)]
pub struct Derive {
    pub form: String,
    pub fields: Vec<(String, Gen)>,
}

/// The most records any spec may generate.
pub const MAX_RECORDS: usize = 100_000;
/// The most records one series may give one parent.
pub const MAX_SERIES: usize = 1000;

fn bad(path: impl Into<String>, msg: impl Into<String>) -> FieldError {
    FieldError::new(path, msg)
}

fn object<'v>(v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, FieldError> {
    v.as_object().ok_or_else(|| bad(path, "must be an object"))
}

fn known(o: &Map<String, Value>, keys: &[&str], path: &str) -> Result<(), FieldError> {
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(bad(format!("{path}/{k}"), "unknown key")),
        None => Ok(()),
    }
}

fn string(o: &Map<String, Value>, key: &str, path: &str) -> Result<String, FieldError> {
    o.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("{path}/{key}"), "must be a non-empty string"))
}

fn gens(o: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<(String, Gen)>, FieldError> {
    let Some(v) = o.get(key) else {
        return Ok(Vec::new());
    };
    let at = format!("{path}/{key}");
    object(v, &at)?
        .iter()
        .map(|(k, g)| Ok((k.clone(), Gen::parse(g, &format!("{at}/{k}"))?)))
        .collect()
}

fn cond(o: &Map<String, Value>, key: &str, path: &str) -> Result<Option<Cond>, FieldError> {
    o.get(key)
        .map(|c| Cond::parse(c, &format!("{path}/{key}")))
        .transpose()
}

impl Spec {
    /// Parses and checks a spec.
    ///
    /// # Errors
    /// Every problem found, each naming its JSON path.
    pub fn parse(v: &Value) -> Result<Self, Vec<FieldError>> {
        Self::parse_inner(v).map_err(|e| vec![e])
    }

    fn parse_inner(v: &Value) -> Result<Self, FieldError> {
        let o = object(v, "")?;
        known(
            o,
            &[
                "description",
                "seed",
                "scale",
                "window_days",
                "max_records",
                "pools",
                "forms",
                "rollups",
                "derive",
            ],
            "",
        )?;
        let seed = o
            .get("seed")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("seed", "must be a whole number"))?;
        let scale = o
            .get("scale")
            .map_or(Some(1.0), Value::as_f64)
            .filter(|s| *s > 0.0 && *s <= 100.0);
        let scale = scale.ok_or_else(|| bad("scale", "must be a number above 0 and at most 100"))?;
        let window_days = o
            .get("window_days")
            .map_or(Some(730), Value::as_i64)
            .filter(|d| (1..=36_500).contains(d));
        let window_days = window_days.ok_or_else(|| bad("window_days", "must be 1 to 36500"))?;
        let max_records = match o.get("max_records") {
            None => MAX_RECORDS,
            Some(m) => m
                .as_u64()
                .and_then(|m| usize::try_from(m).ok())
                .filter(|m| (1..=MAX_RECORDS).contains(m))
                .ok_or_else(|| bad("max_records", format!("must be 1 to {MAX_RECORDS}")))?,
        };
        let mut pools = BTreeMap::new();
        if let Some(p) = o.get("pools") {
            for (k, list) in object(p, "pools")? {
                let list = list.as_array().filter(|l| !l.is_empty());
                let list = list.ok_or_else(|| bad(format!("pools/{k}"), "must be a non-empty list"))?;
                pools.insert(k.clone(), list.clone());
            }
        }
        let forms = o
            .get("forms")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("forms", "must be a list"))?;
        let mut blocks: Vec<Block> = Vec::with_capacity(forms.len());
        for (i, b) in forms.iter().enumerate() {
            let block = Block::parse(b, &format!("forms/{i}"))?;
            if let Some(per) = &block.per
                && !blocks.iter().any(|b| &b.form == per)
            {
                return Err(bad(
                    format!("forms/{i}/per"),
                    format!("`{per}` is not generated by an earlier block"),
                ));
            }
            blocks.push(block);
        }
        let mut rollups = Vec::new();
        for (i, r) in o
            .get("rollups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            rollups.push(Rollup::parse(r, &format!("rollups/{i}"))?);
        }
        let mut derive = Vec::new();
        for (i, d) in o
            .get("derive")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path = format!("derive/{i}");
            let d = object(d, &path)?;
            known(d, &["form", "fields"], &path)?;
            derive.push(Derive {
                form: string(d, "form", &path)?,
                fields: gens(d, "fields", &path)?,
            });
        }
        Ok(Self {
            seed,
            scale,
            window_days,
            max_records,
            pools,
            blocks,
            rollups,
            derive,
        })
    }
}

impl Block {
    fn parse(v: &Value, path: &str) -> Result<Self, FieldError> {
        let o = object(v, path)?;
        known(
            o,
            &[
                "form", "count", "per", "filter", "scaled", "vars", "fields", "segments", "series",
            ],
            path,
        )?;
        let form = string(o, "form", path)?;
        let per = o.get("per").map(|_| string(o, "per", path)).transpose()?;
        let count = o
            .get("count")
            .map(|c| Gen::parse(c, &format!("{path}/count")))
            .transpose()?;
        let series = o
            .get("series")
            .map(|s| Series::parse(s, &format!("{path}/series")))
            .transpose()?;
        if per.is_none() && (count.is_none() || series.is_some()) {
            return Err(bad(path, "a root block needs a `count` and no `series`"));
        }
        if per.is_some() && count.is_some() == series.is_some() {
            return Err(bad(
                path,
                "a `per` block needs exactly one of `count` and `series`",
            ));
        }
        let mut segments = Vec::new();
        for (i, s) in o
            .get("segments")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("{path}/segments/{i}");
            let s = object(s, &at)?;
            known(s, &["name", "share", "vars", "fields"], &at)?;
            let share = s.get("share").and_then(Value::as_f64).filter(|x| *x >= 0.0);
            segments.push(Segment {
                share: share.ok_or_else(|| bad(format!("{at}/share"), "must be a number ≥ 0"))?,
                vars: gens(s, "vars", &at)?,
                fields: gens(s, "fields", &at)?,
            });
        }
        Ok(Self {
            form,
            count,
            filter: cond(o, "filter", path)?,
            scaled: o.get("scaled").and_then(Value::as_bool).unwrap_or(per.is_none()),
            per,
            vars: gens(o, "vars", path)?,
            fields: gens(o, "fields", path)?,
            segments,
            series,
        })
    }
}

impl Series {
    fn parse(v: &Value, path: &str) -> Result<Self, FieldError> {
        let o = object(v, path)?;
        known(
            o,
            &["field", "gap", "last_days_ago", "not_before", "jitter", "max"],
            path,
        )?;
        let req = |k: &str| o.get(k).ok_or_else(|| bad(format!("{path}/{k}"), "is required"));
        let max = o
            .get("max")
            .map_or(Some(100), Value::as_u64)
            .and_then(|m| usize::try_from(m).ok());
        let max = max.filter(|m| (1..=MAX_SERIES).contains(m));
        Ok(Self {
            field: string(o, "field", path)?,
            gap: Gen::parse(req("gap")?, &format!("{path}/gap"))?,
            last_days_ago: Gen::parse(req("last_days_ago")?, &format!("{path}/last_days_ago"))?,
            not_before: o
                .get("not_before")
                .map(|g| Gen::parse(g, &format!("{path}/not_before")))
                .transpose()?,
            jitter: o
                .get("jitter")
                .and_then(Value::as_f64)
                .unwrap_or(0.25)
                .clamp(0.0, 0.9),
            max: max.ok_or_else(|| bad(format!("{path}/max"), format!("must be 1 to {MAX_SERIES}")))?,
        })
    }
}

impl Rollup {
    fn parse(v: &Value, path: &str) -> Result<Self, FieldError> {
        let o = object(v, path)?;
        known(o, &["form", "from", "via", "filter", "fields"], path)?;
        let at = format!("{path}/fields");
        let fields = object(o.get("fields").unwrap_or(&Value::Null), &at)?;
        let mut aggs = Vec::with_capacity(fields.len());
        for (k, a) in fields {
            let p = format!("{at}/{k}");
            let a = object(a, &p)?;
            let (op, arg) = a
                .iter()
                .next()
                .filter(|_| a.len() == 1)
                .ok_or_else(|| bad(&p, "needs one aggregate"))?;
            let field = || {
                arg.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("{p}/{op}"), "must be a field key"))
            };
            aggs.push((
                k.clone(),
                match op.as_str() {
                    "count" => Agg::Count,
                    "sum" => Agg::Sum(field()?),
                    "min" => Agg::Min(field()?),
                    "max" => Agg::Max(field()?),
                    "avg_gap_days" => Agg::AvgGapDays(field()?),
                    _ => return Err(bad(&p, "use one of count, sum, min, max, avg_gap_days")),
                },
            ));
        }
        Ok(Self {
            form: string(o, "form", path)?,
            from: string(o, "from", path)?,
            via: string(o, "via", path)?,
            filter: cond(o, "filter", path)?,
            fields: aggs,
        })
    }
}
