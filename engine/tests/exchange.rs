//! Spreadsheet import and export on real SQLite and real PostgreSQL.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::TestDb;
use engine::ctx::Ctx;
use engine::error::{ErrorCode, HasCode};
use engine::exchange::{
    ColumnMapping, ExportRequest, Format, ImportMode, ImportView, RunImportInput, XLSX_MIME,
};
use engine::ids::FormId;
use engine::meta::app::AppInput;
use engine::query::model::QueryRequest;
use serde_json::{Value, json};

async fn customers(db: &TestDb, ctx: &Ctx) -> FormId {
    let app = db
        .engine
        .create_app(
            ctx,
            AppInput {
                name: "CRM".into(),
                description: String::new(),
            },
        )
        .await
        .expect("app")
        .id;
    let def = json!({
        "name": "Customers",
        "fields": [
            {"key": "name", "label": "客户 Customer", "type": "text", "required": true, "max_length": 50},
            {"key": "phone", "label": "电话 Phone", "type": "phone", "unique": true},
            {"key": "tier", "label": "等级 Tier", "type": "select",
             "options": [{"value": "vip", "label": "贵宾"}, {"value": "regular", "label": "普通"}]},
            {"key": "total_spent", "label": "Total spent", "type": "number", "min": 0},
            {"key": "joined", "label": "Joined", "type": "date"},
            {"key": "code", "label": "Code", "type": "serial", "pattern": "C{seq:5}"}
        ]
    });
    db.engine.create_form(ctx, app, def).await.expect("form").id
}

async fn all_records(db: &TestDb, ctx: &Ctx, form: FormId) -> Vec<serde_json::Map<String, Value>> {
    let page = db
        .engine
        .query_records(
            ctx,
            form,
            QueryRequest {
                limit: Some(1000),
                sort: serde_json::from_value(json!([{"field": "phone"}])).unwrap(),
                ..QueryRequest::default()
            },
            false,
        )
        .await
        .expect("query");
    page.records.into_iter().map(|r| r.data).collect()
}

async fn upload_csv(db: &TestDb, ctx: &Ctx, form: FormId, csv: &str) -> ImportView {
    db.engine
        .upload_import(ctx, form, "text/csv", "c.csv", csv.as_bytes().to_vec())
        .await
        .expect("upload")
}

fn run(mode: ImportMode, key: Option<&str>, dry_run: bool) -> RunImportInput {
    RunImportInput {
        mapping: None,
        mode,
        key: key.map(str::to_owned),
        dry_run,
    }
}

/// Runs queued jobs until none is left.
async fn work(db: &TestDb) {
    let kinds = Arc::new(db.engine.job_kinds());
    for _ in 0..5 {
        let n = engine::jobs::run_once(db.engine.db(), &kinds, "test-worker", chrono::Utc::now())
            .await
            .expect("worker");
        if n == 0 {
            return;
        }
    }
}

/// A real run through the job queue; answers the import afterwards.
async fn import_for_real(
    db: &TestDb,
    ctx: &Ctx,
    form: FormId,
    v: &ImportView,
    input: RunImportInput,
) -> ImportView {
    let queued = db.engine.run_import(ctx, form, v.id, input).await.expect("run");
    assert_eq!(queued.status, "queued");
    work(db).await;
    db.engine.get_import(ctx, form, v.id).await.expect("get")
}

const GOOD: &str = "\u{feff}客户,电话 Phone,Tier,TOTAL SPENT,Joined,ignored\n\
Ann,13800000001,贵宾,\"1,234.50\",2026年1月5日,x\n\
Bob,13800000002,regular,\"12,000\",2026/02/03,y\n\
Cy,13800000003,普通,7,2026-03-04,z\n";

async fn guess_convert_and_insert(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let v = upload_csv(db, &ctx, form, GOOD).await;
    assert_eq!(v.rows, 3);
    assert_eq!(v.format, Format::Csv);
    let fields: Vec<Option<&str>> = v.mapping.iter().map(|m| m.field.as_deref()).collect();
    assert_eq!(
        fields,
        vec![
            Some("name"),
            Some("phone"),
            Some("tier"),
            Some("total_spent"),
            Some("joined"),
            None
        ]
    );
    let done = import_for_real(db, &ctx, form, &v, run(ImportMode::Insert, None, false)).await;
    assert_eq!(done.status, "succeeded", "{done:?}");
    assert_eq!(done.summary.unwrap().inserted, 3);
    assert_eq!(done.progress.processed, 3);
    let recs = all_records(db, &ctx, form).await;
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["name"], "Ann");
    assert_eq!(recs[0]["tier"], "vip");
    assert_eq!(recs[0]["total_spent"], json!(1234.5));
    assert_eq!(recs[0]["joined"], "2026-01-05");
    assert_eq!(recs[1]["total_spent"], json!(12000));
    assert_eq!(recs[1]["joined"], "2026-02-03");
    assert_eq!(recs[2]["tier"], "regular");
    assert!(recs[2]["code"].as_str().unwrap().starts_with('C'));
}
both_backends!(guess_convert_and_insert, guess_convert_and_insert);

