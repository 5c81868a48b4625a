//! The Sentry protocol: every captured envelope from real SDKs is accepted
//! and mapped; bad input gets the right status and loses nothing good.

use actix_web::{App, test};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use vitals_collector::{Collector, CollectorConfig};
use vitals_i18n::Lang;
use vitals_store::{ControlPlane, SqliteStore, Store};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/sdk-captures"
);

struct Env {
    dir: tempfile::TempDir,
    cp: Arc<ControlPlane>,
    store: Arc<dyn Store>,
    key: String,
    project: i64,
}

async fn env() -> Env {
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
    Env {
        dir,
        cp,
        store,
        key,
        project,
    }
}

fn config() -> CollectorConfig {
    let mut cfg = CollectorConfig::default();
    // The captures carry the timestamps of the day they were made.
    cfg.limits.max_event_age_days = 36_500;
    cfg.sentry
        .host_categories
        .insert("example.com".into(), "trade".into());
    cfg
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Replays a captured request with its own headers and encoding, the DSN
/// rewritten to this app's key and project.
fn replay(name: &str, e: &Env) -> test::TestRequest {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{FIXTURES}/{name}.request.json")).unwrap())
            .unwrap();
    let body = std::fs::read(format!("{FIXTURES}/{name}.envelope")).unwrap();
    let path = meta["path"]
        .as_str()
        .unwrap()
        .replace("publickey", &e.key)
        .replace("/api/1/", &format!("/api/{}/", e.project));
    let mut req = test::TestRequest::post().uri(&path);
    for (k, v) in meta["headers"].as_object().unwrap() {
        let k = k.to_ascii_lowercase();
        if ["host", "content-length", "transfer-encoding", "connection"].contains(&k.as_str()) {
            continue;
        }
        req = req.insert_header((k, v.as_str().unwrap().replace("publickey", &e.key)));
    }
    let body = if meta["encoding"] == "gzip" {
        gzip(&body)
    } else {
        body
    };
    req.set_payload(body)
}

async fn wait_batches(store: &dyn Store, n: u64) {
    for _ in 0..200 {
        if store.batch_count("sentry-app").await.unwrap() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("batches not stored");
}

async fn kinds(store: &dyn Store) -> std::collections::BTreeMap<String, u64> {
    store
        .kind_counts("sentry-app")
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kind, k.events))
        .collect()
}

macro_rules! app {
    ($c:expr) => {
        test::init_service(App::new().configure(|cfg| $c.configure(cfg))).await
    };
}

