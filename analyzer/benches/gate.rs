//! Gate benchmark: the full evaluation of one release (every rule of the
//! standard) over 10 M sessions and 50 M metric samples in ClickHouse,
//! against one hand-written SQL query for the crash-rate rule as the
//! baseline, in the same run; and the embedded backend at 1 M sessions.
//!
//!   VITALS_BENCH_CLICKHOUSE_URL=http://127.0.0.1:8123 \
//!     cargo bench -p vitals-analyzer --bench gate [-- SESSIONS SAMPLES]
//!
//! Data is generated inside the store (INSERT … SELECT FROM numbers()), so
//! the run measures queries, not ingestion.

use std::sync::Arc;
use std::time::Instant;
use vitals_analyzer::Analyzer;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::Policy;
use vitals_store::{ClickHouseConfig, ClickHouseStore, ControlPlane, SqliteStore, Store};

const REPS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Column values of a synthetic row, shared by both dialects. `n` is the
/// row number; `kind_expr` picks the kind.
fn select_body(n: &str, kind: &str, now: u32, tz_days: u32) -> String {
    format!(
        "'bench' AS app_id, concat('b', toString(intDiv({n}, 100))) AS batch_id, toUInt32({n} % 100) AS seq, '{kind}' AS kind,
         toDateTime({now} - ({n} % ({tz_days} * 86400))) AS ts, toUInt16(0) AS ts_ms, toDateTime({now}) AS received_at,
         ['ios','android','harmonyos','ipados'][{n} % 4 + 1] AS platform, '9.0.0' AS version, '900' AS build,
         concat('model-', toString({n} % 400)) AS device_model, if({n} % 4 = 3, 'tablet', 'phone') AS device_class,
         toString(12 + {n} % 7) AS os_version, toUInt16(12 + {n} % 7) AS os_major, toUInt16(1170) AS screen_w, toUInt16(2532) AS screen_h,
         toFloat32(3) AS density, 'arm64' AS abi, toUInt8({n} % 97 = 0) AS rooted, toUInt8(0) AS emulator,
         ['ipv4','ipv6','dual'][{n} % 3 + 1] AS net_family, 'wifi' AS carrier, concat('i', toString({n} % 1000000)) AS install_id,
         concat('u', toString({n} % 1000000)) AS user_id, concat('u', toString({n} % 1000000)) AS user_key, '' AS device_id, '' AS client_ip"
    )
}

