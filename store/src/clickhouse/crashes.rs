//! ClickHouse side of re-symbolication: finding crash rows that name a
//! missing debug file, and rewriting them with mutations.
//!
//! `ALTER TABLE … UPDATE` (ClickHouse ≥ 18.12) rewrites the data parts it
//! touches in the background, so rewrites are batched: one mutation sets
//! every changed column of up to [`ROWS_PER_MUTATION`] rows with `multiIf`
//! keyed by `(batch_id, seq)`, and the caller waits once for all of them.
//! None of the updated columns is in the sort or partition key (18.16
//! refuses to update those), and materialized views — the rollups — see
//! inserts only; the crash rows' rollup contribution (a user's fatal flag)
//! does not depend on these columns.

use super::ClickHouseStore;
use crate::{CrashRewrite, CrashRowKey, Result, StoredCrash, missing_file_needle};
use ::clickhouse::Row;
use serde::Deserialize;

/// Rows per mutation.
const ROWS_PER_MUTATION: usize = 100;
/// Bytes of new values per mutation (a larger single row goes alone).
const BYTES_PER_MUTATION: usize = 8 << 20;
/// The columns a rewrite sets.
const COLUMNS: [&str; 4] = ["payload", "fingerprint", "exception_type", "message"];

fn value<'a>(w: &'a CrashRewrite, col: &str) -> &'a str {
    match col {
        "payload" => &w.payload,
        "fingerprint" => &w.fingerprint,
        "exception_type" => &w.exception_type,
        _ => &w.message,
    }
}

fn size(w: &CrashRewrite) -> usize {
    COLUMNS.iter().map(|c| value(w, c).len()).sum()
}

/// Splits rewrites into mutation-sized chunks.
fn chunks(rewrites: &[CrashRewrite]) -> Vec<&[CrashRewrite]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, w) in rewrites.iter().enumerate() {
        let n = size(w);
        if i > start && (i - start >= ROWS_PER_MUTATION || bytes + n > BYTES_PER_MUTATION) {
            out.push(&rewrites[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += n;
    }
    if start < rewrites.len() {
        out.push(&rewrites[start..]);
    }
    out
}

/// The statement for one chunk, with `?` for every value, bound in this
/// order: per column, per row `(batch_id, seq, value)`; then the app id;
/// then per row `(batch_id, seq)`.
fn update_sql(table: &str, rows: usize) -> String {
    let cond = "batch_id = ? AND seq = ?";
    let sets: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let arms = vec![format!("{cond}, ?"); rows].join(", ");
            format!("{c} = multiIf({arms}, {c})")
        })
        .collect();
    let which = vec![format!("({cond})"); rows].join(" OR ");
    format!(
        "ALTER TABLE {table} UPDATE {} WHERE app_id = ? AND kind = 'crash' AND ({which})",
        sets.join(", ")
    )
}

