//! Gate benchmark: the full evaluation of one release (every rule of the
//! standard) over 10 M sessions and 50 M metric samples in ClickHouse,
//! against one hand-written SQL query for the crash-rate rule as the
//! baseline, in the same run; and the embedded backend at 1 M sessions.
//!
//!   VITALS_BENCH_CLICKHOUSE_URL=http://127.0.0.1:8123 \
//!     cargo bench -p vitals-analyzer --bench gate [-- SESSIONS SAMPLES]
//!
//! Data is generated inside the store (INSERT … SELECT FROM numbers()), so
//! the run measures queries, not ingestion; `VITALS_BENCH_KEEP=1` keeps the
//! ClickHouse database for the dashboard benchmark (`web/benches/render.rs`).

use std::sync::Arc;
use std::time::Instant;
use vitals_analyzer::Analyzer;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::Policy;
use vitals_store::{ClickHouseConfig, ClickHouseStore, ControlPlane, SqliteStore, Store};

mod fill;

use fill::{REPS, median, sqlite_fill};

async fn time_gate(a: &Analyzer) -> (f64, String) {
    let r = ReleaseRef::parse("9.0.0");
    let mut times = Vec::new();
    let mut decision = String::new();
    for _ in 0..REPS {
        let t = Instant::now();
        let e = a.evaluate("bench", &r, None, None).await.expect("evaluate");
        times.push(t.elapsed().as_secs_f64());
        decision = format!(
            "{:?}, {} rules, {} sessions",
            e.decision,
            e.results.len(),
            e.facts.sessions
        );
    }
    (median(times), decision)
}

#[tokio::main]
async fn main() {
    let (sessions, samples, url) = fill::args();
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = Arc::new(ControlPlane::open(dir.path().join("cp.sqlite")).expect("control plane"));

    let ch = ClickHouseStore::new(ClickHouseConfig {
        url,
        database: "vitals_bench".into(),
        ..Default::default()
    });
    fill::ensure_clickhouse(&ch, sessions, samples).await;
    // Baseline: one hand-written query for the crash-rate rule.
    let mut base = Vec::new();
    for _ in 0..REPS {
        let t = Instant::now();
        ch.execute(
            "SELECT countIf(kind = 'session' AND s_new = 1), countIf(kind = 'session' AND s_crash = 1)
             FROM events WHERE app_id = 'bench' AND version = '9.0.0' FORMAT Null",
        )
        .await
        .expect("baseline");
        base.push(t.elapsed().as_secs_f64());
    }
    let base = median(base);
    let store: Arc<dyn Store> = Arc::new(ch.clone());
    let a = Analyzer::new(store, cp.clone(), Policy::standard(), "Asia/Shanghai");
    let (gate, what) = time_gate(&a).await;
    println!("| backend | data | crash-rate SQL (baseline) | full gate | ratio |");
    println!("|---|---|---|---|---|");
    println!(
        "| ClickHouse | {sessions} sessions + {samples} samples | {:.3} s | {:.3} s | {:.1}× |  ",
        base,
        gate,
        gate / base
    );
    eprintln!("clickhouse gate: {what}");
    if std::env::var("VITALS_BENCH_KEEP").is_err() {
        ch.drop_database().await.ok();
    }

    // Embedded at 1 M sessions: same rows through the ingest path's insert.
    let sq = SqliteStore::open(dir.path().join("t.sqlite")).expect("sqlite");
    sq.migrate().await.expect("migrate");
    let n = (sessions / 10).max(1);
    let t = Instant::now();
    sq.execute_batch(&sqlite_fill(n, n * 5))
        .await
        .expect("fill sqlite");
    eprintln!("sqlite filled in {:.1} s", t.elapsed().as_secs_f64());
    let store: Arc<dyn Store> = Arc::new(sq);
    let a = Analyzer::new(store, cp, Policy::standard(), "Asia/Shanghai");
    let (gate_sq, what) = time_gate(&a).await;
    println!(
        "| SQLite (embedded) | {n} sessions + {} samples | — | {:.3} s | — |",
        n * 5,
        gate_sq
    );
    eprintln!("sqlite gate: {what}");
}