async fn fill_clickhouse(ch: &ClickHouseStore, sessions: u64, samples: u64) {
    let now = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()) as u32;
    let tail = "'' AS fingerprint, 'm' AS screen_class";
    let session = format!(
        "INSERT INTO events SELECT {}, concat('s', toString(number)) AS session_id, if(number % 2 = 0, 'start', 'end') AS session_phase,
           if(number % 2 = 0, '', if(number % 3333 = 1, 'crashed', 'ok')) AS session_status, toUInt64(60000) AS duration_ms, toUInt64(50000) AS foreground_ms,
           '' AS crash_id, '' AS exception_type, '' AS message, toUInt8(0) AS fatal, toUInt8(0) AS handled, '' AS payload,
           CAST(NULL AS Nullable(Float64)) AS cpu_pct, CAST(NULL AS Nullable(Float64)) AS memory_mb, toUInt64(0) AS package_bytes,
           '' AS category, '' AS site, toUInt16(0) AS status_code, '' AS req_family, '' AS patch_id, '' AS stage, '' AS error_code, '' AS name, toFloat64(0) AS value,
           {}, toInt16(ceil(log(60000) / log(1.01))) AS bucket_a, toInt16(-32768) AS bucket_b, 'production' AS environment
         FROM numbers({})",
        select_body("number", "session", now, 7),
        tail,
        sessions * 2
    );
    let perf = format!(
        "INSERT INTO events SELECT {}, '' AS session_id, '' AS session_phase, '' AS session_status,
           toUInt64(300 + number % 3000) AS duration_ms, toUInt64(0) AS foreground_ms,
           '' AS crash_id, '' AS exception_type, '' AS message, toUInt8(0) AS fatal, toUInt8(0) AS handled, '' AS payload,
           toNullable(toFloat64(number % 900) / 100) AS cpu_pct, toNullable(toFloat64(80 + number % 200)) AS memory_mb, toUInt64(0) AS package_bytes,
           ['trade','quote','bus'][number % 3 + 1] AS category, 'sh-1' AS site, toUInt16(200) AS status_code, 'ipv4' AS req_family, '' AS patch_id, '' AS stage, '' AS error_code, '' AS name, toFloat64(0) AS value,
           {}, toInt16(ceil(log(300 + number % 3000) / log(1.01))) AS bucket_a, toInt16(ceil(log(80 + number % 200) / log(1.01))) AS bucket_b, 'production' AS environment
         FROM numbers({})",
        select_body("number", "perf", now, 7).replace("'perf' AS kind", "['perf','cold_start','network'][number % 3 + 1] AS kind"),
        tail,
        samples
    );
    for sql in [session, perf] {
        let t = Instant::now();
        ch.execute(&sql).await.expect("fill");
        eprintln!("filled in {:.1} s", t.elapsed().as_secs_f64());
    }
}

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
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let sessions: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let samples: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000_000);
    let url = std::env::var("VITALS_BENCH_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = Arc::new(ControlPlane::open(dir.path().join("cp.sqlite")).expect("control plane"));

    let ch = ClickHouseStore::new(ClickHouseConfig {
        url,
        database: "vitals_bench".into(),
        ..Default::default()
    });
    ch.drop_database().await.expect("drop");
    ch.migrate().await.expect("migrate");
    fill_clickhouse(&ch, sessions, samples).await;
    ch.execute("OPTIMIZE TABLE events FINAL").await.ok();
    // Baseline: one hand-written query for the crash-rate rule.
    let mut base = Vec::new();
    for _ in 0..REPS {
        let t = Instant::now();
        ch.execute(
            "SELECT countIf(kind = 'session' AND session_phase = 'start'), countIf(kind = 'session' AND session_phase = 'end' AND session_status = 'crashed')
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
    ch.drop_database().await.ok();

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

/// SQL that fills the embedded store with `sessions` sessions and `samples`
/// samples using SQLite's own generate loop (run on the store's connection,
/// so its rollup triggers see every row).
fn sqlite_fill(sessions: u64, samples: u64) -> String {
    format!(
        "WITH RECURSIVE n(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM n WHERE x < {rows})
         INSERT INTO events SELECT 'bench', 'b' || (x / 100), x % 100,
           CASE WHEN x < {s2} THEN 'session' ELSE (CASE x % 3 WHEN 0 THEN 'perf' WHEN 1 THEN 'cold_start' ELSE 'network' END) END,
           {now} - (x % 604800), 0, {now}, 'ios', '9.0.0', '900', 'model-' || (x % 400), 'phone', '17', 12 + x % 7, 1170, 2532, 3.0, 'arm64', 0, 0,
           'dual', 'wifi', 'i' || (x % 100000), 'u' || (x % 100000), 'u' || (x % 100000), '', '',
           CASE WHEN x < {s2} THEN 's' || x ELSE '' END,
           CASE WHEN x < {s2} THEN (CASE x % 2 WHEN 0 THEN 'start' ELSE 'end' END) ELSE '' END,
           CASE WHEN x < {s2} AND x % 2 = 1 THEN (CASE WHEN x % 3333 = 1 THEN 'crashed' ELSE 'ok' END) ELSE '' END,
           CASE WHEN x < {s2} THEN 60000 ELSE 300 + x % 3000 END, 0, '', '', '', 0, 0, '',
           CASE WHEN x < {s2} THEN NULL ELSE (x % 900) / 100.0 END, CASE WHEN x < {s2} THEN NULL ELSE 80 + x % 200 END, 0,
           CASE WHEN x < {s2} THEN '' ELSE (CASE x % 3 WHEN 0 THEN 'trade' WHEN 1 THEN 'quote' ELSE 'bus' END) END, 'sh-1', 200, 'ipv4', '', '', '', '', 0,
           '', 'm', 1000 + x % 300, 500 + x % 50, 'production'
         FROM n",
        rows = sessions * 2 + samples - 1,
        s2 = sessions * 2,
        now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    )
}