impl ClickHouseStore {
    /// See [`crate::Store::crashes_missing_files`].
    pub(super) async fn missing_files(
        &self,
        app_id: &str,
        after: Option<&CrashRowKey>,
        limit: u32,
    ) -> Result<Vec<StoredCrash>> {
        #[derive(Row, Deserialize)]
        struct R {
            batch_id: String,
            seq: u32,
            ts: u32,
            version: String,
            build: String,
            crash_id: String,
            exception_type: String,
            message: String,
            fingerprint: String,
            payload: String,
        }
        let cursor = if after.is_some() {
            "AND (ts > toDateTime(?) OR (ts = toDateTime(?) \
             AND (batch_id > ? OR (batch_id = ? AND seq > ?))))"
        } else {
            ""
        };
        let sql = format!(
            "SELECT batch_id, seq, ts, version, build, crash_id, exception_type, message,
                    fingerprint, payload
             FROM events
             WHERE app_id = ? AND kind = 'crash' AND position(payload, ?) > 0 {cursor}
             ORDER BY ts, batch_id, seq
             LIMIT {limit}"
        );
        let mut q = self
            .client
            .query(&sql)
            .bind(app_id)
            .bind(missing_file_needle().as_str());
        if let Some(k) = after {
            q = q
                .bind(k.ts)
                .bind(k.ts)
                .bind(k.batch_id.as_str())
                .bind(k.batch_id.as_str())
                .bind(k.seq);
        }
        let rows = q.fetch_all::<R>().await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredCrash {
                key: CrashRowKey {
                    batch_id: r.batch_id,
                    seq: r.seq,
                    ts: r.ts,
                    version: r.version,
                    build: r.build,
                },
                crash_id: r.crash_id,
                exception_type: r.exception_type,
                message: r.message,
                fingerprint: r.fingerprint,
                payload: r.payload,
            })
            .collect())
    }

    /// See [`crate::Store::rewrite_crashes`]: one mutation per chunk, then
    /// one wait for all of them (a mutation, once accepted, completes even
    /// if this process stops).
    pub(super) async fn rewrite(&self, app_id: &str, rewrites: &[CrashRewrite]) -> Result<()> {
        if rewrites.is_empty() {
            return Ok(());
        }
        // Mutations are node-local: the events' local table on the first
        // replica of every shard (a no-op where a shard has none of them).
        let topo = self.topology().await?;
        let table = topo.layout.local("events");
        let mut jobs = Vec::new();
        for node in topo.shard_leaders() {
            for chunk in chunks(rewrites) {
                jobs.push((node, chunk));
            }
        }
        for (node, chunk) in jobs {
            let mut q = node.client.query(&update_sql(&table, chunk.len()));
            for col in COLUMNS {
                for w in chunk {
                    q = q
                        .bind(w.key.batch_id.as_str())
                        .bind(w.key.seq)
                        .bind(value(w, col));
                }
            }
            q = q.bind(app_id);
            for w in chunk {
                q = q.bind(w.key.batch_id.as_str()).bind(w.key.seq);
            }
            // The values are literals in the statement: allow for them
            // (escaping at most doubles them) beyond the 256 KiB default.
            let bytes: usize = chunk.iter().map(size).sum();
            let max = (2 * bytes + (1 << 20)).max(256 << 10);
            q.with_setting("max_query_size", max.to_string())
                .execute()
                .await?;
            tracing::debug!(
                app_id,
                rows = chunk.len(),
                bytes,
                "crash rewrite mutation submitted"
            );
        }
        self.wait_mutations().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(batch: &str, payload_len: usize) -> CrashRewrite {
        CrashRewrite {
            key: CrashRowKey {
                batch_id: batch.into(),
                seq: 0,
                ts: 0,
                version: String::new(),
                build: String::new(),
            },
            payload: "x".repeat(payload_len),
            fingerprint: String::new(),
            exception_type: String::new(),
            message: String::new(),
        }
    }

    #[test]
    fn chunks_by_rows_and_bytes() {
        let many: Vec<_> = (0..250).map(|i| rw(&i.to_string(), 10)).collect();
        let c = chunks(&many);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        let big = vec![
            rw("a", BYTES_PER_MUTATION + 1),
            rw("b", 10),
            rw("c", BYTES_PER_MUTATION),
        ];
        let c = chunks(&big);
        assert_eq!(c.iter().map(|c| c.len()).collect::<Vec<_>>(), vec![1, 1, 1]);
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn one_placeholder_per_bound_value() {
        let sql = update_sql("events", 3);
        // 4 columns × 3 rows × 3 values, the app id, 3 rows × 2 keys.
        assert_eq!(sql.matches('?').count(), 4 * 3 * 3 + 1 + 3 * 2);
        assert!(sql.starts_with("ALTER TABLE events UPDATE payload = multiIf("));
        assert!(update_sql("events_local", 1).starts_with("ALTER TABLE events_local UPDATE "));
    }
}
