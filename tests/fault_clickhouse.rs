//! Fault test against the real binary and a private ClickHouse server: stop
//! ClickHouse for 30 s in the middle of a stream. Ingest keeps answering 202
//! (the spool holds the data); after ClickHouse returns everything is stored,
//! nothing lost, nothing duplicated.
//!
//! `VITALS_FAULT_CH_CYCLES` repeats the outage (default 1, the CI form;
//! `deploy/bench/faults.sh` runs 5) and `VITALS_FAULT_CH_DOWN_SECS` sets its
//! length (default 30). ClickHouse is up for 10 s before and between
//! outages; the stream (20 batches/s) ends 5 s after the last restart.

mod common;

use common::*;
use std::time::{Duration, Instant};

const APP: &str = "e2e-outage";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30s_loses_and_duplicates_nothing() {
    if shared_clickhouse().is_none() {
        return; // no ClickHouse on this machine (never the case in CI)
    }
    let cycles = env_num("VITALS_FAULT_CH_CYCLES", 1).max(1);
    let down_secs = env_num("VITALS_FAULT_CH_DOWN_SECS", 30).max(1);
    let dir = tempfile::tempdir().unwrap();
    let mut ch = ClickHouse::start(&dir.path().join("ch"));
    let url = ch.url();
    let db = "vitals_outage";
    let data = dir.path().join("vitals");
    let key = create_key(&data, APP);
    let v = Vitals::serve(&data, Some((&url, db)));
    // Outage i runs from 10 + i·(down + 10) s for `down` s.
    let down_at = |i: u64| Duration::from_secs(10 + i * (down_secs + 10));
    let stream_secs = 10 + cycles * (down_secs + 10) - 5;
    let all = batches(APP, (stream_secs * 20) as usize, 20, 5);
    let client = reqwest::Client::new();

    let start = Instant::now();
    let mut acked = Acked::default();
    let mut statuses = std::collections::BTreeMap::new();
    // (batch index, went down?) for every switch.
    let mut switches: Vec<(usize, bool)> = Vec::new();
    let mut next_cycle = 0u64;
    let mut is_down = false;
    for (i, b) in all.iter().enumerate() {
        let t = start.elapsed();
        if !is_down && next_cycle < cycles && t >= down_at(next_cycle) {
            ch.down();
            is_down = true;
            switches.push((i, true));
        }
        if is_down && t >= down_at(next_cycle) + Duration::from_secs(down_secs) {
            ch.up();
            is_down = false;
            next_cycle += 1;
            switches.push((i, false));
        }
        let mut status = 0;
        for _ in 0..20 {
            status = post(&client, &v.url, &key, b).await;
            if status == 202 {
                acked.add(b);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        *statuses.entry(status).or_insert(0) += 1;
        let next = Duration::from_millis(50 * (i as u64 + 1));
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    if is_down {
        ch.up();
    }
    assert_eq!(
        statuses.get(&202),
        Some(&all.len()),
        "every batch acknowledged, also while ClickHouse was down: {statuses:?}"
    );
    let outages = switches.iter().filter(|s| s.1).count() as u64;
    assert_eq!(outages, cycles, "every outage happened: {switches:?}");
    let first_down = switches.first().map(|s| s.0).unwrap_or(0);
    assert!(
        first_down > 50 && switches.iter().all(|s| s.0 < all.len() - 50),
        "the outages fell mid-stream: {switches:?}"
    );

    let o = wait_stored(&url, db, APP, &acked, &[], Duration::from_secs(120)).await;
    report(
        "clickhouse_outage",
        &o,
        &format!(
            "cycles={cycles} down={down_secs}s batches={} outage_from_batch={first_down}",
            all.len()
        ),
    );
    assert_eq!(o.duplicated, 0, "no event stored twice");
    assert_eq!(
        o.lost, 0,
        "spooled batches not all stored within 120 s of ClickHouse's return: {:?}",
        o.lost_batches
    );
    v.terminate();
}