const BAD: &str = "name,phone,tier,total_spent,joined\n\
Ann,13800000001,贵宾,100,2026-01-05\n\
Bob,not-a-phone,regular,5,2026-01-06\n\
\n\
Cy,13800000003,gold,5,2026-01-07\n\
,13800000004,regular,5,2026-01-08\n\
Di,13800000005,regular,-3,2026-13-01\n\
Ed,13800000001,regular,1,2026-01-09\n\
Fay,13800000007,regular,\"2,000\",2026.01.10\n";

async fn dry_run_lists_exactly_the_bad_rows_and_a_failed_import_changes_nothing(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    db.engine
        .create_record(
            &ctx,
            form,
            engine::record::RecordInput {
                data: json!({"name": "Old", "phone": "13900000000"})
                    .as_object()
                    .unwrap()
                    .clone(),
            },
            None,
        )
        .await
        .unwrap();
    let v = upload_csv(db, &ctx, form, BAD).await;
    let dry = db
        .engine
        .run_import(&ctx, form, v.id, run(ImportMode::Insert, None, true))
        .await
        .expect("dry");
    assert_eq!(dry.status, "validated");
    let rows: std::collections::BTreeSet<usize> = dry.errors.iter().map(|e| e.row).collect();
    // Row 4 is blank; 2, 3 and 10 are good.
    assert_eq!(
        rows.into_iter().collect::<Vec<_>>(),
        vec![3, 5, 6, 7, 8],
        "{:#?}",
        dry.errors
    );
    let summary = dry.summary.unwrap();
    assert_eq!((summary.inserted, summary.failed_rows), (2, 5));
    let phone = dry.errors.iter().find(|e| e.row == 3).unwrap();
    assert_eq!(phone.field.as_deref(), Some("phone"));
    assert_eq!(phone.column.as_deref(), Some("phone"));
    assert_eq!(phone.value.as_deref(), Some("not-a-phone"));
    let dup = dry.errors.iter().find(|e| e.row == 8).unwrap();
    assert!(dup.message.contains("row 2"), "{dup:?}");
    assert!(
        dry.errors
            .iter()
            .any(|e| e.row == 7 && e.field.as_deref() == Some("joined"))
    );
    assert!(
        dry.errors
            .iter()
            .any(|e| e.row == 7 && e.field.as_deref() == Some("total_spent"))
    );
    assert_eq!(
        all_records(db, &ctx, form).await.len(),
        1,
        "a dry run writes nothing"
    );
    let report = db.engine.import_error_report(&ctx, form, v.id).await.unwrap();
    let report = String::from_utf8(report).unwrap();
    assert!(
        report.starts_with("\u{feff}row,column,field,value,message\n"),
        "{report}"
    );
    assert_eq!(report.lines().count(), 1 + dry.errors.len());
    assert!(report.contains("3,phone,phone,not-a-phone,"));

    let done = import_for_real(db, &ctx, form, &v, run(ImportMode::Insert, None, false)).await;
    assert_eq!(done.status, "failed");
    assert_eq!(done.error_count, dry.error_count);
    assert!(done.failure.unwrap().contains("nothing was written"));
    let recs = all_records(db, &ctx, form).await;
    assert_eq!(recs.len(), 1, "a failed import changes nothing");
    assert_eq!(recs[0]["name"], "Old");
}
both_backends!(
    dry_run_bad_rows,
    dry_run_lists_exactly_the_bad_rows_and_a_failed_import_changes_nothing
);

