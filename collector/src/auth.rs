//! Ingest authentication: key lookup (cached, refreshed from the control
//! plane so revocations apply within seconds), timestamp window, HMAC
//! verification and nonce replay protection.

use crate::error::ApiError;
use crate::recent::{Recent, digest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use vitals_protocol::sign;
use vitals_store::ControlPlane;
use vitals_store::control::{App, IngestKey};

/// In-memory view of ingest keys and apps.
pub struct KeyCache {
    cp: Arc<ControlPlane>,
    keys: RwLock<HashMap<String, IngestKey>>,
    apps: RwLock<HashMap<String, App>>,
}

impl KeyCache {
    pub fn new(cp: Arc<ControlPlane>) -> Result<Self, vitals_store::StoreError> {
        let c = KeyCache {
            cp,
            keys: RwLock::new(HashMap::new()),
            apps: RwLock::new(HashMap::new()),
        };
        c.refresh()?;
        Ok(c)
    }

    /// Re-reads keys and apps from the control plane.
    pub fn refresh(&self) -> Result<(), vitals_store::StoreError> {
        let keys: HashMap<_, _> = self
            .cp
            .keys()?
            .into_iter()
            .map(|k| (k.key_id.clone(), k))
            .collect();
        let apps: HashMap<_, _> = self
            .cp
            .apps()?
            .into_iter()
            .map(|a| (a.app_id.clone(), a))
            .collect();
        if let Ok(mut k) = self.keys.write() {
            *k = keys;
        }
        if let Ok(mut a) = self.apps.write() {
            *a = apps;
        }
        Ok(())
    }

    fn key(&self, key_id: &str) -> Option<IngestKey> {
        self.keys.read().ok()?.get(key_id).cloned()
    }

    /// The app of an ingest key used as a Sentry DSN public key.
    pub fn app_for_key(&self, key_id: &str) -> Result<App, ApiError> {
        let key = self
            .key(key_id)
            .ok_or_else(|| ApiError::UnknownKey(key_id.chars().take(64).collect()))?;
        if !key.active {
            return Err(ApiError::RevokedKey(key.key_id));
        }
        self.app(&key.app_id)
            .ok_or_else(|| ApiError::UnknownKey(key_id.to_string()))
    }

    pub fn app(&self, app_id: &str) -> Option<App> {
        self.apps.read().ok()?.get(app_id).cloned()
    }
}

/// Nonces seen lately, per signing key: each key's own bounded, expiring
/// set of digests, so one key's traffic (an app's, or someone holding its
/// extracted key) can only push out that key's older nonces, never
/// another key's. Entries live for twice the timestamp window. Keys come
/// from verified requests only, so the map holds at most the keys the
/// control plane knows. The durable record is the control plane's
/// (`ledger.rs`); this cache answers first and when it cannot.
pub struct NonceCache {
    ttl_secs: i64,
    max_per_key: usize,
    inner: Mutex<HashMap<String, Recent>>,
}

impl NonceCache {
    pub fn new(ttl_secs: i64, max_per_key: usize) -> Self {
        NonceCache {
            ttl_secs,
            max_per_key,
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// Records `nonce` for `key_id`; false if it was seen before.
    pub fn insert(&self, key_id: &str, nonce: &str, now: i64) -> bool {
        let Ok(mut g) = self.inner.lock() else {
            return false;
        };
        let set = match g.get_mut(key_id) {
            Some(set) => set,
            None => g
                .entry(key_id.to_string())
                .or_insert_with(|| Recent::new(Some(self.ttl_secs), self.max_per_key)),
        };
        set.insert(nonce_digest(key_id, nonce), now)
    }
}

/// The digest of a nonce, scoped by its key (also the ledger's key).
pub fn nonce_digest(key_id: &str, nonce: &str) -> crate::recent::Digest {
    digest(&["nonce", key_id, nonce])
}

/// The signed parts of one request.
pub struct SignedHeaders<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub key_id: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
}

/// Verifies a request; returns the key's app on success.
pub fn verify(
    keys: &KeyCache,
    nonces: &NonceCache,
    max_skew: u32,
    h: &SignedHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<App, ApiError> {
    let key = keys
        .key(h.key_id)
        .ok_or_else(|| ApiError::UnknownKey(h.key_id.to_string()))?;
    if !key.active {
        return Err(ApiError::RevokedKey(key.key_id));
    }
    let ts: i64 = h
        .timestamp
        .parse()
        .ok()
        .filter(|t: &i64| t.to_string() == h.timestamp)
        .ok_or_else(|| ApiError::BadTimestamp(h.timestamp.chars().take(32).collect()))?;
    let skew = ts - now;
    if skew.abs() > i64::from(max_skew) {
        return Err(ApiError::StaleTimestamp {
            skew,
            max: max_skew,
        });
    }
    if !sign::NONCE_LEN.contains(&h.nonce.len())
        || !h
            .nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::MissingHeader(sign::HEADER_NONCE));
    }
    if !sign::verify(
        key.secret.as_bytes(),
        h.method,
        h.path,
        ts,
        h.nonce,
        body,
        h.signature,
    ) {
        return Err(ApiError::BadSignature);
    }
    // Only a correctly signed request may use up a nonce.
    if !nonces.insert(&key.key_id, h.nonce, now) {
        return Err(ApiError::ReplayedNonce(h.nonce.to_string()));
    }
    keys.app(&key.app_id)
        .ok_or_else(|| ApiError::UnknownKey(h.key_id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_single_use_within_ttl_and_expire() {
        let c = NonceCache::new(600, 1000);
        assert!(c.insert("k", "n1", 1000));
        assert!(!c.insert("k", "n1", 1001));
        assert!(c.insert("other", "n1", 1001), "scoped by key");
        assert!(c.insert("k", "n2", 1700));
        assert!(c.insert("k", "n1", 1700), "expired after ttl");
    }

    #[test]
    fn nonce_cache_is_bounded_per_key() {
        let c = NonceCache::new(600, 3);
        for i in 0..10 {
            assert!(c.insert("k", &format!("n{i}"), 1000));
        }
        let g = c.inner.lock().unwrap();
        assert!(g["k"].len() <= 3);
    }

    #[test]
    fn one_key_cannot_evict_another_keys_nonces() {
        let c = NonceCache::new(600, 100);
        assert!(c.insert("victim", "captured-nonce", 1000));
        // The other key holder floods far past the bound.
        for i in 0..10_000 {
            assert!(c.insert("flooder", &format!("n{i}"), 1000));
        }
        assert!(
            !c.insert("victim", "captured-nonce", 1001),
            "the victim's nonce is still remembered"
        );
    }
}
