//! Sample data from a declarative, seeded spec (`sample/generator.json` in
//! an app package; the language is described in docs/sample-data.md).
//!
//! [`generate`] is pure: no database, no clock but the `now` it is given, no
//! global randomness. The same spec and `now` give the same records, byte for
//! byte: every block draws from its own splitmix64 stream forked from the
//! spec's seed. Output is in dependency order (a block's parents and the
//! forms it refers to come first); relation values hold earlier records'
//! local ids, member fields the placeholder `"@owner"` as the spec writes it.
//! Generation is bounded by [`spec::MAX_RECORDS`] (or the spec's lower
//! `max_records`): a spec that would exceed it is refused, not truncated.
//!
//! Callers: the template installer (which maps local ids to fresh record
//! ids) and the CRM template test.

mod cond;
mod rng;
mod spec;
mod value;

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use self::rng::Rng;
pub use self::spec::MAX_RECORDS;
use self::spec::{Agg, Block, Spec};
use self::value::{Counters, Gen, Scope, day_text, parse_day, round};
use crate::error::{ErrorCode, FieldError, HasCode};

/// One generated record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    /// The form's key in the package.
    pub form: String,
    /// A local id (`customers-12`), unique in the output; relation fields of
    /// later records hold it.
    pub id: String,
    /// Field values.
    pub data: Value,
}

/// Why a spec gives no records.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The spec is malformed; the details name the JSON paths.
    #[error("the sample spec has {} problem(s)", .0.len())]
    Invalid(Vec<FieldError>),
    /// The spec would generate more records than allowed.
    #[error("the sample spec would generate more than {limit} records")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
}

impl HasCode for SampleError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::TooLarge { .. } => ErrorCode::PayloadTooLarge,
        }
    }

    fn details(&self) -> Vec<FieldError> {
        match self {
            Self::Invalid(d) => d.clone(),
            Self::TooLarge { .. } => Vec::new(),
        }
    }
}

struct Rec {
    form: String,
    id: String,
    data: Map<String, Value>,
    vars: Map<String, Value>,
    parent: Option<usize>,
}

struct State<'s> {
    spec: &'s Spec,
    today: NaiveDate,
    recs: Vec<Rec>,
    by_form: BTreeMap<String, Vec<usize>>,
    ids: BTreeMap<String, Vec<String>>,
    counters: RefCell<Counters>,
    limit: usize,
}

/// Generates the records a spec describes, dated relative to `now`.
///
/// # Errors
/// `validation_failed` with the spec's problems by JSON path;
/// `payload_too_large` when it would exceed [`MAX_RECORDS`] (or its own
/// `max_records`).
pub fn generate(spec: &Value, now: DateTime<Utc>) -> Result<Vec<SampleRecord>, SampleError> {
    let spec = Spec::parse(spec).map_err(SampleError::Invalid)?;
    let limit = spec.max_records;
    // Refuse early when the roots alone are over the limit.
    let mut roots = 0f64;
    for b in spec.blocks.iter().filter(|b| b.per.is_none()) {
        if let Some(Gen::Const(c)) = &b.count {
            roots += c.as_f64().unwrap_or(0.0) * if b.scaled { spec.scale } else { 1.0 };
        }
    }
    if roots > limit as f64 {
        return Err(SampleError::TooLarge { limit });
    }
    let mut st = State {
        spec: &spec,
        today: now.date_naive(),
        recs: Vec::new(),
        by_form: BTreeMap::new(),
        ids: BTreeMap::new(),
        counters: RefCell::new(Counters::default()),
        limit,
    };
    for (i, block) in spec.blocks.iter().enumerate() {
        let mut rng = Rng::fork(spec.seed, i as u64 + 1);
        st.block(block, i, &mut rng)?;
    }
    st.rollups();
    st.derive();
    Ok(st
        .recs
        .into_iter()
        .map(|r| SampleRecord {
            form: r.form,
            id: r.id,
            data: Value::Object(r.data),
        })
        .collect())
}

fn invalid(path: String, msg: &str) -> SampleError {
    SampleError::Invalid(vec![FieldError::new(path, msg)])
}

