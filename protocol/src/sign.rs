//! Request signing (clauses 6.3d, 6.4.3, 4.3.3e).
//!
//! Every ingest request carries four headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Vitals-Key` | the ingest key id |
//! | `X-Vitals-Timestamp` | Unix seconds when the request was signed |
//! | `X-Vitals-Nonce` | 16–64 random characters, never reused |
//! | `X-Vitals-Signature` | lowercase hex HMAC-SHA256 of the canonical string |
//!
//! The canonical string is six lines joined by `\n`:
//!
//! ```text
//! VITALS-HMAC-SHA256
//! POST
//! /api/v1/batch
//! 1732850000
//! 3f9c…nonce
//! <lowercase hex SHA-256 of the request body exactly as sent>
//! ```
//!
//! (the literal scheme name, method, path without query, timestamp as plain
//! decimal, nonce, body digest). The body digest is over the bytes on the wire, so a
//! compressed body is signed compressed.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const HEADER_KEY: &str = "x-vitals-key";
pub const HEADER_TIMESTAMP: &str = "x-vitals-timestamp";
pub const HEADER_NONCE: &str = "x-vitals-nonce";
pub const HEADER_SIGNATURE: &str = "x-vitals-signature";
pub const SCHEME: &str = "VITALS-HMAC-SHA256";

/// Shortest and longest nonce accepted.
pub const NONCE_LEN: std::ops::RangeInclusive<usize> = 16..=64;

type HmacSha256 = Hmac<Sha256>;

/// Lowercase hex SHA-256 of `body`.
pub fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The canonical string that is signed.
pub fn canonical(method: &str, path: &str, timestamp: i64, nonce: &str, body: &[u8]) -> String {
    format!(
        "{SCHEME}\n{}\n{path}\n{timestamp}\n{nonce}\n{}",
        method.to_ascii_uppercase(),
        body_digest(body)
    )
}

/// Signs a request; returns the lowercase hex signature.
pub fn sign(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(canonical(method, path, timestamp, nonce, body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Verifies a signature in constant time. `signature_hex` that is not valid
/// hex simply fails.
pub fn verify(
    secret: &[u8],
    method: &str,
    path: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
    signature_hex: &str,
) -> bool {
    let Ok(sig) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(canonical(method, path, timestamp, nonce, body).as_bytes());
    mac.verify_slice(&sig).is_ok()
}

/// Keyed pseudonym of an identifier (user ids at the edge, 4.3.6c): hex of
/// the first 16 bytes of HMAC-SHA256(app secret, id). Stable per app, not
/// reversible without the secret, unlinkable across apps.
pub fn pseudonym(app_secret: &[u8], id: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(b"vitals-user\0");
    mac.update(id.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_tamper() {
        let s = sign(
            b"k",
            "post",
            "/api/v1/batch",
            1_700_000_000,
            "n0nce-n0nce-n0nce",
            b"{}",
        );
        assert_eq!(s.len(), 64);
        assert!(verify(
            b"k",
            "POST",
            "/api/v1/batch",
            1_700_000_000,
            "n0nce-n0nce-n0nce",
            b"{}",
            &s
        ));
        assert!(!verify(
            b"k",
            "POST",
            "/api/v1/batch",
            1_700_000_000,
            "n0nce-n0nce-n0nce",
            b"{ }",
            &s
        ));
        assert!(!verify(
            b"k",
            "POST",
            "/api/v1/batch",
            1_700_000_001,
            "n0nce-n0nce-n0nce",
            b"{}",
            &s
        ));
        assert!(!verify(
            b"other",
            "POST",
            "/api/v1/batch",
            1_700_000_000,
            "n0nce-n0nce-n0nce",
            b"{}",
            &s
        ));
        assert!(!verify(
            b"k",
            "POST",
            "/api/v1/batch",
            1_700_000_000,
            "n0nce-n0nce-n0nce",
            b"{}",
            "zz"
        ));
    }

    #[test]
    fn canonical_string_is_documented_form() {
        let c = canonical("post", "/p", 5, "abc", b"");
        assert_eq!(
            c,
            "VITALS-HMAC-SHA256\nPOST\n/p\n5\nabc\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn known_answer() {
        // Fixed vector shared with the JS SDK's tests (sdk/js): if this
        // changes, every deployed client breaks.
        let s = sign(
            b"secret",
            "POST",
            "/api/v1/batch",
            1_732_850_000,
            "0123456789abcdef",
            b"{\"v\":1}",
        );
        // Computed independently with Python's hmac module.
        assert_eq!(
            s,
            "12f0332f1465c16953659d126e0f21ebb8fbf97cc85e51b5782dac09b236dfd4"
        );
    }

    #[test]
    fn pseudonyms_are_keyed() {
        assert_eq!(pseudonym(b"a", "u1"), pseudonym(b"a", "u1"));
        assert_ne!(pseudonym(b"a", "u1"), pseudonym(b"b", "u1"));
        assert_eq!(pseudonym(b"a", "u1").len(), 32);
    }
}
