//! Attachment and image fields over HTTP against the real binary, on SQLite
//! and PostgreSQL: multipart uploads streamed to disk under the per-file
//! limit and the tenant quota, a file whose name and declared type lie,
//! and files of records a member may not see.

use reqwest::Method;
use serde_json::json;

use crate::e2e;
use crate::harness::{Opts, Server};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
const HTML: &[u8] = b"<!doctype html><script>fetch('/api/v1/members')</script>";

fn limits() -> Opts {
    Opts {
        env: vec![
            ("FORMWORK_FILE_MAX_BYTES".to_owned(), "4000".to_owned()),
            ("FORMWORK_TENANT_FILE_QUOTA_BYTES".to_owned(), "10000".to_owned()),
        ],
    }
}

/// The raw bytes and headers of a file's content.
async fn content(srv: &Server, token: &str, id: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = srv
        .client
        .get(format!("{}/api/v1/files/{id}/content", srv.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

e2e!(files, limits(), |srv: Server| async move {
    let owner = srv.demo().await;
    let app = srv.create_app(&owner, "Service").await;
    let form = srv
        .create_form(
            &owner,
            &app,
            json!({"name": "Tickets", "fields": [
                {"key": "title", "label": "Title", "type": "text"},
                {"key": "files", "label": "Files", "type": "attachment"},
                {"key": "photos", "label": "Photos", "type": "image"}
            ]}),
        )
        .await;
    let m = srv
        .post(
            "/api/v1/members",
            &owner,
            json!({"email": "ann@demo.test", "password": "password-123", "role": "member"}),
        )
        .await;
    assert_eq!(m.status, 201, "{}", m.text);
    let ann = srv.login("demo", "ann@demo.test", "password-123").await;

    // Upload, and the metadata the server sniffed.
    let png = srv.upload(&owner, "shot.png", "image/png", PNG.to_vec()).await;
    assert_eq!(png.status, 201, "{}", png.text);
    assert_eq!(png.body["mime"], "image/png");
    assert_eq!(png.body["size"], PNG.len());
    let png_id = png.body["id"].as_str().unwrap().to_owned();

    // A lying file: HTML named .png and declared image/png.
    let fake = srv.upload(&owner, "cat.png", "image/png", HTML.to_vec()).await;
    assert_eq!(fake.status, 201, "{}", fake.text);
    assert_eq!(fake.body["mime"], "text/html");
    let fake_id = fake.body["id"].as_str().unwrap().to_owned();
    let r = srv
        .create_record(&owner, &form, json!({"title": "x", "photos": [fake_id]}))
        .await;
    r.assert_error(422, "validation_failed");
    assert_eq!(r.detail_fields(), vec!["photos"]);
    // As an attachment it is kept, and only ever downloaded as bytes.
    let rec = srv
        .create_record(
            &owner,
            &form,
            json!({"title": "t", "files": [fake_id], "photos": [png_id]}),
        )
        .await;
    assert_eq!(rec.status, 201, "{}", rec.text);
    assert_eq!(rec.body["data"]["files"][0]["name"], "cat.png");
    let (status, headers, bytes) = content(&srv, &owner, &fake_id).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, HTML);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let (status, headers, bytes) = content(&srv, &owner, &png_id).await;
    assert_eq!((status, bytes.as_slice()), (200, PNG));
    assert_eq!(headers["content-type"], "image/png");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );

    // Ann may see only her own records: the owner's files do not exist
    // for her, by metadata or content, nor can she claim them.
    let perms = srv
        .send(
            Method::PUT,
            &format!("/api/v1/forms/{form}/permissions"),
            Some(&owner),
            Some(
                json!({"entries": [{"subject": {"role": "member"}, "actions": ["view", "create", "edit"],
                                     "data_scope": "own", "fields": {}}]}),
            ),
            &[],
        )
        .await;
    assert_eq!(perms.status, 200, "{}", perms.text);
    srv.get(&format!("/api/v1/files/{png_id}"), &ann)
        .await
        .assert_error(404, "not_found");
    assert_eq!(content(&srv, &ann, &png_id).await.0, 404);
    assert_eq!(
        srv.get(&format!("/api/v1/files/{png_id}"), &owner).await.status,
        200
    );
    let mine = srv
        .upload(&ann, "mine.png", "application/octet-stream", PNG.to_vec())
        .await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    let mine_id = mine.body["id"].as_str().unwrap();
    let r = srv.create_record(&ann, &form, json!({"photos": [png_id]})).await;
    r.assert_error(422, "validation_failed");
    let r = srv.create_record(&ann, &form, json!({"photos": [mine_id]})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(content(&srv, &ann, mine_id).await.2, PNG);

    // Limits: one file over 4000 bytes, and a tenant over 10000 in all.
    let r = srv
        .upload(&owner, "big.bin", "application/octet-stream", vec![7; 4001])
        .await;
    r.assert_error(413, "payload_too_large");
    let mut kept = 0;
    let mut last = None;
    for i in 0..5 {
        let r = srv
            .upload(
                &owner,
                &format!("part{i}.bin"),
                "application/octet-stream",
                vec![1; 3000],
            )
            .await;
        if r.status == 201 {
            kept += 1;
        }
        last = Some(r);
    }
    // 123 bytes of small files are kept: three more 3000-byte files fit.
    assert_eq!(kept, 3, "kept {kept}");
    last.unwrap().assert_error(413, "quota_exceeded");

    // Bad requests name what is wrong.
    let r = srv
        .raw(
            Method::POST,
            "/api/v1/files",
            &owner,
            "application/octet-stream",
            PNG.to_vec(),
        )
        .await;
    r.assert_error(400, "bad_request");
    let r = srv
        .raw(
            Method::POST,
            "/api/v1/files",
            &owner,
            "multipart/form-data; boundary=XX",
            b"--XX\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--XX--\r\n".to_vec(),
        )
        .await;
    r.assert_error(400, "bad_request");
    assert!(r.text.contains("`file`"), "{}", r.text);
    // Unauthenticated uploads and reads are refused.
    let r = srv
        .call(Method::GET, &format!("/api/v1/files/{png_id}"), None, None)
        .await;
    r.assert_error(401, "unauthorized");

    // Nothing is left in the temporary directory.
    let tmp = srv.data_dir().join("files").join(".tmp");
    assert_eq!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0), 0);
});

