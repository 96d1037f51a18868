//! Transaction ids: idempotency for callers that name a whole request (the
//! v5 API's `transaction_id`), whatever it writes. The first request claims
//! the id before writing; a repeat of it answers the stored result and
//! writes nothing. Rows share the `idempotency_keys` table with
//! `Idempotency-Key`, under a caller-chosen prefix.

use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::Value;

use super::RecordError;
use super::create::MAX_IDEMPOTENCY_KEY;
use crate::Engine;
use crate::ctx::Ctx;
use crate::error::FieldError;
use crate::store::entity::idempotency_key;
use crate::store::unique_violation;

/// Status of a claimed id whose request has not finished.
const PENDING: i32 = 0;
/// Status of a finished request.
const DONE: i32 = 200;

/// The outcome of [`Engine::claim_transaction`].
#[derive(Debug, Clone, PartialEq)]
pub enum TransactionClaim {
    /// The id is new and now held by this request: write, then
    /// [`Engine::finish_transaction`] (or [`Engine::release_transaction`]
    /// when the write failed).
    Fresh,
    /// The same request ran before: this is its answer.
    Replay(Value),
}

impl Engine {
    /// Claims `key` for a request whose body hashes to `request_hash`.
    ///
    /// # Errors
    /// `validation_failed` for an empty or over-long key;
    /// `idempotency_key_reused` when the key was used for another request or
    /// by another caller; `conflict` while the first request still runs.
    pub async fn claim_transaction(
        &self,
        ctx: &Ctx,
        key: &str,
        request_hash: &str,
    ) -> Result<TransactionClaim, RecordError> {
        if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
            return Err(RecordError::Invalid(vec![FieldError::new(
                "transaction_id",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} characters"),
            )]));
        }
        let row = idempotency_key::ActiveModel {
            tenant_id: Set(ctx.tenant.to_string()),
            key: Set(key.to_owned()),
            user_id: Set(ctx.actor.to_string()),
            request_hash: Set(request_hash.to_owned()),
            status: Set(PENDING),
            response: Set(Value::Null),
            created_at: Set(ctx.now),
        };
        let inserted = {
            let _w = self.db().write_lock().await;
            idempotency_key::Entity::insert(row)
                .exec_without_returning(self.db().conn())
                .await
        };
        match inserted {
            Ok(_) => return Ok(TransactionClaim::Fresh),
            Err(e) if unique_violation(&e).is_none() => return Err(e.into()),
            Err(_) => {}
        }
        let Some(stored) = idempotency_key::Entity::find_by_id((ctx.tenant.to_string(), key.to_owned()))
            .one(self.db().conn())
            .await?
        else {
            // Released between our insert and this read: the caller may retry.
            return Err(RecordError::TransactionInFlight(key.to_owned()));
        };
        if stored.request_hash != request_hash || stored.user_id != ctx.actor.to_string() {
            return Err(RecordError::IdempotencyKeyReused);
        }
        if stored.status == PENDING {
            return Err(RecordError::TransactionInFlight(key.to_owned()));
        }
        Ok(TransactionClaim::Replay(stored.response))
    }

    /// Stores the answer of a claimed request.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn finish_transaction(&self, ctx: &Ctx, key: &str, response: Value) -> Result<(), RecordError> {
        let _w = self.db().write_lock().await;
        idempotency_key::Entity::update(idempotency_key::ActiveModel {
            tenant_id: Set(ctx.tenant.to_string()),
            key: Set(key.to_owned()),
            status: Set(DONE),
            response: Set(response),
            ..Default::default()
        })
        .exec(self.db().conn())
        .await?;
        Ok(())
    }

    /// Gives up a claim whose request failed, so a retry may run.
    ///
    /// # Errors
    /// `internal` on storage failure.
    pub async fn release_transaction(&self, ctx: &Ctx, key: &str) -> Result<(), RecordError> {
        let _w = self.db().write_lock().await;
        idempotency_key::Entity::delete_by_id((ctx.tenant.to_string(), key.to_owned()))
            .exec(self.db().conn())
            .await?;
        Ok(())
    }
}
