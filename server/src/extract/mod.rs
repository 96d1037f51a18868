//! Request extractors that turn headers into typed inputs for the engine:
//! `If-Match` ([`if_match::IfMatch`]) and `Idempotency-Key`
//! ([`idempotency::IdempotencyKey`]). Each failure answers the error body.

pub mod idempotency;
pub mod if_match;
