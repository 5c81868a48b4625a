//! A hung ClickHouse (issue #22): vitals is (re)started while its
//! ClickHouse answers nothing. Two stand-ins on loopback, both serving no
//! byte:
//!
//! - `frozen`: a listener that never accepts — what a SIGSTOPped server
//!   looks like (the kernel completes connections into its backlog);
//! - `half_open`: a server that accepts every connection and holds it open
//!   without reading or answering.
//!
//! Required: the collector listens and acknowledges a signed batch into the
//! spool within a few seconds of start; `/readyz` answers within its
//! timeout; and readiness agrees exactly with the spool cap — `/readyz` is
//! 503 exactly when the next batch gets `503 request.spool_full`.

use crate::common::*;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP: &str = "fault-hung";

/// A TCP server on loopback that never sends a byte.
struct Silent {
    port: u16,
    _listener: Arc<TcpListener>,
    /// Accepted connections, held open.
    held: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    fn start(accept: bool) -> Silent {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").expect("bind"));
        let port = listener.local_addr().expect("addr").port();
        let held = Arc::new(Mutex::new(Vec::new()));
        if accept {
            let (l, h) = (listener.clone(), held.clone());
            std::thread::spawn(move || {
                while let Ok((s, _)) = l.accept() {
                    if let Ok(mut v) = h.lock() {
                        v.push(s);
                    }
                }
            });
        }
        Silent {
            port,
            _listener: listener,
            held,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// `GET /readyz`: status, body and how long it took.
async fn readyz(c: &reqwest::Client, url: &str) -> (u16, serde_json::Value, Duration) {
    let t = Instant::now();
    let r = c
        .get(format!("{url}/readyz"))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("GET /readyz");
    let status = r.status().as_u16();
    let body = r.json().await.expect("readyz JSON");
    (status, body, t.elapsed())
}

async fn scenario(name: &str, accept: bool) {
    let silent = Silent::start(accept);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vitals");
    let key = create_key(&data, APP);
    let config = dir.path().join("vitals.toml");
    // A small cap, so the spool fills in a few dozen batches.
    std::fs::write(
        &config,
        "[collector.spool]\nmax_bytes = 200000\nretry_after_secs = 9\n",
    )
    .unwrap();
    let opts = ServeOpts {
        config: Some(config),
        log: Some(dir.path().join("vitals.log")),
        ..Default::default()
    };
    let started = Instant::now();
    let v = Vitals::serve_within(
        &data,
        Some((&silent.url(), "vitals_hung")),
        &opts,
        Duration::from_secs(15),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let listening = started.elapsed();
    let client = reqwest::Client::new();
    let all = batches(APP, 100, 100, 61);
    let first = post_at(&client, &v.url, &key, &all[0], now_secs()).await;
    let acked = started.elapsed();
    assert_eq!(first.status, 202, "{name}: {}", first.body);
    assert!(
        acked < Duration::from_secs(5),
        "{name}: first 202 only {acked:?} after start"
    );

    // Readiness answers within its ping timeout (500 ms) and names the
    // store unreachable, while ingest is ready.
    let (status, body, took) = readyz(&client, &v.url).await;
    assert_eq!(status, 200, "{name}: {body}");
    assert_eq!(body["store"], "unreachable", "{name}: {body}");
    assert!(
        took < Duration::from_secs(3),
        "{name}: /readyz took {took:?}"
    );

    // Readiness and the spool cap agree at every step until full.
    let mut accepted = 1;
    let mut refused = 0;
    for b in &all[1..] {
        let (ready, body, _) = readyz(&client, &v.url).await;
        let r = post_at(&client, &v.url, &key, b, now_secs()).await;
        match r.status {
            202 => {
                assert_eq!(ready, 200, "{name}: readyz {ready} but accepted: {body}");
                accepted += 1;
            }
            503 => {
                assert!(r.body.contains("request.spool_full"), "{name}: {}", r.body);
                assert_eq!(r.retry_after.as_deref(), Some("9"));
                assert_eq!(
                    ready, 503,
                    "{name}: readyz said ready, the batch got 503: {body}"
                );
                let (bytes, cap) = (body["spool_bytes"].as_u64(), body["spool_cap"].as_u64());
                assert!(bytes >= cap, "{name}: {body}");
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            other => panic!("{name}: unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(refused, 3, "{name}: the spool never filled");
    let held = silent.held.lock().map(|v| v.len()).unwrap_or(0);
    // Stopping does not wait for background jobs stuck on the store.
    let stopping = Instant::now();
    v.terminate();
    let stop = stopping.elapsed();
    println!(
        "\nFAULT hung_store_{name} listening_ms={} first_202_ms={} readyz_ms={} accepted={accepted} \
         refused_503={refused} connections_held={held} stop_ms={}",
        listening.as_millis(),
        acked.as_millis(),
        took.as_millis(),
        stop.as_millis(),
    );
    assert!(
        stop < Duration::from_secs(20),
        "{name}: SIGTERM took {stop:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_clickhouse_neither_delays_start_nor_stops_ingest() {
    scenario("frozen", false).await;
    scenario("half_open", true).await;
}
