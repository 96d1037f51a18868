//! The CRM package (builtin-templates/crm/) proven through the engine's
//! public functions on SQLite and PostgreSQL: installed with generated sample
//! data by the template installer, every rule compiles, every view and dashboard
//! answers (charts non-empty where the sample feeds them), key rules'
//! test-runs give the expected effects, and a month of scheduler ticks with
//! an injected clock creates birthday coupons, renewal tasks, churn-risk tags
//! with win-back tasks and wake-up coupons exactly where the data says.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use common::TestDb;
use engine::automation::{TestRunInput, TickOptions};
use engine::ctx::{Ctx, Role};
use engine::ids::FormId;
use engine::jobs::{Worker, WorkerConfig};
use engine::query::model::QueryRequest;
use engine::record::{RecordInput, RecordView};
use engine::template::{InstallOptions, Installed};
use serde_json::{Value, json};

/// The day the sample data is generated for and the month starts.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).single().unwrap()
}

const DAYS: i64 = 30;
const SCALE: f64 = 0.3;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap()
}

fn date_of(r: &RecordView, key: &str) -> Option<NaiveDate> {
    r.data.get(key).and_then(Value::as_str).map(day)
}

fn num(r: &RecordView, key: &str) -> f64 {
    r.data.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

async fn all(t: &TestDb, ctx: &Ctx, form: FormId) -> Vec<RecordView> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let req = QueryRequest {
            limit: Some(1000),
            cursor,
            ..QueryRequest::default()
        };
        let page = t.engine.query_records(ctx, form, req, false).await.unwrap();
        out.extend(page.records);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

/// The yearly firing day of a date-field rule `offset` days from `date`
/// within `[from, to]`: the anniversary in the firing's year (29 February
/// counts on the 28th in common years).
fn yearly_fires_within(date: NaiveDate, offset: i64, from: NaiveDate, to: NaiveDate) -> Option<NaiveDate> {
    let mut d = from;
    while d <= to {
        let target = d + TimeDelta::days(-offset);
        let anniversary = NaiveDate::from_ymd_opt(target.year(), date.month(), date.day())
            .unwrap_or_else(|| NaiveDate::from_ymd_opt(target.year(), 2, 28).unwrap());
        if anniversary == target {
            return Some(d);
        }
        d += TimeDelta::days(1);
    }
    None
}

/// Whether `churn_alert` flags customer `c` on `d` (before any tag).
fn churn_due(c: &RecordView, d: NaiveDate) -> bool {
    let lifecycle = c.data.get("lifecycle").and_then(Value::as_str).unwrap_or("");
    let Some(last) = date_of(c, "last_order_on") else {
        return false;
    };
    if !["new", "active"].contains(&lifecycle) {
        return false;
    }
    let since = (d - last).num_days();
    if !(30..180).contains(&since) {
        return false;
    }
    let touch = date_of(c, "last_contact_on").map_or(last, |x| x.max(last));
    let quiet = (d - touch).num_days();
    let gap = num(c, "avg_order_gap");
    (num(c, "order_count") >= 3.0 && gap > 0.0 && since as f64 > 3.0 * gap) || quiet >= 90
}

/// Installs the embedded CRM package with its sample data scaled by `SCALE`.
async fn install(t: &TestDb, ctx: &Ctx) -> Installed {
    let pkg = engine::template::builtin("crm").unwrap();
    let opts = InstallOptions {
        name: None,
        sample_data: true,
        sample_scale: SCALE,
        ..InstallOptions::default()
    };
    t.engine
        .install_package(ctx, &pkg, &opts)
        .await
        .unwrap_or_else(|e| panic!("install: {e} {:?}", engine::error::HasCode::details(&e)))
}

/// The rule files the package ships.
fn rule_files() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../builtin-templates/crm/rules");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count()
}

