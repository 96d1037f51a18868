//! Automation acceptance: rules with rhai scripts on the real binary, with
//! the clock stepped through `POST /api/v1/admin/scheduler/run` (servers
//! started with `FORMWORK_ALLOW_CLOCK_OVERRIDE=true`, so no background
//! scheduler runs). `firing`: birthday coupons over two years, SIGKILL in
//! the middle of a tick, two processes (and the CLI) ticking one database.
//! `scripts`: a churn alert, bad scripts, manual runs. Shared set-up and
//! readers live here.

mod firing;
mod scripts;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};

use crate::harness::{Opts, Server};

/// Server options: the clock moves only when a test says so.
fn clock() -> Opts {
    Opts {
        env: vec![("FORMWORK_ALLOW_CLOCK_OVERRIDE".into(), "true".into())],
    }
}

fn utc(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(h, m, 0).unwrap())
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// 1 January of the year after the real one: rules are created now (real
/// time), so the stepped clock must start later than that.
fn next_new_year() -> NaiveDate {
    ymd(Utc::now().year() + 1, 1, 1)
}

/// Runs everything due at `at`; returns the report.
async fn tick(srv: &Server, token: &str, at: DateTime<Utc>) -> Value {
    let r = srv
        .post(
            "/api/v1/admin/scheduler/run",
            token,
            json!({"at": at.to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 200, "tick at {at}: {}\n{}", r.text, srv.log());
    r.body
}

async fn create_rule(srv: &Server, token: &str, app: &str, def: Value) -> String {
    let r = srv.post(&format!("/api/v1/apps/{app}/rules"), token, def).await;
    assert_eq!(r.status, 201, "create rule: {}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

/// Creates records in batches of 250; returns their ids in order.
async fn insert_all(srv: &Server, token: &str, form: &str, rows: Vec<Value>) -> Vec<String> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(250) {
        let body: Vec<Value> = chunk.iter().map(|d| json!({"data": d})).collect();
        let r = srv
            .post(
                &format!("/api/v1/forms/{form}/records/batch"),
                token,
                json!({"records": body}),
            )
            .await;
        assert_eq!(r.status, 201, "batch create: {}", r.text);
        let made = r.body["records"].as_array().unwrap();
        assert_eq!(made.len(), chunk.len());
        ids.extend(made.iter().map(|m| m["id"].as_str().unwrap().to_owned()));
    }
    ids
}

/// Every record of `form` matching `filter` (null: all), paging through
/// `next_cursor`.
async fn records(srv: &Server, token: &str, form: &str, filter: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..1000 {
        let mut body = json!({"limit": 500, "filter": filter});
        if !cursor.is_null() {
            body["cursor"] = cursor.clone();
        }
        let r = srv
            .post(&format!("/api/v1/forms/{form}/records/query"), token, body)
            .await;
        assert_eq!(r.status, 200, "query: {}", r.text);
        out.extend(r.body["records"].as_array().unwrap().iter().cloned());
        cursor = r.body["next_cursor"].clone();
        if cursor.is_null() {
            return out;
        }
    }
    panic!("more than 1000 pages of records");
}

async fn count(srv: &Server, token: &str, form: &str, filter: Value) -> u64 {
    let r = srv
        .post(
            &format!("/api/v1/forms/{form}/records/query"),
            token,
            json!({"limit": 1, "total": true, "filter": filter}),
        )
        .await;
    assert_eq!(r.status, 200, "count: {}", r.text);
    r.body["total"].as_u64().unwrap()
}

/// Newest first, every page.
async fn runs(srv: &Server, token: &str, rule: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/api/v1/rules/{rule}/runs?limit=200");
    for _ in 0..100 {
        let r = srv.get(&path, token).await;
        assert_eq!(r.status, 200, "runs: {}", r.text);
        out.extend(r.body["runs"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/rules/{rule}/runs?limit=200&cursor={c}"),
            None => return out,
        }
    }
    panic!("more than 100 pages of runs");
}

/// A CRM app with customers (birthday indexed) and coupons.
struct Crm {
    token: String,
    app: String,
    customers: String,
    coupons: String,
}

async fn crm(srv: &Server, slug: &str) -> Crm {
    let token = srv.tenant(slug).await;
    let app = srv.create_app(&token, "CRM").await;
    let customers = srv
        .create_form(
            &token,
            &app,
            json!({"name": "customers", "fields": [
                {"key": "name", "label": "Name", "type": "text", "required": true},
                {"key": "birthday", "label": "Birthday", "type": "date", "indexed": true},
                {"key": "owner", "label": "Owner", "type": "text"}
            ]}),
        )
        .await;
    let coupons = srv
        .create_form(
            &token,
            &app,
            json!({"name": "coupons", "fields": [
                {"key": "customer", "label": "Customer", "type": "relation", "form_id": customers, "required": true},
                {"key": "code", "label": "Code", "type": "text", "required": true},
                {"key": "year", "label": "Year", "type": "number"},
                {"key": "on", "label": "On", "type": "date"}
            ]}),
        )
        .await;
    Crm {
        token,
        app,
        customers,
        coupons,
    }
}

/// The birthday rule of the scenarios: three days before, at 09:00, every
/// year, one coupon naming the customer, the year and the day.
async fn birthday_rule(srv: &Server, c: &Crm) -> String {
    create_rule(
        srv,
        &c.token,
        &c.app,
        json!({"name": "birthday coupon", "form_id": c.customers,
               "trigger": {"kind": "date_field", "field": "birthday", "offset_days": -3, "at": "09:00", "repeat": "yearly"},
               "script": "create(\"coupons\", #{customer: record.id, code: `BDAY-${year(today())}-${record.name}`, year: year(today()), on: today()});"}),
    )
    .await
}

/// Creates one customer per birthday; returns id → birthday.
async fn customers_born(srv: &Server, c: &Crm, days: &[NaiveDate]) -> BTreeMap<String, NaiveDate> {
    let rows = days
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"name": format!("c{i}"), "birthday": day_text(*b)}))
        .collect();
    let ids = insert_all(srv, &c.token, &c.customers, rows).await;
    ids.into_iter().zip(days.iter().copied()).collect()
}

/// The day in `year` the coupon of someone born on `birth` is due: three
/// days before this year's or next year's anniversary (a 29 February
/// birthday counts on 28 February in common years).
fn coupon_day(birth: NaiveDate, year: i32) -> NaiveDate {
    [year, year + 1]
        .into_iter()
        .map(|y| {
            NaiveDate::from_ymd_opt(y, birth.month(), birth.day()).unwrap_or_else(|| ymd(y, 2, 28))
                - TimeDelta::days(3)
        })
        .find(|d| d.year() == year)
        .unwrap()
}

/// Asserts exactly one coupon per customer and year, on its due day.
fn assert_coupons(coupons: &[Value], born: &BTreeMap<String, NaiveDate>, years: &[i32]) {
    let mut by: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
    for c in coupons {
        let d = &c["data"];
        let key = (
            d["customer"].as_str().unwrap().to_owned(),
            d["year"].as_i64().unwrap(),
        );
        by.entry(key)
            .or_default()
            .push(d["on"].as_str().unwrap().to_owned());
    }
    let mut missing = Vec::new();
    for (id, b) in born {
        for &y in years {
            match by.get(&(id.clone(), i64::from(y))) {
                None => missing.push(format!("{id} born {b}: none in {y}")),
                Some(days) => {
                    assert_eq!(
                        days,
                        &vec![day_text(coupon_day(*b, y))],
                        "customer {id} born {b}, year {y}"
                    );
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} missing coupons, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        coupons.len(),
        born.len() * years.len(),
        "coupons for unknown customers or years"
    );
}

/// `n` birthdays spread over the year, with the edges: 29 February (born
/// in leap years), 28 February, 1 March, and the turn of the year (a
/// 1 January birthday's coupon is due on 29 December of the year before).
fn spread_birthdays(n: usize) -> Vec<NaiveDate> {
    let mut days = vec![
        ymd(1988, 2, 29),
        ymd(1992, 2, 29),
        ymd(1996, 2, 29),
        ymd(2000, 2, 29),
        ymd(2004, 2, 29),
        ymd(1984, 2, 29),
        ymd(1990, 2, 28),
        ymd(1991, 3, 1),
        ymd(1980, 1, 1),
        ymd(1981, 1, 2),
        ymd(1982, 1, 3),
        ymd(1983, 1, 4),
        ymd(1970, 12, 31),
        ymd(1971, 12, 28),
    ];
    let mut i = 0_u32;
    while days.len() < n {
        // 7 919 is prime: the ordinals cover the year evenly; in leap
        // birth years ordinal 60 is another 29 February.
        let ordinal = 1 + (i * 7919) % 365;
        let year = 1950 + i32::try_from(i % 55).unwrap();
        days.push(NaiveDate::from_yo_opt(year, ordinal).unwrap());
        i += 1;
    }
    days
}
