//! Group commit for single-record creates.
//!
//! Concurrent creates queue their validated data; whichever request holds
//! the write lock next commits every queued create in one transaction with
//! multi-row inserts, then answers each request. A request whose create was
//! taken by an earlier committer just waits for its answer. On SQLite this
//! turns N transactions into one while the writer is busy; on Postgres it
//! saves commits the same way. If a group fails (a unique value taken, say),
//! each of its creates is retried alone so only the faulty one fails.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::RecordError;
use crate::Engine;
use crate::ctx::Ctx;
use crate::meta::form::LoadedForm;
use crate::store::StoreError;
use crate::store::entity::record;

/// Most creates committed together.
const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<record::Model, RecordError>>;

struct Pending {
    ctx: Ctx,
    form: Arc<LoadedForm>,
    data: Map<String, Value>,
    reply: Reply,
}

/// The queue of creates waiting for a commit.
#[derive(Default)]
pub struct CreateQueue {
    pending: Mutex<Vec<Pending>>,
}

impl CreateQueue {
    /// Queues `p`; answers it back (boxed: it is large) when the queue is
    /// poisoned.
    fn push(&self, p: Pending) -> Result<(), Box<Pending>> {
        match self.pending.lock() {
            Ok(mut q) => {
                q.push(p);
                Ok(())
            }
            Err(_) => Err(Box::new(p)),
        }
    }

    fn take(&self) -> Vec<Pending> {
        self.pending
            .lock()
            .map(|mut q| {
                let n = q.len().min(MAX_GROUP);
                q.drain(..n).collect()
            })
            .unwrap_or_default()
    }
}

fn group_failed() -> RecordError {
    StoreError::Corrupt("the group commit ended without an answer".to_owned()).into()
}

impl Engine {
    /// Inserts one validated create, committed together with whatever other
    /// creates are waiting.
    pub(crate) async fn insert_grouped(
        &self,
        ctx: &Ctx,
        form: Arc<LoadedForm>,
        data: Map<String, Value>,
    ) -> Result<record::Model, RecordError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            ctx: ctx.clone(),
            form,
            data,
            reply,
        };
        if let Err(p) = self.create_queue().push(pending) {
            // A poisoned queue: commit this create alone.
            return self.insert_alone(&p.ctx, &p.form, p.data).await;
        }
        // The commit runs in its own task: if this request is dropped (its
        // client went away) while it commits for others, their creates still
        // commit and they still get their answers.
        let engine = self.clone();
        let committer = tokio::spawn(async move {
            let _w = engine.db().write_lock().await;
            let group = engine.create_queue().take();
            if !group.is_empty() {
                engine.commit_group(group).await;
            }
        });
        if let Err(e) = committer.await {
            tracing::error!(error = %e, "a group commit task failed");
        }
        answer.await.map_err(|_| group_failed())?
    }

    async fn commit_group(&self, group: Vec<Pending>) {
        match self.try_group(&group).await {
            Ok(rows) => {
                for (p, row) in group.into_iter().zip(rows) {
                    let _ = p.reply.send(Ok(row));
                }
            }
            Err(_) => {
                for p in group {
                    let result = self.insert_alone(&p.ctx, &p.form, p.data).await;
                    let _ = p.reply.send(result);
                }
            }
        }
    }

    /// All creates of the group in one transaction, one multi-row insert per
    /// form; rows come back in the group's order.
    async fn try_group(&self, group: &[Pending]) -> Result<Vec<record::Model>, RecordError> {
        let mut by_form: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in group.iter().enumerate() {
            by_form
                .entry(format!("{}/{}", p.ctx.tenant, p.form.id))
                .or_default()
                .push(i);
        }
        let tx = self.db().begin().await?;
        let mut rows: Vec<Option<record::Model>> = vec![None; group.len()];
        for members in by_form.into_values() {
            let Some(form) = members
                .first()
                .and_then(|&i| group.get(i))
                .map(|p| Arc::clone(&p.form))
            else {
                continue;
            };
            let items = members
                .iter()
                .filter_map(|&i| group.get(i))
                .map(|p| (&p.ctx, p.data.clone()))
                .collect();
            let inserted = self.insert_prepared_many(&tx, &form, items).await?;
            for (i, row) in members.into_iter().zip(inserted) {
                if let Some(slot) = rows.get_mut(i) {
                    *slot = Some(row);
                }
            }
        }
        tx.commit().await?;
        rows.into_iter().map(|r| r.ok_or_else(group_failed)).collect()
    }

    /// One create in its own transaction (the caller holds the write lock).
    async fn insert_alone(
        &self,
        ctx: &Ctx,
        form: &LoadedForm,
        data: Map<String, Value>,
    ) -> Result<record::Model, RecordError> {
        let tx = self.db().begin().await?;
        let row = self.insert_prepared(&tx, ctx, form, data).await?;
        tx.commit().await?;
        Ok(row)
    }
}