fn effects_of(out: &engine::automation::TestRunOutput) -> Vec<Value> {
    assert!(out.error.is_none(), "{out:?}");
    out.effects
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

async fn crm_installs_and_runs_a_month(t: &TestDb) {
    let t0 = start();
    let ctx = t.tenant("crm").await.at(t0);
    let crm = install(t, &ctx).await;
    check_definitions(t, &ctx, &crm).await;
    let customers = all(t, &ctx, crm.form("customers")).await;
    assert!(customers.len() >= 80, "{}", customers.len());
    check_views(t, &ctx, &crm, false).await;
    check_dashboards(t, &ctx, &crm, false).await;

    // A test-run of the churn alert on the first morning flags exactly the customers the data says.
    let first_day = t0.date_naive();
    let out = t
        .engine
        .test_rule(
            &ctx,
            crm.rules["churn_alert"],
            TestRunInput {
                at: Some(t0 + TimeDelta::hours(10)),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let tagged: BTreeSet<String> = effects_of(&out)
        .iter()
        .filter(|e| e["kind"] == "tag")
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = customers
        .iter()
        .filter(|c| churn_due(c, first_day))
        .map(|c| c.id.to_string())
        .collect();
    assert!(!expected.is_empty(), "the sample has churn-risk customers");
    assert_eq!(tagged, expected);

    run_month(t, &ctx, &crm, &customers).await;
    check_views(t, &ctx, &crm, true).await;
    check_dashboards(t, &ctx, &crm, true).await;
    check_test_runs(t, &ctx.clone().at(t0 + TimeDelta::days(DAYS)), &crm, &customers).await;
    comes_back(t, &ctx.clone().at(t0 + TimeDelta::days(DAYS)), &crm).await;
}

/// A dormant customer orders again: the roll-ups move the last order date,
/// and the lifecycle rule makes them active, clears the lapsed date and
/// takes the 沉睡 tag off.
async fn comes_back(t: &TestDb, ctx: &Ctx, crm: &Installed) {
    let customers = all(t, ctx, crm.form("customers")).await;
    let sleeper = customers
        .iter()
        .find(|c| c.data["lifecycle"] == "dormant" && c.tags.contains(&"沉睡".to_owned()))
        .unwrap();
    assert!(date_of(sleeper, "lapsed_on").is_some());
    let today = ctx.now.date_naive().format("%Y-%m-%d").to_string();
    t.engine
        .create_record(
            ctx,
            crm.form("orders"),
            RecordInput {
                data: serde_json::from_value(json!({"customer": sleeper.id.to_string(), "amount": 99,
                    "ordered_on": today, "status": "completed", "order_no": "SO-BACK-1"}))
                .unwrap(),
            },
            None,
        )
        .await
        .unwrap();
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig::default(),
    );
    // The order's event fires the roll-ups, whose update fires the lifecycle
    // rule; a run that meets a newer version of the customer (the points rule
    // wrote it too) is retried 10 s later against the fresh record.
    for s in [0, 1, 2, 15, 16, 40, 41] {
        t.engine
            .scheduler_tick(&worker, ctx.now + TimeDelta::seconds(s), TickOptions::default())
            .await
            .unwrap();
    }
    let back = t
        .engine
        .get_record(ctx, crm.form("customers"), sleeper.id)
        .await
        .unwrap();
    assert_eq!(back.data["last_order_on"], json!(today));
    assert_eq!(back.data["lifecycle"], "active", "{:?}", back.data);
    assert_eq!(date_of(&back, "lapsed_on"), None, "{:?}", back.data);
    assert!(!back.tags.contains(&"沉睡".to_owned()), "{:?}", back.tags);
}
both_backends!(crm_installs_and_runs_a_month, crm_installs_and_runs_a_month);

async fn check_definitions(t: &TestDb, ctx: &Ctx, crm: &Installed) {
    let rules = t.engine.list_rules(ctx, crm.app).await.unwrap();
    assert_eq!(rules.len(), rule_files());
    assert!(rules.len() >= 20);
    assert!(rules.iter().all(|r| r.enabled && r.version == 1), "{rules:#?}");
    let forms = t.engine.list_forms(ctx, crm.app).await.unwrap();
    assert_eq!(forms.len(), 17);
    let tags: BTreeSet<String> = t
        .engine
        .list_tags(ctx)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    for name in ["VIP", "高潜力", "普通", "流失风险", "沉睡"] {
        assert!(tags.contains(name), "{name}");
    }
    for form in ["contracts", "quotes", "service_tickets"] {
        let flows = t.engine.list_workflows(ctx, crm.form(form)).await.unwrap();
        assert_eq!(flows.len(), 1, "{form}");
    }
}

async fn check_views(t: &TestDb, ctx: &Ctx, crm: &Installed, after_month: bool) {
    for (key, id) in &crm.views {
        let view = t.engine.get_view(ctx, *id).await.unwrap();
        let mut query = view.query.clone();
        query["limit"] = json!(1000);
        let req = QueryRequest::from_json(&query).unwrap();
        let page = t
            .engine
            .query_records(ctx, view.form_id, req, false)
            .await
            .unwrap_or_else(|e| panic!("view {key}: {e}"));
        let should_have_rows = match key.as_str() {
            "churn_risk" => after_month,
            // Only follow-ups due in the current calendar week.
            "my_follow_ups_this_week" => false,
            _ => true,
        };
        if should_have_rows {
            assert!(!page.records.is_empty(), "view {key} is empty");
        }
        if key.starts_with("my_") {
            // `$me`: the installer owns the sample data; every row is theirs,
            // and another member's copy of the view shows none of it.
            let me = ctx.actor.to_string();
            for r in &page.records {
                assert_eq!(r.data["owner"], json!(me), "view {key}: {}", r.id);
            }
            let other = t.member(ctx, Role::Member).await;
            let req = QueryRequest::from_json(&query).unwrap();
            let theirs = t
                .engine
                .query_records(&other, view.form_id, req, false)
                .await
                .unwrap();
            assert!(theirs.records.is_empty(), "view {key} as another member");
        }
        if key == "my_follow_ups_this_week" {
            let today = ctx.now.date_naive();
            let monday = today - TimeDelta::days(i64::from(today.weekday().num_days_from_monday()));
            for r in &page.records {
                let due = date_of(r, "next_follow_up_on").unwrap();
                assert!(
                    monday <= due && due < monday + TimeDelta::days(7),
                    "{key}: {due} not this week"
                );
            }
        }
    }
    let all_follow_ups = all(t, ctx, crm.form("follow_ups")).await;
    let today = ctx.now.date_naive();
    let monday = today - TimeDelta::days(i64::from(today.weekday().num_days_from_monday()));
    let due_this_week = all_follow_ups
        .iter()
        .filter(|r| {
            date_of(r, "next_follow_up_on").is_some_and(|d| monday <= d && d < monday + TimeDelta::days(7))
        })
        .count();
    let id = crm.views["my_follow_ups_this_week"];
    let view = t.engine.get_view(ctx, id).await.unwrap();
    let mut query = view.query.clone();
    query["limit"] = json!(1000);
    let page = t
        .engine
        .query_records(ctx, view.form_id, QueryRequest::from_json(&query).unwrap(), false)
        .await
        .unwrap();
    assert_eq!(page.records.len(), due_this_week, "my follow-ups this week");
}

async fn check_dashboards(t: &TestDb, ctx: &Ctx, crm: &Installed, after_month: bool) {
    for (key, id) in &crm.dashboards {
        let data = t.engine.dashboard_data(ctx, *id).await.unwrap();
        for chart in &data.charts {
            assert!(chart.error.is_none(), "{key}/{}: {:?}", chart.id, chart.error);
            if chart.id == "churn_tasks" && !after_month {
                continue;
            }
            let fed = chart
                .series
                .iter()
                .any(|p| p.value.as_f64().is_some_and(|v| v != 0.0))
                || chart
                    .value
                    .as_ref()
                    .and_then(Value::as_f64)
                    .is_some_and(|v| v != 0.0);
            assert!(fed, "{key}/{} has no data: {chart:?}", chart.id);
            if chart.id == "churn_trend" {
                check_churn_rate(t, ctx, crm, chart).await;
            }
        }
    }
}

/// The monthly churn rate against the customers themselves: every lapsed
/// customer (dormant or churned) has a lapsed date and only they do; each
/// month counts those lapsed in it over those joined before it and not
/// lapsed before it.
async fn check_churn_rate(t: &TestDb, ctx: &Ctx, crm: &Installed, chart: &engine::dashboard::ChartData) {
    let customers = all(t, ctx, crm.form("customers")).await;
    for c in &customers {
        let lapsed = matches!(c.data["lifecycle"].as_str(), Some("dormant" | "churned"));
        assert_eq!(
            date_of(c, "lapsed_on").is_some(),
            lapsed,
            "{}: {:?}",
            c.id,
            c.data
        );
    }
    assert!(chart.series.len() >= 6, "{chart:?}");
    for p in &chart.series {
        let month = p.key.as_str().unwrap();
        let first = day(&format!("{month}-01"));
        let lost = customers
            .iter()
            .filter(|c| date_of(c, "lapsed_on").is_some_and(|d| d.format("%Y-%m").to_string() == month))
            .count();
        let base = customers
            .iter()
            .filter(|c| date_of(c, "joined_on").is_some_and(|d| d < first))
            .filter(|c| date_of(c, "lapsed_on").is_none_or(|d| d >= first))
            .count();
        assert_eq!(
            (p.numerator.clone(), p.denominator.clone()),
            (Some(json!(lost)), Some(json!(base))),
            "{month}"
        );
    }
}

/// Thirty days of ticks at 10:00 UTC, then the effects compared with what
/// the sample data says.
async fn run_month(t: &TestDb, ctx: &Ctx, crm: &Installed, customers: &[RecordView]) {
    let worker = Worker::new(
        t.engine.db().clone(),
        Arc::new(t.engine.job_kinds()),
        WorkerConfig {
            batch: 200,
            ..WorkerConfig::default()
        },
    );
    let t0 = start();
    let contracts = all(t, ctx, crm.form("contracts")).await;
    let tickets = all(t, ctx, crm.form("service_tickets")).await;
    let holidays = all(t, ctx, crm.form("holidays")).await;
    for k in 0..DAYS {
        t.engine
            .scheduler_tick(
                &worker,
                t0 + TimeDelta::days(k) + TimeDelta::hours(10),
                TickOptions::default(),
            )
            .await
            .unwrap();
    }
    let (from, to) = (t0.date_naive(), t0.date_naive() + TimeDelta::days(DAYS - 1));
    let days = || (0..DAYS).map(|k| from + TimeDelta::days(k));
    let after: BTreeMap<String, RecordView> = all(t, ctx, crm.form("customers"))
        .await
        .into_iter()
        .map(|c| (c.id.to_string(), c))
        .collect();
    let coupons = all(t, ctx, crm.form("coupons")).await;
    let new_coupons = |kind: &str| -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in coupons
            .iter()
            .filter(|c| c.data["kind"] == kind && date_of(c, "issued_on") >= Some(from))
        {
            m.entry(c.data["customer"].as_str().unwrap().to_owned())
                .or_default()
                .push(c.data["issued_on"].as_str().unwrap().to_owned());
        }
        m
    };

    // Birthday coupons: one per customer whose birthday is 7 days after a day of the month.
    let expected: BTreeMap<String, Vec<String>> = customers
        .iter()
        .filter_map(|c| {
            let b = date_of(c, "birthday")?;
            let d = yearly_fires_within(b, -7, from, to)?;
            Some((c.id.to_string(), vec![d.format("%Y-%m-%d").to_string()]))
        })
        .collect();
    assert!(
        !expected.is_empty(),
        "the sample has birthdays in the coming month"
    );
    assert_eq!(new_coupons("birthday"), expected, "birthday coupons");
    let mut figures = vec![
        ("sample records", crm.sample.len()),
        ("customers", customers.len()),
        ("birthday coupons", expected.len()),
    ];

    // Wake-up coupons: one per customer who turned dormant during the month.
    let expected: BTreeMap<String, Vec<String>> = customers
        .iter()
        .filter(|c| {
            ["new", "active"].contains(&c.data.get("lifecycle").and_then(Value::as_str).unwrap_or(""))
        })
        .filter_map(|c| {
            let last = date_of(c, "last_order_on")?;
            let d = days().find(|d| (*d - last).num_days() >= 180)?;
            Some((c.id.to_string(), vec![d.format("%Y-%m-%d").to_string()]))
        })
        .collect();
    assert!(
        !expected.is_empty(),
        "the sample has customers drifting into dormancy"
    );
    assert_eq!(new_coupons("wake_up"), expected, "wake-up coupons");
    figures.push(("wake-up coupons", expected.len()));
    for id in expected.keys() {
        assert_eq!(after[id].data["lifecycle"], "dormant");
        assert!(after[id].tags.contains(&"沉睡".to_owned()));
        // Lapsed on the 180th day without an order, the month it counts in.
        let before = customers.iter().find(|c| c.id.to_string() == *id).unwrap();
        assert_eq!(
            date_of(&after[id], "lapsed_on"),
            date_of(before, "last_order_on").map(|d| d + TimeDelta::days(180)),
        );
    }

    // Churn risk: tagged, with one win-back task, exactly where a day of the month qualifies.
    let expected: BTreeSet<String> = customers
        .iter()
        .filter(|c| days().any(|d| churn_due(c, d)))
        .map(|c| c.id.to_string())
        .collect();
    let tagged: BTreeSet<String> = after
        .values()
        .filter(|c| c.tags.contains(&"流失风险".to_owned()))
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(tagged, expected, "churn-risk tags");
    figures.push(("churn-risk customers", expected.len()));
    let tasks = all(t, ctx, crm.form("tasks")).await;
    let churn_tasks: Vec<String> = tasks
        .iter()
        .filter(|t| t.data["kind"] == "churn")
        .map(|t| t.data["customer"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(churn_tasks.len(), expected.len(), "one win-back task each");
    assert_eq!(churn_tasks.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(
        tasks
            .iter()
            .filter(|t| t.data["kind"] == "churn")
            .all(|t| t.data["owner"] == json!(ctx.actor.to_string())),
        "the owner gets the task"
    );

    // Renewal tasks: one per active contract ending 30 days after a day of the month.
    let expected: BTreeSet<String> = contracts
        .iter()
        .filter(|c| c.data["status"] == "active")
        .filter(|c| date_of(c, "end_on").is_some_and(|e| (from..=to).contains(&(e - TimeDelta::days(30)))))
        .map(|c| c.id.to_string())
        .collect();
    assert!(!expected.is_empty(), "the sample has contracts ending soon");
    let renewals: Vec<String> = tasks
        .iter()
        .filter(|t| t.data["kind"] == "renewal")
        .map(|t| t.data["contract"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(renewals.len(), expected.len(), "one renewal task each");
    figures.push(("renewal tasks", expected.len()));
    assert_eq!(renewals.into_iter().collect::<BTreeSet<_>>(), expected);

    // SLA: open tickets past their due date during the month are marked breached, no others.
    let tickets_after: BTreeMap<String, RecordView> = all(t, ctx, crm.form("service_tickets"))
        .await
        .into_iter()
        .map(|r| (r.id.to_string(), r))
        .collect();
    let mut breached = 0;
    for tk in &tickets {
        let open = ["open", "in_progress"].contains(&tk.data["status"].as_str().unwrap());
        let late = open && date_of(tk, "sla_due").is_some_and(|d| d < to);
        let now = tickets_after[&tk.id.to_string()]
            .data
            .get("sla_breached")
            .cloned();
        if late {
            breached += 1;
            assert_eq!(now, Some(json!(true)), "{tk:?}");
        } else {
            assert_eq!(now, tk.data.get("sla_breached").cloned(), "unchanged: {tk:?}");
        }
    }
    assert!(breached > 0);
    figures.push(("tickets breaching their SLA", breached));

    // Tiers: after the daily refresh every customer carries exactly its tier's tag.
    for c in after.values() {
        let tier_tags: Vec<&String> = c
            .tags
            .iter()
            .filter(|t| ["VIP", "高潜力", "普通"].contains(&t.as_str()))
            .collect();
        assert_eq!(tier_tags, vec![c.data["tier"].as_str().unwrap()], "{c:?}");
    }

    // Holiday greetings: every customer with an email, on each holiday of the month.
    let holiday_days = days()
        .filter(|d| {
            holidays.iter().any(|h| {
                let hd = date_of(h, "date").unwrap();
                hd == *d || (h.data["yearly"] == true && hd.month() == d.month() && hd.day() == d.day())
            })
        })
        .count();
    assert!(holiday_days >= 1);
    let with_email = customers.iter().filter(|c| c.data.get("email").is_some()).count();
    let runs = t
        .engine
        .rule_runs(ctx, crm.rules["holiday_greeting"], 100, None)
        .await
        .unwrap()
        .runs;
    assert_eq!(runs.len(), DAYS as usize, "one run a day");
    let emails: usize = runs
        .iter()
        .map(|r| r.detail["effects"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(emails, holiday_days * with_email);
    figures.push(("holiday greetings", emails));
    eprintln!("{figures:?}");
    // No rule failed on the way.
    for (key, id) in &crm.rules {
        let runs = t.engine.rule_runs(ctx, *id, 200, None).await.unwrap().runs;
        assert!(
            runs.iter().all(|r| r.outcome.as_str() != "failed"),
            "{key}: {runs:#?}"
        );
    }
}

async fn check_test_runs(t: &TestDb, ctx: &Ctx, crm: &Installed, customers: &[RecordView]) {
    // Birthday coupon over a customer with a birthday.
    let ann = customers
        .iter()
        .find(|c| c.data.get("birthday").is_some())
        .unwrap();
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["birthday_coupon"],
            TestRunInput {
                record_id: Some(ann.id),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let fx = effects_of(&out);
    assert_eq!(fx[0]["kind"], "create");
    assert_eq!(fx[0]["form"], "coupons");
    assert_eq!(fx[0]["data"]["kind"], "birthday");
    assert_eq!(fx[0]["data"]["customer"], json!(ann.id.to_string()));

    // Roll-ups on a new order.
    let bob = customers
        .iter()
        .find(|c| num(c, "order_count") >= 2.0 && c.data.get("lifecycle") == Some(&json!("active")))
        .unwrap();
    let today = ctx.now.date_naive().format("%Y-%m-%d").to_string();
    let order = t
        .engine
        .create_record(
            ctx,
            crm.form("orders"),
            RecordInput {
                data: serde_json::from_value(json!({"customer": bob.id.to_string(), "amount": 480.5,
                    "ordered_on": today, "status": "completed", "order_no": "SO-TEST-1"}))
                .unwrap(),
            },
            None,
        )
        .await
        .unwrap();
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["order_rollups"],
            TestRunInput {
                record_id: Some(order.id),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let fx = effects_of(&out);
    assert_eq!(fx.len(), 1, "{fx:?}");
    let patch = &fx[0]["data"];
    assert_eq!(
        (fx[0]["kind"].as_str(), fx[0]["id"].as_str()),
        (Some("update"), Some(bob.id.to_string().as_str()))
    );
    let n = num(bob, "order_count") + 1.0;
    assert_eq!(patch["order_count"].as_f64(), Some(n));
    assert!(
        (patch["total_spent"].as_f64().unwrap() - (num(bob, "total_spent") + 480.5)).abs() < 0.011,
        "{patch}"
    );
    assert_eq!(patch["last_order_on"], json!(today));
    assert_eq!(patch["first_order_on"], bob.data["first_order_on"]);
    let first = date_of(bob, "first_order_on").unwrap();
    let gap = (ctx.now.date_naive() - first).num_days() as f64 / (n - 1.0);
    assert!(
        (patch["avg_order_gap"].as_f64().unwrap() - gap).abs() < 0.051,
        "{patch} {gap}"
    );
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["points_on_order"],
            TestRunInput {
                record_id: Some(order.id),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(effects_of(&out)[0]["data"]["points"], json!(48));

    // Contract expiry reminder over an active contract.
    let contracts = all(t, ctx, crm.form("contracts")).await;
    let c = contracts.iter().find(|c| c.data["status"] == "active").unwrap();
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["contract_expiry_reminder"],
            TestRunInput {
                record_id: Some(c.id),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let fx = effects_of(&out);
    let task = fx.iter().find(|e| e["kind"] == "create").unwrap();
    assert_eq!(
        (task["form"].as_str(), task["data"]["kind"].as_str()),
        (Some("tasks"), Some("renewal"))
    );
    assert_eq!(task["data"]["contract"], json!(c.id.to_string()));
    assert!(fx.iter().any(|e| e["kind"] == "notify"));

    // A ticket closes: the SLA outcome is stamped and a survey created.
    let tickets = all(t, ctx, crm.form("service_tickets")).await;
    let open = tickets
        .iter()
        .find(|t| t.data["status"] == "in_progress" || t.data["status"] == "open")
        .unwrap();
    let closed = t
        .engine
        .update_record(
            ctx,
            crm.form("service_tickets"),
            open.id,
            serde_json::from_value(json!({"status": "closed", "resolution": "已处理 Fixed"})).unwrap(),
            None,
        )
        .await
        .unwrap();
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["ticket_closed_survey"],
            TestRunInput {
                record_id: Some(closed.id),
                old: Some(serde_json::from_value(json!({"status": open.data["status"]})).unwrap()),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let fx = effects_of(&out);
    let stamp = fx.iter().find(|e| e["kind"] == "update").unwrap();
    let due = date_of(open, "sla_due").unwrap();
    assert_eq!(stamp["data"]["sla_met"], json!(ctx.now.date_naive() <= due));
    assert_eq!(stamp["data"]["closed_on"], json!(today));
    let survey = fx.iter().find(|e| e["kind"] == "create").unwrap();
    assert_eq!(survey["form"], "surveys");
    assert_eq!(survey["data"]["ticket"], json!(closed.id.to_string()));
    assert_eq!(survey["data"]["customer"], open.data["customer"]);

    // A converted lead becomes a customer that points back at it.
    let leads = all(t, ctx, crm.form("leads")).await;
    let lead = leads.iter().find(|l| l.data["status"] == "working").unwrap();
    let mut converted = lead.data.clone();
    converted.insert("status".into(), json!("converted"));
    converted.insert("phone".into(), json!("13000000001"));
    converted.insert("id".into(), json!(lead.id.to_string()));
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["lead_conversion"],
            TestRunInput {
                record: Some(converted),
                old: Some(serde_json::from_value(json!({"status": "working"})).unwrap()),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let fx = effects_of(&out);
    let created = fx.iter().find(|e| e["kind"] == "create").unwrap();
    assert_eq!(created["form"], "customers");
    assert_eq!(created["data"]["lead"], json!(lead.id.to_string()));
    assert_eq!(created["data"]["lifecycle"], "new");
    assert!(fx.iter().any(|e| e["kind"] == "update" && e["form"] == "leads"));

    // Every rule test-runs without error: record rules over a record of their form.
    for (key, id) in &crm.rules {
        let rule = t.engine.get_rule(ctx, *id).await.unwrap();
        let record = if rule.trigger["kind"] == "schedule" {
            None
        } else {
            let page = t
                .engine
                .query_records(
                    ctx,
                    rule.form_id,
                    QueryRequest {
                        limit: Some(1),
                        ..QueryRequest::default()
                    },
                    false,
                )
                .await
                .unwrap();
            Some(page.records[0].id)
        };
        let out = t
            .engine
            .test_rule(
                ctx,
                *id,
                TestRunInput {
                    record_id: record,
                    old: record.map(|_| serde_json::Map::new()),
                    ..TestRunInput::default()
                },
            )
            .await
            .unwrap();
        assert!(out.error.is_none(), "{key}: {out:?}");
    }

    // Round-robin assignment over the roster: two more agents, then a new ticket.
    let mut agents = vec![ctx.actor.to_string()];
    for seq in [2, 3] {
        let m = t.member(ctx, Role::Member).await;
        agents.push(m.actor.to_string());
        t.engine
            .create_record(
                ctx,
                crm.form("service_agents"),
                RecordInput {
                    data: serde_json::from_value(
                        json!({"agent": m.actor.to_string(), "seq": seq, "active": true}),
                    )
                    .unwrap(),
                },
                None,
            )
            .await
            .unwrap();
    }
    let assigned = all(t, ctx, crm.form("service_tickets"))
        .await
        .iter()
        .filter(|t| t.data.get("assignee").is_some())
        .count();
    let ticket = t
        .engine
        .create_record(
            ctx,
            crm.form("service_tickets"),
            RecordInput {
                data: serde_json::from_value(
                    json!({"title": "无法开机 Will not start", "customer": bob.id.to_string(),
                    "category": "fault", "priority": "high"}),
                )
                .unwrap(),
            },
            None,
        )
        .await
        .unwrap();
    let out = t
        .engine
        .test_rule(
            ctx,
            crm.rules["ticket_auto_assign"],
            TestRunInput {
                record_id: Some(ticket.id),
                ..TestRunInput::default()
            },
        )
        .await
        .unwrap();
    let fx = effects_of(&out);
    let patch = &fx.iter().find(|e| e["kind"] == "update").unwrap()["data"];
    assert_eq!(patch["assignee"], json!(agents[assigned % 3]), "{fx:?}");
    assert_eq!(
        patch["sla_due"],
        json!(
            (ctx.now.date_naive() + TimeDelta::days(2))
                .format("%Y-%m-%d")
                .to_string()
        )
    );
}
