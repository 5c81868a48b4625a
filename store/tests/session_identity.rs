//! Session identity, property-tested: random fleets whose sessions have
//! re-sent starts and ends, lost starts, lost ends, lost crash reports,
//! fatal crashes naming sessions (once or twice), handled errors, whole
//! batches re-sent, batches arriving out of order and written in chunks of
//! random size, are stored, and every session statistic read back (through
//! the rollups and over raw rows, plus the release list) must equal a plain
//! computation over the same raw events written here:
//!
//! - sessions: distinct (install, session id) with any signal (start, end,
//!   fatal crash naming it);
//! - crashed sessions: those whose end says `crashed` or that a fatal crash
//!   names; abnormal: those whose end says `abnormal`;
//! - active users: distinct users with a session or crash event; crashed
//!   users: those with a fatal crash or a crashed session. A user is the
//!   user id; an install's rows sent before login belong to the first user
//!   (earliest event) who logs in on it, and an install nobody logs in on
//!   is one user. Installs here log in part-way, and some are handed from
//!   one user to another between releases.
//!
//! On SQLite always, on ClickHouse (`VITALS_TEST_CLICKHOUSE_URL`) and on the
//! two-shard cluster (`VITALS_TEST_CLICKHOUSE_CLUSTER_URL`) when given; under
//! `CI=true` both must be given.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use support::device;
use vitals_protocol::*;
use vitals_store::query::{Cond, Filter, Measure, Query};
use vitals_store::*;

const NOW_MS: i64 = 1_764_000_000_000;
const RELEASES: [&str; 2] = ["7.1.0", "7.2.0"];

/// A small deterministic generator (SplitMix64), so a failing seed can be
/// replayed exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the reference computation needs of one stored event.
#[derive(Debug, Clone)]
struct Sent {
    release: usize,
    /// The batch's user id (`None`: sent before login).
    user: Option<String>,
    install: String,
    event: Event,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    sessions: u64,
    crashed: u64,
    abnormal: u64,
    users: u64,
    crashed_users: u64,
}

fn session(ts: i64, sid: &str, phase: SessionPhase, status: Option<SessionStatus>) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: sid.into(),
        phase,
        status,
        duration_ms: 60_000,
        foreground_ms: 50_000,
    })
}

fn crash(ts: i64, id: String, sid: &str, fatal: bool) -> Event {
    Event::Crash(CrashEvent {
        ts,
        crash_id: id,
        session_id: Some(sid.into()),
        exception_type: "java.lang.IllegalStateException".into(),
        message: "boom".into(),
        fatal,
        handled: !fatal,
        threads: Vec::new(),
        images: Vec::new(),
        raw: None,
        fingerprint: None,
        notes: Vec::new(),
    })
}

