//! The prologue every form-level v5 handler shares: the caller (bearer
//! token and rate limit, from [`V5Caller`]), the parsed body, the form
//! (checked to be of the named app), the member directory and flow flag
//! ([`Reader`]), and, for writes, the context the write options ask for;
//! plus [`FormCall::once`], the `transaction_id` wrapper of writes.

use std::future::Future;
use std::sync::Arc;

use actix_web::web;
use engine::Engine;
use engine::ctx::Ctx;
use engine::meta::form::LoadedForm;
use engine::record::transaction::TransactionClaim;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::data::Reader;
use super::meta::EntryRef;
use super::write::WriteOpts;
use super::{V5Caller, V5Error, parse};

/// A request body addressed to one form.
pub(crate) trait FormBody: DeserializeOwned {
    /// The `{app_id, entry_id}` it names.
    fn entry(&self) -> &EntryRef;
    /// The write options, for writes.
    fn opts(&self) -> Option<&WriteOpts> {
        None
    }
}

/// A parsed, authorised call on one form.
pub(crate) struct FormCall<B> {
    /// The body.
    pub body: B,
    /// The body as sent (hashed for `transaction_id`).
    pub raw: Value,
    /// The form.
    pub form: Arc<LoadedForm>,
    /// Members and the flow flag, for reading records back.
    pub reader: Reader,
    /// The caller's context; for writes, as the write options set it.
    pub ctx: Ctx,
}

impl<B: FormBody> FormCall<B> {
    /// Runs the prologue.
    ///
    /// # Errors
    /// 17003 for a malformed body, 17004 for an unknown app or form, 17002
    /// or 17005 for a refused `data_creator`, engine errors.
    pub async fn load(engine: &Engine, caller: V5Caller, body: &web::Bytes) -> Result<Self, V5Error> {
        let (body, raw): (B, _) = parse(body)?;
        let form = body.entry().load(engine, &caller.ctx).await?;
        let reader = Reader::load(engine, &caller.ctx, &form).await?;
        let ctx = match body.opts() {
            Some(opts) => opts.ctx(&caller.ctx, &reader)?,
            None => caller.ctx,
        };
        Ok(Self {
            body,
            raw,
            form,
            reader,
            ctx,
        })
    }

    /// Runs `write` once per `transaction_id` (when the body has one): a
    /// repeat of the same call answers the stored first result without
    /// running it; a failed write frees the id again.
    ///
    /// # Errors
    /// `write`'s error; 17009 when the id was used for a different call;
    /// 17011 while the first call with the id is still running.
    pub async fn once<F, Fut>(&self, engine: &Engine, op: &str, write: F) -> Result<Value, V5Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, V5Error>>,
    {
        let Some(tx_id) = self.body.opts().and_then(|o| o.transaction_id.as_deref()) else {
            return write().await;
        };
        let key = format!("v5:{tx_id}");
        let hash = hex::encode(Sha256::digest(format!("{op}\n{}", self.raw).as_bytes()));
        match engine.claim_transaction(&self.ctx, &key, &hash).await? {
            TransactionClaim::Replay(answer) => Ok(answer),
            TransactionClaim::Fresh => match write().await {
                Ok(answer) => {
                    engine.finish_transaction(&self.ctx, &key, answer.clone()).await?;
                    Ok(answer)
                }
                Err(e) => {
                    engine.release_transaction(&self.ctx, &key).await?;
                    Err(e)
                }
            },
        }
    }
}
