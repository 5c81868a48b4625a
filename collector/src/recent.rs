//! Bounded sets of things seen lately (request nonces, acknowledged batch
//! ids), kept as 16-byte digests rather than strings: at the soak's 410
//! requests/s the nonce window holds ~250 k entries, and two `String`
//! copies per entry cost ~100 MB where digests cost ~15 MB.
//!
//! A digest is the first 16 bytes of SHA-256 over the length-prefixed
//! parts, so ("ab", "c") and ("a", "bc") differ; two different entries
//! collide with probability ~n²/2¹²⁹, which for a quarter of a million
//! entries is below 10⁻²⁷.

use sha2::{Digest as _, Sha256};
use std::collections::{HashSet, VecDeque};

/// A 128-bit digest of a tuple of strings.
pub type Digest = [u8; 16];

/// The digest of `parts`.
pub fn digest(parts: &[&str]) -> Digest {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Digests seen lately, at most `max`, each for at most `ttl_secs` when set.
pub struct Recent {
    ttl_secs: Option<i64>,
    max: usize,
    set: HashSet<Digest>,
    order: VecDeque<(i64, Digest)>,
}

impl Recent {
    pub fn new(ttl_secs: Option<i64>, max: usize) -> Self {
        Recent {
            ttl_secs,
            max: max.max(1),
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `d` seen at `now` (Unix seconds); false if it was already
    /// there (and not yet expired or evicted).
    pub fn insert(&mut self, d: Digest, now: i64) -> bool {
        self.expire(now);
        if !self.set.insert(d) {
            return false;
        }
        self.order.push_back((now, d));
        while self.order.len() > self.max {
            self.evict_oldest();
        }
        true
    }

    /// Whether `d` is there at `now`.
    pub fn contains(&mut self, d: &Digest, now: i64) -> bool {
        self.expire(now);
        self.set.contains(d)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.set.len()
    }

    fn expire(&mut self, now: i64) {
        let Some(ttl) = self.ttl_secs else { return };
        while self.order.front().is_some_and(|(t, _)| *t <= now - ttl) {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, d)) = self.order.pop_front() {
            self.set.remove(&d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_separate_parts() {
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
        assert_ne!(digest(&["k", "n"]), digest(&["n", "k"]));
        assert_eq!(digest(&["k", "n"]), digest(&["k", "n"]));
    }

    #[test]
    fn entries_expire_after_ttl_and_the_set_is_bounded() {
        let mut r = Recent::new(Some(600), 1000);
        let a = digest(&["a"]);
        assert!(r.insert(a, 1000));
        assert!(!r.insert(a, 1599));
        assert!(r.contains(&a, 1599));
        assert!(!r.contains(&a, 1600), "expired after ttl");
        assert!(r.insert(a, 1600));

        let mut b = Recent::new(None, 3);
        for i in 0..10 {
            assert!(b.insert(digest(&[&i.to_string()]), 0));
        }
        assert_eq!(b.len(), 3);
        assert!(b.contains(&digest(&["9"]), 0));
        assert!(!b.contains(&digest(&["6"]), 0), "oldest evicted first");
    }
}
