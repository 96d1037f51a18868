//! Spreadsheet exchange throughput: `cargo bench -p engine --bench exchange`.
//!
//! Not criterion: each phase runs once on a scale where one run takes
//! seconds, and prints rows/s and the process's peak memory during the
//! phase (`VmHWM` of `/proc/self/status`, reset between phases through
//! `/proc/self/clear_refs`).
//!
//! 1. XLSX import of 100,000 customer rows with 1% bad rows: upload (read
//!    and guess), dry run (every bad row reported), the real run refused
//!    (nothing written), the fixed file inserted, then upserted by phone.
//! 2. CSV export of 1,000,000 rows, streamed chunk by chunk, in a fresh
//!    process on the same database (so its peak is the export's own).
//!
//! SQLite on a temporary file by default; `FORMWORK_BENCH_PG=<url of an
//! existing scratch database>` runs it on PostgreSQL instead. Scale with
//! `FORMWORK_BENCH_IMPORT_ROWS` and `FORMWORK_BENCH_EXPORT_ROWS`.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Instant;

use engine::ctx::{Ctx, Role};
use engine::exchange::{ExportRequest, Format, ImportMode, ImportView, RunImportInput, XLSX_MIME};
use engine::ids::FormId;
use engine::meta::app::AppInput;
use engine::{Engine, EngineConfig};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory since the last reset, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn report(phase: &str, rows: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{phase:<42} {rows:>9} rows {secs:>8.2} s {:>10.0} rows/s   peak {:>7.1} MiB",
        rows as f64 / secs,
        peak_mib()
    );
    reset_peak();
}

fn customer_cells(i: usize, bad_every: Option<usize>, spent_bump: f64) -> [String; 7] {
    let bad = bad_every.is_some_and(|n| i % n == n - 1);
    let phone = if bad && i.is_multiple_of(2) {
        format!("bad-{i}")
    } else {
        format!("1{:010}", 3_800_000_000usize + i)
    };
    let joined = if bad && i % 2 == 1 {
        "2026-13-40".to_owned()
    } else {
        format!("{}年{}月{}日", 2020 + i % 6, i % 12 + 1, i % 28 + 1)
    };
    [
        format!("客户{i}"),
        phone,
        format!("c{i}@example.com"),
        if i.is_multiple_of(5) { "贵宾" } else { "普通" }.to_owned(),
        format!("{:.2}", (i % 10_000) as f64 * 12.5 + spent_bump),
        joined,
        ["上海", "北京", "深圳", "杭州"][i % 4].to_owned(),
    ]
}

