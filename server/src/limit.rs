//! Per-client rate limits (login attempts, public form submissions): token
//! buckets keyed by purpose and client address, in memory. Each server
//! replica limits on its own; the lockout after failed logins is in the
//! database and holds across replicas.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use engine::error::ErrorCode;

use crate::error::ApiError;

/// Buckets kept before idle ones are dropped.
const MAX_BUCKETS: usize = 50_000;

/// One bucket: tokens left and when it was last refilled.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The server's rate limiters.
#[derive(Debug)]
pub struct Limits {
    buckets: Mutex<HashMap<(String, IpAddr), Bucket>>,
    /// Login attempts per client address and minute.
    pub login_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(20)
    }
}

impl Limits {
    /// Limiters with the given login rate.
    #[must_use]
    pub fn new(login_per_minute: u32) -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
            login_per_minute,
        }
    }

    /// Takes one token from the bucket of `purpose` for `client`, which
    /// holds `per_minute` tokens and refills at that rate. Answers
    /// `too_many_requests` with the seconds until a token is back.
    ///
    /// # Errors
    /// `too_many_requests` when the bucket is empty.
    pub fn take(&self, purpose: &str, client: IpAddr, per_minute: u32) -> Result<(), ApiError> {
        self.take_at(purpose, client, per_minute, Instant::now())
    }

    fn take_at(&self, purpose: &str, client: IpAddr, per_minute: u32, now: Instant) -> Result<(), ApiError> {
        let capacity = f64::from(per_minute.max(1));
        let rate = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            // Drop the buckets that would be full again by now.
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < Duration::from_secs(60));
        }
        let bucket = buckets.entry((purpose.to_owned(), client)).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = ((1.0 - bucket.tokens) / rate).ceil();
        // Whole seconds, at least one; the value is small and positive.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wait = (wait as u64).max(1);
        Err(ApiError::new(
            ErrorCode::TooManyRequests,
            format!("too many requests from this address; try again in {wait} seconds"),
        )
        .retry_after(wait))
    }
}

/// The client's address as the connection shows it (`X-Forwarded-For` is
/// not trusted: it is whatever the client writes).
#[must_use]
pub fn client_addr(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |a| a.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_then_refills() {
        let limits = Limits::default();
        let ip: IpAddr = "127.0.0.1"
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limits.take_at("p", ip, 3, t0).is_ok());
        }
        let refused = limits.take_at("p", ip, 3, t0);
        assert!(refused.is_err());
        // Another purpose and another address have their own buckets.
        assert!(limits.take_at("q", ip, 3, t0).is_ok());
        let other: IpAddr = "10.0.0.1"
            .parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        assert!(limits.take_at("p", other, 3, t0).is_ok());
        // One token comes back every 20 s at 3 per minute.
        assert!(limits.take_at("p", ip, 3, t0 + Duration::from_secs(19)).is_err());
        assert!(limits.take_at("p", ip, 3, t0 + Duration::from_secs(40)).is_ok());
    }
}
