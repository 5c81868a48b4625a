//! Rollups answer exactly what the raw rows answer: every query shape the
//! analyzer and the dashboard route to a rollup is run both ways on the same
//! store (SQLite, and ClickHouse when `VITALS_TEST_CLICKHOUSE_URL` is set),
//! after several separate inserts (so ClickHouse holds unmerged parts),
//! after a user's erasure, and after the time zone changes.

use std::collections::HashSet;
use vitals_protocol::*;
use vitals_store::query::*;
use vitals_store::*;

const NOW_MS: i64 = 1_764_000_000_000;
const TZ: &str = "Asia/Shanghai";

/// A small deterministic generator (no test randomness without a seed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn batch(id: usize, version: &str, user: u64, rng: &mut Lcg) -> AcceptedBatch {
    let models = ["SM-S9180", "iPhone15,2", "ALN-AL00", "Pixel 8"];
    let platforms = [Platform::Android, Platform::Ios, Platform::Harmonyos];
    let t0 = NOW_MS - 6 * 86_400_000 + rng.next(6 * 86_400) as i64 * 1000;
    let mut events = Vec::new();
    for s in 0..1 + rng.next(3) {
        let ts = t0 + s as i64 * 3_600_000;
        let sid = format!("s-{id}-{s}");
        let status = match rng.next(10) {
            0 => SessionStatus::Crashed,
            1 => SessionStatus::Abnormal,
            _ => SessionStatus::Ok,
        };
        events.push(Event::Session(SessionEvent {
            ts,
            session_id: sid.clone(),
            phase: SessionPhase::Start,
            status: None,
            duration_ms: 0,
            foreground_ms: 0,
        }));
        events.push(Event::Session(SessionEvent {
            ts: ts + 60_000,
            session_id: sid.clone(),
            phase: SessionPhase::End,
            status: Some(status),
            duration_ms: 60_000,
            foreground_ms: 50_000,
        }));
        if status == SessionStatus::Crashed {
            events.push(Event::Crash(CrashEvent {
                ts: ts + 60_000,
                crash_id: format!("c-{sid}"),
                session_id: Some(sid),
                exception_type: "java.lang.IllegalStateException".into(),
                message: "boom".into(),
                fatal: rng.next(4) != 0,
                handled: false,
                threads: vec![],
                images: vec![],
                raw: None,
                fingerprint: Some(format!("fp{}", rng.next(3))),
                notes: Vec::new(),
            }));
        }
    }
    // Some cold starts report a breakdown with third-party SDK spans (5.7c).
    let spans = match rng.next(3) {
        0 => vec![],
        n => vec![
            Span {
                name: "sdk:push".into(),
                start_ms: 0,
                duration_ms: 40 * n,
            },
            Span {
                name: "home".into(),
                start_ms: 0,
                duration_ms: 200,
            },
        ],
    };
    events.push(Event::ColdStart(ColdStartEvent {
        ts: t0,
        duration_ms: 300 + rng.next(3000),
        spans,
    }));
    for _ in 0..rng.next(4) {
        events.push(Event::Perf(PerfEvent {
            ts: t0 + 1000,
            cpu_pct: (rng.next(5) != 0).then(|| rng.next(900) as f64 / 100.0),
            memory_mb: (rng.next(5) != 0).then(|| 80.0 + rng.next(200) as f64),
        }));
    }
    events.push(Event::Network(NetworkEvent {
        ts: t0 + 2000,
        category: [
            ServiceCategory::Trade,
            ServiceCategory::Quote,
            ServiceCategory::Bus,
        ][rng.next(3) as usize],
        site: ["sh-1", "sz-2"][rng.next(2) as usize].into(),
        latency_ms: 20 + rng.next(700),
        // Mostly answered, some timeouts (0), server errors and 4xx.
        status: [200, 200, 200, 200, 200, 0, 503, 404][rng.next(8) as usize],
        ip_family: [IpFamily::Ipv4, IpFamily::Ipv6][rng.next(2) as usize],
    }));
    AcceptedBatch {
        app_id: "roll".into(),
        received_at_ms: NOW_MS,
        client_ip: None,
        batch: Batch {
            v: 1,
            batch_id: format!("b{id}"),
            app_id: "roll".into(),
            release: Release {
                version: version.into(),
                build: "7".into(),
            },
            platform: platforms[rng.next(3) as usize],
            device: Device {
                model: models[rng.next(4) as usize].into(),
                class: [DeviceClass::Phone, DeviceClass::Tablet][rng.next(2) as usize],
                os_version: format!("{}", 9 + rng.next(6)),
                screen: Screen {
                    width: 1080,
                    height: [1920, 2340, 2732][rng.next(3) as usize],
                    density: 2.75,
                },
                abi: "arm64-v8a".into(),
                rooted: rng.next(15) == 0,
                emulator: rng.next(40) == 0,
                device_id: None,
            },
            network: Network {
                ip_family: [IpFamily::Ipv4, IpFamily::Ipv6, IpFamily::Dual][rng.next(3) as usize],
                carrier: "wifi".into(),
            },
            install_id: format!("inst-{user}"),
            user_id: Some(format!("user{user:04}")),
            consent: Consent::default(),
            environment: None,
            sent_at: None,
            events,
        },
    }
}