fn xlsx(rows: usize, bad_every: Option<usize>, spent_bump: f64) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet_with_constant_memory().unwrap();
    for (c, h) in [
        "客户 Customer",
        "电话 Phone",
        "Email",
        "等级",
        "Total spent",
        "Joined",
        "City",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for i in 0..rows {
        let r = u32::try_from(i + 1).unwrap();
        for (c, v) in customer_cells(i, bad_every, spent_bump).iter().enumerate() {
            if c == 4 {
                sheet
                    .write_number(r, c as u16, v.parse::<f64>().unwrap())
                    .unwrap();
            } else {
                sheet.write_string(r, c as u16, v).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

async fn form(engine: &Engine, ctx: &Ctx) -> FormId {
    let app = engine
        .create_app(
            ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let def = json!({
        "name": "Customers",
        "fields": [
            {"key": "name", "label": "客户 Customer", "type": "text", "required": true},
            {"key": "phone", "label": "电话 Phone", "type": "phone", "unique": true},
            {"key": "email", "label": "Email", "type": "email"},
            {"key": "tier", "label": "等级 Tier", "type": "select",
             "options": [{"value": "vip", "label": "贵宾"}, {"value": "regular", "label": "普通"}]},
            {"key": "total_spent", "label": "Total spent", "type": "number", "min": 0},
            {"key": "joined", "label": "Joined", "type": "date"},
            {"key": "city", "label": "City", "type": "text", "indexed": true}
        ]
    });
    engine.create_form(ctx, app, def).await.unwrap().id
}

async fn run_job(
    engine: &Engine,
    ctx: &Ctx,
    form: FormId,
    v: &ImportView,
    input: RunImportInput,
) -> ImportView {
    engine.run_import(ctx, form, v.id, input).await.unwrap();
    let kinds = Arc::new(engine.job_kinds());
    while engine::jobs::run_once(engine.db(), &kinds, "bench", chrono::Utc::now())
        .await
        .unwrap()
        > 0
    {}
    engine.get_import(ctx, form, v.id).await.unwrap()
}

fn input(mode: ImportMode, dry_run: bool) -> RunImportInput {
    RunImportInput {
        mapping: None,
        mode,
        key: (mode != ImportMode::Insert).then(|| "phone".to_owned()),
        dry_run,
    }
}

async fn bench() {
    let import_rows = env_usize("FORMWORK_BENCH_IMPORT_ROWS", 100_000);
    let export_rows = env_usize("FORMWORK_BENCH_EXPORT_ROWS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("FORMWORK_BENCH_PG")
        .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display()));
    println!(
        "database: {}",
        if url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite (file)"
        }
    );
    let engine = Engine::open(&url, EngineConfig::default()).await.unwrap();
    let slug = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let (tenant, user) = engine
        .create_tenant_with_owner(&slug, "Bench", &format!("owner@{slug}.test"), "password123")
        .await
        .unwrap();
    let ctx = Ctx::new(tenant, user, Role::Owner);
    let form_id = form(&engine, &ctx).await;

    let bad_file = xlsx(import_rows, Some(100), 0.0);
    let good_file = xlsx(import_rows, None, 0.0);
    let bumped_file = xlsx(import_rows, None, 1.0);
    println!("xlsx files: {:.1} MiB each", good_file.len() as f64 / 1_048_576.0);
    reset_peak();

    let t = Instant::now();
    let v = engine
        .upload_import(&ctx, form_id, XLSX_MIME, "bad.xlsx", bad_file)
        .await
        .unwrap();
    report("xlsx upload (read + guess mapping)", import_rows, t);
    let t = Instant::now();
    let dry = engine
        .run_import(&ctx, form_id, v.id, input(ImportMode::Insert, true))
        .await
        .unwrap();
    report("xlsx dry run, 1% bad rows", import_rows, t);
    assert_eq!(dry.summary.unwrap().failed_rows as usize, import_rows / 100);
    let t = Instant::now();
    let refused = run_job(&engine, &ctx, form_id, &v, input(ImportMode::Insert, false)).await;
    report("xlsx import refused (bad rows, 0 written)", import_rows, t);
    assert_eq!(refused.status, "failed");

    let v = engine
        .upload_import(&ctx, form_id, XLSX_MIME, "good.xlsx", good_file)
        .await
        .unwrap();
    reset_peak();
    let t = Instant::now();
    let done = run_job(&engine, &ctx, form_id, &v, input(ImportMode::Insert, false)).await;
    report("xlsx import, insert (job, one transaction)", import_rows, t);
    assert_eq!(done.status, "succeeded", "{done:?}");

    let v = engine
        .upload_import(&ctx, form_id, XLSX_MIME, "bumped.xlsx", bumped_file)
        .await
        .unwrap();
    reset_peak();
    let t = Instant::now();
    let done = run_job(&engine, &ctx, form_id, &v, input(ImportMode::Upsert, false)).await;
    report("xlsx import, upsert by phone (all update)", import_rows, t);
    assert_eq!(done.summary.unwrap().updated as usize, import_rows, "{done:?}");

    // Fill up to the export size with CSV imports of 100,000 rows (not
    // measured).
    let mut have = import_rows;
    while have < export_rows {
        let n = (export_rows - have).min(100_000);
        let mut csv = String::from("name,phone,email,tier,total_spent,joined,city\n");
        for i in have..have + n {
            csv.push_str(&customer_cells(i, None, 0.0).join(","));
            csv.push('\n');
        }
        let v = engine
            .import_file(
                &ctx,
                form_id,
                "text/csv",
                "fill.csv",
                csv.into_bytes(),
                input(ImportMode::Insert, false),
            )
            .await
            .unwrap();
        assert_eq!(v.status, "succeeded", "{v:?}");
        have += n;
    }
    // The export runs in a fresh process on the same database, so its peak
    // is the export's own and not memory the allocator kept from the fill.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--bench")
        .env(
            EXPORT_ONLY,
            json!({"url": url, "tenant": tenant.to_string(), "user": user.to_string(),
                   "form": form_id.to_string(), "rows": export_rows})
            .to_string(),
        )
        .status()
        .unwrap();
    assert!(child.success(), "the export process failed: {child}");
}

/// Set (to the database, tenant, owner, form and row count) in the process
/// that only exports.
const EXPORT_ONLY: &str = "FORMWORK_BENCH_EXPORT_ONLY";

async fn export_only(spec: &str) {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap();
    let text = |k: &str| spec[k].as_str().unwrap().to_owned();
    let engine = Engine::open(&text("url"), EngineConfig::default()).await.unwrap();
    let ctx = Ctx::new(
        text("tenant").parse().unwrap(),
        text("user").parse().unwrap(),
        Role::Owner,
    );
    let form_id: FormId = text("form").parse().unwrap();
    let export_rows = usize::try_from(spec["rows"].as_u64().unwrap()).unwrap();
    println!(
        "{:<42} {:>9}      {:>8}   {:>10}        peak {:>7.1} MiB",
        "fresh export process, before the export",
        "",
        "",
        "",
        peak_mib()
    );
    let t = Instant::now();
    let mut exported = engine
        .export_records(
            &ctx,
            form_id,
            ExportRequest {
                format: Format::Csv,
                filter: None,
                sort: None,
                q: None,
                fields: None,
            },
        )
        .await
        .unwrap();
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = exported.next_chunk().await.unwrap() {
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    report("csv export, streamed (fresh process)", lines - 1, t);
    assert_eq!(lines - 1, export_rows);
    println!("csv size: {:.1} MiB", bytes as f64 / 1_048_576.0);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and
    // only checks that this builds.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            match std::env::var(EXPORT_ONLY) {
                Ok(spec) => export_only(&spec).await,
                Err(_) => bench().await,
            }
        });
}
