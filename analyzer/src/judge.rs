//! The one place a measured value becomes a verdict (`docs/METRICS.md`,
//! "Verdict semantics"). The gate's rules, the crash-group list's urgent
//! flag, alerts and the dashboard all call [`judge`], so they cannot
//! disagree.
//!
//! - `ensure` (the standard says 保证/应保证: 5.1a, 5.3d, 5.3e): pass only when
//!   the whole 95 % confidence interval is within the limit; fail when the
//!   measured value is over it; otherwise the data cannot decide yet
//!   (`insufficient`, with how much more data at the observed value would).
//! - `exceed` (everything else): fail when the measured value is over the
//!   limit, else pass.
//! - Both: below the rule's minimum sample the verdict is `insufficient`,
//!   unless the interval alone already proves a failure.

use crate::stats::{Z95, wilson};
use serde::{Deserialize, Serialize};

/// How a rule reads its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// The limit must be shown to hold (保证).
    Ensure,
    /// A measured value over the limit fails.
    Exceed,
}

impl Semantics {
    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::Ensure => "ensure",
            Semantics::Exceed => "exceed",
        }
    }
}

/// Which side of the threshold passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value must stay under the threshold.
    #[default]
    Below,
    /// The value must reach the threshold.
    AtLeast,
}

/// Whether the threshold itself passes ("within 2 s": 2000 ms passes;
/// "below 0.05 %": 0.05 % does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    #[default]
    Inclusive,
    Exclusive,
}

/// A threshold with its reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub threshold: f64,
    pub direction: Direction,
    pub bound: Bound,
    pub semantics: Semantics,
    pub min_sample: u64,
}

impl Limit {
    /// Whether `x` is on the passing side.
    pub fn ok(&self, x: f64) -> bool {
        let t = self.threshold;
        match (self.direction, self.bound) {
            (Direction::Below, Bound::Inclusive) => x <= t,
            (Direction::Below, Bound::Exclusive) => x < t,
            (Direction::AtLeast, Bound::Inclusive) => x >= t,
            (Direction::AtLeast, Bound::Exclusive) => x > t,
        }
    }

    /// The interval's end nearest the failing side (worst case) and the one
    /// nearest the passing side (best case).
    fn ends(&self, (lo, hi): (f64, f64)) -> (f64, f64) {
        match self.direction {
            Direction::Below => (hi, lo),
            Direction::AtLeast => (lo, hi),
        }
    }
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    InsufficientData,
}

/// Why the verdict is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// No observation at all.
    NoData,
    /// The measured value (and, for `ensure`, its whole interval) passes.
    Within,
    /// The measured value is over the limit.
    Over,
    /// Fewer observations than the rule's minimum sample.
    TooFew { have: u64, need: u64 },
    /// Below the minimum sample, but even the interval's best end fails.
    ProvenOver { have: u64, need: u64 },
    /// `ensure`: the value passes but its interval still reaches over the
    /// limit; about `more` further observations at the observed value would
    /// decide (none when that cannot be estimated).
    Unproven { more: Option<u64> },
}

/// A measured value with its 95 % interval (`None` when the statistic has
/// none: a maximum, a count, a coverage).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub value: f64,
    pub interval: Option<(f64, f64)>,
    pub sample: u64,
}

/// Judges `m` against `limit`; `more` estimates, for an unproven `ensure`,
/// how many further observations would decide.
pub fn judge(
    limit: &Limit,
    m: Option<Measured>,
    more: impl FnOnce() -> Option<u64>,
) -> (Verdict, Reason) {
    let Some(m) = m.filter(|m| !m.value.is_nan()) else {
        return (Verdict::InsufficientData, Reason::NoData);
    };
    let (worst, best) = limit.ends(m.interval.unwrap_or((m.value, m.value)));
    if m.sample < limit.min_sample {
        let (have, need) = (m.sample, limit.min_sample);
        return if m.interval.is_some() && !limit.ok(best) {
            (Verdict::Fail, Reason::ProvenOver { have, need })
        } else {
            (Verdict::InsufficientData, Reason::TooFew { have, need })
        };
    }
    if !limit.ok(m.value) {
        return (Verdict::Fail, Reason::Over);
    }
    if limit.semantics == Semantics::Ensure && !limit.ok(worst) {
        return (Verdict::InsufficientData, Reason::Unproven { more: more() });
    }
    (Verdict::Pass, Reason::Within)
}