fn fleet() -> Vec<Vec<AcceptedBatch>> {
    let mut rng = Lcg(42);
    let mut chunks = Vec::new();
    let mut id = 0;
    for _ in 0..4 {
        let mut chunk = Vec::new();
        for _ in 0..150 {
            let version = ["2.0.0", "2.1.0"][rng.next(2) as usize];
            let user = rng.next(220);
            chunk.push(batch(id, version, user, &mut rng));
            id += 1;
        }
        chunks.push(chunk);
    }
    chunks
}

fn queries(tz: &str) -> Vec<Query> {
    let release = |kinds: &[&str], untrusted: bool| Filter {
        app_id: "roll".into(),
        version: Some("2.0.0".into()),
        build: Some("7".into()),
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        exclude_untrusted: untrusted,
        ..Default::default()
    };
    let q = |filter: Filter, group_by: Vec<Dim>, measures: Vec<Measure>| Query {
        filter,
        group_by,
        measures,
        ..Default::default()
    };
    let day = Dim::Day(tz.into());
    vec![
        q(
            release(&["session"], false),
            vec![],
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Count(Some(Cond::SessionCrashed)),
                Measure::Count(Some(Cond::SessionAbnormal)),
                Measure::Count(None),
            ],
        ),
        q(
            release(&["session"], true),
            vec![
                Dim::Platform,
                Dim::DeviceClass,
                Dim::OsMajor,
                Dim::ScreenClass,
                Dim::NetFamily,
            ],
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Count(Some(Cond::SessionCrashed)),
            ],
        ),
        q(
            release(&["session"], false),
            vec![Dim::DeviceModel],
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Count(Some(Cond::SessionCrashed)),
            ],
        ),
        q(
            release(&["session"], false),
            vec![day.clone()],
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Count(Some(Cond::SessionCrashed)),
            ],
        ),
        q(
            release(&["session", "crash"], false),
            vec![],
            vec![
                Measure::Users(None),
                Measure::Users(Some(Cond::CrashedUser)),
            ],
        ),
        q(
            release(&["session", "crash"], true),
            vec![],
            vec![Measure::Users(None)],
        ),
        q(
            release(&["session", "crash"], false),
            vec![Dim::Day(tz.into())],
            vec![
                Measure::Users(None),
                Measure::Users(Some(Cond::CrashedUser)),
            ],
        ),
        // Chart users: day sketches on ClickHouse, exact on SQLite.
        q(
            release(&["session", "crash"], false),
            vec![Dim::Day(tz.into())],
            vec![
                Measure::UsersApprox(None),
                Measure::UsersApprox(Some(Cond::CrashedUser)),
            ],
        ),
        q(
            Filter {
                app_id: "roll".into(),
                ..Default::default()
            },
            vec![Dim::Day(tz.into())],
            vec![Measure::UsersApprox(None)],
        ),
        // The release list: every release of the app, first and last seen.
        q(
            Filter {
                app_id: "roll".into(),
                kinds: vec!["session".into()],
                ..Default::default()
            },
            vec![Dim::Version, Dim::Build],
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Min(Col::Ts, None),
                Measure::Max(Col::Ts, None),
            ],
        ),
        q(
            release(&[], false),
            vec![day.clone()],
            vec![
                Measure::Users(None),
                Measure::Users(Some(Cond::CrashedUser)),
            ],
        ),
        q(
            Filter {
                app_id: "roll".into(),
                ..Default::default()
            },
            vec![day, Dim::Version],
            vec![Measure::Users(None)],
        ),
        q(
            release(&["cold_start"], false),
            vec![Dim::DeviceModel, Dim::BucketA],
            vec![
                Measure::Count(None),
                Measure::Sum(Col::DurationMs, None),
                Measure::SumSq(Col::DurationMs, None),
            ],
        ),
        q(
            release(&["perf"], false),
            vec![Dim::BucketA],
            vec![
                Measure::Count(Some(Cond::HasCpu)),
                Measure::Sum(Col::CpuPct, Some(Cond::HasCpu)),
                Measure::SumSq(Col::CpuPct, Some(Cond::HasCpu)),
            ],
        ),
        q(
            release(&["perf"], true),
            vec![Dim::BucketB],
            vec![
                Measure::Count(Some(Cond::HasMemory)),
                Measure::Sum(Col::MemoryMb, Some(Cond::HasMemory)),
                Measure::SumSq(Col::MemoryMb, Some(Cond::HasMemory)),
                Measure::Avg(Col::MemoryMb, Some(Cond::HasMemory)),
            ],
        ),
        q(
            release(&["network"], false),
            vec![Dim::Category, Dim::Site, Dim::ReqFamily, Dim::BucketA],
            vec![Measure::Count(None), Measure::Sum(Col::DurationMs, None)],
        ),
        // 5.7c: third-party SDK time in cold starts with a breakdown.
        q(
            release(&["cold_start"], false),
            vec![],
            vec![
                Measure::Count(Some(Cond::ColdStartWithSpans)),
                Measure::Sum(Col::Value, Some(Cond::ColdStartWithSpans)),
                Measure::Sum(Col::DurationMs, Some(Cond::ColdStartWithSpans)),
            ],
        ),
        // 5.3f: response times of completed requests only, and the
        // request error rate per category and site.
        q(
            Filter {
                completed_requests: true,
                ..release(&["network"], false)
            },
            vec![Dim::Category, Dim::BucketA],
            vec![
                Measure::Count(None),
                Measure::Sum(Col::DurationMs, None),
                Measure::SumSq(Col::DurationMs, None),
            ],
        ),
        q(
            release(&["network"], false),
            vec![Dim::Category, Dim::Site],
            vec![
                Measure::Count(None),
                Measure::Count(Some(Cond::RequestFailed)),
            ],
        ),
        // A release with no data: zeros and NaN, as on the raw path.
        q(
            Filter {
                version: Some("9.9.9".into()),
                ..release(&["cold_start"], false)
            },
            vec![],
            vec![Measure::Count(None), Measure::Avg(Col::DurationMs, None)],
        ),
    ]
}

