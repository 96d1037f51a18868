//! Request extractors that turn headers into typed inputs for the engine:
//! the caller ([`auth::Caller`], from a bearer token or the session cookie),
//! `If-Match` ([`if_match::IfMatch`]) and `Idempotency-Key`
//! ([`idempotency::IdempotencyKey`]). Each failure answers the error body.

pub mod auth;
pub mod idempotency;
pub mod if_match;
