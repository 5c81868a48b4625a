//! Fault test against the real binary: `kill -9` the collector while a
//! stream of batches is being acknowledged, restart it, and check that every
//! acknowledged event is stored exactly once (ClickHouse backend), with
//! clients retrying unacknowledged batches under the same batch id as real
//! SDKs do; and that batches acknowledged before a kill, re-sent, are
//! answered `duplicate: true` (issue #22).
//!
//! `VITALS_FAULT_KILLS` sets the number of kills (default 3, the CI form;
//! `deploy/bench/faults.sh` runs 20). Each falls at a random moment: after a
//! random 100–600 ms of load, or earlier once a random share of what is
//! left has been acknowledged, so even 20 kills all fall mid-stream.

mod common;

use common::*;
use futures_util::StreamExt;
use rand::Rng;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const APP: &str = "e2e-kill";

async fn send_until(
    url: &str,
    key: &(String, String),
    pending: &[vitals_protocol::Batch],
    acked: &Arc<Mutex<Acked>>,
) {
    let client = reqwest::Client::new();
    let mut s = futures_util::stream::iter(pending.iter())
        .map(|b| {
            let client = client.clone();
            async move { (b, post(&client, url, key, b).await) }
        })
        .buffer_unordered(8);
    while let Some((b, status)) = s.next().await {
        if status == 202 {
            acked.lock().expect("lock").add(b);
        }
    }
}

/// Returns once `n` more batches than `from` are acknowledged.
async fn acked_reaches(acked: &Arc<Mutex<Acked>>, n: usize) {
    while acked.lock().expect("lock").batches() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
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
    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = rand::thread_rng();
    let kills_wanted = env_num("VITALS_FAULT_KILLS", 3).max(1) as usize;
    let mut kills = 0;

    for k in 0..kills_wanted {
        let v = Vitals::serve(dir.path(), Some((&ch, &db)));
        let pending: Vec<_> = {
            let a = acked.lock().unwrap();
            all.iter()
                .filter(|b| !a.contains(&b.batch_id))
                .cloned()
                .collect()
        };
        let kill_after = Duration::from_millis(rng.gen_range(100..600));
        // At most a random share of what is left per kill, so the stream
        // outlasts every kill.
        let share = pending.len() / (kills_wanted - k + 1);
        let budget = all.len() - pending.len() + rng.gen_range(share / 3..=share).max(1);
        tokio::select! {
            _ = send_until(&v.url, &key, &pending, &acked) => {}
            _ = tokio::time::sleep(kill_after) => {}
            _ = acked_reaches(&acked, budget) => {}
        }
        v.kill9();
        kills += 1;
        let n = acked.lock().unwrap().batches();
        assert!(
            n < all.len(),
            "kill {kills} fell mid-stream ({n} of {} acknowledged)",
            all.len()
        );
    }
    let before_final = acked.lock().unwrap().batches();
    assert!(
        before_final > 0,
        "some batches were acknowledged before the kills"
    );
    let acked_before_kills: Vec<vitals_protocol::Batch> = {
        let a = acked.lock().unwrap();
        all.iter()
            .filter(|b| a.contains(&b.batch_id))
            .take(300)
            .cloned()
            .collect()
    };

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
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.batches(),
        all.len(),
        "every batch acknowledged in the end"
    );
    // Batches acknowledged before a kill -9, re-sent (a client whose 202
    // was lost): each answered as a duplicate (issue #22; the replay
    // ledger records a batch before its 202).
    let client = reqwest::Client::new();
    let mut not_duplicate = Vec::new();
    for b in &acked_before_kills {
        let r = post_at(&client, &v.url, &key, b, now_secs()).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON answer");
        if body["duplicate"] != true {
            not_duplicate.push(b.batch_id.clone());
        }
    }
    assert!(
        not_duplicate.is_empty(),
        "{} of {} re-sent acknowledged batches answered duplicate: false: {:?}",
        not_duplicate.len(),
        acked_before_kills.len(),
        &not_duplicate[..not_duplicate.len().min(5)]
    );

    let o = wait_stored(&ch, &db, APP, &acked, &[], Duration::from_secs(90)).await;
    report(
        "kill9",
        &o,
        &format!(
            "kills={kills} batches={} acked_before_final_restart={before_final} unacked_stored={}",
            all.len(),
            o.unacked_stored
        ),
    );
    assert_eq!(o.duplicated, 0, "no event stored twice");
    assert_eq!(
        o.lost, 0,
        "every acknowledged event stored: {:?}",
        o.lost_batches
    );
    v.terminate();
    let _ = query(&ch, &format!("DROP DATABASE IF EXISTS {db}"));
}
