//! Bookkeeping shared by the fault-injection tests: what was acknowledged,
//! what ClickHouse holds, and the one-line `FAULT` result each test prints
//! (collected by `deploy/bench/faults.sh`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A numeric setting from the environment (the long forms), else `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        _ => default,
    }
}

/// Acknowledged batches: batch id → events in it.
#[derive(Debug, Default, Clone)]
pub struct Acked(pub HashMap<String, usize>);

impl Acked {
    pub fn add(&mut self, b: &vitals_protocol::Batch) {
        self.0.insert(b.batch_id.clone(), b.events.len());
    }

    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    pub fn batches(&self) -> usize {
        self.0.len()
    }

    pub fn events(&self) -> u64 {
        self.0.values().map(|&n| n as u64).sum()
    }
}

/// What the store holds compared with what was acknowledged.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Events in acknowledged batches.
    pub acked: u64,
    /// Event rows stored for the app (all copies).
    pub stored: u64,
    /// Rows beyond the first of each (batch, seq).
    pub duplicated: u64,
    /// Acknowledged events with no row.
    pub lost: u64,
    /// Distinct events stored whose batch was never acknowledged (spooled,
    /// but the answer did not reach the client): allowed, not a loss.
    pub unacked_stored: u64,
    /// Batch ids of acknowledged batches with missing events.
    pub lost_batches: Vec<String>,
}

/// Per batch: (rows, distinct seqs) stored in `db.events` for `app`.
pub fn stored_per_batch(url: &str, db: &str, app: &str) -> HashMap<String, (u64, u64)> {
    let text = super::query(
        url,
        &format!(
            "SELECT batch_id, count(), uniqExact(seq) FROM {db}.events WHERE app_id = '{app}' \
             GROUP BY batch_id FORMAT TabSeparated"
        ),
    )
    .unwrap_or_else(|e| panic!("count stored rows: {e}"));
    text.lines()
        .filter_map(|l| {
            let mut it = l.split('\t');
            let id = it.next()?.to_string();
            let rows = it.next()?.parse().ok()?;
            let distinct = it.next()?.parse().ok()?;
            Some((id, (rows, distinct)))
        })
        .collect()
}

/// Compares ClickHouse's rows with the acknowledged batches.
pub fn reconcile(url: &str, db: &str, app: &str, acked: &Acked) -> Outcome {
    let stored = stored_per_batch(url, db, app);
    let mut o = Outcome {
        acked: acked.events(),
        ..Default::default()
    };
    for (id, &(rows, distinct)) in &stored {
        o.stored += rows;
        o.duplicated += rows - distinct;
        if !acked.contains(id) {
            o.unacked_stored += distinct;
        }
    }
    for (id, &n) in &acked.0 {
        let have = stored.get(id).map(|s| s.1).unwrap_or(0);
        if have < n as u64 {
            o.lost += n as u64 - have;
            o.lost_batches.push(id.clone());
        }
    }
    o.lost_batches.sort();
    o
}

/// Waits until every acknowledged event (except those of `excused`
/// batches) is stored, or `timeout` passes; returns the final outcome.
pub async fn wait_stored(
    url: &str,
    db: &str,
    app: &str,
    acked: &Acked,
    excused: &[String],
    timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    loop {
        let o = reconcile(url, db, app, acked);
        let missing = o
            .lost_batches
            .iter()
            .filter(|b| !excused.contains(b))
            .count();
        if missing == 0 || Instant::now() >= deadline {
            // Give the writer a moment to (wrongly) write anything twice.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return reconcile(url, db, app, acked);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints the scenario's result line: `FAULT <scenario> acked=… stored=…
/// duplicated=… lost=… (extra)`.
pub fn report(scenario: &str, o: &Outcome, extra: &str) {
    let line = format!(
        "FAULT {scenario} acked={} stored={} duplicated={} lost={} ({extra})",
        o.acked, o.stored, o.duplicated, o.lost
    );
    // libtest shows it for failing tests, or always with --nocapture; the
    // newline keeps it off libtest's `test name ... ` line.
    println!("\n{line}");
}

/// Fresh ClickHouse database name for one test run.
pub fn db_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}