/// A rate of `k` in `n` with its Wilson interval.
pub fn rate(k: u64, n: u64) -> Option<Measured> {
    (n > 0).then(|| Measured {
        value: k as f64 / n as f64,
        interval: Some(wilson(k, n)),
        sample: n,
    })
}

/// Judges a rate of `k` in `n`.
pub fn judge_rate(limit: &Limit, k: u64, n: u64) -> (Verdict, Reason) {
    judge(limit, rate(k, n), || rate_more(limit, k, n))
}

/// Further trials at the observed rate `k/n` after which the Wilson
/// interval's worst end passes `limit`; `None` when no number would (the
/// rate is at or over the limit).
pub fn rate_more(limit: &Limit, k: u64, n: u64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let p = k as f64 / n as f64;
    let passes = |total: u64| {
        let kk = (p * total as f64).round() as u64;
        let (worst, _) = limit.ends(wilson(kk, total));
        limit.ok(worst)
    };
    let cap = 1u64 << 50;
    if !limit.ok(p) || !passes(cap) {
        return None;
    }
    // The interval narrows as the trials grow: the first passing total.
    let (mut lo, mut hi) = (n, cap);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if passes(mid) { hi = mid } else { lo = mid + 1 }
    }
    Some(lo - n)
}

/// A mean with its normal-theory interval, from the count, sum and sum of
/// squares of the observations.
pub fn mean(n: u64, sum: f64, sum_sq: f64) -> Option<Measured> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let value = sum / nf;
    let interval = (n > 1).then(|| {
        let var = ((sum_sq - nf * value * value) / (nf - 1.0)).max(0.0);
        let half = Z95 * (var / nf).sqrt();
        (value - half, value + half)
    });
    Some(Measured {
        value,
        interval,
        sample: n,
    })
}

/// Further observations after which a mean's interval would pass `limit`,
/// at the observed mean and spread.
pub fn mean_more(limit: &Limit, n: u64, sum: f64, sum_sq: f64) -> Option<u64> {
    let m = mean(n, sum, sum_sq)?;
    let (lo, hi) = m.interval?;
    let half = (hi - lo) / 2.0;
    let gap = (limit.threshold - m.value).abs();
    if !limit.ok(m.value) || gap == 0.0 {
        return None;
    }
    // half ∝ 1/√n: n' = n · (half / gap)².
    let needed = (n as f64 * (half / gap).powi(2)).ceil();
    (needed.is_finite() && needed < 1e15).then(|| (needed as u64).saturating_sub(n))
}

/// The ranks (1-based, nearest rank) of the `q`-quantile of `n` values and
/// of the ends of its distribution-free 95 % interval: the order statistics
/// whose ranks the binomial(n, q) count of values below the true quantile
/// reaches with 95 % probability (normal approximation of the binomial).
pub fn quantile_ranks(n: u64, q: f64) -> Option<(u64, u64, u64)> {
    if n == 0 {
        return None;
    }
    let nf = n as f64;
    let rank = ((q * nf).ceil() as u64).clamp(1, n);
    let half = Z95 * (nf * q * (1.0 - q)).sqrt();
    let lo = ((q * nf - half).floor().max(1.0) as u64).min(n);
    let hi = ((q * nf + half).ceil().max(1.0) as u64).min(n);
    Some((lo.min(rank), rank, hi.max(rank)))
}

/// Further observations after which a quantile's interval would pass,
/// given the share `f_t` of observations on the passing side of the
/// threshold (`None` when the quantile itself is not on the passing side).
pub fn quantile_more(limit: &Limit, n: u64, q: f64, f_t: f64) -> Option<u64> {
    // The interval's worst rank moves past the threshold once
    // z·√(q(1−q)/n') ≤ |F(t) − q|.
    let target = match limit.direction {
        Direction::Below => f_t,
        Direction::AtLeast => 1.0 - f_t,
    };
    let q_side = match limit.direction {
        Direction::Below => q,
        Direction::AtLeast => 1.0 - q,
    };
    let gap = target - q_side;
    if gap <= 0.0 {
        return None;
    }
    let needed = (Z95 * Z95 * q * (1.0 - q) / (gap * gap)).ceil();
    (needed.is_finite() && needed < 1e15).then(|| (needed as u64).saturating_sub(n))
}

#[cfg(test)]
mod tests;
