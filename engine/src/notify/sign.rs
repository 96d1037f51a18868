//! Webhook signatures: `X-Formwork-Signature: sha256=<hex>` where the hex
//! is HMAC-SHA256 keyed with the webhook's secret over
//! `"{timestamp}.{body}"` (the `X-Formwork-Timestamp` value, a dot, then the
//! exact body bytes). A receiver recomputes it and also rejects old
//! timestamps, so a captured call cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The lower-case hex HMAC-SHA256 of `"{timestamp}.{body}"` under `secret`.
///
/// # Example
/// ```
/// let sig = engine::notify::sign("s3cret", 1_700_000_000, br#"{"a":1}"#);
/// assert_eq!(sig.len(), 64);
/// ```
#[must_use]
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `X-Formwork-Signature` header value: `sha256=<hex>`.
#[must_use]
pub fn signature_header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", sign(secret, timestamp, body))
}

/// 简道云's `x-jdy-signature`: the lower-case hex SHA-1 of
/// `"{nonce}:{body}:{secret}:{timestamp}"` (`nonce` and `timestamp` are
/// also sent in the query string).
///
/// # Example
/// ```
/// let sig = engine::notify::jdy_sign("n0nce", br#"{"op":"data_create"}"#, "s3cret", 1_700_000_000);
/// assert_eq!(sig.len(), 40);
/// ```
#[must_use]
pub fn jdy_sign(nonce: &str, body: &[u8], secret: &str, timestamp: i64) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(nonce.as_bytes());
    h.update(b":");
    h.update(body);
    h.update(b":");
    h.update(secret.as_bytes());
    h.update(b":");
    h.update(timestamp.to_string().as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_vector_shape() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn jdy_signs_nonce_body_secret_timestamp() {
        // SHA-1 of "abc" (FIPS 180-1): a:b:c with the separators is not it.
        use sha1::Digest;
        assert_eq!(
            hex::encode(sha1::Sha1::digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            jdy_sign("n", b"{}", "s", 1),
            hex::encode(sha1::Sha1::digest(b"n:{}:s:1"))
        );
    }

    #[test]
    fn signs_timestamp_dot_body() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"42.{}");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(sign("k", 42, b"{}"), expected);
        assert_eq!(signature_header("k", 42, b"{}"), format!("sha256={expected}"));
        assert_ne!(sign("k", 43, b"{}"), expected);
        assert_ne!(sign("other", 42, b"{}"), expected);
    }
}
