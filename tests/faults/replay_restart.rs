//! Replay protection and the `duplicate` answer across restarts (issue
//! #22): the nonce cache and the acknowledged batch ids used to live only
//! in the collector's memory, so after a restart a captured signed request
//! replayed was answered `202 "duplicate": false`, and re-sent batches that
//! were acknowledged before a `kill -9` answered `duplicate: false` too.
//! Now both are in the control plane (`[collector.replay]`).
//!
//! Against the real binary, on SQLite and on ClickHouse as the event
//! store: a captured request replayed after a graceful restart and after
//! `kill -9` gets the answer it gets without a restart
//! (`401 auth.replayed_nonce`); the same batch re-sent with a fresh nonce
//! gets `202 "duplicate": true`; each batch is stored once. And one key
//! holder flooding past the nonce bound cannot make another app's nonce
//! usable again. A control plane that does not answer leaves ingest to the
//! in-memory answers, and what was acknowledged meanwhile is recorded once
//! it answers again.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use vitals_protocol::{Batch, sign};

const APP: &str = "fault-replay";
const OTHER: &str = "fault-replay-other";

/// One signed request, kept whole so it can be replayed byte for byte.
struct Captured {
    ts: i64,
    nonce: String,
    body: Vec<u8>,
}

impl Captured {
    fn new(batch: &Batch) -> Captured {
        Captured {
            ts: now_secs(),
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            body: serde_json::to_vec(batch).expect("serialise"),
        }
    }
}

/// Sends `req` signed with `key`: status and JSON body.
async fn send(
    c: &reqwest::Client,
    url: &str,
    key: &(String, String),
    req: &Captured,
) -> (u16, Value) {
    let sig = sign::sign(
        key.1.as_bytes(),
        "POST",
        "/api/v1/batch",
        req.ts,
        &req.nonce,
        &req.body,
    );
    let r = c
        .post(format!("{url}/api/v1/batch"))
        .header(sign::HEADER_KEY, &key.0)
        .header(sign::HEADER_TIMESTAMP, req.ts.to_string())
        .header(sign::HEADER_NONCE, &req.nonce)
        .header(sign::HEADER_SIGNATURE, sig)
        .header("content-type", "application/json")
        .header("accept-language", "en")
        .body(req.body.clone())
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A replay is refused as a replay.
fn assert_replay(when: &str, (status, body): (u16, Value)) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("auth.replayed_nonce")),
        "{when}: {body}"
    );
}

/// A batch is accepted with this `duplicate` answer.
fn assert_accepted(when: &str, (status, body): (u16, Value), duplicate: bool) {
    assert_eq!(status, 202, "{when}: {body}");
    assert_eq!(body["duplicate"], duplicate, "{when}: {body}");
}

fn serve(data: &Path, ch: Option<(&str, &str)>, opts: &ServeOpts) -> Vitals {
    Vitals::serve_opts(data, ch, opts)
}

