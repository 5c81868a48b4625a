//! In-process tests of the ingest API: every refusal has the right status
//! and a reason a person can act on; accepted batches reach the store.

use actix_web::{App, test};
use std::sync::Arc;
use std::time::Duration;
use vitals_collector::{Collector, CollectorConfig};
use vitals_i18n::Lang;
use vitals_protocol::sign;
use vitals_store::control::Role;
use vitals_store::{ClickHouseConfig, ClickHouseStore, ControlPlane, SqliteStore, Store};

struct Env {
    _dir: tempfile::TempDir,
    cp: Arc<ControlPlane>,
    store: Arc<dyn Store>,
    key_id: String,
    secret: String,
}

async fn env(store: Option<Arc<dyn Store>>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cp = Arc::new(ControlPlane::open(dir.path().join("control.sqlite")).unwrap());
    let key = cp.create_key("demo").unwrap();
    let store = match store {
        Some(s) => s,
        None => Arc::new(SqliteStore::open(dir.path().join("telemetry.sqlite")).unwrap())
            as Arc<dyn Store>,
    };
    store.migrate().await.unwrap();
    Env {
        _dir: dir,
        cp,
        store,
        key_id: key.key_id,
        secret: key.secret,
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn batch_json(batch_id: &str, user: &str, n_sessions: usize) -> Vec<u8> {
    let ts = now_s() * 1000;
    let events: Vec<serde_json::Value> = (0..n_sessions)
        .map(|i| serde_json::json!({"type": "session", "ts": ts, "session_id": format!("s{i}"), "phase": "start"}))
        .chain(std::iter::once(serde_json::json!({
            "type": "crash", "ts": ts, "crash_id": format!("c-{batch_id}"), "exception_type": "SIGSEGV",
            "message": "card 6222020200112233445 phone 13812345678", "fatal": true
        })))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "v": 1, "batch_id": batch_id, "app_id": "demo",
        "release": {"version": "2.0.0", "build": "200"}, "platform": "android",
        "device": {"model": "SM-S9180", "os_version": "14", "device_id": "hw-123"},
        "install_id": format!("inst-{user}"), "user_id": user, "events": events
    }))
    .unwrap()
}

fn signed(key: &str, secret: &str, body: &[u8], ts: i64, nonce: &str) -> test::TestRequest {
    let sig = sign::sign(secret.as_bytes(), "POST", "/api/v1/batch", ts, nonce, body);
    test::TestRequest::post()
        .uri("/api/v1/batch")
        .insert_header((sign::HEADER_KEY, key))
        .insert_header((sign::HEADER_TIMESTAMP, ts.to_string()))
        .insert_header((sign::HEADER_NONCE, nonce))
        .insert_header((sign::HEADER_SIGNATURE, sig))
        .insert_header(("accept-language", "en"))
        .set_payload(body.to_vec())
}

fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn wait_stored(store: &dyn Store, batches: u64) {
    for _ in 0..200 {
        if store.batch_count("demo").await.unwrap() >= batches {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("batches were not stored in time");
}

macro_rules! app {
    ($c:expr) => {
        test::init_service(App::new().configure(|cfg| $c.configure(cfg))).await
    };
}

async fn error_of(resp: actix_web::dev::ServiceResponse) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = test::read_body_json(resp).await;
    (status, body["error"].clone())
}

async fn stores_a_signed_batch(e: Env) {
    let c = Collector::start(
        CollectorConfig::default(),
        e._dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::ZhCn,
    )
    .unwrap();
    let app = app!(c);
    let body = batch_json("b-1", "alice", 3);
    let resp = test::call_service(
        &app,
        signed(&e.key_id, &e.secret, &body, now_s(), &nonce()).to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    let v: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(v["accepted"], 4);
    // The same batch again (a retry after a lost 202): acknowledged, stored once.
    let resp = test::call_service(
        &app,
        signed(&e.key_id, &e.secret, &body, now_s(), &nonce()).to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    wait_stored(e.store.as_ref(), 1).await;
    let counts = e.store.kind_counts("demo").await.unwrap();
    assert_eq!(counts.iter().map(|k| k.events).sum::<u64>(), 4);
    // Privacy: the user id is a pseudonym, the device id is gone (no consent).
    let app_rec = e.cp.app("demo").unwrap().unwrap();
    let pseudo = sign::pseudonym(&app_rec.pseudonym_secret, "alice");
    assert_eq!(e.store.user_row_count("demo", &pseudo).await.unwrap(), 4);
    assert_eq!(e.store.user_row_count("demo", "alice").await.unwrap(), 0);

    // Erasure through the API (admin token) removes the rows.
    let viewer = e.cp.create_token(Role::Viewer, "t").unwrap();
    let admin = e.cp.create_token(Role::Admin, "t").unwrap();
    let del = |tok: &str| {
        test::TestRequest::delete()
            .uri(&format!("/api/v1/users/{pseudo}?app=demo"))
            .insert_header(("authorization", format!("Bearer {tok}")))
            .to_request()
    };
    let resp = test::call_service(&app, del(&viewer)).await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = test::call_service(&app, del(&admin)).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(e.store.user_row_count("demo", &pseudo).await.unwrap(), 0);

    let m = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    let text = String::from_utf8(test::read_body(m).await.to_vec()).unwrap();
    assert!(text.contains("vitals_events_stored_total 4"), "{text}");
    assert!(
        text.contains("vitals_ingest_requests_total{status=\"202\"} 2"),
        "{text}"
    );
    drop(app);
    c.shutdown().await;
}

#[actix_web::test]
async fn signed_batch_is_stored_in_sqlite() {
    stores_a_signed_batch(env(None).await).await;
}

#[actix_web::test]
async fn signed_batch_is_stored_in_clickhouse() {
    let Ok(url) = std::env::var("VITALS_TEST_CLICKHOUSE_URL") else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI needs VITALS_TEST_CLICKHOUSE_URL"
        );
        return;
    };
    let db = format!("vitals_ingest_{}", std::process::id());
    let ch = ClickHouseStore::new(ClickHouseConfig {
        url,
        database: db,
        ..Default::default()
    });
    let ch2 = ch.clone();
    stores_a_signed_batch(env(Some(Arc::new(ch))).await).await;
    ch2.drop_database().await.unwrap();
}

#[actix_web::test]
async fn auth_failures_are_401_with_reasons() {
    let e = env(None).await;
    let c = Collector::start(
        CollectorConfig::default(),
        e._dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::ZhCn,
    )
    .unwrap();
    let app = app!(c);
    let body = batch_json("b-2", "bob", 1);

    // Tampered body.
    let n = nonce();
    let sig = sign::sign(
        e.secret.as_bytes(),
        "POST",
        "/api/v1/batch",
        now_s(),
        &n,
        &body,
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let req = signed(&e.key_id, &e.secret, &body, now_s(), &n)
        .insert_header((sign::HEADER_SIGNATURE, sig))
        .set_payload(tampered)
        .to_request();
    let (s, err) = error_of(test::call_service(&app, req).await).await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (401, "auth.bad_signature")
    );

    // Stale timestamp (10 minutes old).
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&e.key_id, &e.secret, &body, now_s() - 600, &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (401, "auth.stale_timestamp")
    );
    assert!(err["message"].as_str().unwrap().contains("300"), "{err}");

    // Replayed nonce.
    let n = nonce();
    let resp = test::call_service(
        &app,
        signed(&e.key_id, &e.secret, &body, now_s(), &n).to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&e.key_id, &e.secret, &body, now_s(), &n).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (401, "auth.replayed_nonce")
    );

    // Unknown key; missing header; Chinese by default.
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed("vk_nope", &e.secret, &body, now_s(), &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (401, "auth.unknown_key")
    );
    let req = test::TestRequest::post()
        .uri("/api/v1/batch")
        .set_payload(body.clone())
        .to_request();
    let (s, err) = error_of(test::call_service(&app, req).await).await;
    assert_eq!(s, 401);
    assert!(
        err["message"].as_str().unwrap().contains("缺少请求头"),
        "{err}"
    );

    // Revoked key: refused once the cache is refreshed (every 5 s). Probed
    // with a correctly signed body that is not a batch, so the probes store
    // nothing: 400 while the key is still cached as active, then 401. Polled
    // rather than slept, since the refresh runs on its own timer.
    e.cp.revoke_key(&e.key_id).unwrap();
    let revoked = std::time::Instant::now();
    let probe = b"not a batch".to_vec();
    let (s, err) = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (s, err) = error_of(
            test::call_service(
                &app,
                signed(&e.key_id, &e.secret, &probe, now_s(), &nonce()).to_request(),
            )
            .await,
        )
        .await;
        if s != 400 || revoked.elapsed() > Duration::from_secs(20) {
            break (s, err);
        }
    };
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (401, "auth.revoked_key")
    );

    drop(app);
    c.shutdown().await;
}

#[actix_web::test]
async fn bad_input_gets_400_413_and_403() {
    let e = env(None).await;
    let other = e.cp.create_key("other-app").unwrap();
    let c = Collector::start(
        CollectorConfig::default(),
        e._dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::ZhCn,
    )
    .unwrap();
    let app = app!(c);

    // Malformed: a string where a number belongs.
    let mut v: serde_json::Value = serde_json::from_slice(&batch_json("b-3", "x", 1)).unwrap();
    v["device"]["screen"] = serde_json::json!({"width": "wide"});
    let body = serde_json::to_vec(&v).unwrap();
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&e.key_id, &e.secret, &body, now_s(), &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(err["path"], "device.screen.width");

    // Invalid value: too old.
    let mut v: serde_json::Value = serde_json::from_slice(&batch_json("b-4", "x", 1)).unwrap();
    v["events"][0]["ts"] = serde_json::json!((now_s() - 90 * 86_400) * 1000);
    let body = serde_json::to_vec(&v).unwrap();
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&e.key_id, &e.secret, &body, now_s(), &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (
            s,
            err["code"].as_str().unwrap(),
            err["path"].as_str().unwrap()
        ),
        (400, "validate.too_old", "events[0].ts")
    );

    // Oversized body.
    let big = vec![b' '; (1 << 20) + 1];
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&e.key_id, &e.secret, &big, now_s(), &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (413, "request.too_large")
    );

    // A key of another app.
    let body = batch_json("b-5", "x", 1);
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&other.key_id, &other.secret, &body, now_s(), &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str().unwrap()),
        (403, "auth.app_mismatch")
    );
    drop(app);
    c.shutdown().await;
}

