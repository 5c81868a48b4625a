//! Statistics: Wilson score intervals for rates, percentiles from the
//! store's log-scale histograms.

use vitals_store::row::{BUCKET_GAMMA, BUCKET_NONE, bucket_value};

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval of `k` successes in `n` trials.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = Z95 * ((p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The range of values bucket `b` can hold: `(γ^(b-1), γ^b]`, and exactly
/// 0 for [`BUCKET_NONE`] (zero or negative values; validation refuses
/// negatives).
pub fn bucket_bounds(b: i16) -> (f64, f64) {
    if b == BUCKET_NONE {
        return (0.0, 0.0);
    }
    let upper = BUCKET_GAMMA.powi(i32::from(b));
    (upper / BUCKET_GAMMA, upper)
}

/// A histogram: (bucket index, count) pairs from the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    buckets: Vec<(i16, u64)>,
}

impl Histogram {
    pub fn new(mut buckets: Vec<(i16, u64)>) -> Histogram {
        buckets.sort_unstable_by_key(|b| b.0);
        Histogram { buckets }
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.1).sum()
    }

    /// Nearest-rank percentile (the smallest value with at least `q` of the
    /// observations at or below it), within the buckets' ±0.5 %.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for &(b, c) in &self.buckets {
            seen += c;
            if seen >= rank {
                return Some(bucket_value(b));
            }
        }
        self.buckets.last().map(|b| bucket_value(b.0))
    }

    /// The bucket holding the `rank`-th smallest value (1-based) and the
    /// value's 0-based offset among that bucket's values.
    pub fn locate(&self, rank: u64) -> Option<(i16, u64)> {
        let mut below = 0;
        for &(b, c) in &self.buckets {
            if below + c >= rank && rank > below {
                return Some((b, rank - below - 1));
            }
            below += c;
        }
        None
    }

    /// Share of the values that lie on the passing side of `limit`,
    /// counting a bucket that straddles the threshold as half on each side
    /// (an estimate, used only to say how much more data a verdict needs).
    pub fn share_passing(&self, limit: &crate::judge::Limit) -> f64 {
        let n = self.count();
        if n == 0 {
            return 0.0;
        }
        let mut ok = 0.0;
        for &(b, c) in &self.buckets {
            let (lo, hi) = bucket_bounds(b);
            ok += match (limit.ok(lo), limit.ok(hi)) {
                (true, true) => c as f64,
                (false, false) => 0.0,
                _ => c as f64 / 2.0,
            };
        }
        ok / n as f64
    }

    pub fn max(&self) -> Option<f64> {
        self.buckets
            .iter()
            .rev()
            .find(|b| b.1 > 0)
            .map(|b| bucket_value(b.0))
    }

    /// Bucket bounds and counts for charts: (lower, upper, count).
    pub fn bins(&self) -> Vec<(f64, f64, u64)> {
        self.buckets
            .iter()
            .map(|&(b, c)| {
                let (lo, hi) = bucket_bounds(b);
                (lo, hi, c)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_store::row::bucket;

    #[test]
    fn wilson_matches_reference_values() {
        // Reference: R's prop.test-free Wilson, e.g. 5/100 → (0.02154, 0.11175).
        let (lo, hi) = wilson(5, 100);
        assert!(
            (lo - 0.021544).abs() < 1e-5 && (hi - 0.111752).abs() < 1e-5,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 10);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.277533).abs() < 1e-5, "{hi}");
        // The standard's gate cases: 600 of 1e6 is a clear breach of 0.05 %,
        // 499 of 1e6 is not.
        assert!(wilson(600, 1_000_000).0 > 0.0005);
        assert!(wilson(499, 1_000_000).0 < 0.0005);
    }

    #[test]
    fn histogram_percentiles_are_nearest_rank_within_half_a_percent() {
        let values: Vec<f64> = (1..=1000).map(f64::from).collect();
        let mut counts = std::collections::BTreeMap::new();
        for v in &values {
            *counts.entry(bucket(*v)).or_insert(0u64) += 1;
        }
        let h = Histogram::new(counts.into_iter().collect());
        for (q, exact) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = h.quantile(q).unwrap();
            assert!(
                (got - exact).abs() / exact <= 0.006,
                "q{q}: {got} vs {exact}"
            );
        }
        assert!(Histogram::default().quantile(0.5).is_none());
    }
}
