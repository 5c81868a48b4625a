//! Exact percentiles where a verdict depends on them.
//!
//! A percentile is first located in its histogram: the bucket holding its
//! rank, 1 % wide. When every value that bucket can hold lies on one side of
//! the rule's threshold, the comparison is already certain and the bucket's
//! representative value is reported (within ±0.5 %, `exact: false`). When the
//! bucket could straddle the threshold, the value is read exactly from the
//! raw rows ([`vitals_store::Store::order_stats`]), reading only that
//! bucket's rows, and reported exactly. The same is done for the ranks at
//! the ends of the percentile's confidence interval, so no verdict is ever
//! decided by a bucket's approximation.

use crate::facts::Dist;
use crate::judge::{Limit, quantile_ranks};
use crate::stats::bucket_bounds;
use vitals_store::order_stats::OrderStats;
use vitals_store::query::{Col, Cond, Dim, Filter};
use vitals_store::row::BUCKET_NONE;
use vitals_store::{Store, StoreError};

/// Where a distribution's raw values live: the rows its histogram counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub filter: Filter,
    pub col: Col,
    pub conds: Vec<Cond>,
    pub bucket: Dim,
}

/// A percentile with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileEstimate {
    pub value: f64,
    pub interval: (f64, f64),
    /// Whether `value` is the exact order statistic (else the bucket's
    /// representative, which cannot change the verdict).
    pub exact: bool,
    pub sample: u64,
}

/// Relative slack on bucket bounds: a value within it of a bucket edge may
/// have been rounded into the neighbouring bucket by the logarithm.
const EDGE: f64 = 1e-9;

/// Whether a value in bucket `b` could lie on either side of the limit.
fn straddles(b: i16, limit: &Limit) -> bool {
    if b == BUCKET_NONE {
        return false;
    }
    let (lo, hi) = bucket_bounds(b);
    let (lo, hi) = (lo * (1.0 - EDGE), hi * (1.0 + EDGE));
    limit.ok(lo) != limit.ok(hi)
}

/// The `q`-quantile of `dist` judged against `limit`, exact where it
/// matters (`all_exact`: exact everywhere).
pub async fn quantile(
    store: &dyn Store,
    dist: &Dist,
    q: f64,
    limit: &Limit,
    all_exact: bool,
) -> Result<Option<QuantileEstimate>, StoreError> {
    let n = dist.hist.count();
    let Some((lo_rank, rank, hi_rank)) = quantile_ranks(n, q) else {
        return Ok(None);
    };
    let ranks = [lo_rank, rank, hi_rank];
    let mut values = [0.0f64; 3];
    let mut exact = [false; 3];
    let mut picks: Vec<(i16, u64)> = Vec::new();
    let mut pick_of = [None; 3];
    for (i, r) in ranks.iter().enumerate() {
        let Some((b, off)) = dist.hist.locate(*r) else {
            return Ok(None);
        };
        if b == BUCKET_NONE {
            // Zero is zero: no need to ask.
            exact[i] = true;
            continue;
        }
        values[i] = vitals_store::row::bucket_value(b);
        if (all_exact || straddles(b, limit)) && dist.source.is_some() {
            pick_of[i] = Some(match picks.iter().position(|p| *p == (b, off)) {
                Some(j) => j,
                None => {
                    picks.push((b, off));
                    picks.len() - 1
                }
            });
        }
    }
    if let (Some(src), false) = (&dist.source, picks.is_empty()) {
        let got = store
            .order_stats(&OrderStats {
                filter: src.filter.clone(),
                col: src.col,
                conds: src.conds.clone(),
                bucket: src.bucket.clone(),
                picks,
            })
            .await?;
        for i in 0..3 {
            if let Some(v) = pick_of[i].and_then(|j| got.get(j).copied().flatten()) {
                values[i] = v;
                exact[i] = true;
            }
        }
    }
    Ok(Some(QuantileEstimate {
        value: values[1],
        interval: (values[0], values[2]),
        exact: exact[1],
        sample: n,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Bound, Direction, Semantics};
    use vitals_store::row::bucket;

    #[test]
    fn only_buckets_that_can_hold_the_threshold_straddle_it() {
        let limit = Limit {
            threshold: 2000.0,
            direction: Direction::Below,
            bound: Bound::Inclusive,
            semantics: Semantics::Exceed,
            min_sample: 0,
        };
        assert!(straddles(bucket(2001.0), &limit));
        assert!(straddles(bucket(1992.3), &limit));
        assert!(straddles(bucket(2000.0), &limit));
        assert!(!straddles(bucket(1900.0), &limit));
        assert!(!straddles(bucket(2100.0), &limit));
        assert!(!straddles(BUCKET_NONE, &limit));
    }
}
