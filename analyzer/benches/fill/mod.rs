//! Synthetic data for the ClickHouse and SQLite benchmarks (gate here, the
//! dashboard's render benchmark in `web/benches`), generated inside each
//! store with INSERT … SELECT so runs measure queries, not ingestion.
//!
//! Release `9.0.0` of app `bench`: `sessions` sessions (start + end rows,
//! one in 3,333 crashed, with its fatal crash in one of 37 groups) and
//! `samples` perf / cold-start / network samples, over 7 days, 1 M users,
//! 400 device models.

#![allow(dead_code)]

use std::time::Instant;
use vitals_store::{ClickHouseStore, Store};

pub const REPS: usize = 5;

/// `[SESSIONS] [SAMPLES]` from the command line (defaults 10 M and 50 M)
/// and the ClickHouse URL from `VITALS_BENCH_CLICKHOUSE_URL`.
pub fn args() -> (u64, u64, String) {
    let args: Vec<String> = std::env::args().filter(|a| !a.starts_with("--")).collect();
    let n = |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let url = std::env::var("VITALS_BENCH_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".into());
    (n(1, 10_000_000), n(2, 50_000_000), url)
}

/// Fills the store unless it already holds exactly this data set (a kept
/// database from an earlier run: `VITALS_BENCH_KEEP=1`).
pub async fn ensure_clickhouse(ch: &ClickHouseStore, sessions: u64, samples: u64) {
    use vitals_store::query::{Filter, Measure, Query};
    let q = Query {
        filter: Filter {
            app_id: "bench".into(),
            ..Default::default()
        },
        measures: vec![Measure::Count(None)],
        ..Default::default()
    };
    let crashes = (0..sessions * 2)
        .filter(|n| n % 2 == 1 && n % 3333 == 1)
        .count() as u64;
    let want = sessions * 2 + samples + crashes;
    let have = match ch.aggregate_raw(&q).await {
        Ok(rows) => rows.first().map(|r| r.count(0)).unwrap_or(0),
        Err(_) => 0,
    };
    if have == want {
        eprintln!("reusing the kept bench database ({have} rows)");
        // Rebuilds the rollups if their layout changed since.
        let t = Instant::now();
        let r = ch.migrate().await.expect("migrate");
        eprintln!(
            "migrated ({} applied) in {:.1} s",
            r.applied,
            t.elapsed().as_secs_f64()
        );
    } else {
        ch.drop_database().await.expect("drop");
        ch.migrate().await.expect("migrate");
        fill_clickhouse(ch, sessions, samples).await;
    }
    // Steady state: the parts a long-running server would have merged by
    // now (SummingMergeTree rollups collapse to one row per key).
    let t = Instant::now();
    for table in [
        "events",
        "rollup_sessions",
        "rollup_users",
        "rollup_users_daily",
        "rollup_samples",
        "rollup_user_sketch",
    ] {
        ch.execute(&format!("OPTIMIZE TABLE {table} FINAL"))
            .await
            .ok();
    }
    eprintln!("merged in {:.1} s", t.elapsed().as_secs_f64());
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Column values of a synthetic row, shared by both dialects. `n` is the
/// row number; `kind_expr` picks the kind.
pub fn select_body(n: &str, kind: &str, now: u32, tz_days: u32) -> String {
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

pub async fn fill_clickhouse(ch: &ClickHouseStore, sessions: u64, samples: u64) {
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
           {}, toInt16(ceil(log(60000) / log(1.01))) AS bucket_a, toInt16(-32768) AS bucket_b, 'production' AS environment,
           toUInt8(number % 2 = 0) AS s_new, toUInt8(number % 2 = 1 AND number % 3333 = 1) AS s_crash, toUInt8(0) AS s_abn
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
           {}, toInt16(ceil(log(300 + number % 3000) / log(1.01))) AS bucket_a, toInt16(ceil(log(80 + number % 200) / log(1.01))) AS bucket_b, 'production' AS environment,
           toUInt8(0) AS s_new, toUInt8(0) AS s_crash, toUInt8(0) AS s_abn
         FROM numbers({})",
        select_body("number", "perf", now, 7).replace("'perf' AS kind", "['perf','cold_start','network'][number % 3 + 1] AS kind"),
        tail,
        samples
    );
    // Fatal crashes of the crashed sessions, in 37 groups.
    let crash = format!(
        "INSERT INTO events SELECT {}, concat('s', toString(number)) AS session_id, '' AS session_phase, '' AS session_status,
           toUInt64(0) AS duration_ms, toUInt64(0) AS foreground_ms,
           concat('c', toString(number)) AS crash_id, concat('java.lang.IllegalStateException', toString(number % 37)) AS exception_type, 'boom' AS message,
           toUInt8(1) AS fatal, toUInt8(0) AS handled, '{{\"threads\":[]}}' AS payload,
           CAST(NULL AS Nullable(Float64)) AS cpu_pct, CAST(NULL AS Nullable(Float64)) AS memory_mb, toUInt64(0) AS package_bytes,
           '' AS category, '' AS site, toUInt16(0) AS status_code, '' AS req_family, '' AS patch_id, '' AS stage, '' AS error_code, '' AS name, toFloat64(0) AS value,
           concat('fp-', toString(number % 37)) AS fingerprint, 'm' AS screen_class, toInt16(-32768) AS bucket_a, toInt16(-32768) AS bucket_b, 'production' AS environment,
           toUInt8(0) AS s_new, toUInt8(0) AS s_crash, toUInt8(0) AS s_abn
         FROM numbers({}) WHERE number % 2 = 1 AND number % 3333 = 1",
        select_body("number", "crash", now, 7),
        sessions * 2
    );
    for sql in [session, crash, perf] {
        let t = Instant::now();
        ch.execute(&sql).await.expect("fill");
        eprintln!("filled in {:.1} s", t.elapsed().as_secs_f64());
    }
}

/// SQL that fills the embedded store with `sessions` sessions and `samples`
/// samples using SQLite's own generate loop (run on the store's connection,
/// so its rollup triggers see every row).
pub fn sqlite_fill(sessions: u64, samples: u64) -> String {
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
           '', 'm', 1000 + x % 300, 500 + x % 50, 'production',
           x < {s2} AND x % 2 = 0, x < {s2} AND x % 2 = 1 AND x % 3333 = 1, 0
         FROM n",
        rows = sessions * 2 + samples - 1,
        s2 = sessions * 2,
        now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    )
}
