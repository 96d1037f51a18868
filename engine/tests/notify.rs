//! Notifications, webhooks and email on real SQLite and real PostgreSQL,
//! with real sockets on 127.0.0.1: a tiny HTTP receiver started here and the
//! SMTP sink of `common::smtp_sink`. Jobs are driven by the worker with a
//! fake clock.

// Test bodies run through `both_backends!`, so clippy does not see them as tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::TestDb;
use common::smtp_sink::SmtpSink;
use engine::auth::MemberStatus;
use engine::auth::members::MemberPatch;
use engine::auth::roles::RoleInput;
use engine::ctx::{Ctx, Role};
use engine::error::{ErrorCode, HasCode};
use engine::ids::{AppId, FormId, JobId, TenantId, UserId};
use engine::jobs::{self, JobKinds, JobStatus, Worker, WorkerConfig};
use engine::meta::app::AppInput;
use engine::notify::{
    self, DeliveryQuery, DeliveryStatus, NotificationQuery, NotifyError, SmtpInput, SmtpTls, WebhookEvent,
    WebhookInput,
};
use engine::store::entity::{job, membership, user};
use hmac::{Hmac, Mac};
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single().expect("t0")
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn worker(t: &TestDb) -> Worker {
    worker_reaching(t, true)
}

/// A worker whose webhooks reach private addresses only if `private`.
fn worker_reaching(t: &TestDb, private: bool) -> Worker {
    let mut kinds = JobKinds::default();
    for kind in notify::job_kinds(private) {
        kinds.register(kind).expect("register");
    }
    let cfg = WorkerConfig {
        worker_id: "notify-test".to_owned(),
        ..WorkerConfig::default()
    };
    Worker::new(t.engine.db().clone(), Arc::new(kinds), cfg)
}

/// Adds a member with `role` to the tenant (deactivated when asked).
async fn add_member(t: &TestDb, tenant: TenantId, email: &str, role: Role, deactivated: bool) -> Ctx {
    let conn = t.engine.db().conn();
    let id = UserId::new();
    user::ActiveModel {
        id: Set(id.to_string()),
        email: Set(email.to_owned()),
        display_name: Set(email.to_owned()),
        password_hash: Set("x".to_owned()),
        created_at: Set(t0()),
        deactivated_at: Set(deactivated.then(t0)),
    }
    .insert(conn)
    .await
    .expect("user");
    membership::ActiveModel {
        tenant_id: Set(tenant.to_string()),
        user_id: Set(id.to_string()),
        role: Set(role.as_str().to_owned()),
        created_at: Set(t0()),
    }
    .insert(conn)
    .await
    .expect("membership");
    Ctx::new(tenant, id, role).at(t0())
}

async fn form(t: &TestDb, ctx: &Ctx, name: &str) -> FormId {
    let app: AppId = t
        .engine
        .create_app(
            ctx,
            AppInput {
                name: format!("{name} app"),
                description: String::new(),
            },
        )
        .await
        .expect("app")
        .id;
    let def = json!({"name": name, "fields": [{"key": "name", "label": "Name", "type": "text"}]});
    t.engine.create_form(ctx, app, def).await.expect("form").id
}

fn hook_input(name: &str, url: &str, events: &[&str]) -> WebhookInput {
    WebhookInput {
        name: name.to_owned(),
        url: url.to_owned(),
        secret: Some("test-secret-0123456789".to_owned()),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        form_ids: None,
        enabled: true,
        format: engine::notify::WebhookFormat::Formwork,
        push_api_writes: true,
    }
}

fn field_of(e: &NotifyError) -> Vec<String> {
    e.details().into_iter().map(|d| d.field).collect()
}

async fn job_status(t: &TestDb, tenant: TenantId, id: JobId) -> JobStatus {
    jobs::get_job(t.engine.db(), tenant, id)
        .await
        .expect("job")
        .status
}

