//! One shard of a two-shard ClickHouse cluster stopped under a running
//! vitals node: ingestion keeps accepting (the spool holds what cannot be
//! written), queries say which shard is missing instead of answering with
//! half the rows, and once the shard is back every acknowledged event is
//! stored exactly once.
//!
//! The cluster is private to this test (it stops a server): two
//! `clickhouse-server` processes from `deploy/clickhouse/run-local.sh` on
//! 127.0.0.2 and 127.0.0.3 with a `<remote_servers>` fragment naming them.
//! Runs where the shared test ClickHouse runs (`VITALS_TEST_CLICKHOUSE_URL`
//! set; required under `CI=true`).

mod common;

use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const APP: &str = "e2e-shard";

fn cluster(dir: &Path) -> [ClickHouse; 2] {
    let (http, tcp) = (free_port(), free_port());
    let config_d = dir.join("remote_servers.xml");
    std::fs::write(
        &config_d,
        format!(
            "<?xml version=\"1.0\"?>\n<yandex><remote_servers><vitals_local>\
             <shard><replica><host>127.0.0.2</host><port>{tcp}</port></replica></shard>\
             <shard><replica><host>127.0.0.3</host><port>{tcp}</port></replica></shard>\
             </vitals_local></remote_servers></yandex>\n"
        ),
    )
    .expect("write remote_servers");
    let shard = |n: u8, host| {
        ClickHouse::new(
            &dir.join(format!("node{n}")),
            host,
            http,
            tcp,
            Some(config_d.clone()),
        )
    };
    let mut s = [shard(2, "127.0.0.2"), shard(3, "127.0.0.3")];
    for x in &mut s {
        x.up();
    }
    s
}

async fn send_all(url: &str, key: &(String, String), batches: &[vitals_protocol::Batch]) {
    let client = reqwest::Client::new();
    for b in batches {
        let status = post(&client, url, key, b).await;
        assert_eq!(status, 202, "batch {} not accepted", b.batch_id);
    }
}

/// Waits until `f` holds (polling), or fails after `limit`.
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shard_down_ingest_continues_queries_say_so_and_nothing_is_lost() {
    if shared_clickhouse().is_none() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let mut shards = cluster(work.path());
    let data = work.path().join("vitals");
    std::fs::create_dir_all(&data).expect("data dir");
    let config = work.path().join("vitals.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"vitals_shard_down\"\ncluster = \"vitals_local\"\n\
             [collector.writer]\nretry_max_ms = 500\n",
            shards[0].url()
        ),
    )
    .expect("write config");
    let key = create_key(&data, APP);
    let token = create_token(&data, "viewer");
    let node = Vitals::serve_opts(
        &data,
        None,
        &ServeOpts {
            config: Some(config.clone()),
            log: Some(work.path().join("serve.log")),
            ..Default::default()
        },
    );
    let all = batches(APP, 120, 25, 7);
    let total: usize = all.iter().map(|b| b.events.len()).sum();
    let (before, during) = all.split_at(60);
    let first: usize = before.iter().map(|b| b.events.len()).sum();

    // Both shards up: stored, spread over both.
    send_all(&node.url, &key, before).await;
    eventually("the first half stored", Duration::from_secs(60), || {
        node.metric("vitals_events_stored_total") as usize == first
    });
    let on = |s: &ClickHouse| {
        query_u64(
            &s.url(),
            "SELECT count() FROM vitals_shard_down.events_local",
        )
    };
    let (a, b) = (on(&shards[0]), on(&shards[1]));
    assert!(a > 0 && b > 0, "rows on both shards: {a} + {b}");
    assert_eq!((a + b) as usize, first);

    // Shard 2 stopped: batches are still acknowledged (spooled) …
    shards[1].down();
    send_all(&node.url, &key, during).await;
    // … the writer keeps failing (and retrying) instead of storing half …
    eventually("a failed insert", Duration::from_secs(60), || {
        node.metric("vitals_store_errors_total") >= 1.0
    });
    // … and a query names the missing shard instead of counting half.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/apps/{APP}/releases", node.url))
        .bearer_auth(&token)
        .header("accept-language", "en")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "request.shard_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("127.0.0.3:{}", shards[1].tcp)),
        "the message names the shard: {message}"
    );

    // Shard back: everything acknowledged is there, once.
    shards[1].up();
    eventually("the spool drained", Duration::from_secs(120), || {
        node.metric("vitals_events_stored_total") as usize
            + node.metric("vitals_events_dropped_total") as usize
            >= total
    });
    let url = shards[0].url();
    let stored = query_u64(&url, "SELECT count() FROM vitals_shard_down.events");
    let distinct = query_u64(
        &url,
        "SELECT count() FROM (SELECT DISTINCT batch_id, seq FROM vitals_shard_down.events)",
    );
    assert_eq!(stored as usize, total, "every acknowledged event stored");
    assert_eq!(distinct, stored, "none twice");
    let ledger = query_u64(&url, "SELECT count() FROM vitals_shard_down.batches");
    assert_eq!(ledger as usize, all.len());
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/apps/{APP}/releases", node.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200, "queries answer again");
    node.terminate();
}