/// One fleet: the batches to write (re-sends included, in arrival order)
/// and the events that count (each once).
fn fleet(seed: u64) -> (Vec<AcceptedBatch>, Vec<Sent>) {
    let mut rng = Rng(seed);
    let mut batches = Vec::new();
    let mut counted = Vec::new();
    let installs = 6 + rng.below(10);
    for i in 0..installs {
        let install = format!("inst-{seed}-{i}");
        // Some installs never log in; their user is the install. Others
        // log in part-way, and some change hands between releases.
        let first = rng.chance(70).then(|| format!("user-{seed}-{}", i % 5));
        let second = if rng.chance(20) {
            Some(format!("user-{seed}-{}", 5 + i % 3))
        } else {
            first.clone()
        };
        let logs_in_late = rng.chance(40);
        for (r, version) in RELEASES.iter().enumerate() {
            let user = if r == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let mut events: Vec<Event> = Vec::new();
            let mut resend: Vec<Event> = Vec::new();
            for s in 0..rng.below(6) {
                let sid = format!("s{r}-{s}");
                let t = NOW_MS - 7_200_000 + (r as i64) * 3_600_000 + (s as i64) * 10_000;
                let status = match rng.below(10) {
                    0 | 1 => SessionStatus::Crashed,
                    2 => SessionStatus::Abnormal,
                    _ => SessionStatus::Ok,
                };
                let mut signals = Vec::new();
                if rng.chance(85) {
                    signals.push(session(t, &sid, SessionPhase::Start, None));
                }
                if rng.chance(75) {
                    signals.push(session(t + 5_000, &sid, SessionPhase::End, Some(status)));
                }
                // A crash report for a crashed session, often lost; now and
                // then a second one; sometimes a crash with no crashed end.
                let reports = match (status, rng.below(10)) {
                    (SessionStatus::Crashed, 0..=4) => 1,
                    (SessionStatus::Crashed, 5) => 2,
                    (_, 0) => 1,
                    _ => 0,
                };
                for k in 0..reports {
                    signals.push(crash(t + 4_000, format!("c-{i}-{r}-{s}-{k}"), &sid, true));
                }
                if rng.chance(15) {
                    signals.push(crash(t + 1_000, format!("h-{i}-{r}-{s}"), &sid, false));
                }
                for e in &signals {
                    if rng.chance(20) {
                        resend.push(e.clone());
                    }
                }
                events.extend(signals);
            }
            // The events in batches of 1–4, re-sent signals in later ones;
            // before a late login, the first batch carries no user id.
            let mut all = events;
            all.extend(resend);
            let mut n = 0;
            while !all.is_empty() {
                let take = (1 + rng.below(4) as usize).min(all.len());
                let evs: Vec<Event> = all.drain(..take).collect();
                let user = if logs_in_late && r == 0 && n == 0 {
                    None
                } else {
                    user.clone()
                };
                for e in &evs {
                    counted.push(Sent {
                        release: r,
                        user: user.clone(),
                        install: install.clone(),
                        event: e.clone(),
                    });
                }
                let b = AcceptedBatch {
                    app_id: "sessions".into(),
                    received_at_ms: NOW_MS,
                    client_ip: None,
                    batch: Batch {
                        v: 1,
                        batch_id: format!("b-{seed}-{i}-{r}-{n}"),
                        app_id: "sessions".into(),
                        release: Release {
                            version: (*version).into(),
                            build: "1".into(),
                        },
                        platform: Platform::Android,
                        device: device(),
                        network: Network {
                            ip_family: IpFamily::Dual,
                            carrier: "wifi".into(),
                        },
                        install_id: install.clone(),
                        user_id: user,
                        consent: Consent::default(),
                        environment: None,
                        sent_at: None,
                        events: evs,
                    },
                };
                n += 1;
                if rng.chance(10) {
                    batches.push(b.clone()); // the same batch sent twice
                }
                batches.push(b);
            }
        }
    }
    // Arrival order is not sending order.
    for i in (1..batches.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        batches.swap(i, j);
    }
    (batches, counted)
}

/// The plain computation the store must agree with.
fn expected(events: &[Sent], release: usize) -> Expected {
    let mut sessions = BTreeSet::new();
    let mut crashed = BTreeSet::new();
    let mut abnormal = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut crashed_users = BTreeSet::new();
    // Each install's owner: the user of its earliest logged-in event
    // (the smaller id on a tie).
    let mut owner: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
    for s in events {
        if let Some(u) = &s.user {
            let o = owner.entry(&s.install).or_insert((s.event.ts(), u));
            *o = (*o).min((s.event.ts(), u));
        }
    }
    for s in events.iter().filter(|s| s.release == release) {
        let key = |sid: &str| (s.install.clone(), sid.to_string());
        let unit = match (&s.user, owner.get(s.install.as_str())) {
            (Some(u), _) => u.clone(),
            (None, Some((_, o))) => o.to_string(),
            (None, None) => format!("i:{}", s.install),
        };
        match &s.event {
            Event::Session(e) => {
                users.insert(unit.clone());
                sessions.insert(key(&e.session_id));
                match e.status {
                    Some(SessionStatus::Crashed) => {
                        crashed.insert(key(&e.session_id));
                        crashed_users.insert(unit.clone());
                    }
                    Some(SessionStatus::Abnormal) => {
                        abnormal.insert(key(&e.session_id));
                    }
                    _ => {}
                }
            }
            Event::Crash(c) => {
                users.insert(unit.clone());
                if c.fatal {
                    let sid = c.session_id.as_deref().unwrap_or_default();
                    sessions.insert(key(sid));
                    crashed.insert(key(sid));
                    crashed_users.insert(unit.clone());
                }
            }
            _ => {}
        }
    }
    Expected {
        sessions: sessions.len() as u64,
        crashed: crashed.len() as u64,
        abnormal: abnormal.len() as u64,
        users: users.len() as u64,
        crashed_users: crashed_users.len() as u64,
    }
}

