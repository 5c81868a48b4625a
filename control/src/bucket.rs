//! Sticky percentage bucketing, identical to the SDK's `inRollout`
//! (`sdk/js/src/core/config.ts`): the first two bytes of
//! `SHA-256(rollout_id ":" install_id)`, big-endian, modulo 10 000, are the
//! install's bucket; it is in the rollout when the bucket is below
//! `round(percent × 100)`. The bucket never changes, so raising 10 % to
//! 20 % keeps every install of the first wave.
//!
//! Known skew of the shared formula: 65 536 mod 10 000 = 5 536, so buckets
//! below 5 536 are hit 7 times in 65 536 and the rest 6 times; a rollout's
//! real share is `7·cut / 65 536` up to 55.36 % (10 % → 10.7 %, 20 % →
//! 21.4 %). Both sides must change together to fix it (e.g. four bytes
//! instead of two); the tests pin today's behaviour.

use sha2::{Digest, Sha256};

/// The install's bucket in `0..10_000` for one rollout.
pub fn bucket(rollout_id: &str, install_id: &str) -> u32 {
    let h = Sha256::digest(format!("{rollout_id}:{install_id}").as_bytes());
    ((u32::from(h[0]) << 8) | u32::from(h[1])) % 10_000
}

/// Whether the install is in a rollout at `percent` (0–100).
pub fn in_rollout(rollout_id: &str, install_id: &str, percent: f64) -> bool {
    let cut = (percent.clamp(0.0, 100.0) * 100.0).round() as u32;
    bucket(rollout_id, install_id) < cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sticky_rollout_10_to_20_percent_of_100k_installs() {
        let ids: Vec<String> = (0..100_000).map(|i| format!("install-{i:06}")).collect();
        let first: Vec<&String> = ids
            .iter()
            .filter(|i| in_rollout("hot-5.2.1", i, 10.0))
            .collect();
        let share = first.len() as f64 / ids.len() as f64;
        assert!((0.09..=0.11).contains(&share), "10% rollout got {share}");
        let second: std::collections::HashSet<&String> = ids
            .iter()
            .filter(|i| in_rollout("hot-5.2.1", i, 20.0))
            .collect();
        let share2 = second.len() as f64 / ids.len() as f64;
        // The formula's skew (module docs): 7 × 2000 / 65536 = 21.4 %.
        assert!(
            (0.204..=0.224).contains(&share2),
            "20% rollout got {share2}"
        );
        assert!(
            first.iter().all(|i| second.contains(i)),
            "a first-wave install left"
        );
        assert_eq!(ids.iter().filter(|i| in_rollout("x", i, 0.0)).count(), 0);
        assert_eq!(
            ids.iter().filter(|i| in_rollout("x", i, 100.0)).count(),
            ids.len()
        );
    }

    #[test]
    fn matches_the_sdk_formula() {
        // sha256("new-kline:abc") starts with 0x5d 0x6f… computed here from
        // the definition, so a change of the formula is caught.
        let h = Sha256::digest(b"new-kline:abc");
        let want = ((u32::from(h[0]) << 8) | u32::from(h[1])) % 10_000;
        assert_eq!(bucket("new-kline", "abc"), want);
    }
}