// ---------------------------------------------------------------- receiver

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A tiny HTTP receiver on 127.0.0.1: answers the i-th connection with the
/// i-th status, then stops. Aborted on drop.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (statuses, log) = (statuses.to_vec(), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            for status in statuses {
                let Ok(Ok((mut stream, _))) =
                    tokio::time::timeout(Duration::from_secs(30), listener.accept()).await
                else {
                    return;
                };
                if let Some(req) = read_request(&mut stream).await {
                    log.lock().unwrap().push(req);
                }
                let answer = format!(
                    "HTTP/1.1 {status} Test\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\
                     Connection: close\r\n\r\nstatus"
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Self { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request (head, then `Content-Length` bytes), bounded in size
/// and time.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 4096];
    for _ in 0..256 {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let path = lines.next()?.split(' ').nth(1)?.to_owned();
            let headers: HashMap<String, String> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len: usize = headers.get("content-length")?.parse().ok()?;
            let mut body = buf[end + 4..].to_vec();
            for _ in 0..256 {
                if body.len() >= len {
                    break;
                }
                let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                    .await
                    .ok()?
                    .ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some(Seen { path, headers, body });
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    None
}

/// Recomputes the signature the receiver should check.
fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// ------------------------------------------------------------------- tests

async fn notify_by_id_email_and_role(t: &TestDb) {
    let owner = t.tenant("acme").await.at(t0());
    let admin = add_member(t, owner.tenant, "ada@acme.test", Role::Admin, false).await;
    let member = add_member(t, owner.tenant, "mia@acme.test", Role::Member, false).await;
    let gone = add_member(t, owner.tenant, "gus@acme.test", Role::Member, true).await;
    let other = t.tenant("globex").await;
    // A custom role: two holders, one of them deactivated in the tenant, and
    // a role nobody holds.
    for name in ["service", "auditor"] {
        let input = RoleInput {
            name: Some(name.to_owned()),
            description: None,
        };
        t.engine.create_role(&owner, input).await.expect("role");
    }
    let input = RoleInput {
        name: Some("sales".to_owned()),
        description: None,
    };
    t.engine
        .create_role(&other, input)
        .await
        .expect("another tenant's role");
    let agent = t.member(&owner, Role::Member).await;
    let left = t.member(&owner, Role::Member).await;
    for (who, status) in [(&agent, MemberStatus::Active), (&left, MemberStatus::Deactivated)] {
        let patch = MemberPatch {
            role: Some("service".to_owned()),
            status: Some(status),
            ..MemberPatch::default()
        };
        t.engine
            .update_member(&owner, who.actor, patch)
            .await
            .expect("assign the custom role");
    }
    let db = t.engine.db();

    // Inside a caller's transaction, as the automation engine calls it.
    let _w = db.write_lock().await;
    let tx = db.conn().begin().await.expect("begin");
    let source = json!({"rule_id": "r1"});
    let by_id = notify::notify_in(
        &tx,
        owner.tenant,
        &member.actor.to_string(),
        "Hi",
        "by id",
        source.clone(),
        t0(),
    )
    .await
    .expect("by id");
    assert_eq!(by_id, vec![member.actor]);
    let by_email = notify::notify_in(
        &tx,
        owner.tenant,
        " ADA@acme.test ",
        "Hi",
        "by email",
        json!({}),
        t0(),
    )
    .await
    .expect("by email");
    assert_eq!(by_email, vec![admin.actor]);
    let by_role = notify::notify_in(
        &tx,
        owner.tenant,
        "member",
        "Team",
        "by role",
        json!({}),
        t0() + secs(1),
    )
    .await
    .expect("by role");
    assert_eq!(
        by_role,
        vec![member.actor],
        "the deactivated member and the custom role's holders are skipped"
    );
    let by_custom = notify::notify_in(
        &tx,
        owner.tenant,
        "service",
        "Team",
        "by custom role",
        json!({}),
        t0(),
    )
    .await
    .expect("by custom role");
    assert_eq!(
        by_custom,
        vec![agent.actor],
        "the member deactivated here is skipped"
    );
    let no_holder = notify::notify_in(&tx, owner.tenant, "auditor", "x", "", json!({}), t0())
        .await
        .expect("a role nobody holds");
    assert!(no_holder.is_empty());
    let left_out = notify::notify_in(
        &tx,
        owner.tenant,
        &left.actor.to_string(),
        "x",
        "",
        json!({}),
        t0(),
    )
    .await
    .expect("a member deactivated here");
    assert!(left_out.is_empty());
    let owners = notify::notify_in(&tx, owner.tenant, "owner", "Boss", "owners", json!({}), t0())
        .await
        .expect("owners");
    assert_eq!(owners, vec![owner.actor]);
    let nobody = notify::notify_in(
        &tx,
        owner.tenant,
        &gone.actor.to_string(),
        "x",
        "",
        json!({}),
        t0(),
    )
    .await
    .expect("deactivated member");
    assert!(nobody.is_empty());

    for target in [
        "nobody@acme.test",
        "manager",
        "sales",
        &other.actor.to_string(),
        "",
        &UserId::new().to_string(),
    ] {
        let e = notify::notify_in(&tx, owner.tenant, target, "x", "", json!({}), t0())
            .await
            .expect_err(target);
        assert_eq!(e.code(), ErrorCode::ValidationFailed, "{target}");
        assert_eq!(field_of(&e), vec!["to"], "{target}");
    }
    let e = notify::notify_in(&tx, owner.tenant, "member", " ", "", json!({}), t0())
        .await
        .expect_err("empty title");
    assert_eq!(field_of(&e), vec!["title"]);
    tx.commit().await.expect("commit");
    drop(_w);

    // The member's inbox: newest first, unread filter, mark read.
    let page = t
        .engine
        .list_notifications(&member, NotificationQuery::default())
        .await
        .expect("list");
    let bodies: Vec<&str> = page.notifications.iter().map(|n| n.body.as_str()).collect();
    assert_eq!(bodies, ["by role", "by id"]);
    assert_eq!(page.unread_count, 2);
    assert_eq!(page.notifications[1].source, source);
    let first = page.notifications[0].id;
    let read = t
        .engine
        .mark_notification_read(&member.clone().at(t0() + secs(60)), first)
        .await
        .expect("read");
    assert_eq!(read.read_at, Some(t0() + secs(60)));
    let again = t
        .engine
        .mark_notification_read(&member.clone().at(t0() + secs(120)), first)
        .await
        .expect("read again");
    assert_eq!(again.read_at, Some(t0() + secs(60)), "the first read time stays");
    let unread = t
        .engine
        .list_notifications(
            &member,
            NotificationQuery {
                unread: true,
                ..NotificationQuery::default()
            },
        )
        .await
        .expect("unread");
    assert_eq!(unread.notifications.len(), 1);
    assert_eq!(unread.unread_count, 1);

    // Paging: one at a time.
    let p1 = t
        .engine
        .list_notifications(
            &member,
            NotificationQuery {
                limit: Some(1),
                ..NotificationQuery::default()
            },
        )
        .await
        .expect("page 1");
    let p2 = t
        .engine
        .list_notifications(
            &member,
            NotificationQuery {
                limit: Some(1),
                cursor: p1.next_cursor,
                ..NotificationQuery::default()
            },
        )
        .await
        .expect("page 2");
    assert_eq!(p1.notifications[0].body, "by role");
    assert_eq!(p2.notifications[0].body, "by id");
    assert_eq!(p2.next_cursor, None);

    // Nobody reads or marks another member's notification.
    let e = t
        .engine
        .mark_notification_read(&admin, first)
        .await
        .expect_err("not mine");
    assert_eq!(e.code(), ErrorCode::NotFound);
    let all = t.engine.mark_all_notifications_read(&member).await.expect("all");
    assert_eq!(all.updated, 1);
    let after = t
        .engine
        .list_notifications(&member, NotificationQuery::default())
        .await
        .expect("after");
    assert_eq!(after.unread_count, 0);
    let admin_inbox = t
        .engine
        .list_notifications(&admin, NotificationQuery::default())
        .await
        .expect("admin");
    assert_eq!(admin_inbox.notifications.len(), 1);
}
both_backends!(notify_by_id_email_and_role_t, notify_by_id_email_and_role);

async fn webhook_delivery_retries_and_logs(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    let receiver = Receiver::start(&[500, 200]).await;
    let hook = t
        .engine
        .create_webhook(&ctx, hook_input("crm-sync", &receiver.url, &["record.created"]))
        .await
        .expect("webhook");
    assert_eq!(hook.secret, "test-secret-0123456789", "shown in full on create");
    let db = t.engine.db();
    let payload = json!({"customer": "Ada", "total": 1200});
    let job_id = {
        let _w = db.write_lock().await;
        let tx = db.conn().begin().await.expect("begin");
        let id = notify::queue_webhook_in(&tx, ctx.tenant, "crm-sync", payload.clone(), t0())
            .await
            .expect("queue");
        tx.commit().await.expect("commit");
        id
    };
    let w = worker(t);

    // Attempt 1: the receiver answers 500, the job fails and waits.
    assert_eq!(w.run_once(t0()).await.expect("round 1"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Failed);
    let view = jobs::get_job(db, ctx.tenant, job_id).await.expect("job");
    assert!(
        view.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{view:?}"
    );
    // Not before its backoff (10 s).
    assert_eq!(w.run_once(t0() + secs(5)).await.expect("early"), 0);
    // Attempt 2: 200. The retry is due 10 s after attempt 1 finished on the
    // worker's clock (its start plus the wall time the call took), so the
    // second round comes well after that, also on a loaded machine.
    assert_eq!(w.run_once(t0() + secs(20)).await.expect("round 2"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Succeeded);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 2);
    for (req, at) in seen.iter().zip([t0(), t0() + secs(20)]) {
        assert_eq!(req.path, "/hook");
        assert_eq!(req.headers["content-type"], "application/json");
        assert_eq!(req.headers["x-formwork-event"], notify::CALL_EVENT);
        assert_eq!(req.headers["x-formwork-delivery"], job_id.to_string());
        let ts = &req.headers["x-formwork-timestamp"];
        assert_eq!(ts, &at.timestamp().to_string());
        assert_eq!(
            req.headers["x-formwork-signature"],
            expected_signature("test-secret-0123456789", ts, &req.body)
        );
        assert_eq!(serde_json::from_slice::<Value>(&req.body).unwrap(), payload);
    }

    let log = t
        .engine
        .list_webhook_deliveries(&ctx, hook.id, DeliveryQuery::default())
        .await
        .expect("log");
    let rows: Vec<_> = log
        .deliveries
        .iter()
        .map(|d| (d.attempt, d.status, d.response_status))
        .collect();
    assert_eq!(
        rows,
        [
            (2, DeliveryStatus::Succeeded, Some(200)),
            (1, DeliveryStatus::Failed, Some(500))
        ]
    );
    assert!(
        log.deliveries
            .iter()
            .all(|d| d.job_id == job_id && d.target == hook.id.to_string())
    );
    assert_eq!(
        log.deliveries[1].error.as_deref(),
        Some("the webhook answered HTTP 500")
    );
    assert_eq!(log.deliveries[0].response.as_deref(), Some("status"));
}
both_backends!(
    webhook_delivery_retries_and_logs_t,
    webhook_delivery_retries_and_logs
);

async fn unreachable_webhook_fails_and_logs(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    // A port that was just free: nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let hook = t
        .engine
        .create_webhook(
            &ctx,
            hook_input("down", &format!("http://127.0.0.1:{port}/x"), &[]),
        )
        .await
        .expect("webhook");
    let job_id = notify::queue_webhook_in(t.engine.db().conn(), ctx.tenant, "down", json!({}), t0())
        .await
        .expect("queue");
    assert_eq!(worker(t).run_once(t0()).await.expect("round"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Failed);
    let log = t
        .engine
        .list_webhook_deliveries(&ctx, hook.id, DeliveryQuery::default())
        .await
        .expect("log");
    assert_eq!(log.deliveries.len(), 1);
    assert_eq!(log.deliveries[0].status, DeliveryStatus::Failed);
    assert_eq!(log.deliveries[0].response_status, None);
    assert!(
        log.deliveries[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("failed")
    );

    // The other seven attempts fail too (backoff at most an hour): the job
    // is dead, and the owners and admins hear of it once, members never.
    let admin = add_member(t, ctx.tenant, "ada@acme.test", Role::Admin, false).await;
    let member = add_member(t, ctx.tenant, "mia@acme.test", Role::Member, false).await;
    let w = worker(t);
    let give_up = |job_id: JobId, from: DateTime<Utc>| {
        let w = &w;
        async move {
            for round in 1..notify::WEBHOOK_MAX_ATTEMPTS {
                let at = from + TimeDelta::hours(i64::from(round) * 2);
                assert_eq!(w.run_once(at).await.expect("retry"), 1, "round {round}");
            }
            assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Dead);
        }
    };
    give_up(job_id, t0()).await;
    let alerts = |who: Ctx| async move {
        let page = t
            .engine
            .list_notifications(&who, NotificationQuery::default())
            .await
            .expect("inbox");
        page.notifications
            .into_iter()
            .map(|n| (n.title, n.body, n.source))
            .collect::<Vec<_>>()
    };
    for who in [ctx.clone(), admin.clone()] {
        let got = alerts(who).await;
        assert_eq!(got.len(), 1, "{got:?}");
        let (title, body, source) = &got[0];
        assert_eq!(title, "Webhook 投递失败 delivery given up: down");
        assert!(
            body.contains("failed all 8 attempts") && body.contains("stays enabled"),
            "{body}"
        );
        assert_eq!(
            source,
            &json!({"kind": notify::WEBHOOK_GAVE_UP, "webhook_id": hook.id, "job_id": job_id, "event": notify::CALL_EVENT})
        );
    }
    assert!(alerts(member.clone()).await.is_empty());
    let still = t.engine.get_webhook(&ctx, hook.id).await.expect("hook");
    assert!(still.enabled, "never switched off");

    // A second delivery given up the same day adds no alert; one given up
    // more than a day after the first alert does.
    let second = notify::queue_webhook_in(t.engine.db().conn(), ctx.tenant, "down", json!({}), t0())
        .await
        .expect("queue");
    assert_eq!(w.run_once(t0() + TimeDelta::hours(1)).await.expect("first"), 1);
    give_up(second, t0() + TimeDelta::hours(1)).await;
    assert_eq!(alerts(admin.clone()).await.len(), 1);
    let later = t0() + TimeDelta::hours(40);
    let third = notify::queue_webhook_in(t.engine.db().conn(), ctx.tenant, "down", json!({}), later)
        .await
        .expect("queue");
    assert_eq!(w.run_once(later).await.expect("first"), 1);
    give_up(third, later).await;
    let got = alerts(admin).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].2["job_id"], json!(third));
}
both_backends!(
    unreachable_webhook_fails_and_logs_t,
    unreachable_webhook_fails_and_logs
);

/// Queues one "inside" event and runs it on a worker that keeps to
/// public addresses: the attempt fails. Answers the job.
async fn refused_delivery(t: &TestDb, ctx: &Ctx) -> JobId {
    let job_id = notify::queue_webhook_in(t.engine.db().conn(), ctx.tenant, "inside", json!({}), t0())
        .await
        .expect("queue");
    assert_eq!(worker_reaching(t, false).run_once(t0()).await.expect("round"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Failed);
    job_id
}

async fn private_targets_reach_nothing(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    let receiver = Receiver::start(&[200, 200]).await;
    // Saved while private addresses were allowed; delivered by a server
    // that no longer allows them.
    let hook = t
        .engine
        .create_webhook(&ctx, hook_input("inside", &receiver.url, &[]))
        .await
        .expect("webhook");
    refused_delivery(t, &ctx).await;
    let log = t
        .engine
        .list_webhook_deliveries(&ctx, hook.id, DeliveryQuery::default())
        .await
        .expect("log");
    assert_eq!(log.deliveries.len(), 1);
    let error = log.deliveries[0].error.clone().unwrap_or_default();
    assert!(error.contains("public addresses only"), "{error}");
    // A name that resolves to loopback is dropped at resolution.
    let named = receiver.url.replace("127.0.0.1", "localhost");
    t.engine
        .update_webhook(&ctx, hook.id, hook_input("inside", &named, &[]))
        .await
        .expect("update");
    // The refused name is checked before the call; the resolver is the
    // second line for names that are not literally this server.
    let job_id = refused_delivery(t, &ctx).await;
    assert!(receiver.seen().is_empty(), "the receiver was reached");
    // With private addresses allowed both retries arrive.
    assert_eq!(worker(t).run_once(t0() + secs(60)).await.expect("round"), 2);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Succeeded);
    assert_eq!(receiver.seen().len(), 2);
}
both_backends!(private_targets_reach_nothing_t, private_targets_reach_nothing);

async fn record_events_queue_once_per_event(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    let customers = form(t, &ctx, "Customers").await;
    let orders = form(t, &ctx, "Orders").await;
    let url = "https://hooks.example.test/in";
    let all_created = t
        .engine
        .create_webhook(&ctx, hook_input("all-created", url, &["record.created"]))
        .await
        .expect("a");
    t.engine
        .create_webhook(&ctx, hook_input("updates", url, &["record.updated"]))
        .await
        .expect("b");
    let only_orders = t
        .engine
        .create_webhook(
            &ctx,
            WebhookInput {
                form_ids: Some(vec![orders]),
                ..hook_input("orders", url, &["record.created", "record.deleted"])
            },
        )
        .await
        .expect("c");
    t.engine
        .create_webhook(
            &ctx,
            WebhookInput {
                enabled: false,
                ..hook_input("off", url, &["record.created"])
            },
        )
        .await
        .expect("d");
    let conn = t.engine.db().conn();
    let payload = json!({"id": "r1", "data": {"name": "Ada"}});

    let n = notify::queue_record_event_in(
        conn,
        ctx.tenant,
        "record.created",
        "evt-1",
        customers,
        payload.clone(),
        t0(),
    )
    .await
    .expect("first");
    assert_eq!(n, 1, "only the unrestricted record.created webhook");
    let again = notify::queue_record_event_in(
        conn,
        ctx.tenant,
        "record.created",
        "evt-1",
        customers,
        payload.clone(),
        t0(),
    )
    .await
    .expect("again");
    assert_eq!(again, 0, "one event is queued once");
    let on_orders = notify::queue_record_event_in(
        conn,
        ctx.tenant,
        "record.created",
        "evt-2",
        orders,
        payload.clone(),
        t0(),
    )
    .await
    .expect("orders");
    assert_eq!(on_orders, 2);
    let deleted = notify::queue_record_event_in(
        conn,
        ctx.tenant,
        "record.deleted",
        "evt-3",
        customers,
        payload.clone(),
        t0(),
    )
    .await
    .expect("deleted");
    assert_eq!(deleted, 0, "the orders-only webhook ignores other forms");

    let keys: Vec<String> = job::Entity::find()
        .filter(job::Column::TenantId.eq(ctx.tenant.to_string()))
        .filter(job::Column::Kind.eq(notify::WEBHOOK_JOB))
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.contains(&format!("webhook:{}:event:evt-1", all_created.id)));
    assert!(keys.contains(&format!("webhook:{}:event:evt-2", only_orders.id)));

    let e = notify::queue_record_event_in(
        conn,
        ctx.tenant,
        "record.renamed",
        "evt-4",
        customers,
        json!({}),
        t0(),
    )
    .await
    .expect_err("unknown event");
    assert_eq!(field_of(&e), vec!["event"]);
    for name in ["off", "nope"] {
        let e = notify::queue_webhook_in(conn, ctx.tenant, name, json!({}), t0())
            .await
            .expect_err(name);
        assert_eq!(e.code(), ErrorCode::ValidationFailed);
        assert_eq!(field_of(&e), vec!["webhook"]);
    }
    // Another tenant's webhooks are never used.
    let other = t.tenant("globex").await;
    let n = notify::queue_record_event_in(
        conn,
        other.tenant,
        "record.created",
        "evt-1",
        customers,
        payload,
        t0(),
    )
    .await
    .expect("other tenant");
    assert_eq!(n, 0);

    // Deleting a webhook removes its deliveries not yet attempted.
    t.engine
        .delete_webhook(&ctx, only_orders.id)
        .await
        .expect("delete");
    let left = job::Entity::find()
        .filter(job::Column::TenantId.eq(ctx.tenant.to_string()))
        .filter(job::Column::Kind.eq(notify::WEBHOOK_JOB))
        .count(conn)
        .await
        .unwrap();
    assert_eq!(left, 2, "the two deliveries of `all-created` stay");
}
both_backends!(
    record_events_queue_once_per_event_t,
    record_events_queue_once_per_event
);

async fn webhook_crud_validates_and_masks(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    let member = add_member(t, ctx.tenant, "mia@acme.test", Role::Member, false).await;
    let created = t
        .engine
        .create_webhook(
            &ctx,
            WebhookInput {
                secret: None,
                ..hook_input(
                    "sync",
                    "https://example.test/a",
                    &["record.updated", "record.created", "record.created"],
                )
            },
        )
        .await
        .expect("create");
    assert!(
        created.secret.starts_with("whsec_") && created.secret.len() > 40,
        "generated"
    );
    assert_eq!(
        created.events,
        [WebhookEvent::RecordCreated, WebhookEvent::RecordUpdated]
    );
    let got = t.engine.get_webhook(&ctx, created.id).await.expect("get");
    assert_eq!(
        got.secret,
        format!("****{}", &created.secret[created.secret.len() - 4..])
    );
    assert_eq!(t.engine.list_webhooks(&ctx).await.expect("list").len(), 1);

    let e = t
        .engine
        .create_webhook(&ctx, hook_input("sync", "https://example.test/b", &[]))
        .await
        .expect_err("taken");
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = t
        .engine
        .create_webhook(
            &ctx,
            WebhookInput {
                secret: Some("short".into()),
                form_ids: Some(vec![FormId::new()]),
                ..hook_input(
                    &"x".repeat(101),
                    "ftp://example.test",
                    &["record.created", "form.created"],
                )
            },
        )
        .await
        .expect_err("invalid");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    assert_eq!(field_of(&e), ["name", "url", "secret", "events/1", "form_ids/0"]);

    // PUT without a secret keeps it; the answer masks it.
    let updated = t
        .engine
        .update_webhook(
            &ctx,
            created.id,
            WebhookInput {
                secret: None,
                ..hook_input("sync-2", "http://example.test/c", &["record.deleted"])
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.name, "sync-2");
    assert_eq!(updated.secret, got.secret);
    assert_eq!(updated.created_at, created.created_at);

    let e = t.engine.list_webhooks(&member).await.expect_err("member");
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let e = t
        .engine
        .create_webhook(&member, hook_input("m", "https://example.test", &[]))
        .await
        .expect_err("member");
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let e = t.engine.get_smtp_settings(&member).await.expect_err("member");
    assert_eq!(e.code(), ErrorCode::Forbidden);

    t.engine.delete_webhook(&ctx, created.id).await.expect("delete");
    let e = t.engine.get_webhook(&ctx, created.id).await.expect_err("gone");
    assert_eq!(e.code(), ErrorCode::NotFound);
    let e = t.engine.delete_webhook(&ctx, created.id).await.expect_err("gone");
    assert_eq!(e.code(), ErrorCode::NotFound);
}
both_backends!(
    webhook_crud_validates_and_masks_t,
    webhook_crud_validates_and_masks
);

async fn email_is_sent_through_the_tenant_smtp(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    let sink = SmtpSink::start().await;
    let conn = t.engine.db().conn();

    let e = notify::queue_email_in(conn, ctx.tenant, "not an address", "Hi", "x", t0())
        .await
        .expect_err("bad address");
    assert_eq!(e.code(), ErrorCode::ValidationFailed);
    assert_eq!(field_of(&e), vec!["to"]);
    let e = t.engine.get_smtp_settings(&ctx).await.expect_err("none yet");
    assert_eq!(e.code(), ErrorCode::NotFound);

    let job_id = notify::queue_email_in(
        conn,
        ctx.tenant,
        "alice@example.test",
        "Welcome aboard",
        "Hello Alice,\r\nyour account is ready.\r\n.\r\nBye",
        t0(),
    )
    .await
    .expect("queue");
    let w = worker(t);
    // No SMTP settings yet: the attempt fails with a clear message.
    assert_eq!(w.run_once(t0()).await.expect("round 1"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Failed);

    // Password set, then masked; then the sink's settings (no login).
    let with_login = SmtpInput {
        host: "127.0.0.1".into(),
        port: sink.port(),
        username: Some("mailer".into()),
        password: Some("hunter22".into()),
        from_address: "Formwork <noreply@acme.test>".into(),
        tls: SmtpTls::None,
    };
    let shown = t
        .engine
        .put_smtp_settings(&ctx, with_login.clone())
        .await
        .expect("put");
    assert_eq!(shown.password.as_deref(), Some("********"));
    let kept = t
        .engine
        .put_smtp_settings(
            &ctx,
            SmtpInput {
                password: None,
                ..with_login.clone()
            },
        )
        .await
        .expect("keep password");
    assert_eq!(kept.password.as_deref(), Some("********"));
    let plain = t
        .engine
        .put_smtp_settings(
            &ctx,
            SmtpInput {
                username: None,
                password: Some(String::new()),
                ..with_login.clone()
            },
        )
        .await
        .expect("no login");
    assert_eq!(plain.password, None);
    assert_eq!(t.engine.get_smtp_settings(&ctx).await.expect("get"), plain);
    let e = t
        .engine
        .put_smtp_settings(
            &ctx,
            SmtpInput {
                host: " ".into(),
                port: 0,
                from_address: "nobody".into(),
                ..with_login
            },
        )
        .await
        .expect_err("invalid");
    assert_eq!(field_of(&e), ["host", "port", "from_address"]);

    // The retry after the backoff delivers.
    assert_eq!(w.run_once(t0() + secs(20)).await.expect("round 2"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Succeeded);
    let mails = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "noreply@acme.test");
    assert_eq!(mail.to, ["alice@example.test"]);
    assert_eq!(mail.header("Subject").as_deref(), Some("Welcome aboard"));
    assert_eq!(mail.header("To").as_deref(), Some("alice@example.test"));
    let body = mail.body();
    assert!(
        body.contains("Hello Alice,\r\nyour account is ready.\r\n.\r\nBye"),
        "{body:?}"
    );

    let log = t
        .engine
        .list_email_deliveries(&ctx, DeliveryQuery::default())
        .await
        .expect("log");
    let rows: Vec<_> = log
        .deliveries
        .iter()
        .map(|d| (d.attempt, d.status, d.response_status))
        .collect();
    assert_eq!(
        rows,
        [
            (2, DeliveryStatus::Succeeded, Some(250)),
            (1, DeliveryStatus::Failed, None)
        ]
    );
    assert!(
        log.deliveries[1]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("smtp settings are not configured")
    );
    assert!(
        log.deliveries
            .iter()
            .all(|d| d.target == "alice@example.test" && d.job_id == job_id)
    );
}
both_backends!(
    email_is_sent_through_the_tenant_smtp_t,
    email_is_sent_through_the_tenant_smtp
);

async fn refused_email_is_retried(t: &TestDb) {
    let ctx = t.tenant("acme").await.at(t0());
    let sink = SmtpSink::start_with(common::smtp_sink::SinkConfig { reject_first: 1 }).await;
    t.engine
        .put_smtp_settings(
            &ctx,
            SmtpInput {
                host: "127.0.0.1".into(),
                port: sink.port(),
                username: None,
                password: None,
                from_address: "noreply@acme.test".into(),
                tls: SmtpTls::None,
            },
        )
        .await
        .expect("settings");
    let job_id = notify::queue_email_in(
        t.engine.db().conn(),
        ctx.tenant,
        "bob@example.test",
        "Ping",
        "pong",
        t0(),
    )
    .await
    .expect("queue");
    let w = worker(t);
    assert_eq!(w.run_once(t0()).await.expect("round 1"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Failed);
    assert_eq!(w.run_once(t0() + secs(20)).await.expect("round 2"), 1);
    assert_eq!(job_status(t, ctx.tenant, job_id).await, JobStatus::Succeeded);
    assert_eq!(sink.received().len(), 1);
    let log = t
        .engine
        .list_email_deliveries(&ctx, DeliveryQuery::default())
        .await
        .expect("log");
    let codes: Vec<_> = log.deliveries.iter().map(|d| d.response_status).collect();
    assert_eq!(codes, [Some(250), Some(451)]);
}
both_backends!(refused_email_is_retried_t, refused_email_is_retried);

/// A record write reaches a subscribed webhook through the outbox and the
/// dispatcher, with no rule involved; a second dispatch pass sends nothing.
async fn record_writes_reach_webhooks_through_the_outbox(t: &TestDb) {
    let ctx = t.tenant("outbox").await.at(t0());
    let receiver = Receiver::start(&[200, 200]).await;
    t.engine
        .create_webhook(&ctx, hook_input("erp", &receiver.url, &["record.created"]))
        .await
        .expect("webhook");
    let customers = form(t, &ctx, "customers").await;
    let rec = t
        .engine
        .create_record(
            &ctx,
            customers,
            engine::record::RecordInput {
                data: json!({"name": "Ada"}).as_object().cloned().expect("object"),
            },
            None,
        )
        .await
        .expect("record");
    assert_eq!(t.engine.dispatch_events(t0()).await.expect("dispatch"), 1);
    assert_eq!(
        t.engine.dispatch_events(t0()).await.expect("again"),
        0,
        "each event is taken once"
    );
    assert_eq!(worker(t).run_once(t0()).await.expect("deliver"), 1);
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers.get("x-formwork-event").map(String::as_str),
        Some("record.created")
    );
    let body: Value = serde_json::from_slice(&seen[0].body).expect("json body");
    assert_eq!(body["data"]["record_id"], json!(rec.id));
    assert_eq!(body["data"]["data"]["name"], "Ada");
}
both_backends!(
    record_writes_reach_webhooks_through_the_outbox,
    record_writes_reach_webhooks_through_the_outbox
);
