//! Fault test against the real binary: `kill -9` the collector while a
//! stream of batches is being acknowledged, restart it, and check that every
//! acknowledged event is stored exactly once (ClickHouse backend), with
//! clients retrying unacknowledged batches under the same batch id as real
//! SDKs do.

mod common;

use common::*;
use futures_util::StreamExt;
use rand::Rng;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP: &str = "e2e-kill";

async fn send_until(
    url: &str,
    key: &(String, String),
    pending: &[vitals_protocol::Batch],
    acked: &Arc<Mutex<HashSet<String>>>,
) {
    let client = reqwest::Client::new();
    let mut s = futures_util::stream::iter(pending.iter())
        .map(|b| {
            let client = client.clone();
            async move { (b.batch_id.clone(), post(&client, url, key, b).await) }
        })
        .buffer_unordered(8);
    while let Some((id, status)) = s.next().await {
        if status == 202 {
            acked.lock().expect("lock").insert(id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_and_duplicates_nothing() {
    let Some(ch) = shared_clickhouse() else {
        return;
    };
    let db = format!("vitals_e2e_kill_{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), APP);
    let all = batches(APP, 4000, 25, 11);
    let total_events: usize = all.iter().map(|b| b.events.len()).sum();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut rng = rand::thread_rng();
    let mut kills = 0;

    for _ in 0..3 {
        let v = Vitals::serve(dir.path(), Some((&ch, &db)));
        let pending: Vec<_> = {
            let a = acked.lock().unwrap();
            all.iter()
                .filter(|b| !a.contains(&b.batch_id))
                .cloned()
                .collect()
        };
        let kill_after = Duration::from_millis(rng.gen_range(150..700));
        tokio::select! {
            _ = send_until(&v.url, &key, &pending, &acked) => {}
            _ = tokio::time::sleep(kill_after) => {}
        }
        v.kill9();
        kills += 1;
        let n = acked.lock().unwrap().len();
        assert!(
            n < all.len(),
            "kill {kills} fell mid-stream ({n} of {} acknowledged)",
            all.len()
        );
    }
    let before_final = acked.lock().unwrap().len();
    assert!(
        before_final > 0,
        "some batches were acknowledged before the kills"
    );

    // Restart; clients retry everything not yet acknowledged.
    let v = Vitals::serve(dir.path(), Some((&ch, &db)));
    for _ in 0..5 {
        let pending: Vec<_> = {
            let a = acked.lock().unwrap();
            all.iter()
                .filter(|b| !a.contains(&b.batch_id))
                .cloned()
                .collect()
        };
        if pending.is_empty() {
            break;
        }
        send_until(&v.url, &key, &pending, &acked).await;
    }
    assert_eq!(
        acked.lock().unwrap().len(),
        all.len(),
        "every batch acknowledged in the end"
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    let stored = |sql: &str| query_u64(&ch, &sql.replace("{db}", &db).replace("{app}", APP));
    while stored("SELECT uniqExact(batch_id) FROM {db}.events WHERE app_id = '{app}'")
        < all.len() as u64
    {
        assert!(
            Instant::now() < deadline,
            "acknowledged batches not stored within 90 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give the writer a moment to (wrongly) write anything twice.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = stored("SELECT count() FROM {db}.events WHERE app_id = '{app}'");
    let dups = stored(
        "SELECT count() FROM (SELECT batch_id, seq, count() AS c FROM {db}.events WHERE app_id = '{app}' GROUP BY batch_id, seq HAVING c > 1)",
    );
    eprintln!(
        "kills={kills} acknowledged_before_final_restart={before_final} batches={} events={events} duplicates={dups}",
        all.len()
    );
    assert_eq!(dups, 0, "no event stored twice");
    assert_eq!(
        events, total_events as u64,
        "every acknowledged event stored exactly once"
    );
    v.terminate();
    let _ = query(&ch, &format!("DROP DATABASE IF EXISTS {db}"));
}