/// The import job is read while it runs: validating and writing each report
/// counts between none and all of the rows, never going back, and the run
/// ends at all of them.
async fn progress_is_reported_while_it_runs(db: &TestDb) {
    const ROWS: u64 = 20_000;
    let ctx = db.tenant("progress").await;
    let form = customers(db, &ctx).await;
    let mut csv = String::from("客户,电话 Phone\n");
    for i in 0..ROWS {
        csv.push_str(&format!("C{i},139{i:08}\n"));
    }
    let v = upload_csv(db, &ctx, form, &csv).await;
    db.engine
        .run_import(&ctx, form, v.id, run(ImportMode::Insert, None, false))
        .await
        .expect("run");
    let done = std::cell::Cell::new(false);
    let runner = async {
        work(db).await;
        done.set(true);
    };
    let watcher = async {
        let mut seen: Vec<(String, u64, u64)> = Vec::new();
        // Bounded: the import ends long before, and the loop with it.
        for _ in 0..600_000 {
            if done.get() {
                break;
            }
            let now = db.engine.get_import(&ctx, form, v.id).await.expect("get");
            let p = serde_json::to_value(now.progress).unwrap();
            let entry = (
                p["phase"].as_str().unwrap().to_owned(),
                p["processed"].as_u64().unwrap(),
                p["total"].as_u64().unwrap(),
            );
            if seen.last() != Some(&entry) {
                seen.push(entry);
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        seen
    };
    let ((), seen) = tokio::join!(runner, watcher);
    for phase in ["validating", "writing"] {
        let counts: Vec<u64> = seen
            .iter()
            .filter(|(p, _, total)| p == phase && *total == ROWS)
            .map(|(_, n, _)| *n)
            .collect();
        assert!(
            counts.iter().any(|n| 0 < *n && *n < ROWS),
            "{phase}: no report between none and all rows in {seen:?}"
        );
        assert!(counts.is_sorted(), "{phase} went back: {seen:?}");
    }
    let end = db.engine.get_import(&ctx, form, v.id).await.expect("get");
    assert_eq!(end.status, "succeeded", "{end:?}");
    assert_eq!((end.progress.processed, end.progress.total), (ROWS, ROWS));
}
// A SQLite file, as the server runs it: the in-memory test database has one
// connection, which the writing transaction holds.
mod progress_while_running {
    use super::*;
    #[tokio::test]
    async fn sqlite_file() {
        let db = common::TestDb::sqlite_file().await;
        progress_is_reported_while_it_runs(&db).await;
        db.cleanup().await;
    }
    #[tokio::test]
    async fn postgres() {
        let Some(db) = common::TestDb::postgres().await else {
            return;
        };
        progress_is_reported_while_it_runs(&db).await;
        db.cleanup().await;
    }
}

async fn upsert_by_phone_updates_instead_of_duplicating(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let v = upload_csv(db, &ctx, form, GOOD).await;
    let first = import_for_real(db, &ctx, form, &v, run(ImportMode::Upsert, Some("phone"), false)).await;
    assert_eq!(first.summary.unwrap().inserted, 3);
    let codes: Vec<Value> = all_records(db, &ctx, form)
        .await
        .iter()
        .map(|r| r["code"].clone())
        .collect();
    let again = "电话,name,total_spent\n13800000001,Ann Li,99\n13800000003,Cy,7\n13800000009,New,1\n";
    let v2 = upload_csv(db, &ctx, form, again).await;
    let dry = db
        .engine
        .run_import(&ctx, form, v2.id, run(ImportMode::Upsert, Some("phone"), true))
        .await
        .unwrap();
    let s = dry.summary.unwrap();
    assert_eq!((s.inserted, s.updated, s.unchanged, s.failed_rows), (1, 1, 1, 0));
    let done = import_for_real(db, &ctx, form, &v2, run(ImportMode::Upsert, Some("phone"), false)).await;
    assert_eq!(done.status, "succeeded", "{done:?}");
    let recs = all_records(db, &ctx, form).await;
    assert_eq!(recs.len(), 4, "no duplicates");
    assert_eq!(recs[0]["name"], "Ann Li");
    assert_eq!(recs[0]["total_spent"], json!(99));
    assert_eq!(recs[0]["tier"], "vip", "unmapped fields are kept");
    assert_eq!(recs[0]["code"], codes[0], "the serial number stays");
    assert_eq!(recs[3]["name"], "New");
    let history = db
        .engine
        .query_records(&ctx, form, QueryRequest::default(), false)
        .await
        .unwrap();
    let ann = history
        .records
        .iter()
        .find(|r| r.data["phone"] == "13800000001")
        .unwrap();
    assert_eq!(ann.version, 2);
}
both_backends!(upsert_by_phone, upsert_by_phone_updates_instead_of_duplicating);

async fn update_only_reports_unknown_keys(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let v = upload_csv(db, &ctx, form, GOOD).await;
    import_for_real(db, &ctx, form, &v, run(ImportMode::Insert, None, false)).await;
    let csv = "phone,total_spent\n13800000002,1\n13800000077,2\n";
    let v2 = upload_csv(db, &ctx, form, csv).await;
    let done = import_for_real(db, &ctx, form, &v2, run(ImportMode::Update, Some("phone"), false)).await;
    assert_eq!(done.status, "failed");
    assert_eq!(done.errors.len(), 1);
    assert_eq!(done.errors[0].row, 3);
    assert!(done.errors[0].message.contains("no record"), "{:?}", done.errors);
    let recs = all_records(db, &ctx, form).await;
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[1]["total_spent"], json!(12000), "nothing changed");
    // Without the unknown key the update goes through and creates nothing.
    let v3 = upload_csv(db, &ctx, form, "phone,total_spent\n13800000002,1\n").await;
    let done = import_for_real(db, &ctx, form, &v3, run(ImportMode::Update, Some("phone"), false)).await;
    assert_eq!(done.status, "succeeded");
    let recs = all_records(db, &ctx, form).await;
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[1]["total_spent"], json!(1));
}
both_backends!(update_only, update_only_reports_unknown_keys);

