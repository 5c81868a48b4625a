//! The real, unmodified Python `sentry-sdk` against the real collector over
//! HTTP, in both release-health modes:
//!
//! - request mode (a server: a session per request, sent as `sessions`
//!   aggregates, whose envelopes carry no id of their own and repeat the
//!   same bytes whenever two flushes hold the same counts), and
//! - application mode (`session` updates, several per session, each marked
//!   `init: true` by the Python SDK).
//!
//! Sessions, crashed sessions and crash rates stored must equal what the
//! scripts did. `.ci/run` installs the SDK (`pip install sentry-sdk`);
//! without it the test is skipped locally and fails under CI.

use actix_web::{App, HttpServer};
use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::sync::Arc;
use vitals_collector::{Collector, CollectorConfig, configure_routes};
use vitals_i18n::Lang;
use vitals_store::{ControlPlane, ReleaseSummary, SqliteStore, Store};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sentry_sdk");

fn sdk_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import sentry_sdk"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must install sentry-sdk"
        );
        eprintln!("sentry-sdk not installed: skipping");
    }
    ok
}

/// A collector on a loopback port with a SQLite store, and the DSN of its app.
struct Served {
    _dir: tempfile::TempDir,
    collector: Collector,
    server: actix_web::dev::ServerHandle,
    store: Arc<dyn Store>,
    dsn: String,
}

async fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let cp = Arc::new(ControlPlane::open(dir.path().join("control.sqlite")).unwrap());
    let key = cp.create_key("sentry-app").unwrap().key_id;
    // Sentry intake is opt-in per app (issue #22).
    let project = cp
        .set_sentry_intake(
            "sentry-app",
            &vitals_store::sentry_intake::IntakeChange {
                enabled: Some(true),
                ..Default::default()
            },
            "test",
        )
        .unwrap()
        .project
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("t.sqlite")).unwrap());
    store.migrate().await.unwrap();
    let collector = Collector::start(
        CollectorConfig::default(),
        dir.path(),
        cp,
        store.clone(),
        Lang::En,
    )
    .unwrap();
    let inner = collector.inner.clone();
    let server = HttpServer::new(move || {
        let inner = inner.clone();
        App::new().configure(move |cfg| configure_routes(inner, cfg))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Served {
        _dir: dir,
        collector,
        server: handle,
        store,
        dsn: format!("http://{key}@127.0.0.1:{port}/{project}"),
    }
}

impl Served {
    /// Stops taking requests, drains the spool into the store, and returns
    /// the release's summary.
    async fn finish(self, version: &str) -> ReleaseSummary {
        self.server.stop(true).await;
        self.collector.shutdown().await;
        let releases = self.store.release_summaries("sentry-app").await.unwrap();
        releases
            .iter()
            .find(|r| r.version == version)
            .cloned()
            .unwrap_or_else(|| panic!("no release {version} in {releases:?}"))
    }
}

/// Runs a script off the async runtime (the collector answers meanwhile).
async fn python(args: Vec<String>) -> Output {
    actix_web::rt::task::spawn_blocking(move || {
        Command::new("python3")
            .current_dir(SCRIPTS)
            .args(&args)
            .output()
            .expect("run python3")
    })
    .await
    .unwrap()
}

/// What a script says it did (its last stdout line).
fn report(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| {
        panic!(
            "no report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn rate(n: u64, of: u64) -> f64 {
    n as f64 / of as f64
}

#[actix_web::test]
async fn request_mode_aggregates_count_every_session() {
    if !sdk_available() {
        return;
    }
    // 200 requests: 10 crash (unhandled), 8 report a handled error, 4 send
    // a message at level fatal; the worker flushes after every 5 requests,
    // so most aggregate envelopes repeat the bytes of an earlier one.
    let mut plan = String::new();
    for i in 0..200 {
        plan.push(match i {
            _ if i % 20 == 7 => 'c',
            _ if i % 25 == 3 => 'e',
            _ if i % 50 == 11 => 'f',
            _ => 'o',
        });
        if i % 5 == 4 {
            plan.push('|');
        }
    }
    let requests = plan.chars().filter(|c| *c != '|').count() as u64;
    let crashed = plan.chars().filter(|c| *c == 'c').count() as u64;
    assert_eq!((requests, crashed), (200, 10));

    let s = serve().await;
    let out = python(vec!["request_mode.py".into(), s.dsn.clone(), plan]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let did = report(&out);
    assert_eq!(
        (did["requests"].as_u64(), did["crashed"].as_u64()),
        (Some(requests), Some(crashed)),
        "the script did what the plan says"
    );
    let r = s.finish("4.0.0").await;
    assert_eq!(
        (r.sessions, r.crashed_sessions),
        (requests, crashed),
        "every aggregated session stored once: {r:?}"
    );
    assert_eq!(
        rate(r.crashed_sessions, r.sessions),
        rate(crashed, requests),
        "crash rate per session"
    );
    // Handled errors and messages at level fatal are not crashes.
    assert_eq!(r.fatal_crashes, crashed, "{r:?}");
}

#[actix_web::test]
async fn application_mode_updates_count_each_session_once() {
    if !sdk_available() {
        return;
    }
    // One process per user; each letter a session (see the script). "C"
    // ends the process with a real unhandled exception.
    let runs = [
        ("u1", "oec"),
        ("u2", "ooa"),
        ("u3", "eoC"),
        ("u4", "ccoe"),
        ("u5", "C"),
    ];
    let s = serve().await;
    let (mut sessions, mut crashed) = (0, 0);
    for (user, plan) in runs {
        let out = python(vec![
            "application_mode.py".into(),
            s.dsn.clone(),
            user.into(),
            plan.into(),
        ])
        .await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if plan.ends_with('C') {
            assert!(!out.status.success(), "{user}: a crash run should fail");
            assert!(stderr.contains("over the limit"), "{user}: {stderr}");
        } else {
            assert!(out.status.success(), "{user}: {stderr}");
        }
        let n = plan.len() as u64;
        let c = plan.chars().filter(|c| matches!(c, 'c' | 'C')).count() as u64;
        let did = report(&out);
        assert_eq!(
            (did["sessions"].as_u64(), did["crashed"].as_u64()),
            (Some(n), Some(c)),
            "{user}: the script did what the plan says"
        );
        sessions += n;
        crashed += c;
    }
    let users = runs.len() as u64;
    // Crash reports come from the real unhandled exceptions only ("C");
    // a user crashed by either signal: a crash report or a session the SDK
    // ended as crashed ("c", docs/METRICS.md).
    let reports = runs.iter().filter(|(_, p)| p.contains('C')).count() as u64;
    let crashed_users: BTreeSet<&str> = runs
        .iter()
        .filter(|(_, p)| p.contains(['c', 'C']))
        .map(|(u, _)| *u)
        .collect();
    let crashed_users = crashed_users.len() as u64;

    let r = s.finish("5.0.0").await;
    assert_eq!(
        (r.sessions, r.crashed_sessions),
        (sessions, crashed),
        "each session's start and end stored once: {r:?}"
    );
    assert_eq!(
        rate(r.crashed_sessions, r.sessions),
        rate(crashed, sessions),
        "crash rate per session"
    );
    assert_eq!(
        (r.users, r.crashed_users, r.fatal_crashes),
        (users, crashed_users, reports),
        "{r:?}"
    );
    assert_eq!(
        rate(r.crashed_users, r.users),
        rate(crashed_users, users),
        "crash rate per user"
    );
}