async fn check(store: &dyn Store, seeds: std::ops::Range<u64>) {
    store.migrate().await.expect("migrate");
    for seed in seeds {
        let (batches, counted) = fleet(seed);
        // A fresh app per seed keeps the fleets apart.
        let app = format!("sessions-{seed}");
        let batches: Vec<AcceptedBatch> = batches
            .into_iter()
            .map(|mut b| {
                b.app_id = app.clone();
                b.batch.app_id = app.clone();
                b
            })
            .collect();
        let mut rng = Rng(seed ^ 0xABCD);
        let mut at = 0;
        while at < batches.len() {
            let n = (1 + rng.below(8) as usize).min(batches.len() - at);
            store
                .insert(&batches[at..at + n], &HashSet::new(), false)
                .await
                .expect("insert");
            at += n;
        }
        let summaries: BTreeMap<String, ReleaseSummary> = store
            .release_summaries(&app)
            .await
            .expect("release summaries")
            .into_iter()
            .map(|s| (s.version.clone(), s))
            .collect();
        for (r, version) in RELEASES.iter().enumerate() {
            let want = expected(&counted, r);
            for raw in [true, false] {
                let got = measured(store, &app, version, raw).await;
                assert_eq!(
                    got,
                    want,
                    "{} seed {seed} release {version} ({})",
                    store.backend(),
                    if raw { "raw rows" } else { "rollups" }
                );
            }
            if want.sessions + want.users > 0 {
                let s = &summaries[*version];
                assert_eq!(
                    (s.sessions, s.crashed_sessions, s.users, s.crashed_users),
                    (want.sessions, want.crashed, want.users, want.crashed_users),
                    "{} seed {seed} release {version}: release list",
                    store.backend()
                );
            }
        }
        // Derived rows are not client events: the per-kind counts are the
        // distinct events sent.
        let kinds: u64 = store
            .kind_counts(&app)
            .await
            .expect("kind counts")
            .iter()
            .map(|k| k.events)
            .sum();
        let distinct_batches: HashSet<&str> =
            batches.iter().map(|b| b.batch.batch_id.as_str()).collect();
        let sent: u64 = batches
            .iter()
            .filter(|b| distinct_batches.contains(b.batch.batch_id.as_str()))
            .map(|b| (b.batch.batch_id.as_str(), b.batch.events.len() as u64))
            .collect::<BTreeMap<_, _>>()
            .values()
            .sum();
        assert_eq!(
            kinds,
            sent,
            "{} seed {seed}: client events",
            store.backend()
        );
    }
}

async fn measured(store: &dyn Store, app: &str, version: &str, raw: bool) -> Expected {
    let filter = |kinds: &[&str]| Filter {
        app_id: app.into(),
        version: Some(version.into()),
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        ..Default::default()
    };
    let ask = |q: Query| async move {
        if raw {
            store.aggregate_raw(&q).await
        } else {
            store.aggregate(&q).await
        }
        .expect("query")
        .first()
        .cloned()
    };
    let s = ask(Query {
        filter: filter(&["session"]),
        measures: vec![
            Measure::Count(Some(Cond::SessionStart)),
            Measure::Count(Some(Cond::SessionCrashed)),
            Measure::Count(Some(Cond::SessionAbnormal)),
        ],
        ..Default::default()
    })
    .await;
    let u = ask(Query {
        filter: filter(&["session", "crash"]),
        measures: vec![
            Measure::Users(None),
            Measure::Users(Some(Cond::CrashedUser)),
        ],
        ..Default::default()
    })
    .await;
    let c = |r: &Option<query::AggRow>, i| r.as_ref().map(|r| r.count(i)).unwrap_or(0);
    Expected {
        sessions: c(&s, 0),
        crashed: c(&s, 1),
        abnormal: c(&s, 2),
        users: c(&u, 0),
        crashed_users: c(&u, 1),
    }
}

fn clickhouse(var: &str, db: &str, cluster: &str) -> Option<ClickHouseStore> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(ClickHouseStore::new(ClickHouseConfig {
            url,
            database: format!("{db}_{}", std::process::id()),
            cluster: cluster.into(),
            ..Default::default()
        })),
        _ => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but {var} is not set"
            );
            eprintln!("{var} not set: skipping");
            None
        }
    }
}

#[tokio::test]
async fn sqlite_counts_every_session_once() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("s.sqlite")).unwrap();
    check(&sqlite, 0..40).await;
}

#[tokio::test]
async fn clickhouse_counts_every_session_once() {
    if let Some(ch) = clickhouse("VITALS_TEST_CLICKHOUSE_URL", "vitals_sessions", "") {
        check(&ch, 100..120).await;
        ch.drop_database().await.unwrap();
    }
}

#[tokio::test]
async fn the_two_shard_cluster_counts_every_session_once() {
    if let Some(ch) = clickhouse(
        "VITALS_TEST_CLICKHOUSE_CLUSTER_URL",
        "vitals_sessions_cluster",
        "vitals_local",
    ) {
        check(&ch, 200..212).await;
        ch.drop_database().await.unwrap();
    }
}
