//! Answering a dashboard: one aggregate query per chart (three for NPS, two
//! for a ratio), series in category order, funnel conversions.

use std::collections::BTreeMap;

use chrono::{Months, NaiveDate, TimeDelta};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Chart, ChartGroup, DashboardError, parsed};
use crate::Engine;
use crate::auth::policy::{Action, require};
use crate::ctx::Ctx;
use crate::error::HasCode;
use crate::ids::{DashboardId, FormId};
use crate::query::model::AggregateRequest;

/// One point of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The category or bucket (`null` for records without a value; absent
    /// for an ungrouped chart).
    pub key: Value,
    /// The measure.
    pub value: Value,
    /// Ratios: the two counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numerator: Option<Value>,
    /// Ratios: the two counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denominator: Option<Value>,
    /// Funnels: this stage over the previous one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion: Option<f64>,
    /// Funnels: this stage over the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overall: Option<f64>,
}

/// One chart's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartData {
    /// Chart id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// Title.
    pub title: Option<String>,
    /// Points in category order.
    pub series: Vec<Point>,
    /// The single value of an ungrouped chart.
    pub value: Option<Value>,
    /// Why this chart has no data (a field removed since, say), in the API's
    /// error shape; the other charts still answer.
    pub error: Option<Value>,
}

/// A dashboard's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DashboardData {
    /// Dashboard id.
    pub id: DashboardId,
    /// Name.
    pub name: String,
    /// Every chart, in order.
    pub charts: Vec<ChartData>,
}

fn and(a: Option<&Value>, b: Option<Value>) -> Option<Value> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a.clone()),
        (None, Some(b)) => Some(b),
        (Some(a), Some(b)) => Some(json!({"and": [a, b]})),
    }
}

/// Whole counts of a grouped answer by bucket key, records without a date
/// left out.
fn counts_by_bucket(groups: BTreeMap<String, (Value, Value)>) -> BTreeMap<String, i64> {
    groups
        .into_values()
        .filter_map(|(key, v)| Some((key.as_str()?.to_owned(), v.as_i64().unwrap_or(0))))
        .collect()
}

/// The bucket key after `key` (`YYYY-MM` months, `YYYY-MM-DD` days and
/// weeks), or `None` for a key that does not parse.
fn next_bucket(key: &str, bucket: &str) -> Option<String> {
    if bucket == "month" {
        let first = NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok()?;
        return Some(
            first
                .checked_add_months(Months::new(1))?
                .format("%Y-%m")
                .to_string(),
        );
    }
    let day = NaiveDate::parse_from_str(key, "%Y-%m-%d").ok()?;
    let step = if bucket == "week" { 7 } else { 1 };
    Some((day + TimeDelta::days(step)).format("%Y-%m-%d").to_string())
}

/// The most buckets a churn-rate series fills in between its first and last
/// loss; a longer span shows only the buckets that have records.
const MAX_FILLED_BUCKETS: usize = 2000;

/// Every bucket from the first key of `lost` to its last, gaps filled, or
/// just the keys of either map when the span is too long to fill.
fn bucket_span(lost: &BTreeMap<String, i64>, started: &BTreeMap<String, i64>, bucket: &str) -> Vec<String> {
    let (Some(first), Some(last)) = (lost.keys().next(), lost.keys().next_back()) else {
        return Vec::new();
    };
    let mut keys = vec![first.clone()];
    while let Some(k) = keys.last()
        && k < last
        && keys.len() <= MAX_FILLED_BUCKETS
    {
        match next_bucket(k, bucket) {
            Some(n) if n > *k => keys.push(n),
            _ => break,
        }
    }
    if keys.last() == Some(last) {
        return keys;
    }
    let mut present: Vec<String> = lost
        .keys()
        .chain(started.keys().filter(|k| *k > first && *k < last))
        .cloned()
        .collect();
    present.sort();
    present.dedup();
    present
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| (n / d * 10_000.0).round() / 10_000.0)
}

