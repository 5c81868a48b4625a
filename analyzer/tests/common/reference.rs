//! The plain reference computations the threshold tests share: a seeded
//! generator, the Wilson interval written out, a rule's reading with
//! integer comparisons at the threshold, and event builders.
#![allow(dead_code)]

use vitals_analyzer::evaluate::{RuleResult, Verdict};
use vitals_analyzer::policy::Metric;
use vitals_protocol::*;

pub const Z95: f64 = 1.959_963_984_540_054;

/// SplitMix64: a failing seed replays exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

pub fn session(ts: i64, sid: &str, phase: SessionPhase, status: Option<SessionStatus>) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: sid.into(),
        phase,
        status,
        duration_ms: if phase == SessionPhase::End { 1000 } else { 0 },
        foreground_ms: if phase == SessionPhase::End { 1000 } else { 0 },
    })
}

pub fn stage(ts: i64, patch: &str, s: HotUpdateStage) -> Event {
    Event::HotUpdate(HotUpdateEvent {
        ts,
        patch_id: patch.into(),
        stage: s,
        package_bytes: 300_000,
        error_code: String::new(),
    })
}

/// The Wilson score interval of `k` in `n`, written out.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A rule's reading, for the reference.
pub struct Rule {
    pub ensure: bool,
    /// `below` the threshold, else `at_least`.
    pub below: bool,
    pub inclusive: bool,
    /// The threshold as a fraction num / den, compared in integers.
    pub num: u64,
    pub den: u64,
    pub min: u64,
}

impl Rule {
    /// Whether `k` of `n` is on the passing side, exactly.
    pub fn ok_exact(&self, k: u64, n: u64) -> bool {
        let (l, r) = (
            u128::from(k) * u128::from(self.den),
            u128::from(self.num) * u128::from(n),
        );
        match (self.below, self.inclusive) {
            (true, true) => l <= r,
            (true, false) => l < r,
            (false, true) => l >= r,
            (false, false) => l > r,
        }
    }

    pub fn ok(&self, x: f64) -> bool {
        let t = self.num as f64 / self.den as f64;
        match (self.below, self.inclusive) {
            (true, true) => x <= t,
            (true, false) => x < t,
            (false, true) => x >= t,
            (false, false) => x > t,
        }
    }

    /// The verdict of `k` in `n` (`docs/METRICS.md`, "Verdict semantics"),
    /// or `None` when an interval's end is so near the threshold that float
    /// rounding could decide it.
    pub fn verdict(&self, k: u64, n: u64) -> Option<Verdict> {
        let (lo, hi) = wilson(k, n);
        let (worst, best) = if self.below { (hi, lo) } else { (lo, hi) };
        let t = self.num as f64 / self.den as f64;
        let near = |x: f64| (x - t).abs() <= 1e-12;
        if n < self.min {
            if near(best) {
                return None;
            }
            return Some(if self.ok(best) {
                Verdict::InsufficientData
            } else {
                Verdict::Fail
            });
        }
        if !self.ok_exact(k, n) {
            return Some(Verdict::Fail);
        }
        if self.ensure {
            if near(worst) {
                return None;
            }
            if !self.ok(worst) {
                return Some(Verdict::InsufficientData);
            }
        }
        Some(Verdict::Pass)
    }
}

pub fn result(e: &vitals_analyzer::Evaluation, m: Metric) -> RuleResult {
    e.results
        .iter()
        .find(|r| r.metric == m)
        .unwrap_or_else(|| panic!("{m:?}"))
        .clone()
}

/// Checks one rate rule: value, interval and verdict against the reference.
pub fn check_rate(who: &str, r: &RuleResult, rule: &Rule, k: u64, n: u64) {
    assert_eq!(r.sample, n, "{who}: sample: {r:?}");
    assert_eq!(r.value, Some(k as f64 / n as f64), "{who}: value: {r:?}");
    let (lo, hi) = wilson(k, n);
    let (glo, ghi) = r.interval.expect("an interval");
    assert!(
        (glo - lo).abs() <= 1e-12 && (ghi - hi).abs() <= 1e-12,
        "{who}: interval ({glo}, {ghi}) vs ({lo}, {hi})"
    );
    if let Some(want) = rule.verdict(k, n) {
        assert_eq!(r.verdict, want, "{who}: {k} of {n}: {r:?}");
    }
}