/// A queued import runs as its member stands when it runs: a member removed
/// from the tenant after queueing gets a failed import that says why, and
/// no record is written.
async fn queued_import_of_a_removed_member_fails(db: &TestDb) {
    let owner = db.tenant("left").await;
    let form = customers(db, &owner).await;
    let admin = db.member(&owner, engine::ctx::Role::Admin).await;
    let v = upload_csv(db, &admin, form, GOOD).await;
    let queued = db
        .engine
        .run_import(&admin, form, v.id, run(ImportMode::Insert, None, false))
        .await
        .expect("run");
    assert_eq!(queued.status, "queued");
    db.engine
        .delete_member(&owner, admin.actor)
        .await
        .expect("remove");
    work(db).await;
    let done = db.engine.get_import(&owner, form, v.id).await.expect("get");
    assert_eq!(done.status, "failed", "{done:?}");
    let shown = serde_json::to_value(&done).expect("json");
    assert!(
        shown.to_string().contains("no longer active in the tenant"),
        "{shown}"
    );
    assert!(all_records(db, &owner, form).await.is_empty());
}
both_backends!(removed_member_import, queued_import_of_a_removed_member_fails);

async fn settings_are_checked(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let v = upload_csv(db, &ctx, form, GOOD).await;
    let err = db
        .engine
        .run_import(&ctx, form, v.id, run(ImportMode::Upsert, None, true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    let bad_map = RunImportInput {
        mapping: Some(vec![ColumnMapping {
            column: 0,
            header: String::new(),
            field: Some("code".into()),
        }]),
        ..run(ImportMode::Insert, None, true)
    };
    let err = db.engine.run_import(&ctx, form, v.id, bad_map).await.unwrap_err();
    assert_eq!(err.details()[0].field, "mapping/0");
    let other = db.tenant("other").await;
    let err = db.engine.get_import(&other, form, v.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
    let err = db
        .engine
        .upload_import(&ctx, form, "application/json", "x.json", b"{}".to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::BadRequest);
}
both_backends!(settings, settings_are_checked);

/// An XLSX file written the way a spreadsheet user would: a real date cell,
/// a phone number typed as a number, a number with a thousands format.
fn xlsx_file() -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = XFormat::new().set_num_format("yyyy-mm-dd");
    for (c, h) in ["Customer", "Phone", "等级", "Total spent", "Joined"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
    }
    sheet.write_string(1, 0, "Xu").unwrap();
    sheet.write_number(1, 1, 13_800_000_011.0).unwrap();
    sheet.write_string(1, 2, "贵宾").unwrap();
    sheet.write_number(1, 3, 1234.5).unwrap();
    sheet
        .write_datetime_with_format(1, 4, ExcelDateTime::parse_from_str("2026-11-23").unwrap(), &date)
        .unwrap();
    sheet.write_string(2, 0, "Yu").unwrap();
    sheet.write_string(2, 1, "13800000012").unwrap();
    sheet.write_string(2, 2, "regular").unwrap();
    sheet.write_string(2, 3, "2,500").unwrap();
    sheet.write_string(2, 4, "2026年2月1日").unwrap();
    book.save_to_buffer().unwrap()
}

async fn xlsx_import_reads_dates_and_numbers(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let v = db
        .engine
        .upload_import(&ctx, form, XLSX_MIME, "c.xlsx", xlsx_file())
        .await
        .unwrap();
    assert_eq!(v.format, Format::Xlsx);
    assert_eq!(v.rows, 2);
    let done = import_for_real(db, &ctx, form, &v, run(ImportMode::Insert, None, false)).await;
    assert_eq!(done.status, "succeeded", "{done:?}");
    let recs = all_records(db, &ctx, form).await;
    assert_eq!(recs[0]["phone"], "13800000011");
    assert_eq!(recs[0]["joined"], "2026-11-23");
    assert_eq!(recs[0]["tier"], "vip");
    assert_eq!(recs[0]["total_spent"], json!(1234.5));
    assert_eq!(recs[1]["joined"], "2026-02-01");
    assert_eq!(recs[1]["total_spent"], json!(2500));
}
both_backends!(xlsx_import, xlsx_import_reads_dates_and_numbers);

async fn export_round_trips_through_import(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let mut csv = String::from("name,phone,tier,total_spent,joined\n");
    for i in 0..30 {
        let tier = if i % 3 == 0 { "贵宾" } else { "普通" };
        csv.push_str(&format!(
            "P{i:02},1380000{i:04},{tier},\"{},{:03}\",2026-01-{:02}\n",
            i,
            i * 7,
            i % 28 + 1
        ));
    }
    let v = upload_csv(db, &ctx, form, &csv).await;
    assert_eq!(
        import_for_real(db, &ctx, form, &v, run(ImportMode::Insert, None, false))
            .await
            .status,
        "succeeded"
    );
    let filter = json!({"field": "tier", "op": "eq", "value": "vip"});
    let sort = json!([{"field": "total_spent", "dir": "desc"}]);
    for format in [Format::Csv, Format::Xlsx] {
        let req = ExportRequest {
            format,
            filter: Some(filter.clone()),
            sort: Some(sort.clone()),
            q: None,
            fields: Some(vec![
                "name".into(),
                "phone".into(),
                "tier".into(),
                "total_spent".into(),
                "joined".into(),
            ]),
        };
        let bytes = db
            .engine
            .export_records(&ctx, form, req)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        if format == Format::Csv {
            let text = String::from_utf8(bytes.clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(
                lines[0],
                "\u{feff}客户 Customer,电话 Phone,等级 Tier,Total spent,Joined"
            );
            assert_eq!(lines.len(), 11);
            assert!(
                lines[1].starts_with("P27,13800000027,贵宾,27189,"),
                "{}",
                lines[1]
            );
        }
        // Into a second tenant's copy of the form, then compare.
        let other = db.tenant(&format!("copy-{}", format.as_str())).await;
        let copy = customers(db, &other).await;
        let mime = if format == Format::Csv {
            "text/csv"
        } else {
            XLSX_MIME
        };
        let v = db
            .engine
            .upload_import(&other, copy, mime, "e", bytes)
            .await
            .unwrap();
        assert!(
            v.mapping.iter().take(5).all(|m| m.field.is_some()),
            "{:?}",
            v.mapping
        );
        let done = import_for_real(db, &other, copy, &v, run(ImportMode::Insert, None, false)).await;
        assert_eq!(done.status, "succeeded", "{done:?}");
        let strip = |mut r: serde_json::Map<String, Value>| {
            r.remove("code");
            r
        };
        let mut want: Vec<_> = all_records(db, &ctx, form)
            .await
            .into_iter()
            .filter(|r| r["tier"] == "vip")
            .map(strip)
            .collect();
        want.sort_by_key(|r| r["phone"].as_str().unwrap().to_owned());
        let got: Vec<_> = all_records(db, &other, copy)
            .await
            .into_iter()
            .map(strip)
            .collect();
        assert_eq!(got, want, "{format:?}");
    }
    let err = db
        .engine
        .export_records(
            &ctx,
            form,
            ExportRequest {
                format: Format::Csv,
                filter: Some(json!({"field": "nope", "op": "eq", "value": 1})),
                sort: None,
                q: None,
                fields: None,
            },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidQuery);
}
both_backends!(export_round_trip, export_round_trips_through_import);

async fn cli_style_import_runs_in_process(db: &TestDb) {
    let ctx = db.tenant("acme").await;
    let form = customers(db, &ctx).await;
    let member = db.engine.member_ctx("acme", "OWNER@acme.test").await.unwrap();
    assert_eq!(member.actor, ctx.actor);
    let v = db
        .engine
        .import_file(
            &member,
            form,
            "text/csv",
            "c.csv",
            GOOD.as_bytes().to_vec(),
            run(ImportMode::Insert, None, false),
        )
        .await
        .unwrap();
    assert_eq!(v.status, "succeeded");
    assert_eq!(all_records(db, &ctx, form).await.len(), 3);
    let v = db
        .engine
        .import_file(
            &member,
            form,
            "text/csv",
            "c.csv",
            BAD.as_bytes().to_vec(),
            run(ImportMode::Insert, None, false),
        )
        .await
        .unwrap();
    assert_eq!(v.status, "failed");
    assert_eq!(all_records(db, &ctx, form).await.len(), 3);
}
both_backends!(cli_style_import, cli_style_import_runs_in_process);