impl Engine {
    /// Every chart's series.
    ///
    /// # Errors
    /// `not_found`.
    pub async fn dashboard_data(&self, ctx: &Ctx, id: DashboardId) -> Result<DashboardData, DashboardError> {
        require(ctx, Action::ReadData)?;
        let row = self.dashboard_row(ctx, id).await?;
        let def = parsed(&row)?;
        let mut charts = Vec::with_capacity(def.charts.len());
        for c in &def.charts {
            let (series, error) = match self.chart_series(ctx, c).await {
                Ok(s) => (s, None),
                Err(e) => (
                    Vec::new(),
                    Some(
                        json!({"code": e.code().as_str(), "message": e.to_string(), "details": e.details()}),
                    ),
                ),
            };
            let value = if c.group_by.is_none() {
                series.first().map(|p| p.value.clone())
            } else {
                None
            };
            charts.push(ChartData {
                id: c.id.clone(),
                kind: c.kind.clone(),
                title: c.title.clone(),
                series,
                value,
                error,
            });
        }
        Ok(DashboardData {
            id,
            name: def.name,
            charts,
        })
    }

    /// Counts (or another metric) per group of the chart for `filter`.
    async fn grouped(
        &self,
        ctx: &Ctx,
        form: FormId,
        c: &Chart,
        filter: Option<Value>,
        metric: Value,
    ) -> Result<BTreeMap<String, (Value, Value)>, DashboardError> {
        self.grouped_by(ctx, form, c.group_by.as_ref(), filter, metric)
            .await
    }

    /// Counts (or another metric) per `group` for `filter`.
    async fn grouped_by(
        &self,
        ctx: &Ctx,
        form: FormId,
        group: Option<&ChartGroup>,
        filter: Option<Value>,
        metric: Value,
    ) -> Result<BTreeMap<String, (Value, Value)>, DashboardError> {
        let mut body = json!({ "metrics": [metric] });
        if let Some(f) = filter
            && let Some(o) = body.as_object_mut()
        {
            o.insert("filter".to_owned(), f);
        }
        if let Some(g) = group
            && let Some(o) = body.as_object_mut()
        {
            o.insert("group_by".to_owned(), json!([g]));
        }
        let req = AggregateRequest::from_json(&body)?;
        let result = self.aggregate_records(ctx, form, req).await?;
        let field = group.map(|g| g.field.clone());
        Ok(result
            .groups
            .into_iter()
            .map(|g| {
                let key = field
                    .as_ref()
                    .and_then(|f| g.key.get(f).cloned())
                    .unwrap_or(Value::Null);
                let value = g.values.get("value").cloned().unwrap_or(Value::Null);
                (key.to_string(), (key, value))
            })
            .collect())
    }

