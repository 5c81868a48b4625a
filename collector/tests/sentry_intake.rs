//! Sentry-protocol intake is opt-in per app (issue #22): off until an admin
//! enables it, a random project id in the DSN, browser requests checked
//! against the app's allowed origins, and each refusal the documented JSON
//! error with an actionable message in zh-CN and en.

use actix_web::{App, test};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use vitals_collector::{Collector, CollectorConfig};
use vitals_i18n::Lang;
use vitals_store::control::Role;
use vitals_store::sentry_intake::{PROJECT_MAX, PROJECT_MIN};
use vitals_store::{ControlPlane, SqliteStore, Store};

const APP: &str = "sentry-app";
const CRASH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/sdk-captures/python/py_001.envelope"
);

macro_rules! app {
    ($c:expr) => {
        test::init_service(App::new().configure(|cfg| $c.configure(cfg))).await
    };
}

fn config() -> CollectorConfig {
    let mut cfg = CollectorConfig::default();
    // The capture carries the timestamps of the day it was made.
    cfg.limits.max_event_age_days = 36_500;
    cfg
}

/// A captured Python SDK crash envelope to `project`, with `headers`, as
/// a new event (a fresh `event_id` of the same length: a resent envelope
/// would be stored once).
fn envelope(project: &str, key: &str, headers: &[(&str, &str)]) -> test::TestRequest {
    let body = std::fs::read_to_string(CRASH).expect("fixture").replace(
        "db88be2d88a943babc31b43d44a7f52b",
        &uuid::Uuid::new_v4().simple().to_string(),
    );
    let mut r = test::TestRequest::post()
        .uri(&format!("/api/{project}/envelope/?sentry_key={key}"))
        .insert_header(("content-type", "application/x-sentry-envelope"))
        .set_payload(body);
    for (k, v) in headers {
        r = r.insert_header((*k, *v));
    }
    r
}

/// Status, the documented error body's code and message, and Sentry's
/// `X-Sentry-Error`, which must say the same.
macro_rules! refusal {
    ($app:expr, $req:expr) => {{
        let resp = test::call_service($app, $req.to_request()).await;
        let status = resp.status().as_u16();
        let header = resp
            .headers()
            .get("x-sentry-error")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string());
        let body: Value = test::read_body_json(resp).await;
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let msg = body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status >= 400 {
            assert_eq!(body["detail"], msg.as_str(), "{body}");
            assert_eq!(header.as_deref(), Some(msg.as_str()));
        }
        (status, code, msg)
    }};
}

async fn stored(store: &dyn Store) -> u64 {
    // Accepted batches reach the store within a few writer cycles.
    tokio::time::sleep(Duration::from_millis(600)).await;
    store.batch_count(APP).await.expect("count")
}

