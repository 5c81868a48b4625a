//! Helpers of the analyzer's integration tests: batches, the backends under
//! test (SQLite, ClickHouse and the two-shard cluster when `.ci/run` names
//! them) and an evaluation over them.
#![allow(dead_code)]

pub mod reference;

use std::collections::HashSet;
use std::sync::Arc;
use vitals_analyzer::evaluate::Verdict;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::{Metric, Policy};
use vitals_analyzer::{Analyzer, Evaluation};
use vitals_protocol::*;
use vitals_store::*;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn batch(id: String, version: &str, user: u64, events: Vec<Event>) -> AcceptedBatch {
    AcceptedBatch {
        app_id: "syn".into(),
        received_at_ms: now_ms(),
        client_ip: None,
        batch: Batch {
            v: 1,
            batch_id: id,
            app_id: "syn".into(),
            release: Release {
                version: version.into(),
                build: "1".into(),
            },
            platform: Platform::Android,
            device: Device {
                model: if user.is_multiple_of(2) {
                    "A".into()
                } else {
                    "B".into()
                },
                class: DeviceClass::Phone,
                os_version: "14".into(),
                screen: Screen {
                    width: 1080,
                    height: 2340,
                    density: 2.75,
                },
                abi: "arm64-v8a".into(),
                rooted: false,
                emulator: false,
                device_id: None,
            },
            network: Network::default(),
            install_id: format!("i{user}"),
            user_id: Some(format!("u{user}")),
            consent: Consent::default(),
            environment: None,
            sent_at: None,
            events,
        },
    }
}

pub fn start(ts: i64, sid: String) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: sid,
        phase: SessionPhase::Start,
        status: None,
        duration_ms: 0,
        foreground_ms: 0,
    })
}

pub fn crashed(ts: i64, sid: String) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: sid,
        phase: SessionPhase::End,
        status: Some(SessionStatus::Crashed),
        duration_ms: 1000,
        foreground_ms: 1000,
    })
}

pub fn crash(ts: i64, id: String) -> Event {
    Event::Crash(CrashEvent {
        ts,
        crash_id: id,
        session_id: None,
        exception_type: "SIGSEGV".into(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads: vec![Thread {
            id: 1,
            name: "main".into(),
            crashed: true,
            frames: vec![Frame {
                function: Some("crash_here".into()),
                ..Default::default()
            }],
        }],
        images: vec![],
        raw: None,
        fingerprint: None,
        notes: Vec::new(),
    })
}

/// `sessions` session starts over `users` users (round robin), of which the
/// first `crashes` end crashed.
pub fn release(
    version: &str,
    sessions: u64,
    users: u64,
    crashes: u64,
    ts: i64,
) -> Vec<AcceptedBatch> {
    let mut out = Vec::new();
    let mut events: Vec<(u64, Event)> = Vec::new();
    for s in 0..sessions {
        let u = s % users;
        events.push((u, start(ts, format!("{version}-s{s}"))));
        if s < crashes {
            events.push((u, crashed(ts + 1000, format!("{version}-s{s}"))));
        }
    }
    // One batch per user group of up to 1000 events, all from one user.
    events.sort_by_key(|(u, _)| *u);
    let mut cur: Vec<Event> = Vec::new();
    let mut cur_user = u64::MAX;
    for (u, e) in events {
        if (u != cur_user || cur.len() >= 1000) && !cur.is_empty() {
            out.push(batch(
                format!("{version}-b{}", out.len()),
                version,
                cur_user,
                std::mem::take(&mut cur),
            ));
        }
        cur_user = u;
        cur.push(e);
    }
    if !cur.is_empty() {
        out.push(batch(
            format!("{version}-b{}", out.len()),
            version,
            cur_user,
            cur,
        ));
    }
    out
}

pub fn clickhouse() -> Option<ClickHouseConfig> {
    match std::env::var("VITALS_TEST_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => Some(ClickHouseConfig {
            url,
            database: format!("vitals_syn_{}_{}", std::process::id(), now_ms() % 1_000_000),
            ..Default::default()
        }),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI needs VITALS_TEST_CLICKHOUSE_URL"
            );
            None
        }
    }
}

/// The two-shard cluster `.ci/run` starts, when `VITALS_TEST_CLICKHOUSE_CLUSTER_URL`
/// names one of its nodes: every verdict must come out the same there.
pub fn clickhouse_cluster() -> Option<ClickHouseConfig> {
    match std::env::var("VITALS_TEST_CLICKHOUSE_CLUSTER_URL") {
        Ok(url) if !url.is_empty() => Some(ClickHouseConfig {
            url,
            database: format!(
                "vitals_sync_{}_{}",
                std::process::id(),
                now_ms() % 1_000_000
            ),
            cluster: "vitals_local".into(),
            ..Default::default()
        }),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI needs VITALS_TEST_CLICKHOUSE_CLUSTER_URL"
            );
            None
        }
    }
}

/// The backends under test, loaded with `data`. ClickHouse databases are
/// dropped (on every node) when the returned guard goes.
pub struct Backends(
    pub Vec<(Arc<dyn Store>, tempfile::TempDir)>,
    pub Vec<ClickHouseConfig>,
);

impl Drop for Backends {
    fn drop(&mut self) {
        let configs = std::mem::take(&mut self.1);
        // A thread and runtime of their own, and new clients (a client's
        // pooled connections belong to the test's runtime, which may be
        // gone by now).
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                for cfg in configs {
                    let _ = ClickHouseStore::new(cfg).drop_database().await;
                }
            })
        })
        .join();
    }
}

impl Backends {
    pub fn iter(&self) -> impl Iterator<Item = (Arc<dyn Store>, &std::path::Path)> {
        self.0.iter().map(|(s, d)| (s.clone(), d.path()))
    }
}

pub async fn backends(data: &[AcceptedBatch]) -> Backends {
    let mut out: Vec<(Arc<dyn Store>, tempfile::TempDir)> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("t.sqlite")).unwrap());
    out.push((sqlite, dir));
    let ch: Vec<ClickHouseConfig> = clickhouse()
        .into_iter()
        .chain(clickhouse_cluster())
        .collect();
    for c in &ch {
        out.push((
            Arc::new(ClickHouseStore::new(c.clone())),
            tempfile::tempdir().unwrap(),
        ));
    }
    for (s, _) in &out {
        s.migrate().await.unwrap();
        // Large chunks: few parts per table on ClickHouse (and its cluster).
        for chunk in data.chunks(5000) {
            s.insert(chunk, &HashSet::new(), false).await.unwrap();
        }
    }
    Backends(out, ch)
}

pub async fn eval(
    store: Arc<dyn Store>,
    dir: &std::path::Path,
    version: &str,
    policy: Option<&Policy>,
) -> Evaluation {
    let cp = Arc::new(ControlPlane::open(dir.join("cp.sqlite")).unwrap());
    let a = Analyzer::new(store, cp, Policy::standard(), "Asia/Shanghai");
    a.evaluate("syn", &ReleaseRef::parse(version), policy, None)
        .await
        .unwrap()
}

pub fn verdict(e: &Evaluation, m: Metric) -> (Verdict, Option<f64>) {
    let r = e.results.iter().find(|r| r.metric == m).unwrap();
    (r.verdict, r.value)
}