    async fn chart_series(&self, ctx: &Ctx, c: &Chart) -> Result<Vec<Point>, DashboardError> {
        let form: FormId = c
            .form_id
            .parse()
            .map_err(|_| DashboardError::NotFound(c.form_id.clone()))?;
        let m = &c.measure;
        let count = json!({"op": "count", "as": "value"});
        let mut points: Vec<Point> = match m.op.as_str() {
            "ratio" => {
                let num = self
                    .grouped(
                        ctx,
                        form,
                        c,
                        and(c.filter.as_ref(), m.numerator.clone()),
                        count.clone(),
                    )
                    .await?;
                let den = self
                    .grouped(ctx, form, c, and(c.filter.as_ref(), m.denominator.clone()), count)
                    .await?;
                den.into_iter()
                    .map(|(k, (key, d))| {
                        let n = num.get(&k).map_or(json!(0), |(_, v)| v.clone());
                        let value = ratio(n.as_f64().unwrap_or(0.0), d.as_f64().unwrap_or(0.0));
                        Point {
                            key,
                            value: json!(value),
                            numerator: Some(n),
                            denominator: Some(d),
                            conversion: None,
                            overall: None,
                        }
                    })
                    .collect()
            }
            "churn_rate" => self.churn_series(ctx, form, c).await?,
            "nps" => {
                let field = m.field.clone().unwrap_or_default();
                let cond = |op: &str, v: Value| Some(json!({"field": field, "op": op, "value": v}));
                let all = self
                    .grouped(
                        ctx,
                        form,
                        c,
                        and(
                            c.filter.as_ref(),
                            Some(json!({"field": field, "op": "not_empty"})),
                        ),
                        count.clone(),
                    )
                    .await?;
                let pro = self
                    .grouped(
                        ctx,
                        form,
                        c,
                        and(c.filter.as_ref(), cond("gte", json!(9))),
                        count.clone(),
                    )
                    .await?;
                let det = self
                    .grouped(ctx, form, c, and(c.filter.as_ref(), cond("lte", json!(6))), count)
                    .await?;
                all.into_iter()
                    .map(|(k, (key, total))| {
                        let t = total.as_f64().unwrap_or(0.0);
                        let p = pro.get(&k).and_then(|(_, v)| v.as_f64()).unwrap_or(0.0);
                        let d = det.get(&k).and_then(|(_, v)| v.as_f64()).unwrap_or(0.0);
                        let nps = (t > 0.0).then(|| ((p - d) / t * 1000.0).round() / 10.0);
                        Point {
                            key,
                            value: json!(nps),
                            numerator: None,
                            denominator: Some(total),
                            conversion: None,
                            overall: None,
                        }
                    })
                    .collect()
            }
            op => {
                let mut metric = json!({"op": op, "as": "value"});
                if let Some(f) = &m.field
                    && let Some(o) = metric.as_object_mut()
                {
                    o.insert("field".to_owned(), json!(f));
                }
                self.grouped(ctx, form, c, c.filter.clone(), metric)
                    .await?
                    .into_values()
                    .map(|(key, value)| Point {
                        key,
                        value,
                        numerator: None,
                        denominator: None,
                        conversion: None,
                        overall: None,
                    })
                    .collect()
            }
        };
        if !c.order.is_empty() {
            let rank = |k: &Value| c.order.iter().position(|o| o == k).unwrap_or(usize::MAX);
            points.sort_by_key(|p| rank(&p.key));
            // Funnel stages with no records still show, at zero.
            for stage in &c.order {
                if !points.iter().any(|p| &p.key == stage) {
                    let at = points
                        .iter()
                        .position(|p| rank(&p.key) > rank(stage))
                        .unwrap_or(points.len());
                    points.insert(
                        at,
                        Point {
                            key: stage.clone(),
                            value: json!(0),
                            numerator: None,
                            denominator: None,
                            conversion: None,
                            overall: None,
                        },
                    );
                }
            }
        }
        if c.cumulative {
            // Listed stages come first, in order: walk them from the last,
            // adding what reached a later stage.
            // Whole counts stay whole; a sum of money may not be.
            let (mut whole, mut real) = (Some(0_i64), 0.0);
            for p in points.iter_mut().rev().filter(|p| c.order.contains(&p.key)) {
                whole = whole.and_then(|w| p.value.as_i64().and_then(|v| w.checked_add(v)));
                real += p.value.as_f64().unwrap_or(0.0);
                p.value = whole.map_or_else(|| json!(real), |w| json!(w));
            }
        }
        if c.kind == "funnel" {
            let first = points.first().and_then(|p| p.value.as_f64()).unwrap_or(0.0);
            let mut prev: Option<f64> = None;
            for p in &mut points {
                let v = p.value.as_f64().unwrap_or(0.0);
                p.conversion = prev.and_then(|pv| ratio(v, pv));
                p.overall = ratio(v, first);
                prev = Some(v);
            }
        }
        if let Some(limit) = c.limit {
            points.truncate(limit);
        }
        Ok(points)
    }

    /// Churn rate per bucket: the records lost in the bucket (the chart's
    /// `group_by` date) over the records there at its start (started, by the
    /// measure's date field, before the bucket and not lost before it). Two
    /// aggregate queries; gaps between losses show as 0.
    async fn churn_series(&self, ctx: &Ctx, form: FormId, c: &Chart) -> Result<Vec<Point>, DashboardError> {
        let (Some(group), Some(start)) = (c.group_by.as_ref(), c.measure.field.as_ref()) else {
            return Ok(Vec::new());
        };
        let bucket = group.bucket.clone().unwrap_or_else(|| "month".to_owned());
        let count = json!({"op": "count", "as": "value"});
        let lost = counts_by_bucket(
            self.grouped_by(ctx, form, Some(group), c.filter.clone(), count.clone())
                .await?,
        );
        let by_start = ChartGroup {
            field: start.clone(),
            bucket: Some(bucket.clone()),
        };
        let started = counts_by_bucket(
            self.grouped_by(ctx, form, Some(&by_start), c.filter.clone(), count)
                .await?,
        );
        let before =
            |m: &BTreeMap<String, i64>, k: &String| m.range(..k.clone()).map(|(_, n)| n).sum::<i64>();
        Ok(bucket_span(&lost, &started, &bucket)
            .into_iter()
            .map(|k| {
                let n = lost.get(&k).copied().unwrap_or(0);
                let base = before(&started, &k) - before(&lost, &k);
                let value = ratio(n as f64, base as f64);
                Point {
                    key: json!(k),
                    value: json!(value),
                    numerator: Some(json!(n)),
                    denominator: Some(json!(base)),
                    conversion: None,
                    overall: None,
                }
            })
            .collect())
    }
}
