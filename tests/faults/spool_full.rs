//! The spool's disk runs full while the store is down (ClickHouse behind a
//! proxy that cuts every connection):
//!
//! - `spool_cap`: the configured `max_bytes` is reached → `503
//!   request.spool_full` with the configured `Retry-After`;
//! - `spool_enospc`: the spool lives on an 8 MB tmpfs and the disk itself
//!   fills (ENOSPC) → `503 request.spool_failed`. Needs `mount -t tmpfs`
//!   (root); skipped with a printed reason where that is refused.
//!
//! Each cycle fills the spool, `kill -9`s vitals while it is full and
//! restarts it (what was acknowledged must be on disk), brings the store
//! back, checks that every acknowledged event is stored once, and that
//! ingest then resumes: the refused batches are resent until accepted.
//! `VITALS_FAULT_SPOOL_CYCLES` sets the cycles (default 1).

use crate::common::proxy::{Mode, Proxy};
use crate::common::*;
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use vitals_protocol::Batch;

const APP: &str = "fault-spool";

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(format!(
                "mount -t tmpfs refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Posts `batches` with 8 in flight; returns each index with its reply.
async fn post_many(url: &str, key: &(String, String), batches: &[Batch]) -> Vec<(usize, Reply)> {
    let client = reqwest::Client::new();
    futures_util::stream::iter(batches.iter().enumerate())
        .map(|(i, b)| {
            let client = client.clone();
            async move { (i, post_at(&client, url, key, b, now_secs()).await) }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

struct Setup<'a> {
    scenario: &'a str,
    /// Lines of `[collector.spool]`.
    spool_toml: String,
    /// The error code expected once full.
    code: &'a str,
    retry_after: &'a str,
}

async fn fill_restart_drain(s: Setup<'_>, dir: &Path) {
    let Some(ch) = shared_clickhouse() else {
        return;
    };
    let db = db_name("vitals_fault_spool");
    let data = dir.join("vitals");
    let key = create_key(&data, APP);
    let config = dir.join("vitals.toml");
    std::fs::write(&config, format!("[collector.spool]\n{}\n", s.spool_toml)).unwrap();
    let opts = ServeOpts {
        config: Some(config),
        ..Default::default()
    };
    let proxy = Proxy::start(&ch).await;
    let store = proxy.url();
    let mut v = Vitals::serve_opts(&data, Some((&store, &db)), &opts);
    let cycles = env_num("VITALS_FAULT_SPOOL_CYCLES", 1).max(1);
    // Enough batches to fill 12 MB per cycle (the tmpfs has 8).
    let size = serde_json::to_vec(&batches(APP, 1, 50, 23)[0])
        .unwrap()
        .len();
    let all = batches(APP, (12 << 20) / size * cycles as usize + 100, 50, 23);
    let mut next = 0;
    let mut acked = Acked::default();
    let mut refused_total = 0;
    let mut max_fill_ms = 0u128;
    for cycle in 0..cycles {
        proxy.set(Mode::Down);
        // Fill until a whole round is refused: the store is down, so the
        // spool cannot shrink.
        let mut refused: Vec<Batch> = Vec::new();
        let fill_start = Instant::now();
        loop {
            assert!(next < all.len(), "the spool never filled up");
            let round = &all[next..(next + 16).min(all.len())];
            next += round.len();
            let mut refused_now = 0;
            for (i, r) in post_many(&v.url, &key, round).await {
                match r.status {
                    202 => acked.add(&round[i]),
                    503 => {
                        assert!(r.body.contains(s.code), "503 names {}: {}", s.code, r.body);
                        assert_eq!(r.retry_after.as_deref(), Some(s.retry_after), "{}", r.body);
                        if refused.is_empty() {
                            eprintln!("{}: first refusal: {}", s.scenario, r.body);
                        }
                        refused.push(round[i].clone());
                        refused_now += 1;
                    }
                    other => panic!("unexpected {other} while filling: {}", r.body),
                }
            }
            if refused_now == round.len() {
                break;
            }
        }
        max_fill_ms = max_fill_ms.max(fill_start.elapsed().as_millis());
        refused_total += refused.len();
        // Acknowledged means durable: kill -9 while full, restart, still
        // down and still full.
        v.kill9();
        v = Vitals::serve_opts(&data, Some((&store, &db)), &opts);
        let probe = post_many(&v.url, &key, &refused[..1]).await;
        assert_eq!(probe[0].1.status, 503, "still full after the restart");
        assert!(v.metric("vitals_spool_bytes") > 0.0);

        proxy.set(Mode::Pass);
        let o = wait_stored(&ch, &db, APP, &acked, &[], Duration::from_secs(90)).await;
        assert_eq!(
            o.lost,
            0,
            "cycle {cycle}: acknowledged batches missing after the drain: {:?}",
            &o.lost_batches[..o.lost_batches.len().min(5)]
        );
        // Ingest resumes: the refused batches go in, as a client's retries.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !refused.is_empty() {
            let replies = post_many(&v.url, &key, &refused).await;
            let mut still = Vec::new();
            for (i, r) in replies {
                match r.status {
                    202 => acked.add(&refused[i]),
                    _ => still.push(refused[i].clone()),
                }
            }
            refused = still;
            assert!(
                refused.is_empty() || Instant::now() < deadline,
                "cycle {cycle}: ingest did not resume within 60 s of the drain ({} batches still refused, spool_bytes={})",
                refused.len(),
                v.metric("vitals_spool_bytes")
            );
            if !refused.is_empty() {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    let o = wait_stored(&ch, &db, APP, &acked, &[], Duration::from_secs(90)).await;
    report(
        s.scenario,
        &o,
        &format!(
            "cycles={cycles} refused_503={refused_total} (all resent and accepted after the drain) \
             fill_ms_max={max_fill_ms} unacked_stored={}",
            o.unacked_stored
        ),
    );
    v.terminate();
    assert_eq!(o.duplicated, 0, "no event stored twice");
    assert_eq!(
        o.lost, 0,
        "every acknowledged event stored: {:?}",
        o.lost_batches
    );
    let _ = query(&ch, &format!("DROP DATABASE IF EXISTS {db}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_cap_refuses_with_503_and_resumes_after_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    fill_restart_drain(
        Setup {
            scenario: "spool_cap",
            spool_toml: "max_bytes = 1048576\nretry_after_secs = 7".into(),
            code: "request.spool_full",
            retry_after: "7",
        },
        dir.path(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_enospc_refuses_with_503_and_resumes_after_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let _tmpfs = match Tmpfs::mount(&spool, "8m") {
        Ok(t) => t,
        Err(reason) => {
            println!("\nFAULT spool_enospc skipped ({reason})");
            return;
        }
    };
    fill_restart_drain(
        Setup {
            scenario: "spool_enospc",
            spool_toml: format!("dir = {:?}", spool.display().to_string()),
            code: "request.spool_failed",
            retry_after: "5",
        },
        dir.path(),
    )
    .await;
}
