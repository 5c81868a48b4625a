//! Exact order statistics: the k-th smallest value of a column among the
//! rows a filter selects, read from the raw rows.
//!
//! Percentiles are first located in the log-scale histograms
//! ([`crate::row::bucket`]); when a verdict could depend on where inside its
//! bucket a percentile lies, the analyzer asks for the exact value here. The
//! caller knows from the histogram which bucket holds the wanted rank and how
//! many values lie in lower buckets, so each pick reads only that bucket's
//! rows (`bucket = b ORDER BY value LIMIT offset, 1`), never the whole
//! distribution. Buckets are monotone in the value, so the k-th value inside
//! bucket `b` is the (values below `b` + k)-th value overall.

use crate::query::{Col, Cond, Dialect, Dim, Filter, col, cond, where_clause};
use serde::{Deserialize, Serialize};

/// Which values to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderStats {
    pub filter: Filter,
    pub col: Col,
    /// Rows the histogram counted (e.g. `HasCpu`, a service category).
    pub conds: Vec<Cond>,
    /// The bucket column holding `col`'s histogram: [`Dim::BucketA`] or
    /// [`Dim::BucketB`].
    pub bucket: Dim,
    /// (bucket, 0-based offset among that bucket's values sorted ascending).
    pub picks: Vec<(i16, u64)>,
}

/// One SQL statement answering every pick: rows `(index, value)`.
pub(crate) fn render(d: Dialect, q: &OrderStats) -> String {
    let bucket_col = match q.bucket {
        Dim::BucketB => "bucket_b",
        _ => "bucket_a",
    };
    let mut wheres = vec![where_clause(d, &q.filter)];
    wheres.extend(q.conds.iter().map(|c| cond(d, c)));
    wheres.push(format!("{} IS NOT NULL", col(q.col)));
    let base = wheres.join(" AND ");
    let value = match d {
        Dialect::ClickHouse => format!("toFloat64(assumeNotNull({}))", col(q.col)),
        Dialect::Sqlite => format!("CAST({} AS REAL)", col(q.col)),
    };
    let parts: Vec<String> = q
        .picks
        .iter()
        .enumerate()
        .map(|(i, (b, off))| {
            format!(
                "SELECT {i} AS i, x FROM (SELECT {value} AS x FROM events WHERE {base} AND {bucket_col} = {b} ORDER BY x LIMIT {off}, 1)"
            )
        })
        .collect();
    let union = parts.join(" UNION ALL ");
    match d {
        Dialect::ClickHouse => {
            format!("SELECT [toString(i)] AS d, [x] AS v FROM ({union})")
        }
        Dialect::Sqlite => format!("SELECT CAST(i AS TEXT), x FROM ({union})"),
    }
}

/// Values in pick order from `(index, value)` rows; a pick past its
/// bucket's end is `None`.
pub(crate) fn collect(n: usize, rows: Vec<crate::query::AggRow>) -> Vec<Option<f64>> {
    let mut out = vec![None; n];
    for r in rows {
        if let (Ok(i), Some(v)) = (r.dim(0).parse::<usize>(), r.value(0))
            && i < n
        {
            out[i] = Some(v);
        }
    }
    out
}

/// The shape [`render`]'s rows have, for the backends' row readers.
pub(crate) fn shape() -> crate::query::Query {
    crate::query::Query {
        group_by: vec![Dim::Kind],
        measures: vec![crate::query::Measure::Count(None)],
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_statement_reads_one_bucket_per_pick() {
        let q = OrderStats {
            filter: Filter {
                app_id: "a".into(),
                kinds: vec!["perf".into()],
                ..Default::default()
            },
            col: Col::MemoryMb,
            conds: vec![Cond::HasMemory],
            bucket: Dim::BucketB,
            picks: vec![(532, 0), (533, 17)],
        };
        for d in [Dialect::ClickHouse, Dialect::Sqlite] {
            let sql = render(d, &q);
            assert!(
                sql.contains("bucket_b = 532 ORDER BY x LIMIT 0, 1"),
                "{sql}"
            );
            assert!(
                sql.contains("bucket_b = 533 ORDER BY x LIMIT 17, 1"),
                "{sql}"
            );
            assert_eq!(sql.matches("UNION ALL").count(), 1, "{sql}");
        }
    }
}