async fn scenario(name: &str, ch: Option<(&str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vitals");
    let key = create_key(&data, APP);
    let other = create_key(&data, OTHER);
    let config = dir.path().join("vitals.toml");
    // A tiny in-memory nonce bound, so a flood would evict if it could.
    std::fs::write(&config, "[collector.auth]\nmax_nonces = 4\n").unwrap();
    let opts = ServeOpts {
        config: Some(config),
        log: Some(dir.path().join("vitals.log")),
        ..Default::default()
    };
    let c = reqwest::Client::new();
    let all = batches(APP, 3, 5, 71);

    // Without a restart: the replay is refused, the re-sent batch is a
    // duplicate (the answers that must survive restarts).
    let v = serve(&data, ch, &opts);
    let first = Captured::new(&all[0]);
    assert_accepted(name, send(&c, &v.url, &key, &first).await, false);
    assert_replay(
        &format!("{name}: replay"),
        send(&c, &v.url, &key, &first).await,
    );
    let resend = Captured::new(&all[0]);
    assert_accepted(
        &format!("{name}: re-sent"),
        send(&c, &v.url, &key, &resend).await,
        true,
    );

    // Another key holder floods far past the nonce bound: the first
    // request is still a replay.
    for b in batches(OTHER, 20, 1, 72) {
        let (status, body) = send(&c, &v.url, &other, &Captured::new(&b)).await;
        assert_eq!(status, 202, "{name}: other app: {body}");
    }
    assert_replay(
        &format!("{name}: replay after another key's flood"),
        send(&c, &v.url, &key, &first).await,
    );

    // A graceful restart.
    v.terminate();
    let v = serve(&data, ch, &opts);
    assert_replay(
        &format!("{name}: replay after a restart"),
        send(&c, &v.url, &key, &first).await,
    );
    assert_replay(
        &format!("{name}: replay of the re-sent request after a restart"),
        send(&c, &v.url, &key, &resend).await,
    );
    assert_accepted(
        &format!("{name}: re-sent after a restart"),
        send(&c, &v.url, &key, &Captured::new(&all[0])).await,
        true,
    );

    // kill -9 right after the 202.
    let second = Captured::new(&all[1]);
    assert_accepted(name, send(&c, &v.url, &key, &second).await, false);
    v.kill9();
    let v = serve(&data, ch, &opts);
    assert_replay(
        &format!("{name}: replay after kill -9"),
        send(&c, &v.url, &key, &second).await,
    );
    assert_replay(
        &format!("{name}: earlier replay after kill -9"),
        send(&c, &v.url, &key, &first).await,
    );
    for (i, b) in all[..2].iter().enumerate() {
        assert_accepted(
            &format!("{name}: batch {i} re-sent after kill -9"),
            send(&c, &v.url, &key, &Captured::new(b)).await,
            true,
        );
    }
    // A batch never sent before is no duplicate.
    assert_accepted(
        &format!("{name}: new batch"),
        send(&c, &v.url, &key, &Captured::new(&all[2])).await,
        false,
    );
    assert_eq!(
        v.metric("vitals_replay_ledger_fallbacks_total"),
        0.0,
        "{name}: every answer came from the control plane"
    );

    // Each batch stored once.
    if let Some((url, db)) = ch {
        let mut stored = std::collections::HashMap::new();
        for _ in 0..120 {
            stored = stored_per_batch(url, db, APP);
            if stored.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        for b in &all {
            assert_eq!(
                stored.get(&b.batch_id),
                Some(&(b.events.len() as u64, b.events.len() as u64)),
                "{name}: batch {} stored once: {stored:?}",
                b.batch_id
            );
        }
    }
    v.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_resent_batches_are_recognised_after_restarts_on_sqlite() {
    scenario("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_resent_batches_are_recognised_after_restarts_on_clickhouse() {
    let Some(ch) = shared_clickhouse() else {
        return;
    };
    let db = db_name("vitals_replay");
    scenario("clickhouse", Some((&ch, &db))).await;
    let _ = query(&ch, &format!("DROP DATABASE IF EXISTS {db}"));
}

/// A control plane that does not answer (here: its SQLite file held under
/// an exclusive lock by another process) costs ingest at most the ledger's
/// timeout: batches are acknowledged from memory and the fallback counted;
/// what was queued meanwhile is written once the lock goes, so after a
/// `kill -9` those batches are still known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_control_plane_leaves_ingest_to_memory_then_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vitals");
    let key = create_key(&data, APP);
    let config = dir.path().join("vitals.toml");
    std::fs::write(&config, "[collector.replay]\ntimeout_ms = 300\n").unwrap();
    let opts = ServeOpts {
        config: Some(config),
        log: Some(dir.path().join("vitals.log")),
        ..Default::default()
    };
    let c = reqwest::Client::new();
    let all = batches(APP, 3, 5, 73);
    let v = serve(&data, None, &opts);
    assert_accepted(
        "before the lock",
        send(&c, &v.url, &key, &Captured::new(&all[0])).await,
        false,
    );

    let db = data.join("control.sqlite");
    let lock = rusqlite::Connection::open(&db).expect("open control.sqlite");
    lock.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let during = Captured::new(&all[1]);
    assert_accepted("locked", send(&c, &v.url, &key, &during).await, false);
    assert_accepted(
        "still locked",
        send(&c, &v.url, &key, &Captured::new(&all[2])).await,
        false,
    );
    assert_replay("locked: replay", send(&c, &v.url, &key, &during).await);
    let fallbacks = v.metric("vitals_replay_ledger_fallbacks_total");
    assert!(fallbacks >= 1.0, "fallbacks counted: {fallbacks}");
    lock.execute_batch("ROLLBACK").expect("unlock");
    drop(lock);

    // The queued claims and records reach the control plane.
    let read =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open control.sqlite");
    let mut n = 0i64;
    for _ in 0..200 {
        n = read
            .query_row("SELECT COUNT(*) FROM ingest_batches", [], |r| r.get(0))
            .expect("count");
        if n == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(n, 3, "every acknowledged batch recorded once the lock went");

    v.kill9();
    let v = serve(&data, None, &opts);
    assert_replay(
        "replay after kill -9",
        send(&c, &v.url, &key, &during).await,
    );
    for (i, b) in all.iter().enumerate() {
        assert_accepted(
            &format!("batch {i} re-sent after kill -9"),
            send(&c, &v.url, &key, &Captured::new(b)).await,
            true,
        );
    }
    v.terminate();
}