#[actix_web::test]
async fn rate_limit_429_and_full_spool_503() {
    let e = env(None).await;
    let mut cfg = CollectorConfig::default();
    cfg.rate_limit.events_per_sec = 10;
    cfg.rate_limit.burst_events = 10;
    let c = Collector::start(cfg, e._dir.path(), e.cp.clone(), e.store.clone(), Lang::En).unwrap();
    let app = app!(c);
    let resp = test::call_service(
        &app,
        signed(
            &e.key_id,
            &e.secret,
            &batch_json("r-1", "x", 5),
            now_s(),
            &nonce(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202);
    let resp = test::call_service(
        &app,
        signed(
            &e.key_id,
            &e.secret,
            &batch_json("r-2", "x", 5),
            now_s(),
            &nonce(),
        )
        .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    drop(app);
    c.shutdown().await;

    let e = env(None).await;
    let mut cfg = CollectorConfig::default();
    cfg.spool.max_bytes = 2_000;
    let c = Collector::start(cfg, e._dir.path(), e.cp.clone(), e.store.clone(), Lang::En).unwrap();
    let app = app!(c);
    let mut statuses = Vec::new();
    for i in 0..5 {
        let resp = test::call_service(
            &app,
            signed(
                &e.key_id,
                &e.secret,
                &batch_json(&format!("f-{i}"), "x", 2),
                now_s(),
                &nonce(),
            )
            .to_request(),
        )
        .await;
        if resp.status().as_u16() == 503 {
            assert_eq!(resp.headers().get("retry-after").unwrap(), "30");
        }
        statuses.push(resp.status().as_u16());
    }
    assert!(
        statuses.contains(&202) && statuses.contains(&503),
        "{statuses:?}"
    );
    drop(app);
    c.shutdown().await;
}

#[actix_web::test]
async fn handled_errors_are_never_crashes() {
    let e = env(None).await;
    let c = Collector::start(
        CollectorConfig::default(),
        e._dir.path(),
        e.cp.clone(),
        e.store.clone(),
        Lang::ZhCn,
    )
    .unwrap();
    let app = app!(c);
    let with_crashes = |batch_id: &str, crashes: &[serde_json::Value]| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&batch_json(batch_id, "x", 1)).unwrap();
        let ev = v["events"].as_array_mut().unwrap();
        let template = ev.pop().unwrap();
        for (i, flags) in crashes.iter().enumerate() {
            let mut crash = template.clone();
            let o = crash.as_object_mut().unwrap();
            o.remove("fatal");
            o.insert("crash_id".into(), format!("c-{batch_id}-{i}").into());
            for (k, f) in flags.as_object().unwrap() {
                o.insert(k.clone(), f.clone());
            }
            ev.push(crash);
        }
        serde_json::to_vec(&v).unwrap()
    };
    // A caught error with `fatal` omitted is not a crash; with both omitted
    // it is one (the default before `handled` existed).
    let body = with_crashes(
        "b-h1",
        &[serde_json::json!({"handled": true}), serde_json::json!({})],
    );
    let resp = test::call_service(
        &app,
        signed(&e.key_id, &e.secret, &body, now_s(), &nonce()).to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 202, "accepted");
    // Handled and fatal contradict each other: refused at the path.
    let body = with_crashes(
        "b-h2",
        &[
            serde_json::json!({"handled": true}),
            serde_json::json!({"handled": true, "fatal": true}),
            serde_json::json!({}),
        ],
    );
    let (s, err) = error_of(
        test::call_service(
            &app,
            signed(&e.key_id, &e.secret, &body, now_s(), &nonce()).to_request(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (
            s,
            err["code"].as_str().unwrap(),
            err["path"].as_str().unwrap()
        ),
        (400, "validate.fatal_handled", "events[2].fatal"),
        "{err}"
    );
    wait_stored(e.store.as_ref(), 1).await;
    drop(app);
    c.shutdown().await;
    let rel = e.store.release_summaries("demo").await.unwrap();
    assert_eq!(rel.len(), 1, "{rel:?}");
    assert_eq!(rel[0].fatal_crashes, 1, "{rel:?}");
    assert_eq!(e.store.batch_count("demo").await.unwrap(), 1);
}
