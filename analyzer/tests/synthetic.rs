//! Synthetic fleets whose answers are computed here, independently of the
//! analyzer: the verdicts must match them on both backends.

use std::collections::HashSet;
use std::sync::Arc;
use vitals_analyzer::evaluate::Verdict;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::{Metric, Policy};
use vitals_analyzer::{Analyzer, Evaluation};
use vitals_protocol::*;
use vitals_store::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn batch(id: String, version: &str, user: u64, events: Vec<Event>) -> AcceptedBatch {
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

fn start(ts: i64, sid: String) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: sid,
        phase: SessionPhase::Start,
        status: None,
        duration_ms: 0,
        foreground_ms: 0,
    })
}

fn crashed(ts: i64, sid: String) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: sid,
        phase: SessionPhase::End,
        status: Some(SessionStatus::Crashed),
        duration_ms: 1000,
        foreground_ms: 1000,
    })
}

fn crash(ts: i64, id: String) -> Event {
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
fn release(version: &str, sessions: u64, users: u64, crashes: u64, ts: i64) -> Vec<AcceptedBatch> {
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

fn clickhouse() -> Option<ClickHouseConfig> {
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
fn clickhouse_cluster() -> Option<ClickHouseConfig> {
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
struct Backends(
    Vec<(Arc<dyn Store>, tempfile::TempDir)>,
    Vec<ClickHouseConfig>,
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
    fn iter(&self) -> impl Iterator<Item = (Arc<dyn Store>, &std::path::Path)> {
        self.0.iter().map(|(s, d)| (s.clone(), d.path()))
    }
}

async fn backends(data: &[AcceptedBatch]) -> Backends {
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

async fn eval(
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

fn verdict(e: &Evaluation, m: Metric) -> (Verdict, Option<f64>) {
    let r = e.results.iter().find(|r| r.metric == m).unwrap();
    (r.verdict, r.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_rate_gate_on_a_million_sessions() {
    let ts = now_ms() - 86_400_000;
    let mut data = release("1.0.0", 1_000_000, 200_000, 499, ts);
    data.extend(release("2.0.0", 1_000_000, 200_000, 600, ts));
    data.extend(release("3.0.0", 40, 40, 0, ts));
    let b = backends(&data).await;
    let mut seen: Vec<serde_json::Value> = Vec::new();
    for (store, dir) in b.iter() {
        let backend = store.backend();
        let e = eval(store.clone(), dir, "1.0.0", None).await;
        // Every backend (one node or two shards) reaches the same facts
        // and verdicts.
        let facts = serde_json::json!({"facts": e.facts, "results": e.results});
        if let Some(first) = seen.first() {
            assert_eq!(first, &facts, "{backend} differs from the first backend");
        }
        seen.push(facts);
        assert_eq!(e.facts.sessions, 1_000_000, "{backend}");
        assert_eq!(e.facts.crashed_sessions, 499, "{backend}");
        let (v, value) = verdict(&e, Metric::CrashRatePerSession);
        assert_eq!(v, Verdict::Pass, "{backend}: 0.0499% passes");
        assert!((value.unwrap() - 0.000499).abs() < 1e-12);
        let e = eval(store.clone(), dir, "2.0.0", None).await;
        assert_eq!(
            verdict(&e, Metric::CrashRatePerSession).0,
            Verdict::Fail,
            "{backend}: 0.06% fails"
        );
        let e = eval(store.clone(), dir, "3.0.0", None).await;
        assert_eq!(
            verdict(&e, Metric::CrashRatePerSession).0,
            Verdict::InsufficientData,
            "{backend}: 40 sessions"
        );
        assert_eq!(e.decision.exit_code(), 2);
    }
}

#[tokio::test]
async fn one_user_crashing_500_times_counts_once() {
    let ts = now_ms() - 3_600_000;
    let mut data = release("1.0.0", 2000, 2000, 0, ts);
    // user 7 crashes in 500 further sessions; user 8 once.
    let mut ev = Vec::new();
    for i in 0..500 {
        ev.push(start(ts, format!("x{i}")));
        ev.push(crashed(ts + 1, format!("x{i}")));
        ev.push(crash(ts + 1, format!("c{i}")));
    }
    data.push(batch("u7".into(), "1.0.0", 7, ev));
    data.push(batch(
        "u8".into(),
        "1.0.0",
        8,
        vec![
            start(ts, "y".into()),
            crashed(ts + 1, "y".into()),
            crash(ts + 1, "cy".into()),
        ],
    ));
    let b = backends(&data).await;
    for (store, dir) in b.iter() {
        let e = eval(store.clone(), dir, "1.0.0", None).await;
        assert_eq!(e.facts.users, 2000);
        assert_eq!(e.facts.crashed_users, 2, "{}", store.backend());
        assert_eq!(e.facts.crashed_sessions, 501);
        let (_, v) = verdict(&e, Metric::CrashRatePerUser);
        assert_eq!(v, Some(2.0 / 2000.0));
        // One crash group, 2 affected users of 2000: 0.1 % > 0.01 % → urgent.
        assert_eq!(e.facts.groups.len(), 1);
        assert_eq!(e.facts.groups[0].users, 2);
        assert_eq!(e.facts.groups[0].events, 501);
        assert!(e.facts.groups[0].urgent);
        assert_eq!(e.facts.groups[0].state, "new");
    }
}

#[tokio::test]
async fn install_time_is_the_mean_of_per_model_means() {
    let ts = now_ms() - 3_600_000;
    let mut data = Vec::new();
    // Model A (even users): 100 installs of 10 s; model B (odd): 10 of 40 s.
    for i in 0..100u64 {
        data.push(batch(
            format!("ia{i}"),
            "1.0.0",
            i * 2,
            vec![Event::Install(InstallEvent {
                ts,
                duration_ms: 10_000,
                package_bytes: 50 << 20,
                abi_split: vec![],
            })],
        ));
    }
    for i in 0..10u64 {
        data.push(batch(
            format!("ib{i}"),
            "1.0.0",
            i * 2 + 1,
            vec![Event::Install(InstallEvent {
                ts,
                duration_ms: 40_000,
                package_bytes: 50 << 20,
                abi_split: vec![],
            })],
        ));
    }
    let global_mean = (100.0 * 10_000.0 + 10.0 * 40_000.0) / 110.0;
    let per_model = (10_000.0 + 40_000.0) / 2.0;
    assert!(
        global_mean < 20_000.0 && per_model > 20_000.0,
        "the fixture separates the two means"
    );
    let b = backends(&data).await;
    for (store, dir) in b.iter() {
        let e = eval(store.clone(), dir, "1.0.0", None).await;
        let (v, value) = verdict(&e, Metric::InstallTime);
        assert_eq!(value, Some(per_model), "{}", store.backend());
        assert_eq!(v, Verdict::Fail);
        let p =
            Policy::parse("[[override]]\napp = \"syn\"\nclause = \"5.3b\"\nstatistic = \"mean\"\n")
                .unwrap();
        let e = eval(store.clone(), dir, "1.0.0", Some(&p)).await;
        let (v, value) = verdict(&e, Metric::InstallTime);
        assert!((value.unwrap() - global_mean).abs() < 1e-6);
        assert_eq!(v, Verdict::Pass);
    }
}

#[tokio::test]
async fn late_events_land_in_their_release_and_percentiles_hold() {
    let now = now_ms();
    let mut data = release("2.0.0", 300, 300, 0, now - 3_600_000);
    // Arrives last, happened 20 days ago, belongs to 1.0.0.
    data.extend(release("1.0.0", 150, 150, 3, now - 20 * 86_400_000));
    // Cold starts of 2.0.0: 1..=1000 ms → exact p90 = 900 ms.
    let cold: Vec<Event> = (1..=1000u64)
        .map(|ms| {
            Event::ColdStart(ColdStartEvent {
                ts: now - 60_000,
                duration_ms: ms,
                spans: vec![],
            })
        })
        .collect();
    data.push(batch("cold".into(), "2.0.0", 1, cold));
    let b = backends(&data).await;
    for (store, dir) in b.iter() {
        let e = eval(store.clone(), dir, "1.0.0", None).await;
        assert_eq!(
            (e.facts.sessions, e.facts.crashed_sessions),
            (150, 3),
            "{}",
            store.backend()
        );
        let e = eval(store.clone(), dir, "2.0.0", None).await;
        assert_eq!(e.facts.sessions, 300);
        let (v, p90) = verdict(&e, Metric::ColdStart);
        assert_eq!(v, Verdict::Pass);
        let p90 = p90.unwrap();
        assert!((p90 - 900.0).abs() / 900.0 <= 0.006, "{p90}");
        assert!((e.facts.cold_start.mean.unwrap() - 500.5).abs() < 1e-9);
    }
}
