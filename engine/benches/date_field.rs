//! The date-field trigger's daily lookup over a large form:
//! `cargo bench -p engine --bench date_field` (1,000,000 customers by
//! default; `FW_BENCH_ROWS` to change; PostgreSQL too when
//! `FORMWORK_TEST_PG` names a reachable server; `FW_BENCH_SKIP_SQLITE` to
//! skip SQLite). Prints, per backend, the
//! load time and the lookup time for several days (the target:
//! under 1 s with the field indexed). Not a criterion bench: the set-up is
//! the expensive part and runs once.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use engine::ctx::{Ctx, Role};
use engine::meta::app::AppInput;
use engine::query::due::{records_on_dates, year_span, yearly_dates};
use engine::record::RecordInput;
use engine::{Engine, EngineConfig};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;

async fn run(label: &str, url: &str, rows: usize) {
    let engine = Engine::open(
        url,
        EngineConfig {
            max_batch: 1000,
            ..EngineConfig::default()
        },
    )
    .await
    .expect("open");
    let (tenant, user) = engine
        .create_tenant_with_owner("bench", "bench", "owner@bench.test", "password123")
        .await
        .expect("tenant");
    let ctx = Ctx::new(tenant, user, Role::Owner);
    let app = engine
        .create_app(
            &ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .expect("app")
        .id;
    let form = engine
        .create_form(
            &ctx,
            app,
            json!({"name": "customers", "fields": [
                {"key": "name", "label": "Name", "type": "text"},
                {"key": "birthday", "label": "Birthday", "type": "date", "indexed": true}
            ]}),
        )
        .await
        .expect("form")
        .id;
    let started = Instant::now();
    let base = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap();
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(1000);
        let batch = (done..done + n)
            .map(|i| {
                // Spread over 60 years, a prime stride so every day of the year appears.
                let b = base + chrono::TimeDelta::days(i64::try_from((i * 7919) % 21915).unwrap());
                RecordInput {
                    data: json!({"name": format!("c{i}"), "birthday": b.format("%Y-%m-%d").to_string()})
                        .as_object()
                        .cloned()
                        .unwrap(),
                }
            })
            .collect();
        engine
            .batch_create_records(&ctx, form, batch)
            .await
            .expect("batch");
        done += n;
    }
    engine.db().optimize().await.expect("optimize");
    println!(
        "{label}: loaded {rows} customers in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for (m, d) in [(1, 15), (2, 28), (6, 30), (11, 26), (12, 31)] {
        let target = NaiveDate::from_ymd_opt(2027, m, d).unwrap();
        let t = Instant::now();
        let (lo, hi) = year_span(engine.db(), tenant, form, "birthday")
            .await
            .expect("span")
            .expect("dates");
        let dates = yearly_dates(target, lo, hi);
        let ids = records_on_dates(engine.db(), tenant, form, "birthday", &dates)
            .await
            .expect("lookup");
        println!(
            "{label}: yearly lookup for {:02}-{:02}: {} records in {:.1} ms ({} dates)",
            target.month(),
            target.day(),
            ids.len(),
            t.elapsed().as_secs_f64() * 1000.0,
            dates.len()
        );
    }
    let t = Instant::now();
    let ids = records_on_dates(engine.db(), tenant, form, "birthday", &["1980-05-17".to_owned()])
        .await
        .expect("once");
    println!(
        "{label}: once lookup: {} records in {:.2} ms",
        ids.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let _ = Utc.timestamp_opt(0, 0);
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::var("FW_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("fw-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bench.db");
    if std::env::var("FW_BENCH_SKIP_SQLITE").is_err() {
        run("sqlite", &format!("sqlite://{}?mode=rwc", file.display()), rows).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(base) = std::env::var("FORMWORK_TEST_PG") {
        let Ok(admin) = Database::connect(&base).await else {
            println!("postgres: unreachable, skipped");
            return;
        };
        let name = format!("fw_bench_{}", std::process::id());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create db");
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        run("postgres", &url, rows).await;
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}
