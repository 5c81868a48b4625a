//! Deterministic randomness helpers: keyed RNG derivation, a few
//! distributions rand 0.8 lacks without `rand_distr`, and stable hashes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// RNG domains, so that streams derived for different purposes from the same
/// indices never coincide.
pub(crate) const DOMAIN_DEVICE: u64 = 1;
pub(crate) const DOMAIN_BATCH: u64 = 2;
pub(crate) const DOMAIN_IDS: u64 = 3;
pub(crate) const DOMAIN_LIVE: u64 = 4;

/// SplitMix64 finaliser: a cheap, well-mixing 64-bit permutation.
pub(crate) fn mix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A ChaCha8 stream keyed by (seed, domain, a, b). Distinct keys give
/// independent streams, so a device's or a batch's content depends only on
/// its own indices, never on generation order or concurrency.
pub(crate) fn derive_rng(seed: u64, domain: u64, a: u64, b: u64) -> ChaCha8Rng {
    let mut h = mix64(seed);
    h = mix64(h ^ domain.wrapping_mul(0xA24B_AED4_963E_E407));
    h = mix64(h ^ a);
    h = mix64(h ^ b.rotate_left(17));
    let mut key = [0u8; 32];
    for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&mix64(h.wrapping_add(i as u64 + 1)).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// FNV-1a over several strings (separated), then mixed: a stable hash for
/// deriving build-specific ids such as debug ids.
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xFF)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01B3);
        }
    }
    mix64(h)
}

/// 16 stable bytes from a hash of `parts`.
pub(crate) fn stable_bytes(parts: &[&str]) -> [u8; 16] {
    let h = stable_hash(parts);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mix64(h).to_le_bytes());
    out[8..].copy_from_slice(&mix64(h ^ 0x5555_5555_5555_5555).to_le_bytes());
    out
}

/// A random (version 4 layout) UUID drawn from `rng`, hyphenated lowercase.
pub(crate) fn uuid_from(rng: &mut impl Rng) -> String {
    uuid::Builder::from_random_bytes(rng.r#gen::<[u8; 16]>())
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Standard normal variate (Box–Muller).
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.r#gen::<f64>(); // (0, 1]
    let u2: f64 = rng.r#gen::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Log-normal variate with the given median and log-space sigma.
pub(crate) fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// Exponential variate with the given mean.
pub(crate) fn exponential(rng: &mut impl Rng, mean: f64) -> f64 {
    let u: f64 = 1.0 - rng.r#gen::<f64>();
    -mean * u.ln()
}

/// Index drawn with probability proportional to `weights` (non-negative;
/// falls back to the last index when they sum to zero).
pub(crate) fn weighted_index(
    rng: &mut impl Rng,
    weights: impl Iterator<Item = f64> + Clone,
) -> usize {
    let total: f64 = weights.clone().map(|w| w.max(0.0)).sum();
    let mut x = rng.r#gen::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        let w = w.max(0.0);
        last = i;
        if w > 0.0 && x < w {
            return i;
        }
        x -= w;
    }
    last
}

/// Picks an element of a non-empty slice by weight.
pub(crate) fn pick_weighted<'a, T>(
    rng: &mut impl Rng,
    items: &'a [T],
    weight: impl Fn(&T) -> f64,
) -> &'a T {
    let i = weighted_index(rng, items.iter().map(&weight));
    &items[i.min(items.len().saturating_sub(1))]
}

/// Clamps a float to a `u64` range, rounding.
pub(crate) fn clamp_u64(x: f64, lo: u64, hi: u64) -> u64 {
    if x.is_nan() {
        return lo;
    }
    (x.round().max(lo as f64).min(hi as f64)) as u64
}