fn same(a: &[query::AggRow], b: &[query::AggRow]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dims == y.dims
                && x.values.len() == y.values.len()
                && x.values.iter().zip(&y.values).all(|(p, q)| {
                    (p.is_nan() && q.is_nan()) || (p - q).abs() <= 1e-9 * p.abs().max(1.0)
                })
        })
}

async fn compare(store: &dyn Store, tz: &str, stage: &str) {
    for (i, q) in queries(tz).iter().enumerate() {
        // First/last-seen times are kept through an erasure on purpose (a
        // release's first-seen time is not personal data), so after one
        // they may be earlier/later than the remaining raw rows say.
        let extremes = q
            .measures
            .iter()
            .any(|m| matches!(m, Measure::Min(Col::Ts, _) | Measure::Max(Col::Ts, _)));
        // Sketches keep an erased user's hash (charts only).
        let approx = q
            .measures
            .iter()
            .any(|m| matches!(m, Measure::UsersApprox(_)));
        if (extremes || approx) && stage.contains("erasure") {
            continue;
        }
        assert!(
            rollup_for(q, tz).is_some(),
            "{stage}: query {i} is not answered by a rollup: {q:?}"
        );
        let rolled = store.aggregate(q).await.expect("rollup aggregate");
        let mut raw = store.aggregate_raw(q).await.expect("raw aggregate");
        // The raw path also lists groups none of whose rows meet any
        // measure's condition (perf samples without CPU under `HasCpu`:
        // bucket NONE, all zeros); a rollup holds no such rows. Readers
        // skip them either way, so they are not part of the answer.
        if !q.group_by.is_empty() {
            raw.retain(|r| r.values.iter().any(|v| v.is_finite() && *v != 0.0));
        }
        assert!(
            !raw.is_empty(),
            "{stage}: query {i} has no rows; the test data must exercise it"
        );
        assert!(
            same(&rolled, &raw),
            "{} {stage}: query {i} differs\nrollup: {rolled:?}\nraw:    {raw:?}",
            store.backend()
        );
    }
}

