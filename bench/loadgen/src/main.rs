//! Drives a running Formwork server over HTTP and prints figures; also
//! measures the plain-SQL floor (the same rows and indexes written straight
//! into a SQLite file) so the API's overhead can be read off one run.
//!
//! Usage: `loadgen http <base-url> <tenant> <email> <password>` and
//! `loadgen floor <sqlite-file> <rows>`. Every loop is bounded.

#![allow(clippy::print_stdout, clippy::indexing_slicing)] // a command-line report over fixed arrays

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

const SINGLE_CREATES: usize = 5000;
const BATCH_TOTAL: usize = 100_000;
const BATCH_SIZE: usize = 1000;
const PAGE_SAMPLES: usize = 200;

fn row(i: usize) -> Value {
    let tiers = ["VIP", "高潜力", "普通", "流失风险", "沉睡"];
    let cities = ["上海", "北京", "深圳", "杭州"];
    json!({
        "name": format!("客户 {i:06}"),
        "email": format!("c{i}@example.com"),
        "phone": format!("+86 138 {:04} {:04}", i % 10_000, (i * 7) % 10_000),
        "tier": tiers[i % tiers.len()],
        "total_spent": ((i * 7919) % 100_000) as f64 / 10.0,
        "orders": (i % 37) as i64,
        "city": cities[i % cities.len()],
        "birthday": format!("19{:02}-{:02}-{:02}", 60 + i % 40, 1 + i % 12, 1 + i % 28),
        "vip": i.is_multiple_of(3),
        "note": "常规客户，季度回访；偏好线上沟通。",
    })
}

fn form_def() -> Value {
    let opt = |v: &str| json!({"value": v, "label": v, "color": "#1677ff"});
    json!({
        "name": "客户 Customers",
        "fields": [
            {"key": "name", "label": "名称", "type": "text", "required": true},
            {"key": "email", "label": "Email", "type": "email"},
            {"key": "phone", "label": "电话", "type": "phone"},
            {"key": "tier", "label": "等级", "type": "select", "indexed": true,
             "options": [opt("VIP"), opt("高潜力"), opt("普通"), opt("流失风险"), opt("沉睡")]},
            {"key": "total_spent", "label": "累计消费", "type": "number", "indexed": true, "min": 0},
            {"key": "orders", "label": "订单数", "type": "number", "min": 0},
            {"key": "city", "label": "城市", "type": "text"},
            {"key": "birthday", "label": "生日", "type": "date"},
            {"key": "vip", "label": "会员", "type": "checkbox"},
            {"key": "note", "label": "备注", "type": "textarea"}
        ]
    })
}

