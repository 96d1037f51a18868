//! Shared fixtures: a fake clock, job builders, and handlers that count
//! their runs or misbehave on purpose.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use engine::error::ErrorCode;
use engine::ids::{JobId, TenantId};
use engine::jobs::{
    self, BoxFuture, JobCtx, JobError, JobKind, JobKinds, JobOutcome, JobStatus, NewJob, RunOutcome, Worker,
    WorkerConfig,
};
use engine::meta::field_type::Kinded;
use engine::store::Db;
use engine::store::entity::job;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single().expect("t0")
}

pub fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub fn new_job(tenant: TenantId, kind: &str, key: &str, run_at: DateTime<Utc>) -> NewJob {
    NewJob {
        tenant,
        kind: kind.to_owned(),
        payload: json!({"key": key}),
        idempotency_key: key.to_owned(),
        run_at,
        max_attempts: 3,
    }
}

/// Counts handler invocations per job key, and optionally writes a marker
/// job (`done:{id}`) in the same transaction as its completion.
struct Counting {
    kind: &'static str,
    seen: Arc<Mutex<HashMap<String, usize>>>,
    transactional: bool,
}

impl Kinded for Counting {
    fn kind(&self) -> &'static str {
        self.kind
    }
}

impl JobKind for Counting {
    fn run<'a>(&'a self, ctx: JobCtx, _payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            *self
                .seen
                .lock()
                .expect("lock")
                .entry(ctx.job().idempotency_key.clone())
                .or_default() += 1;
            if !self.transactional {
                return Ok(JobOutcome::Succeeded(json!({"effects": []})));
            }
            let tx = ctx.begin().await?;
            let marker = NewJob {
                max_attempts: 1,
                ..new_job(
                    ctx.job().tenant,
                    "marker",
                    &format!("done:{}", ctx.job().id),
                    t0() + TimeDelta::days(36500),
                )
            };
            jobs::enqueue(tx.tx(), marker, ctx.now()).await?;
            tx.commit(RunOutcome::Succeeded, json!({"effects": ["marker"]}))
                .await
        })
    }
}

/// Misbehaving handlers: `fail` errs, `panic` panics, `slow` overruns.
struct Bad(&'static str);

impl Kinded for Bad {
    fn kind(&self) -> &'static str {
        self.0
    }
}

impl JobKind for Bad {
    fn run<'a>(&'a self, _ctx: JobCtx, _payload: &'a Value) -> BoxFuture<'a, Result<JobOutcome, JobError>> {
        Box::pin(async move {
            match self.0 {
                "fail" => Err(JobError::Handler {
                    code: ErrorCode::ScriptRuntime,
                    message: "boom".into(),
                }),
                "panic" => panic!("handler exploded"),
                _ => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(JobOutcome::Succeeded(Value::Null))
                }
            }
        })
    }

    fn time_budget(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }
}

pub struct Kit {
    pub kinds: Arc<JobKinds>,
    pub seen: Arc<Mutex<HashMap<String, usize>>>,
}

pub fn kit() -> Kit {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let mut kinds = JobKinds::default();
    for (kind, transactional) in [("ok", false), ("tx", true)] {
        kinds
            .register(Arc::new(Counting {
                kind,
                seen: Arc::clone(&seen),
                transactional,
            }))
            .expect("register");
    }
    for kind in ["fail", "panic", "slow"] {
        kinds.register(Arc::new(Bad(kind))).expect("register");
    }
    Kit {
        kinds: Arc::new(kinds),
        seen,
    }
}

pub fn worker(db: &Db, kit: &Kit, id: &str) -> Worker {
    let cfg = WorkerConfig {
        worker_id: id.to_owned(),
        batch: 25,
        lease_for: Duration::from_secs(60),
        time_budget: Duration::from_secs(10),
        poll_interval: Duration::from_millis(10),
        misfire_window: None,
    };
    Worker::new(db.clone(), Arc::clone(&kit.kinds), cfg)
}

pub fn assert_near(actual: DateTime<Utc>, expected: DateTime<Utc>) {
    let off = actual - expected;
    assert!(
        off >= TimeDelta::zero() && off < secs(2),
        "{actual} is not just after {expected}"
    );
}

pub async fn status(db: &Db, tenant: TenantId, id: JobId) -> JobStatus {
    jobs::get_job(db, tenant, id).await.expect("get job").status
}

pub async fn markers(db: &Db) -> u64 {
    job::Entity::find()
        .filter(job::Column::Kind.eq("marker"))
        .count(db.conn())
        .await
        .expect("count")
}