#[actix_web::test]
async fn every_captured_envelope_is_accepted_and_mapped() {
    // (capture, batches it becomes, events by kind it adds)
    /// (capture, batches it becomes, events by kind it adds); a session
    /// update's start and end are a batch each.
    type Case = (&'static str, u64, &'static [(&'static str, u64)]);
    let cases: &[Case] = &[
        ("node/node_000", 2, &[("session", 2)]),
        ("node/node_001", 2, &[("session", 2)]),
        ("node/node_002", 0, &[]),
        ("node/node_003", 1, &[("crash", 1)]),
        ("node/node_004", 1, &[("crash", 1)]),
        ("python/py_000", 0, &[]),
        ("python/py_001", 1, &[("crash", 1)]),
        ("python/py_002", 1, &[("crash", 1)]),
        ("python/py2_000", 1, &[("crash", 1)]),
        ("python/py2_001", 3, &[("session", 2 + 6)]),
    ];
    let e = env().await;
    let c = Collector::start(
        config(),
        e.dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::En,
    )
    .unwrap();
    let app = app!(c);
    let mut batches = 0;
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for (name, b, ks) in cases {
        let resp = test::call_service(&app, replay(name, &e).to_request()).await;
        let status = resp.status().as_u16();
        let body: serde_json::Value = test::read_body_json(resp).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(
            body["id"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: {body}"
        );
        batches += b;
        for (k, n) in *ks {
            *expected.entry(k.to_string()).or_default() += n;
        }
        wait_batches(e.store.as_ref(), batches).await;
        assert_eq!(kinds(e.store.as_ref()).await, expected, "after {name}");
    }
    // Resending an envelope stores nothing twice.
    let resp = test::call_service(&app, replay("python/py_001", &e).to_request()).await;
    assert_eq!(resp.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kinds(e.store.as_ref()).await, expected);
    // The mapping: release split, exception type, session outcome.
    let rel: Vec<_> = e.store.release_summaries("sentry-app").await.unwrap();
    assert!(
        rel.iter().any(|r| r.version == "1.0.0" && r.sessions >= 5),
        "{rel:?}"
    );
    let m = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(m).await.to_vec()).unwrap();
    assert!(
        text.contains("vitals_sentry_items_total{outcome=\"nothing_to_store\",type=\"span\"} 1"),
        "{text}"
    );
    drop(app);
    c.shutdown().await;
}

fn envelope_req(e: &Env, body: Vec<u8>) -> test::TestRequest {
    test::TestRequest::post()
        .uri(&format!(
            "/api/{}/envelope/?sentry_key={}&sentry_version=7",
            e.project, e.key
        ))
        .insert_header(("accept-language", "en"))
        .set_payload(body)
}

fn session_item(sid: &str) -> String {
    format!(
        "{{\"type\":\"session\"}}\n{{\"sid\":\"{sid}\",\"init\":true,\"started\":\"2026-11-29T01:00:00Z\",\"timestamp\":\"2026-11-29T01:00:05Z\",\"status\":\"crashed\",\"did\":\"user-1\",\"attrs\":{{\"release\":\"app@2.0.0+20\"}}}}\n"
    )
}

#[actix_web::test]
async fn bad_input_gets_the_right_status_and_keeps_good_items() {
    let e = env().await;
    let c = Collector::start(
        config(),
        e.dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::En,
    )
    .unwrap();
    let app = app!(c);

    // Truncated: the second item declares more bytes than follow.
    let body = format!(
        "{{}}\n{}{{\"type\":\"event\",\"length\":9999}}\n{{\"level\":\"fatal\"}}",
        session_item("aaaa1111")
    );
    let resp = test::call_service(&app, envelope_req(&e, body.into_bytes()).to_request()).await;
    assert_eq!(resp.status().as_u16(), 400);
    let detail = resp
        .headers()
        .get("x-sentry-error")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("truncated") && detail.contains("2 events"),
        "{detail}"
    );
    wait_batches(e.store.as_ref(), 1).await;
    assert_eq!(
        kinds(e.store.as_ref()).await.get("session"),
        Some(&2),
        "the good item before the damage was kept"
    );

    // A wrong (short) length desynchronises the rest: the next header is garbage.
    let body = format!(
        "{{}}\n{}{{\"type\":\"event\",\"length\":3}}\n{{\"level\":\"fatal\"}}\n{{\"type\":\"session\"}}\n{{}}\n",
        session_item("bbbb2222")
    );
    let resp = test::call_service(&app, envelope_req(&e, body.into_bytes()).to_request()).await;
    assert_eq!(resp.status().as_u16(), 400);
    wait_batches(e.store.as_ref(), 2).await;

    // Bad JSON in one item, good session after it: 200, session stored.
    let body = format!(
        "{{}}\n{{\"type\":\"event\"}}\n{{not json\n{}",
        session_item("cccc3333")
    );
    let resp = test::call_service(&app, envelope_req(&e, body.into_bytes()).to_request()).await;
    assert_eq!(resp.status().as_u16(), 200);
    wait_batches(e.store.as_ref(), 3).await;

    // Oversized item: 413, the other item kept.
    let big = "x".repeat((1 << 20) + 10);
    let body = format!(
        "{{}}\n{{\"type\":\"event\"}}\n{{\"message\":\"{big}\"}}\n{}",
        session_item("dddd4444")
    );
    let resp = test::call_service(&app, envelope_req(&e, body.into_bytes()).to_request()).await;
    assert_eq!(resp.status().as_u16(), 413);
    wait_batches(e.store.as_ref(), 4).await;

    // Unknown project, bad key, no key.
    let req = test::TestRequest::post()
        .uri(&format!("/api/999/envelope/?sentry_key={}", e.key))
        .set_payload("{}\n");
    assert_eq!(
        test::call_service(&app, req.to_request())
            .await
            .status()
            .as_u16(),
        403
    );
    let req = test::TestRequest::post()
        .uri(&format!("/api/{}/envelope/?sentry_key=vk_nope", e.project))
        .set_payload("{}\n");
    assert_eq!(
        test::call_service(&app, req.to_request())
            .await
            .status()
            .as_u16(),
        401
    );
    let req = test::TestRequest::post()
        .uri(&format!("/api/{}/envelope/", e.project))
        .set_payload("{}\n");
    assert_eq!(
        test::call_service(&app, req.to_request())
            .await
            .status()
            .as_u16(),
        401
    );
    // Envelope header not JSON.
    let resp = test::call_service(&app, envelope_req(&e, b"nope\n".to_vec()).to_request()).await;
    assert_eq!(resp.status().as_u16(), 400);
    // Security reports: 404.
    let req = test::TestRequest::post()
        .uri(&format!(
            "/api/{}/security/?sentry_key={}",
            e.project, e.key
        ))
        .set_payload("{}");
    assert_eq!(
        test::call_service(&app, req.to_request())
            .await
            .status()
            .as_u16(),
        404
    );
    // CORS preflight for browser SDKs.
    let req = test::TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri(&format!("/api/{}/envelope/", e.project));
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(
        resp.headers().get("access-control-allow-origin").unwrap(),
        "*"
    );
    // Unknown item types are accepted and counted.
    let resp = test::call_service(
        &app,
        envelope_req(&e, b"{}\n{\"type\":\"replay_video\"}\n{}\n".to_vec()).to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    drop(app);
    c.shutdown().await;
}

#[actix_web::test]
async fn legacy_store_minidump_and_rate_limits() {
    let e = env().await;
    let mut cfg = config();
    cfg.rate_limit.events_per_sec = 3;
    cfg.rate_limit.burst_events = 3;
    let c = Collector::start(cfg, e.dir.path(), e.cp.clone(), e.store.clone(), Lang::En).unwrap();
    let app = app!(c);
    let event = serde_json::json!({
        "event_id": "0123456789abcdef0123456789abcdef", "timestamp": "2026-11-29T01:00:00Z", "level": "error",
        "release": "com.broker@3.1.0+310", "environment": "production", "user": {"id": "alice@example.com"},
        "contexts": {"os": {"name": "Android", "version": "14"}, "device": {"model": "SM-S9180", "arch": "arm64-v8a"}},
        "exception": {"values": [{"type": "NullPointerException", "module": "java.lang", "value": "card 6222020200112233445",
            "mechanism": {"type": "UncaughtExceptionHandler", "handled": false},
            "stacktrace": {"frames": [{"function": "main", "module": "com.broker.Main", "lineno": 3}, {"function": "submit", "module": "com.broker.trade.Order", "lineno": 88, "in_app": true}]}}]}
    });
    let req = test::TestRequest::post()
        .uri(&format!("/api/{}/store/", e.project))
        .insert_header((
            "x-sentry-auth",
            format!(
                "Sentry sentry_version=7, sentry_key={}, sentry_client=raven-java/1.0",
                e.key
            ),
        ))
        .set_payload(serde_json::to_vec(&event).unwrap());
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(body["id"], "0123456789abcdef0123456789abcdef");
    wait_batches(e.store.as_ref(), 1).await;
    let rel = e.store.release_summaries("sentry-app").await.unwrap();
    assert_eq!(
        (
            rel[0].version.as_str(),
            rel[0].build.as_str(),
            rel[0].fatal_crashes
        ),
        ("3.1.0", "310", 1)
    );

    // A minidump through the multipart endpoint is kept raw with its reason.
    let dump = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/minidump/mini-dumps/linux.dmp"
    ))
    .unwrap();
    let mut mp = Vec::new();
    mp.extend_from_slice(b"--b0undary\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n");
    mp.extend_from_slice(br#"{"release":"native@1.0.0","timestamp":"2026-11-29T01:00:00Z"}"#);
    mp.extend_from_slice(b"\r\n--b0undary\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"linux.dmp\"\r\n\r\n");
    mp.extend_from_slice(&dump);
    mp.extend_from_slice(b"\r\n--b0undary--\r\n");
    let req = test::TestRequest::post()
        .uri(&format!(
            "/api/{}/minidump/?sentry_key={}",
            e.project, e.key
        ))
        .insert_header(("content-type", "multipart/form-data; boundary=b0undary"))
        .set_payload(mp);
    let resp = test::call_service(&app, req.to_request()).await;
    assert_eq!(resp.status().as_u16(), 200);
    wait_batches(e.store.as_ref(), 2).await;
    let files: Vec<_> = std::fs::read_dir(e.dir.path().join("attachments/sentry-app"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);
    let stored = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    assert_eq!(stored, dump, "the minidump is kept byte for byte");

    // The rate limit answers 429 with Sentry's headers.
    let mut last = None;
    for i in 0..3 {
        let body = format!("{{}}\n{}", session_item(&format!("eeee{i:04}")));
        last =
            Some(test::call_service(&app, envelope_req(&e, body.into_bytes()).to_request()).await);
        if last.as_ref().unwrap().status().as_u16() == 429 {
            break;
        }
    }
    let resp = last.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    assert!(
        resp.headers()
            .get("x-sentry-rate-limits")
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("::organization")
    );
    drop(app);
    c.shutdown().await;
}

fn post(e: &Env, header: &str, items: &[(&str, serde_json::Value)]) -> test::TestRequest {
    let mut body = format!("{header}\n");
    for (ty, payload) in items {
        body.push_str(&format!("{{\"type\":\"{ty}\"}}\n{payload}\n"));
    }
    envelope_req(e, body.into_bytes())
}

async fn release(store: &dyn Store, version: &str) -> vitals_store::ReleaseSummary {
    let all = store.release_summaries("sentry-app").await.unwrap();
    all.iter()
        .find(|r| r.version == version)
        .cloned()
        .unwrap_or_else(|| panic!("no release {version} in {all:?}"))
}

#[actix_web::test]
async fn sessions_count_once_per_session_and_aggregates_per_request() {
    let e = env().await;
    let c = Collector::start(
        config(),
        e.dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::En,
    )
    .unwrap();
    let app = app!(c);
    let ok = |req: test::TestRequest| {
        let app = &app;
        async move {
            let resp = test::call_service(app, req.to_request()).await;
            assert_eq!(resp.status().as_u16(), 200);
        }
    };
    // Request mode: the same counts in the same minute, flushed twice by a
    // worker (two identical envelopes without an id): 2 × 3 sessions.
    let agg = serde_json::json!({"attrs": {"release": "srv@1.0.0"},
        "aggregates": [{"started": "2026-11-29T01:00:00Z", "exited": 2, "crashed": 1}]});
    for _ in 0..2 {
        ok(post(&e, "{}", &[("sessions", agg.clone())])).await;
    }
    // An envelope with an id of its own, resent, counts once: 1 × 4.
    let agg = serde_json::json!({"attrs": {"release": "srv@1.0.0"},
        "aggregates": [{"started": "2026-11-29T01:01:00Z", "exited": 3, "errored": 1}]});
    for _ in 0..2 {
        let header = r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}"#;
        ok(post(&e, header, &[("sessions", agg.clone())])).await;
    }
    // Application mode: one session's updates as the Python SDK sends them
    // (init=true on every one), the end resent, then a late update; and one
    // that crashes, sent as a mobile SDK does (init only on the first).
    let update = |sid: &str, init: bool, status: &str, at: &str| {
        serde_json::json!({"sid": sid, "init": init, "started": "2026-11-29T01:00:00Z",
            "timestamp": at, "status": status, "did": "user-1",
            "attrs": {"release": "app@2.0.0+20"}})
    };
    let a = "0b5d1a3e-6a0d-4a8e-9d6c-0d2a3b4c5d6e";
    for u in [
        update(a, true, "ok", "2026-11-29T01:00:01Z"),
        update(a, true, "ok", "2026-11-29T01:00:02Z"),
        update(a, true, "exited", "2026-11-29T01:00:03Z"),
        update(a, true, "exited", "2026-11-29T01:00:03Z"),
        update(a, true, "crashed", "2026-11-29T01:00:09Z"),
    ] {
        ok(post(&e, "{}", &[("session", u)])).await;
    }
    let b = "7f3e2d1c-0b9a-4877-8665-544332211000";
    for u in [
        update(b, true, "ok", "2026-11-29T01:00:01Z"),
        update(b, false, "errored", "2026-11-29T01:00:02Z"),
        update(b, false, "crashed", "2026-11-29T01:00:03Z"),
    ] {
        ok(post(&e, "{}", &[("session", u)])).await;
    }
    // The same update twice in one envelope counts once.
    let d = "1a2b3c4d-0000-4000-8000-00000000000d";
    let u = update(d, true, "exited", "2026-11-29T01:00:05Z");
    ok(post(&e, "{}", &[("session", u.clone()), ("session", u)])).await;
    drop(app);
    c.shutdown().await;

    let srv = release(e.store.as_ref(), "1.0.0").await;
    assert_eq!(
        (srv.sessions, srv.crashed_sessions),
        (2 * 3 + 4, 2),
        "{srv:?}"
    );
    let app_r = release(e.store.as_ref(), "2.0.0").await;
    assert_eq!(
        (app_r.sessions, app_r.crashed_sessions),
        (3, 1),
        "each session's start and end once: {app_r:?}"
    );
}

#[actix_web::test]
async fn only_unhandled_exceptions_are_crashes() {
    let e = env().await;
    let c = Collector::start(
        config(),
        e.dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::En,
    )
    .unwrap();
    let app = app!(c);
    let exception = |handled: Option<bool>| {
        let mut v = serde_json::json!({"type": "ValueError", "value": "bad order"});
        if let Some(h) = handled {
            v["mechanism"] = serde_json::json!({"type": "generic", "handled": h});
        }
        serde_json::json!({"values": [v]})
    };
    // (level, exception, a crash?)
    let cases = [
        ("fatal", None, false), // capture_message(level="fatal")
        ("fatal", Some(exception(Some(true))), false),
        ("fatal", Some(exception(None)), false),
        ("error", Some(exception(Some(true))), false),
        ("error", Some(exception(Some(false))), true),
        ("fatal", Some(exception(Some(false))), true),
    ];
    for (i, (level, exc, _)) in cases.iter().enumerate() {
        let mut ev = serde_json::json!({"event_id": format!("{i:032x}"), "level": level,
            "timestamp": "2026-11-29T01:00:00Z", "release": "ev@3.0.0", "message": "order book stale"});
        if let Some(x) = exc {
            ev["exception"] = x.clone();
        }
        let header = format!("{{\"event_id\":\"{i:032x}\"}}");
        let resp = test::call_service(&app, post(&e, &header, &[("event", ev)]).to_request()).await;
        assert_eq!(resp.status().as_u16(), 200);
    }
    drop(app);
    c.shutdown().await;
    let r = release(e.store.as_ref(), "3.0.0").await;
    let crashes = cases.iter().filter(|(_, _, crash)| *crash).count() as u64;
    assert_eq!(r.fatal_crashes, crashes, "{r:?}");
    assert_eq!(
        kinds(e.store.as_ref()).await.get("crash"),
        Some(&(cases.len() as u64)),
        "handled errors are kept"
    );
}
