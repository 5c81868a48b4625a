//! A slow store: a private ClickHouse reached through a throttling proxy
//! (each chunk of at most 6.4 KB delayed by 50 ms plus its share of a
//! 64 KB/s bandwidth cap, both directions). Ingest keeps acknowledging at
//! fsync speed while the writer trickles (the spool absorbs the backlog);
//! once the proxy stops throttling, everything is stored exactly once.
//!
//! `VITALS_FAULT_SLOW_SECS` sets how long the throttled load lasts
//! (default 15 s; 40 batches/s × 20 events).

use crate::common::proxy::{Mode, Proxy};
use crate::common::*;
use std::time::{Duration, Instant};

const APP: &str = "fault-slow";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_store_keeps_ingest_acknowledging_and_stores_everything_once() {
    if shared_clickhouse().is_none() {
        return; // no ClickHouse on this machine (never the case in CI)
    }
    let secs = env_num("VITALS_FAULT_SLOW_SECS", 15).max(1);
    let dir = tempfile::tempdir().unwrap();
    let ch = ClickHouse::start(&dir.path().join("ch"));
    let db = "vitals_slow";
    let data = dir.path().join("vitals");
    let key = create_key(&data, APP);
    let proxy = Proxy::start(&ch.url()).await;
    let v = Vitals::serve(&data, Some((&proxy.url(), db)));
    let throttle = Mode::Throttle {
        delay: Duration::from_millis(50),
        bytes_per_sec: 64 << 10,
    };
    proxy.set(throttle);
    let all = batches(APP, (secs * 40) as usize, 20, 41);
    let client = reqwest::Client::new();
    let mut acked = Acked::default();
    let mut ack_ms: Vec<u128> = Vec::new();
    let start = Instant::now();
    for (i, b) in all.iter().enumerate() {
        let t = Instant::now();
        let status = post(&client, &v.url, &key, b).await;
        assert_eq!(
            status, 202,
            "batch {i} acknowledged while the store is slow"
        );
        ack_ms.push(t.elapsed().as_millis());
        acked.add(b);
        let next = Duration::from_millis(25 * (i as u64 + 1));
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    let load_secs = start.elapsed().as_secs_f64();
    // The store lagged behind: the spool held the backlog.
    let during = reconcile(&ch.url(), db, APP, &acked);
    let through_proxy = proxy.forwarded_bytes();
    let backlog = v.metric("vitals_spool_bytes");
    proxy.set(Mode::Pass);
    let drain_start = Instant::now();
    let o = wait_stored(&ch.url(), db, APP, &acked, &[], Duration::from_secs(120)).await;
    let drain_secs = drain_start.elapsed().as_secs_f64();
    ack_ms.sort_unstable();
    let p99 = ack_ms[(ack_ms.len() * 99 / 100).min(ack_ms.len() - 1)];
    let max = ack_ms.last().copied().unwrap_or(0);
    report(
        "slow_store",
        &o,
        &format!(
            "throttled {load_secs:.0} s at 50 ms/chunk + 64 KB/s; stored while throttled={} of {}; \
             ack p99={p99} ms max={max} ms; drained in {drain_secs:.1} s after unthrottling",
            during.stored, o.acked
        ),
    );
    v.terminate();
    assert!(
        during.stored < o.acked,
        "the throttled store lagged behind ({} of {} stored, {through_proxy} bytes through the proxy, spool {backlog} bytes)",
        during.stored,
        o.acked
    );
    assert!(p99 < 2000, "acknowledgements stayed fast: p99 {p99} ms");
    assert_eq!(o.duplicated, 0, "no event stored twice");
    assert_eq!(
        o.lost, 0,
        "every acknowledged event stored: {:?}",
        o.lost_batches
    );
}