fn pct(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let idx = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(idx).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn http(base: &str, tenant: &str, email: &str, password: &str) -> Result<()> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(16).build()?;
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"tenant": tenant, "email": email, "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().context("login gave no token")?.to_owned();
    let auth = format!("Bearer {token}");
    let app: Value = client
        .post(format!("{base}/api/v1/apps"))
        .header("authorization", &auth)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let app_id = app["id"].as_str().context("no app id")?;
    let form: Value = client
        .post(format!("{base}/api/v1/apps/{app_id}/forms"))
        .header("authorization", &auth)
        .json(&form_def())
        .send()
        .await?
        .json()
        .await?;
    let form_id = form["id"].as_str().context("no form id")?.to_owned();
    let records_url = format!("{base}/api/v1/forms/{form_id}/records");

    let mut first_id = String::new();
    for concurrency in [1usize, 8] {
        let started = Instant::now();
        let per_worker = SINGLE_CREATES / concurrency;
        let mut workers = Vec::new();
        for w in 0..concurrency {
            let (client, url, auth) = (client.clone(), records_url.clone(), auth.clone());
            workers.push(tokio::spawn(async move {
                let mut last = String::new();
                for i in 0..per_worker {
                    let resp = client
                        .post(&url)
                        .header("authorization", &auth)
                        .json(&json!({"data": row(concurrency * 1_000_000 + w * per_worker + i)}))
                        .send()
                        .await?;
                    if resp.status().as_u16() != 201 {
                        bail!("create answered {}: {}", resp.status(), resp.text().await?);
                    }
                    let v: Value = resp.json().await?;
                    last = v["id"].as_str().unwrap_or_default().to_owned();
                }
                Ok(last)
            }));
        }
        for w in workers {
            first_id = w.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let n = per_worker * concurrency;
        println!(
            "single create, concurrency {concurrency}: {n} requests in {secs:.2} s = {:.0} creates/s",
            n as f64 / secs
        );
    }

    let started = Instant::now();
    for b in 0..BATCH_TOTAL / BATCH_SIZE {
        let records: Vec<Value> = (0..BATCH_SIZE)
            .map(|i| json!({"data": row(b * BATCH_SIZE + i)}))
            .collect();
        let resp = client
            .post(format!("{records_url}/batch"))
            .header("authorization", &auth)
            .json(&json!({"records": records}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("batch answered {}: {}", resp.status(), resp.text().await?);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "batch create: {BATCH_TOTAL} records in {secs:.2} s = {:.0} records/s",
        BATCH_TOTAL as f64 / secs
    );

    let query = json!({
        "filter": {"and": [{"field": "tier", "op": "eq", "value": "VIP"}]},
        "sort": [{"field": "total_spent", "dir": "desc"}],
        "limit": 25
    });
    let mut samples = Vec::with_capacity(PAGE_SAMPLES);
    for _ in 0..PAGE_SAMPLES {
        let t = Instant::now();
        let resp = client
            .post(format!("{records_url}/query"))
            .header("authorization", &auth)
            .json(&query)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("query answered {}: {}", resp.status(), resp.text().await?);
        }
        let page: Value = resp.json().await?;
        samples.push(t.elapsed());
        if page["records"].as_array().map_or(0, Vec::len) != 25 {
            bail!("query returned a short page");
        }
    }
    println!(
        "filtered+sorted first page of 25 over {} records: p50 {:.2} ms, p95 {:.2} ms",
        BATCH_TOTAL + SINGLE_CREATES * 2,
        pct(&mut samples, 0.5),
        pct(&mut samples, 0.95)
    );

    let mut samples = Vec::with_capacity(PAGE_SAMPLES);
    for _ in 0..PAGE_SAMPLES {
        let t = Instant::now();
        let resp = client
            .get(format!("{records_url}/{first_id}"))
            .header("authorization", &auth)
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("get answered {}", resp.status());
        }
        resp.bytes().await?;
        samples.push(t.elapsed());
    }
    println!(
        "get by id: p50 {:.2} ms, p95 {:.2} ms",
        pct(&mut samples, 0.5),
        pct(&mut samples, 0.95)
    );
    Ok(())
}

/// The same rows and indexes, inserted with plain SQL in 1,000-row
/// transactions: the floor under the API's batch rate.
async fn floor(file: &str, rows: usize) -> Result<()> {
    use engine::ids::{FormId, RecordId};
    use engine::meta::field_type::SqlCast;
    use engine::store::form_index::{FieldIndex, IndexPurpose, sync};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use sea_query::{Alias, Query, SqliteQueryBuilder};

    let db = engine::store::Db::connect(&format!("sqlite://{file}?mode=rwc")).await?;
    db.migrate().await?;
    let form = FormId::new();
    let wanted = [
        FieldIndex {
            key: "tier".into(),
            cast: SqlCast::Text,
            purpose: IndexPurpose::Lookup,
        },
        FieldIndex {
            key: "total_spent".into(),
            cast: SqlCast::Numeric,
            purpose: IndexPurpose::Lookup,
        },
    ];
    sync(db.conn(), db.backend(), form, &[], &wanted).await?;
    let tenant = uuid::Uuid::now_v7().to_string();
    let now = chrono::Utc::now();
    let started = Instant::now();
    for chunk in 0..rows.div_ceil(BATCH_SIZE) {
        let tx = db.conn().begin().await?;
        for i in chunk * BATCH_SIZE..((chunk + 1) * BATCH_SIZE).min(rows) {
            let stmt = Query::insert()
                .into_table(Alias::new("records"))
                .columns(
                    [
                        "id",
                        "tenant_id",
                        "app_id",
                        "form_id",
                        "form_version",
                        "data",
                        "version",
                        "created_by",
                        "updated_by",
                        "created_at",
                        "updated_at",
                    ]
                    .map(Alias::new),
                )
                .values_panic([
                    RecordId::new().to_string().into(),
                    tenant.clone().into(),
                    tenant.clone().into(),
                    form.to_string().into(),
                    1.into(),
                    row(i).to_string().into(),
                    1.into(),
                    tenant.clone().into(),
                    tenant.clone().into(),
                    now.into(),
                    now.into(),
                ])
                .to_owned();
            let (sql, values) = stmt.build(SqliteQueryBuilder);
            tx.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Sqlite,
                sql,
                values,
            ))
            .await?;
        }
        tx.commit().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "plain SQL floor: {rows} rows in {secs:.2} s = {:.0} rows/s",
        rows as f64 / secs
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [_, "http", base, tenant, email, password] => http(base, tenant, email, password).await,
        [_, "floor", file, rows] => floor(file, rows.parse()?).await,
        _ => bail!(
            "usage: loadgen http <base-url> <tenant> <email> <password> | loadgen floor <sqlite-file> <rows>"
        ),
    }
}