async fn exercise(store: &dyn Store) {
    store.migrate().await.expect("migrate");
    let chunks = fleet();
    // The first chunk is stored before the rollups exist would be
    // impossible here (migrate made them), so rebuild after it to prove the
    // backfill agrees with the live path too.
    store
        .insert(&chunks[0], &HashSet::new(), false)
        .await
        .expect("insert");
    store.rebuild_rollups().await.expect("rebuild");
    for c in &chunks[1..] {
        store
            .insert(c, &HashSet::new(), false)
            .await
            .expect("insert");
    }
    compare(store, TZ, "after inserts").await;
    // Sanity: the rollup sees the data (not two empty answers agreeing).
    let q = &queries(TZ)[0];
    let rows = store.aggregate(q).await.expect("aggregate");
    assert!(rows[0].count(0) > 100, "{rows:?}");

    store.erase_user("roll", "user0007").await.expect("erase");
    store.erase_user("roll", "user0100").await.expect("erase");
    assert_eq!(store.user_row_count("roll", "user0007").await.unwrap(), 0);
    compare(store, TZ, "after erasure").await;
}

#[tokio::test]
async fn sqlite_rollups_equal_raw_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let store = SqliteStore::open(&path).unwrap();
    exercise(&store).await;
    drop(store);
    // Another time zone: migrate rebuilds the daily rollups in it, and days
    // in the old zone are no longer routed.
    let berlin = SqliteStore::open(&path)
        .unwrap()
        .with_timezone("Europe/Berlin");
    let report = berlin.migrate().await.unwrap();
    assert_eq!(report.applied, 1, "the zone change rebuilds the rollups");
    compare(&berlin, "Europe/Berlin", "after zone change").await;
    let again = berlin.migrate().await.unwrap();
    assert_eq!(again.applied, 0, "nothing to rebuild the second time");
}

#[tokio::test]
async fn clickhouse_rollups_equal_raw_rows() {
    let url = match std::env::var("VITALS_TEST_CLICKHOUSE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but VITALS_TEST_CLICKHOUSE_URL is not set"
            );
            eprintln!("VITALS_TEST_CLICKHOUSE_URL not set: skipping");
            return;
        }
    };
    let cfg = ClickHouseConfig {
        url,
        database: format!("vitals_rollup_{}", std::process::id()),
        ..Default::default()
    };
    let store = ClickHouseStore::new(cfg.clone());
    store.drop_database().await.unwrap();
    exercise(&store).await;
    let berlin = ClickHouseStore::new(cfg).with_timezone("Europe/Berlin");
    assert_eq!(berlin.migrate().await.unwrap().applied, 1);
    compare(&berlin, "Europe/Berlin", "after zone change").await;
    assert_eq!(berlin.migrate().await.unwrap().applied, 0);
    berlin.drop_database().await.unwrap();
}

/// The two-shard cluster `.ci/run` starts (deploy/clickhouse/run-local-cluster.sh):
/// `VITALS_TEST_CLICKHOUSE_CLUSTER_URL` names one of its nodes.
fn cluster_config(db: &str) -> Option<ClickHouseConfig> {
    match std::env::var("VITALS_TEST_CLICKHOUSE_CLUSTER_URL") {
        Ok(url) if !url.is_empty() => Some(ClickHouseConfig {
            url,
            database: format!("{db}_{}", std::process::id()),
            cluster: "vitals_local".into(),
            ..Default::default()
        }),
        _ => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but VITALS_TEST_CLICKHOUSE_CLUSTER_URL is not set"
            );
            eprintln!("VITALS_TEST_CLICKHOUSE_CLUSTER_URL not set: skipping");
            None
        }
    }
}

