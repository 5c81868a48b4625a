use super::*;

fn limit(t: f64, semantics: Semantics, bound: Bound, min: u64) -> Limit {
    Limit {
        threshold: t,
        direction: Direction::Below,
        bound,
        semantics,
        min_sample: min,
    }
}

#[test]
fn ensure_needs_the_whole_interval_exceed_only_the_value() {
    let ensure = limit(0.0005, Semantics::Ensure, Bound::Exclusive, 1000);
    let exceed = Limit {
        semantics: Semantics::Exceed,
        ..ensure
    };
    // 0.08 % at 10,000 sessions: over the limit, a failure either way (it
    // used to pass because the interval's lower end was under 0.05 %).
    assert_eq!(judge_rate(&ensure, 8, 10_000).0, Verdict::Fail);
    assert_eq!(judge_rate(&exceed, 8, 10_000).0, Verdict::Fail);
    // 0.03 % at 10,000: passes "exceed"; "ensure" cannot prove it yet.
    assert_eq!(judge_rate(&exceed, 3, 10_000).0, Verdict::Pass);
    let (v, r) = judge_rate(&ensure, 3, 10_000);
    assert_eq!(v, Verdict::InsufficientData);
    let Reason::Unproven { more: Some(more) } = r else {
        panic!("{r:?}")
    };
    // At the same rate, `more` further sessions prove it, one fewer does not.
    let total = 10_000 + more;
    let k = (0.0003 * total as f64).round() as u64;
    assert!(wilson(k, total).1 < 0.0005);
    let k1 = (0.0003 * (total - 1) as f64).round() as u64;
    assert!(wilson(k1, total - 1).1 >= 0.0005);
    // 0.03 % at 1,000,000: proven.
    assert_eq!(judge_rate(&ensure, 300, 1_000_000).0, Verdict::Pass);
    // Exactly at the limit: "below 0.05 %" is not met by 0.05 %.
    assert_eq!(judge_rate(&exceed, 500, 1_000_000).0, Verdict::Fail);
    let inclusive = Limit {
        bound: Bound::Inclusive,
        ..exceed
    };
    assert_eq!(judge_rate(&inclusive, 500, 1_000_000).0, Verdict::Pass);
}

#[test]
fn below_the_minimum_sample_only_a_proven_failure_fails() {
    let l = limit(0.0001, Semantics::Exceed, Bound::Inclusive, 1000);
    // 1 of 500 users: 0.2 %, and even the interval's lower end (0.035 %)
    // is over 0.01 %.
    assert_eq!(
        judge_rate(&l, 1, 500),
        (
            Verdict::Fail,
            Reason::ProvenOver {
                have: 500,
                need: 1000
            }
        )
    );
    // 0 of 500: too few to say anything.
    assert_eq!(
        judge_rate(&l, 0, 500),
        (
            Verdict::InsufficientData,
            Reason::TooFew {
                have: 500,
                need: 1000
            }
        )
    );
    // A plain value (no interval) below the minimum is never judged.
    let m = Measured {
        value: 9e9,
        interval: None,
        sample: 3,
    };
    assert_eq!(judge(&l, Some(m), || None).0, Verdict::InsufficientData);
    assert_eq!(judge(&l, None, || None).1, Reason::NoData);
}

#[test]
fn at_least_rules_mirror_below_rules() {
    let l = Limit {
        threshold: 0.9,
        direction: Direction::AtLeast,
        bound: Bound::Inclusive,
        semantics: Semantics::Ensure,
        min_sample: 100,
    };
    assert_eq!(judge_rate(&l, 89, 100).0, Verdict::Fail);
    assert_eq!(judge_rate(&l, 91, 100).0, Verdict::InsufficientData);
    assert_eq!(judge_rate(&l, 99_000, 100_000).0, Verdict::Pass);
    assert_eq!(judge_rate(&l, 90, 100).0, Verdict::InsufficientData);
}

#[test]
fn mean_interval_is_the_normal_one_from_sums() {
    // Reference: values 1..=100: mean 50.5, sample sd 29.011491975882016.
    let xs: Vec<f64> = (1..=100).map(f64::from).collect();
    let (n, sum, sq) = (
        xs.len() as u64,
        xs.iter().sum::<f64>(),
        xs.iter().map(|x| x * x).sum::<f64>(),
    );
    let m = mean(n, sum, sq).unwrap();
    assert_eq!(m.value, 50.5);
    let half = Z95 * 29.011491975882016 / 10.0;
    let (lo, hi) = m.interval.unwrap();
    assert!((lo - (50.5 - half)).abs() < 1e-9 && (hi - (50.5 + half)).abs() < 1e-9);
    let l = limit(55.0, Semantics::Ensure, Bound::Inclusive, 10);
    let more = mean_more(&l, n, sum, sq).unwrap();
    // With n + more observations of the same spread, the upper end is 55.
    let n2 = (n + more) as f64;
    let hi2 = 50.5 + Z95 * 29.011491975882016 / n2.sqrt();
    assert!(hi2 <= 55.0 + 1e-9, "{hi2}");
}

#[test]
fn quantile_ranks_bracket_the_nearest_rank() {
    assert_eq!(quantile_ranks(0, 0.9), None);
    assert_eq!(quantile_ranks(1, 0.9), Some((1, 1, 1)));
    // n = 1000, q = 0.9: rank 900, half-width 1.96·√90 = 18.59.
    assert_eq!(quantile_ranks(1000, 0.9), Some((881, 900, 919)));
    let (lo, r, hi) = quantile_ranks(100, 0.99).unwrap();
    assert!(lo <= r && r <= hi && hi <= 100, "{lo} {r} {hi}");
}
