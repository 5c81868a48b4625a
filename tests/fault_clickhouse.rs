//! Fault test against the real binary and a private ClickHouse server: stop
//! ClickHouse for 30 s in the middle of a stream. Ingest keeps answering 202
//! (the spool holds the data); after ClickHouse returns everything is stored,
//! nothing lost, nothing duplicated.

mod common;

use common::*;
use std::time::{Duration, Instant};

const APP: &str = "e2e-outage";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_for_30s_loses_and_duplicates_nothing() {
    if shared_clickhouse().is_none() {
        return; // no ClickHouse on this machine (never the case in CI)
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ch = ClickHouse::start(&dir.path().join("ch"));
    let url = ch.url();
    let db = "vitals_outage";
    let data = dir.path().join("vitals");
    let key = create_key(&data, APP);
    let v = Vitals::serve(&data, Some((&url, db)));
    let all = batches(APP, 900, 20, 5);
    let total_events: usize = all.iter().map(|b| b.events.len()).sum();
    let client = reqwest::Client::new();

    let start = Instant::now();
    let mut sent = 0usize;
    let mut statuses = std::collections::BTreeMap::new();
    let mut down_at = None;
    let mut up_at = None;
    // ~20 batches/s: 10 s up, 30 s down, then the rest with ClickHouse back.
    for (i, b) in all.iter().enumerate() {
        let t = start.elapsed();
        if down_at.is_none() && t >= Duration::from_secs(10) {
            ch.down();
            down_at = Some(i);
        }
        if down_at.is_some() && up_at.is_none() && t >= Duration::from_secs(40) {
            ch.up();
            up_at = Some(i);
        }
        let mut status = 0;
        for _ in 0..20 {
            status = post(&client, &v.url, &key, b).await;
            if status == 202 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        *statuses.entry(status).or_insert(0) += 1;
        sent += 1;
        let next = Duration::from_millis(50 * (i as u64 + 1));
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    if up_at.is_none() {
        ch.up();
    }
    assert_eq!(
        statuses.get(&202),
        Some(&sent),
        "every batch acknowledged, also while ClickHouse was down: {statuses:?}"
    );
    let down_at = down_at.expect("ClickHouse was stopped mid-stream");
    assert!(
        down_at > 50 && down_at < all.len() - 50,
        "the outage fell mid-stream"
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    let q = |sql: &str| query_u64(&url, &sql.replace("{db}", db).replace("{app}", APP));
    while q("SELECT uniqExact(batch_id) FROM {db}.events WHERE app_id = '{app}'") < all.len() as u64
    {
        assert!(
            Instant::now() < deadline,
            "spooled batches not stored within 120 s of ClickHouse's return"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = q("SELECT count() FROM {db}.events WHERE app_id = '{app}'");
    let dups = q(
        "SELECT count() FROM (SELECT batch_id, seq, count() AS c FROM {db}.events WHERE app_id = '{app}' GROUP BY batch_id, seq HAVING c > 1)",
    );
    eprintln!(
        "batches={} acknowledged={} outage_from_batch={down_at} events={events} duplicates={dups}",
        all.len(),
        sent
    );
    assert_eq!(dups, 0);
    assert_eq!(events, total_events as u64);
    v.terminate();
}