/// Rows per shard, read from each node's local table.
async fn rows_per_shard(cfg: &ClickHouseConfig) -> Vec<u64> {
    let mut out = Vec::new();
    for host in ["127.0.0.2", "127.0.0.3"] {
        let url = cfg
            .url
            .replace("127.0.0.2", host)
            .replace("127.0.0.3", host);
        let body = std::process::Command::new("curl")
            .args(["-fsS", "--data-binary"])
            .arg(format!("SELECT count() FROM {}.events_local", cfg.database))
            .arg(&url)
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&body.stdout);
        out.push(text.trim().parse().expect("a number"));
    }
    out
}

#[tokio::test]
async fn clickhouse_cluster_rollups_equal_raw_rows() {
    let Some(cfg) = cluster_config("vitals_cluster_rollup") else {
        return;
    };
    let store = ClickHouseStore::new(cfg.clone());
    store.drop_database().await.unwrap();
    exercise(&store).await;
    let shards = rows_per_shard(&cfg).await;
    assert!(
        shards.iter().all(|n| *n > 100),
        "both shards hold rows: {shards:?}"
    );
    store.drop_database().await.unwrap();
}

/// The same data on one node and on two shards gives the same answers,
/// through the rollups and from raw rows, before and after an erasure.
#[tokio::test]
async fn one_node_and_two_shards_answer_alike() {
    let Some(cluster_cfg) = cluster_config("vitals_cluster_same") else {
        return;
    };
    let Ok(url) = std::env::var("VITALS_TEST_CLICKHOUSE_URL") else {
        panic!("the comparison needs VITALS_TEST_CLICKHOUSE_URL too");
    };
    let single = ClickHouseStore::new(ClickHouseConfig {
        url,
        database: format!("vitals_single_same_{}", std::process::id()),
        ..Default::default()
    });
    let cluster = ClickHouseStore::new(cluster_cfg);
    for s in [&single, &cluster] {
        s.drop_database().await.unwrap();
        s.migrate().await.expect("migrate");
        for c in fleet() {
            s.insert(&c, &HashSet::new(), false).await.expect("insert");
        }
    }
    for stage in ["after inserts", "after erasure"] {
        for (i, q) in queries(TZ).iter().enumerate() {
            let a = single.aggregate(q).await.expect("single");
            let b = cluster.aggregate(q).await.expect("cluster");
            assert!(!a.is_empty(), "{stage}: query {i} has rows");
            assert!(same(&a, &b), "{stage}: query {i}\none:  {a:?}\ntwo:  {b:?}");
            let a = single.aggregate_raw(q).await.expect("single raw");
            let b = cluster.aggregate_raw(q).await.expect("cluster raw");
            assert!(
                same(&a, &b),
                "{stage}: raw query {i}\none:  {a:?}\ntwo:  {b:?}"
            );
        }
        assert_eq!(
            single.release_summaries("roll").await.unwrap(),
            cluster.release_summaries("roll").await.unwrap(),
            "{stage}"
        );
        assert_eq!(
            single.kind_counts("roll").await.unwrap(),
            cluster.kind_counts("roll").await.unwrap(),
            "{stage}"
        );
        assert_eq!(
            single.batch_count("roll").await.unwrap(),
            cluster.batch_count("roll").await.unwrap(),
            "{stage}"
        );
        for s in [&single, &cluster] {
            s.erase_user("roll", "user0007").await.expect("erase");
            assert_eq!(s.user_row_count("roll", "user0007").await.unwrap(), 0);
        }
    }
    // A repeated batch is recognised across shards too.
    let again = fleet().remove(0);
    let out = cluster
        .insert(&again, &HashSet::new(), false)
        .await
        .expect("insert");
    assert_eq!((out.batches, out.duplicate_batches), (0, again.len()));
    single.drop_database().await.unwrap();
    cluster.drop_database().await.unwrap();
}