impl State<'_> {
    fn block(&mut self, block: &Block, index: usize, rng: &mut Rng) -> Result<(), SampleError> {
        let path = format!("forms/{index}");
        let Some(per) = &block.per else {
            let empty = Map::new();
            let count = block
                .count
                .as_ref()
                .and_then(|c| self.eval(c, &empty, &[], None, 0, rng));
            let count = count
                .and_then(|c| c.as_f64())
                .ok_or_else(|| invalid(format!("{path}/count"), "must give a number"))?;
            let n = (count * if block.scaled { self.spec.scale } else { 1.0 })
                .round()
                .max(0.0) as usize;
            if self.recs.len().saturating_add(n) > self.limit {
                return Err(SampleError::TooLarge { limit: self.limit });
            }
            let total: f64 = block.segments.iter().map(|s| s.share).sum();
            for k in 0..n {
                // Stratified: segment shares are exact, not left to chance.
                let seg = (total > 0.0).then(|| {
                    let at = (k as f64 + 0.5) / n as f64 * total;
                    let mut acc = 0.0;
                    block.segments.iter().position(|s| {
                        acc += s.share;
                        at < acc
                    })
                });
                let seg = seg.flatten().and_then(|s| block.segments.get(s));
                self.record(block, seg, None, k, Map::new(), rng, &path)?;
            }
            return Ok(());
        };
        let parents = self.by_form.get(per).cloned().unwrap_or_default();
        let mut k = 0;
        for p in parents {
            let Some(parent) = self.recs.get(p) else { continue };
            if block
                .filter
                .as_ref()
                .is_some_and(|f| !f.holds(&parent.data, self.today))
            {
                continue;
            }
            let presets: Vec<Map<String, Value>> = match &block.series {
                Some(series) => self
                    .series_dates(series, p, rng)
                    .into_iter()
                    .map(|d| {
                        let mut m = Map::new();
                        m.insert(series.field.clone(), day_text(d));
                        m
                    })
                    .collect(),
                None => {
                    let vars = self.var_chain(Some(p));
                    let c = block
                        .count
                        .as_ref()
                        .and_then(|c| self.eval(c, &parent.data, &vars, Some(p), k, rng));
                    let c = c
                        .and_then(|c| c.as_f64())
                        .ok_or_else(|| invalid(format!("{path}/count"), "must give a number"))?;
                    vec![Map::new(); c.round().clamp(0.0, spec::MAX_SERIES as f64) as usize]
                }
            };
            for preset in presets {
                self.record(block, None, Some(p), k, preset, rng, &path)?;
                k += 1;
            }
        }
        Ok(())
    }

    fn var_chain(&self, mut at: Option<usize>) -> Vec<&Map<String, Value>> {
        let mut out = Vec::new();
        while let Some(i) = at {
            let Some(r) = self.recs.get(i) else { break };
            out.push(&r.vars);
            at = r.parent;
        }
        out
    }

    fn eval(
        &self,
        g: &Gen,
        data: &Map<String, Value>,
        vars: &[&Map<String, Value>],
        parent: Option<usize>,
        index: usize,
        rng: &mut Rng,
    ) -> Option<Value> {
        let parent = parent
            .and_then(|p| self.recs.get(p))
            .map(|r| (r.id.as_str(), &r.data));
        let scope = Scope {
            today: self.today,
            pools: &self.spec.pools,
            data,
            vars,
            parent,
            ids: &self.ids,
            index,
        };
        g.eval(&scope, rng, &mut self.counters.borrow_mut())
    }

    /// Builds one record: vars, then fields in dependency order.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        block: &Block,
        seg: Option<&spec::Segment>,
        parent: Option<usize>,
        index: usize,
        mut data: Map<String, Value>,
        rng: &mut Rng,
        path: &str,
    ) -> Result<(), SampleError> {
        if self.recs.len() >= self.limit {
            return Err(SampleError::TooLarge { limit: self.limit });
        }
        let mut vars = Map::new();
        let seg_vars = seg.map(|s| s.vars.as_slice()).unwrap_or_default();
        for (k, g) in block
            .vars
            .iter()
            .filter(|(k, _)| !seg_vars.iter().any(|(s, _)| s == k))
            .chain(seg_vars)
        {
            let chain = self.var_chain(parent);
            if let Some(v) = self.eval(g, &data, &chain, parent, index, rng) {
                vars.insert(k.clone(), v);
            }
        }
        let seg_fields = seg.map(|s| s.fields.as_slice()).unwrap_or_default();
        let mut pending: Vec<&(String, Gen)> = block
            .fields
            .iter()
            .filter(|(k, _)| !seg_fields.iter().any(|(s, _)| s == k))
            .chain(seg_fields)
            .filter(|(k, _)| !data.contains_key(k))
            .collect();
        // Repeated passes: a field waits until the fields it reads are done.
        while !pending.is_empty() {
            let ready: Vec<usize> = (0..pending.len())
                .filter(|&i| {
                    let mut deps = Vec::new();
                    if let Some((_, g)) = pending.get(i) {
                        g.deps(&mut deps);
                    }
                    deps.iter().all(|d| !pending.iter().any(|(k, _)| k == d))
                })
                .collect();
            if ready.is_empty() {
                let keys: Vec<&str> = pending.iter().map(|(k, _)| k.as_str()).collect();
                return Err(invalid(
                    format!("{path}/fields"),
                    &format!("fields read each other in a cycle: {}", keys.join(", ")),
                ));
            }
            for &i in &ready {
                let Some((k, g)) = pending.get(i) else { continue };
                let mut chain = vec![&vars];
                chain.extend(self.var_chain(parent));
                if let Some(v) = self.eval(g, &data, &chain, parent, index, rng) {
                    data.insert(k.clone(), v);
                }
            }
            let mut i = 0;
            pending.retain(|_| {
                i += 1;
                !ready.contains(&(i - 1))
            });
        }
        let n = self.by_form.get(&block.form).map_or(0, Vec::len) + 1;
        let id = format!("{}-{n}", block.form);
        self.by_form
            .entry(block.form.clone())
            .or_default()
            .push(self.recs.len());
        self.ids.entry(block.form.clone()).or_default().push(id.clone());
        self.recs.push(Rec {
            form: block.form.clone(),
            id,
            data,
            vars,
            parent,
        });
        Ok(())
    }

    /// Dates of a series for one parent, oldest first: the last one
    /// `last_days_ago`, then backwards by `gap` ± `jitter` until `not_before`
    /// (default: the spec's window) or `max`.
    fn series_dates(&self, series: &spec::Series, parent: usize, rng: &mut Rng) -> Vec<NaiveDate> {
        let Some(p) = self.recs.get(parent) else {
            return Vec::new();
        };
        let chain = self.var_chain(Some(parent));
        let value = |g: &Gen, rng: &mut Rng| self.eval(g, &p.data, &chain, Some(parent), 0, rng);
        let gap = value(&series.gap, rng)
            .and_then(|v| v.as_f64())
            .unwrap_or(30.0)
            .max(1.0);
        let last_ago = value(&series.last_days_ago, rng)
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let window = self.today - TimeDelta::days(self.spec.window_days);
        let floor = series
            .not_before
            .as_ref()
            .and_then(|g| value(g, rng))
            .and_then(|v| v.as_str().and_then(parse_day))
            .map_or(window, |d| d.max(window));
        let mut d = self.today - TimeDelta::days(last_ago.round().max(0.0) as i64);
        let mut out = Vec::new();
        while d >= floor && d <= self.today && out.len() < series.max {
            out.push(d);
            let step = gap * (1.0 + series.jitter * (2.0 * rng.unit() - 1.0));
            d -= TimeDelta::days((step.round() as i64).max(1));
        }
        out.reverse();
        out
    }

    fn rollups(&mut self) {
        for r in &self.spec.rollups {
            let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            for &c in self.by_form.get(&r.from).map(Vec::as_slice).unwrap_or_default() {
                let Some(child) = self.recs.get(c) else { continue };
                if r.filter
                    .as_ref()
                    .is_some_and(|f| !f.holds(&child.data, self.today))
                {
                    continue;
                }
                if let Some(link) = child.data.get(&r.via).and_then(Value::as_str) {
                    groups.entry(link.to_owned()).or_default().push(c);
                }
            }
            let parents = self.by_form.get(&r.form).cloned().unwrap_or_default();
            for p in parents {
                let Some(id) = self.recs.get(p).map(|x| x.id.clone()) else {
                    continue;
                };
                let kids = groups.get(&id).map(Vec::as_slice).unwrap_or_default();
                let values: Vec<(String, Option<Value>)> = r
                    .fields
                    .iter()
                    .map(|(k, agg)| (k.clone(), self.aggregate(agg, kids)))
                    .collect();
                if let Some(rec) = self.recs.get_mut(p) {
                    for (k, v) in values {
                        match v {
                            Some(v) => rec.data.insert(k, v),
                            None => rec.data.remove(&k),
                        };
                    }
                }
            }
        }
    }

    fn aggregate(&self, agg: &Agg, kids: &[usize]) -> Option<Value> {
        let recs = &self.recs;
        let field =
            |f: &str| -> Vec<&Value> { kids.iter().filter_map(|&i| recs.get(i)?.data.get(f)).collect() };
        let days = |f: &str| {
            let mut d: Vec<NaiveDate> = field(f)
                .into_iter()
                .filter_map(|v| v.as_str().and_then(parse_day))
                .collect();
            d.sort();
            d
        };
        match agg {
            Agg::Count => Some(json!(kids.len())),
            Agg::Sum(f) => Some(round(field(f).into_iter().filter_map(Value::as_f64).sum(), 2)),
            Agg::Min(f) => days(f).first().map(|d| day_text(*d)),
            Agg::Max(f) => days(f).last().map(|d| day_text(*d)),
            Agg::AvgGapDays(f) => {
                let d = days(f);
                match (d.first(), d.last()) {
                    (Some(a), Some(b)) if d.len() >= 2 => {
                        Some(round((*b - *a).num_days() as f64 / (d.len() - 1) as f64, 1))
                    }
                    _ => None,
                }
            }
        }
    }

    fn derive(&mut self) {
        for d in &self.spec.derive {
            let mut rng = Rng::fork(self.spec.seed, 0xD3_21FE);
            let targets = self.by_form.get(&d.form).cloned().unwrap_or_default();
            for (index, t) in targets.into_iter().enumerate() {
                let Some(rec) = self.recs.get(t) else { continue };
                let mut data = rec.data.clone();
                let parent = rec.parent;
                for (k, g) in &d.fields {
                    let chain = self.var_chain(Some(t));
                    match self.eval(g, &data, &chain, parent, index, &mut rng) {
                        Some(v) => data.insert(k.clone(), v),
                        None => data.remove(k),
                    };
                }
                if let Some(rec) = self.recs.get_mut(t) {
                    rec.data = data;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
