//! Attachment and image fields over uploaded files, on SQLite and
//! PostgreSQL: streaming uploads with a per-file limit and a tenant quota,
//! content sniffing (a lying name or type does not make an image), claims
//! in the record's transaction (nobody can borrow another record's file),
//! access through the record's permissions, and removal of files no record
//! holds after the retention period.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use chrono::Duration;
use common::TestDb;
use engine::config::FileConfig;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::files::FileView;
use engine::ids::FormId;
use engine::meta::app::AppInput;
use engine::record::{RecordInput, RecordView};
use engine::{Engine, EngineConfig};
use serde_json::{Map, Value, json};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const PDF: &[u8] = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
const HTML: &[u8] = b"<html><body><script>alert(document.cookie)</script></body></html>";

fn data(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn code<T: std::fmt::Debug, E: HasCode>(r: Result<T, E>) -> ErrorCode {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

async fn upload(engine: &Engine, ctx: &Ctx, name: &str, bytes: &[u8]) -> FileView {
    let mut up = engine.begin_upload(ctx, None).await.expect("begin");
    // In small chunks, as a network delivers them.
    for chunk in bytes.chunks(7) {
        up.write(chunk).await.expect("write");
    }
    up.finish(engine, name).await.expect("finish")
}

async fn form(t: &TestDb, owner: &Ctx) -> FormId {
    let app = t
        .engine
        .create_app(
            owner,
            AppInput {
                name: "Service".into(),
                description: String::new(),
            },
        )
        .await
        .expect("app")
        .id;
    t.engine
        .create_form(
            owner,
            app,
            json!({"name": "Tickets", "fields": [
                {"key": "title", "label": "Title", "type": "text"},
                {"key": "files", "label": "Files", "type": "attachment", "max_files": 3},
                {"key": "photos", "label": "Photos", "type": "image"},
                {"key": "owner", "label": "Owner", "type": "member"}
            ]}),
        )
        .await
        .expect("form")
        .id
}

async fn create(
    t: &TestDb,
    ctx: &Ctx,
    form: FormId,
    v: Value,
) -> Result<RecordView, engine::record::RecordError> {
    t.engine
        .create_record(ctx, form, RecordInput { data: data(v) }, None)
        .await
}

fn blob_count(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path, n: &mut usize) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, n);
            } else {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

async fn claims_and_access(t: &TestDb) {
    let owner = t.tenant("files").await;
    let m1 = t.member(&owner, Role::Member).await;
    let m2 = t.member(&owner, Role::Member).await;
    let form = form(t, &owner).await;
    let e = &t.engine;

    // The type comes from the content, the digest and size from the bytes.
    let png = upload(e, &m1, "C:\\fakepath\\shot.png", PNG).await;
    assert_eq!(
        (png.mime.as_str(), png.size, png.name.as_str()),
        ("image/png", PNG.len() as u64, "shot.png")
    );
    assert_eq!(png.sha256.len(), 64);
    assert!(png.record_id.is_none());
    let pdf = upload(e, &m1, "合同.pdf", PDF).await;
    assert_eq!(pdf.mime, "application/pdf");
    // HTML named like a picture is HTML, and no image field takes it.
    let fake = upload(e, &m1, "cat.png", HTML).await;
    assert_eq!(fake.mime, "text/html");
    let err = create(t, &m1, form, json!({"title": "t", "photos": [fake.id]}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert_eq!(err.details()[0].field, "photos");
    assert!(
        err.details()[0].message.contains("not an image"),
        "{:?}",
        err.details()
    );
    // A PDF goes in an attachment field, not in an image field.
    assert_eq!(
        code(create(t, &m1, form, json!({"photos": [pdf.id]})).await),
        ErrorCode::ValidationFailed
    );

    // Only its uploader can see an unclaimed file, or put it in a record.
    e.file_meta(&m1, png.id).await.expect("uploader sees it");
    assert_eq!(code(e.file_meta(&m2, png.id).await), ErrorCode::NotFound);
    let err = create(t, &m2, form, json!({"files": [png.id]}))
        .await
        .unwrap_err();
    assert_eq!(err.details()[0].field, "files");
    // A failed create claims nothing.
    assert!(e.file_meta(&m1, pdf.id).await.unwrap().record_id.is_none());

    let r1 = create(
        t,
        &m1,
        form,
        json!({"title": "r1", "files": [pdf.id], "photos": [png.id.to_string()]}),
    )
    .await
    .expect("create");
    // The stored value names each file with its metadata.
    assert_eq!(
        r1.data["files"],
        json!([{"id": pdf.id, "name": "合同.pdf", "size": PDF.len(), "mime": "application/pdf"}])
    );
    assert_eq!(r1.data["photos"][0]["mime"], "image/png");
    let meta = e.file_meta(&m1, pdf.id).await.unwrap();
    assert_eq!(meta.record_id, Some(r1.id));
    assert_eq!(meta.field_key.as_deref(), Some("files"));

    // A held file cannot be copied into another record, not even by its
    // uploader, nor into another field of the same record.
    let err = create(t, &m1, form, json!({"files": [pdf.id]}))
        .await
        .unwrap_err();
    assert_eq!(err.details()[0].field, "files");
    let err = e
        .update_record(&m1, form, r1.id, data(json!({"files": [png.id]})), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);

    // Writing back the value read (objects) or other fields keeps the files.
    let r1 = e
        .update_record(
            &m1,
            form,
            r1.id,
            data(json!({"title": "r1 again", "files": r1.data["files"]})),
            None,
        )
        .await
        .expect("write back");
    assert_eq!(r1.data["files"][0]["id"], json!(pdf.id));
    // Another member may edit the record and keep its files.
    let r1 = e
        .update_record(&m2, form, r1.id, data(json!({"title": "by m2"})), None)
        .await
        .expect("m2 edits");
    assert_eq!(r1.data["files"][0]["id"], json!(pdf.id));

    // A reader of the record sees its files; with the field hidden, or the
    // record outside their scope, the file does not exist for them.
    let (view, _) = e
        .open_file(&m2, pdf.id)
        .await
        .expect("m2 reads the record, so the file");
    assert_eq!(view.name, "合同.pdf");
    e.put_form_permissions(
        &owner,
        form,
        &json!({"entries": [{"subject": {"role": "member"}, "actions": ["view", "create", "edit"],
                             "data_scope": "all", "fields": {"files": "hidden"}}]}),
    )
    .await
    .expect("hide files");
    assert_eq!(code(e.file_meta(&m2, pdf.id).await), ErrorCode::NotFound);
    e.file_meta(&m2, png.id).await.expect("photos stay visible");
    e.put_form_permissions(
        &owner,
        form,
        &json!({"entries": [{"subject": {"role": "member"}, "actions": ["view", "create", "edit"],
                             "data_scope": "own", "fields": {}}]}),
    )
    .await
    .expect("own records only");
    assert_eq!(code(e.file_meta(&m2, png.id).await), ErrorCode::NotFound);
    assert_eq!(code(e.open_file(&m2, png.id).await), ErrorCode::NotFound);
    e.file_meta(&m1, png.id).await.expect("m1 created r1");
    e.file_meta(&owner, png.id).await.expect("owners see everything");

    // Another tenant never sees it.
    let stranger = t.tenant("elsewhere").await;
    assert_eq!(code(e.file_meta(&stranger, png.id).await), ErrorCode::NotFound);

    // Files are not filled from an import cell.
    let f = e.load_form(&owner, form).await.unwrap();
    let kind = e.field_types().get("attachment").unwrap();
    assert!(kind.parse_import("x.pdf", f.def.field("files").unwrap()).is_err());
    assert_eq!(
        kind.display(&r1.data["files"], f.def.field("files").unwrap()),
        "合同.pdf"
    );
}

async fn removal_after_retention(t: &TestDb) {
    let owner = t.tenant("gc").await;
    let form = form(t, &owner).await;
    let e = &t.engine;
    let dir = &e
        .config()
        .files
        .data_dir
        .join("files")
        .join(owner.tenant.to_string());
    let a = upload(e, &owner, "a.pdf", PDF).await;
    let b = upload(e, &owner, "b.png", PNG).await;
    let stray = upload(e, &owner, "never-used.pdf", PDF).await;
    assert_eq!(blob_count(dir), 3);
    let r = create(t, &owner, form, json!({"files": [a.id], "photos": [b.id]}))
        .await
        .unwrap();

    // Removing `a` from its field detaches it: gone for readers at once,
    // its bytes kept for the retention period.
    let later = owner.clone().at(owner.now + Duration::hours(1));
    e.update_record(&later, form, r.id, data(json!({"files": null})), None)
        .await
        .unwrap();
    assert_eq!(code(e.file_meta(&owner, a.id).await), ErrorCode::NotFound);
    // Putting it back within the period re-attaches it.
    let r = e
        .update_record(&later, form, r.id, data(json!({"files": [a.id]})), None)
        .await
        .expect("undo");
    e.file_meta(&owner, a.id).await.expect("attached again");
    e.update_record(&later, form, r.id, data(json!({"files": []})), None)
        .await
        .unwrap();

    // A day on, only the never-claimed upload goes.
    assert_eq!(e.collect_files(owner.now + Duration::hours(25)).await.unwrap(), 1);
    assert_eq!(blob_count(dir), 2);
    // Past the retention period the detached file goes too; the held one stays.
    let days = i64::from(e.config().files.retention_days);
    assert_eq!(
        e.collect_files(later.now + Duration::days(days) + Duration::minutes(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(blob_count(dir), 1);
    e.file_meta(&owner, b.id).await.expect("still held");
    assert_eq!(code(e.file_meta(&owner, stray.id).await), ErrorCode::NotFound);

    // A record in the recycle bin keeps its files; purging it releases them.
    e.delete_record(&owner, form, r.id, None).await.unwrap();
    let far = owner.now + Duration::days(days * 3);
    assert_eq!(e.collect_files(far).await.unwrap(), 0, "the bin still holds it");
    e.restore_record(&owner, form, r.id).await.unwrap();
    e.file_meta(&owner, b.id).await.expect("restored with its photo");
    e.delete_record(&owner, form, r.id, None).await.unwrap();
    let purger = owner.clone().at(far);
    e.purge_record(&purger, form, r.id).await.unwrap();
    assert_eq!(e.collect_files(far + Duration::days(1)).await.unwrap(), 0);
    assert_eq!(e.collect_files(far + Duration::days(days + 1)).await.unwrap(), 1);
    assert_eq!(blob_count(dir), 0);
}

async fn subforms_hold_no_files(t: &TestDb) {
    let owner = t.tenant("sub").await;
    let app = t
        .engine
        .create_app(
            &owner,
            AppInput {
                name: "A".into(),
                description: String::new(),
            },
        )
        .await
        .unwrap()
        .id;
    let err = t
        .engine
        .create_form(
            &owner,
            app,
            json!({"name": "F", "fields": [{"key": "rows", "label": "Rows", "type": "subform", "fields": [
                {"key": "scan", "label": "Scan", "type": "image"}]}]}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.details()[0].field, "/fields/0/fields/0/type");
}

/// A public link never shows a file field: its visitors upload nothing.
async fn public_links_show_no_file_fields(t: &TestDb) {
    use engine::auth::public_link::PublicLinkInput;
    let owner = t.tenant("links").await;
    let form = form(t, &owner).await;
    let err = t
        .engine
        .create_public_link(
            &owner,
            form,
            PublicLinkInput {
                fields: Some(vec!["title".into(), "photos".into()]),
                ..PublicLinkInput::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::ValidationFailed);
    assert!(
        format!("{:?}", err.details()).contains("uploaded files"),
        "{:?}",
        err.details()
    );
    let link = t
        .engine
        .create_public_link(&owner, form, PublicLinkInput::default())
        .await
        .expect("default link");
    let open = t
        .engine
        .open_public_link(&link.token, owner.now)
        .await
        .expect("the link is open");
    let shown = t.engine.public_form(&open);
    let keys: Vec<&str> = shown.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["title"]);
}

both_backends!(files_claims_and_access, claims_and_access);
both_backends!(files_public_links, public_links_show_no_file_fields);
both_backends!(files_removal_after_retention, removal_after_retention);
both_backends!(files_not_in_subforms, subforms_hold_no_files);

/// Limits: a file over the per-file limit and a tenant over its quota are
/// refused and leave nothing behind, not even a temporary file.
#[tokio::test]
async fn limits_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        files: FileConfig {
            data_dir: dir.path().to_path_buf(),
            max_file_bytes: 100,
            tenant_quota_bytes: 150,
            retention_days: 30,
        },
        ..EngineConfig::default()
    };
    let t = TestDb::from_engine(Engine::open("sqlite::memory:", cfg).await.unwrap());
    let owner = t.tenant("limits").await;
    let e = &t.engine;
    // Declared too large: refused before a byte is read.
    assert_eq!(
        code(e.begin_upload(&owner, Some(101)).await.map(|_| ())),
        ErrorCode::PayloadTooLarge
    );
    // Streamed too large: refused at the chunk that passes the limit.
    let mut up = e.begin_upload(&owner, None).await.unwrap();
    up.write(&[b'a'; 60]).await.unwrap();
    assert_eq!(code(up.write(&[b'a'; 60]).await), ErrorCode::PayloadTooLarge);
    drop(up);
    assert_eq!(blob_count(dir.path()), 0, "the temporary file is removed");
    // 90 + 90 > 150: the second upload passes the quota at finish.
    upload(e, &owner, "one.txt", &[b'x'; 90]).await;
    let mut up = e.begin_upload(&owner, None).await.unwrap();
    up.write(&[b'y'; 90]).await.unwrap();
    let err = up.finish(e, "two.txt").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    assert_eq!(err.details()[0].field, "file");
    assert_eq!(blob_count(dir.path()), 1);
    // A declared size that cannot fit is refused at once.
    assert_eq!(
        code(e.begin_upload(&owner, Some(61)).await.map(|_| ())),
        ErrorCode::QuotaExceeded
    );
    // Another tenant has its own quota.
    let other = t.tenant("other").await;
    upload(e, &other, "three.txt", &[b'z'; 90]).await;
    // A read-only token uploads nothing.
    let reader = owner.clone().with_scope(engine::ctx::Scope::Read);
    assert_eq!(
        code(e.begin_upload(&reader, None).await.map(|_| ())),
        ErrorCode::InsufficientScope
    );
}