#[actix_web::test]
async fn intake_is_off_until_enabled_then_checks_project_and_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = Arc::new(ControlPlane::open(dir.path().join("control.sqlite")).expect("cp"));
    let key = cp.create_key(APP).expect("key").key_id;
    let operator = cp.create_token(Role::Operator, "op").expect("token");
    let viewer = cp.create_token(Role::Viewer, "v").expect("token");
    let admin = cp.create_named_token(Role::Admin, "alice").expect("token");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("t.sqlite")).expect("store"));
    store.migrate().await.expect("migrate");
    let c = Collector::start(config(), dir.path(), cp.clone(), store.clone(), Lang::ZhCn)
        .expect("collector");
    let app = app!(c);

    // Off: every Sentry route refuses the app, whatever project it names
    // (before the upgrade, projects were 1, 2, …), before reading the body.
    for project in ["1", "4321"] {
        let (status, code, msg) = refusal!(&app, envelope(project, &key, &[]));
        assert_eq!((status, code.as_str()), (403, "sentry.intake_disabled"));
        assert!(
            msg.contains("未开启 Sentry 协议接入")
                && msg.contains(&format!("vitals sentry enable --app {APP}")),
            "{msg}"
        );
    }
    let (status, code, msg) = refusal!(&app, envelope("1", &key, &[("accept-language", "en")]));
    assert_eq!((status, code.as_str()), (403, "sentry.intake_disabled"));
    assert!(
        msg.starts_with(&format!("Sentry-protocol intake is off for app {APP}"))
            && msg.contains(&format!("PUT /api/v1/apps/{APP}/sentry")),
        "{msg}"
    );
    for route in ["store", "minidump"] {
        let req = test::TestRequest::post()
            .uri(&format!("/api/1/{route}/?sentry_key={key}"))
            .set_payload("{}");
        let (status, code, _) = refusal!(&app, req);
        assert_eq!(
            (status, code.as_str()),
            (403, "sentry.intake_disabled"),
            "{route}"
        );
    }

    // The settings API: operators read, admins change.
    let get = |token: &str| {
        test::TestRequest::get()
            .uri(&format!("/api/v1/apps/{APP}/sentry"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("host", "vitals.example.cn:8443"))
            .to_request()
    };
    let put = |token: &str, body: &str| {
        test::TestRequest::put()
            .uri(&format!("/api/v1/apps/{APP}/sentry"))
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("accept-language", "en"))
            .set_payload(body.to_string())
            .to_request()
    };
    let resp = test::call_service(&app, get(&viewer)).await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = test::call_service(&app, get(&operator)).await;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = test::read_body_json(resp).await;
    assert_eq!(v["enabled"], false, "{v}");
    assert_eq!(v["project"], Value::Null, "{v}");
    assert_eq!(v["dsns"], json!([]), "{v}");
    let resp = test::call_service(&app, put(&operator, r#"{"enabled": true}"#)).await;
    assert_eq!(
        resp.status().as_u16(),
        403,
        "operators may not open the door"
    );
    let resp = test::call_service(
        &app,
        put(
            &admin,
            r#"{"enabled": true, "allowed_origins": ["https://app.example.com", "https://x/y"]}"#,
        ),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["error"]["code"], "sentry.bad_origin", "{body}");
    assert_eq!(body["error"]["path"], "allowed_origins[1]", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("https://x/y") && m.contains("without a path")),
        "{body}"
    );
    let resp = test::call_service(&app, put(&admin, r#"{"enable": true}"#)).await;
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["error"]["code"], "sentry.bad_settings", "{body}");
    let resp = test::call_service(
        &app,
        test::TestRequest::put()
            .uri("/api/v1/apps/no-such-app/sentry")
            .insert_header(("authorization", format!("Bearer {admin}")))
            .set_payload(r#"{"enabled": true}"#)
            .to_request(),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 404);
    // Nothing was changed by the refused requests.
    assert!(!cp.app(APP).unwrap().unwrap().sentry.enabled);

    let resp = test::call_service(
        &app,
        put(
            &admin,
            r#"{"enabled": true, "allowed_origins": ["HTTPS://App.Example.com/", "*.bank.cn"]}"#,
        ),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = test::read_body_json(resp).await;
    assert_eq!(v["enabled"], true, "{v}");
    assert_eq!(
        v["allowed_origins"],
        json!(["https://app.example.com", "*.bank.cn"])
    );
    let project = v["project"].as_i64().expect("a project id");
    assert!((PROJECT_MIN..=PROJECT_MAX).contains(&project), "{project}");
    let dsn = v["dsns"][0]["dsn"].as_str().expect("a DSN");
    assert!(dsn.starts_with(&format!("http://{key}@")) && dsn.ends_with(&format!("/{project}")));
    // The change is audited under the admin's name.
    let audit = cp.audit(Some(APP), 10).expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "sentry_intake.enable" && a.actor == "alice"),
        "{audit:?}"
    );
    let resp = test::call_service(&app, get(&operator)).await;
    let v: Value = test::read_body_json(resp).await;
    assert_eq!(
        v["dsns"][0]["dsn"],
        format!("http://{key}@vitals.example.cn:8443/{project}"),
        "the DSN names the host the API was reached at"
    );

    // On: only the app's own project id, spelled as drawn.
    let p = project.to_string();
    for wrong in ["1", "2", &format!("0{p}"), &(project + 1).to_string()] {
        let (status, code, _) = refusal!(&app, envelope(wrong, &key, &[]));
        assert_eq!(
            (status, code.as_str()),
            (403, "sentry.project_mismatch"),
            "{wrong}"
        );
    }
    // A native or server SDK (no Origin, no Referer) is accepted.
    let (status, ..) = refusal!(&app, envelope(&p, &key, &[]));
    assert_eq!(status, 200);
    let mut accepted = 1;
    // Browsers: allowed origins pass, by Origin or by Referer.
    for h in [
        ("origin", "https://app.example.com"),
        ("origin", "https://APP.example.com:443"),
        ("origin", "http://m.bank.cn:8080"),
        ("referer", "https://m.bank.cn/pay/index.html?x=1"),
    ] {
        let (status, code, _) = refusal!(&app, envelope(&p, &key, &[h]));
        assert_eq!(status, 200, "{h:?}: {code}");
        accepted += 1;
    }
    // Others are refused, with the command that would allow them.
    for h in [
        ("origin", "https://evil.example.com"),
        ("origin", "http://app.example.com"),
        ("origin", "https://bank.cn"),
        ("origin", "null"),
        ("referer", "https://evil.cn/app.example.com"),
        ("referer", "file:///sdcard/x.html"),
    ] {
        let (status, code, msg) = refusal!(&app, envelope(&p, &key, &[h]));
        assert_eq!(
            (status, code.as_str()),
            (403, "sentry.origin_not_allowed"),
            "{h:?}"
        );
        assert!(
            msg.contains("不在应用 sentry-app 的 Sentry 允许来源中")
                && msg.contains("--allow-origin"),
            "{msg}"
        );
    }
    let (_, _, msg) = refusal!(
        &app,
        envelope(
            &p,
            &key,
            &[
                ("origin", "https://evil.example.com"),
                ("accept-language", "en")
            ],
        )
    );
    assert!(
        msg.starts_with(
            "origin https://evil.example.com is not an allowed origin of app sentry-app"
        ) && msg.contains(&format!(
            "vitals sentry enable --app {APP} --allow-origin https://evil.example.com"
        )),
        "{msg}"
    );
    assert_eq!(stored(store.as_ref()).await, accepted);

    // Off again: refused at once on this node.
    let resp = test::call_service(&app, put(&admin, r#"{"enabled": false}"#)).await;
    assert_eq!(resp.status().as_u16(), 200);
    let (status, code, _) = refusal!(&app, envelope(&p, &key, &[]));
    assert_eq!((status, code.as_str()), (403, "sentry.intake_disabled"));
    assert_eq!(stored(store.as_ref()).await, accepted);
    // Enabled again, the DSN is the same one.
    let resp = test::call_service(&app, put(&admin, r#"{"enabled": true}"#)).await;
    let v: Value = test::read_body_json(resp).await;
    assert_eq!(v["project"], project);
    drop(app);
    c.shutdown().await;
}