fn clock() -> Opts {
    Opts {
        env: vec![("FORMWORK_ALLOW_CLOCK_OVERRIDE".to_owned(), "true".to_owned())],
    }
}

// The scheduler removes what no record holds: an upload nobody claimed
// after a day, a file removed from its record after the retention period.
e2e!(
    files_removed_by_the_scheduler,
    clock(),
    |srv: Server| async move {
        let owner = srv.demo().await;
        let app = srv.create_app(&owner, "Service").await;
        let form = srv
        .create_form(
            &owner,
            &app,
            json!({"name": "Tickets", "fields": [{"key": "files", "label": "Files", "type": "attachment"}]}),
        )
        .await;
        let stray = srv
            .upload(&owner, "stray.txt", "text/plain", b"nobody wants me".to_vec())
            .await;
        let kept = srv
            .upload(&owner, "kept.txt", "text/plain", b"a record holds me".to_vec())
            .await;
        let dropped = srv
            .upload(&owner, "dropped.txt", "text/plain", b"removed later".to_vec())
            .await;
        let id = |r: &crate::harness::Resp| r.body["id"].as_str().unwrap().to_owned();
        let (stray, kept, dropped) = (id(&stray), id(&kept), id(&dropped));
        let rec = srv
            .create_record(&owner, &form, json!({"files": [kept, dropped]}))
            .await;
        assert_eq!(rec.status, 201, "{}", rec.text);
        let rec_id = rec.body["id"].as_str().unwrap();
        let r = srv
            .send(
                Method::PATCH,
                &format!("/api/v1/forms/{form}/records/{rec_id}"),
                Some(&owner),
                Some(json!({"data": {"files": [kept]}})),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let blobs = || {
            let dir = srv.data_dir().join("files");
            let mut n = 0;
            for tenant in std::fs::read_dir(&dir).unwrap().flatten() {
                if tenant.file_name() == ".tmp" {
                    continue;
                }
                for shard in std::fs::read_dir(tenant.path()).unwrap().flatten() {
                    n += std::fs::read_dir(shard.path()).unwrap().count();
                }
            }
            n
        };
        assert_eq!(blobs(), 3);
        let tick = |days: i64| {
            let at = (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
            let srv = &srv;
            let owner = owner.clone();
            async move {
                let r = srv
                    .post("/api/v1/admin/scheduler/run", &owner, json!({ "at": at }))
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                r.body["files_removed"].as_u64().unwrap()
            }
        };
        assert_eq!(tick(2).await, 1, "the unclaimed upload goes after a day");
        assert_eq!(blobs(), 2);
        srv.get(&format!("/api/v1/files/{stray}"), &owner)
            .await
            .assert_error(404, "not_found");
        assert_eq!(
            tick(31).await,
            1,
            "the dropped file goes after the retention period"
        );
        assert_eq!(blobs(), 1);
        assert_eq!(
            srv.get(&format!("/api/v1/files/{kept}"), &owner).await.status,
            200
        );
        assert_eq!(content(&srv, &owner, &kept).await.2, b"a record holds me");
    }
);
