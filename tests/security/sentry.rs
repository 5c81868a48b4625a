//! The Sentry routes are no unsigned side door (issue #22): an app takes
//! Sentry-protocol traffic only once an admin enables it, with the DSN's
//! project a random id (not the 1, 2, … of before), and browser requests
//! only from the app's allowed origins, within the app's rate limit (429
//! with the headers Sentry SDKs obey). Refusals are the documented JSON
//! error, in zh-CN by default and in English on request, and nothing of a
//! refused request is stored.

use crate::APP;
use crate::common::{Key, create_app_key, printed};
use crate::harness::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// An envelope with one unhandled exception, as a Sentry SDK sends it.
fn crash_envelope() -> Vec<u8> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let event = json!({
        "event_id": id,
        "timestamp": now_secs(),
        "platform": "javascript",
        "release": format!("{APP}@2.1.0+7"),
        "user": {"id": "u-1"},
        "exception": {"values": [{
            "type": "TypeError",
            "value": "x is undefined",
            "mechanism": {"type": "onerror", "handled": false}
        }]}
    })
    .to_string();
    format!(
        "{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\",\"length\":{}}}\n{event}\n",
        event.len()
    )
    .into_bytes()
}

async fn send(
    c: &reqwest::Client,
    url: &str,
    project: &str,
    key: &Key,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = c
        .post(format!(
            "{url}/api/{project}/envelope/?sentry_key={}&sentry_version=7",
            key.key_id
        ))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(crash_envelope());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("post envelope")
}

fn run_cli(dir: &std::path::Path, args: &[&str]) -> String {
    let out = cli(dir, args, None);
    assert!(
        out.status.success(),
        "vitals {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_intake_is_opt_in_with_random_projects_and_allowed_origins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let other = create_app_key(dir.path(), "sec-other");
    let ops = named_token(dir.path(), "operator", "ops");
    let admin = named_token(dir.path(), "admin", "root");
    // `keys create` tells how to turn Sentry intake on instead of a DSN.
    let out = run_cli(dir.path(), &["keys", "create", "--app", "sec-third"]);
    assert!(
        out.contains("Sentry-protocol intake is off for this app")
            && out.contains("vitals sentry enable --app sec-third")
            && !out.contains("DSN"),
        "{out}"
    );
    let srv = Server::start(dir.path(), "info");
    let (c, url) = (client(), srv.url.clone());

    // Off: refused whatever the project, in zh-CN by default, before any
    // of the body is kept; project numbers of the old scheme among them.
    for project in ["1", "2", "5555555555555555"] {
        let (status, code, msg, lang) = refusal(send(&c, &url, project, &key, &[]).await).await;
        assert_eq!((status, code.as_str()), (403, "sentry.intake_disabled"));
        assert_eq!(lang, "zh-CN");
        assert!(
            msg.contains("未开启 Sentry 协议接入")
                && msg.contains("vitals sentry enable --app sec-bank"),
            "{msg}"
        );
    }
    let r = send(&c, &url, "1", &key, &[("accept-language", "en")]).await;
    assert!(r.headers().get("x-sentry-error").is_some());
    let (_, _, msg, lang) = refusal(r).await;
    assert_eq!(lang, "en");
    assert!(
        msg.starts_with("Sentry-protocol intake is off for app sec-bank"),
        "{msg}"
    );

    // An admin enables it with one allowed browser origin.
    let out = run_cli(
        dir.path(),
        &[
            "sentry",
            "enable",
            "--app",
            APP,
            "--allow-origin",
            "https://m.sec-bank.example",
        ],
    );
    let project = printed(&out, "project:");
    assert!(
        project.len() == 16 && project.parse::<i64>().is_ok_and(|p| p > 2),
        "{out}"
    );
    let dsn = printed(&out, &format!("DSN (key {}):", key.key_id));
    assert!(dsn.starts_with(&format!("http://{}@", key.key_id)) && dsn.ends_with(&project));
    // The key cache refreshes within 5 s.
    let started = Instant::now();
    loop {
        let r = send(&c, &url, &project, &key, &[]).await;
        if r.status().as_u16() == 200 {
            let v: Value = r.json().await.expect("JSON");
            assert!(v["id"].as_str().is_some_and(|s| s.len() == 32), "{v}");
            break;
        }
        assert_eq!(refusal(r).await.1, "sentry.intake_disabled");
        assert!(started.elapsed() < Duration::from_secs(10), "never enabled");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut accepted = 1;

    // A second app's intake is still off; its key cannot use this app's
    // project, and this app's key no other project.
    let (status, code, ..) = refusal(send(&c, &url, &project, &other, &[]).await).await;
    assert_eq!((status, code.as_str()), (403, "sentry.intake_disabled"));
    let wrong = (project.parse::<i64>().expect("number") + 1).to_string();
    let (status, code, msg, _) = refusal(send(&c, &url, &wrong, &key, &[]).await).await;
    assert_eq!((status, code.as_str()), (403, "sentry.project_mismatch"));
    assert!(msg.contains("vitals sentry show --app"), "{msg}");

    // Browsers: the allowed origin (by Origin or by Referer) passes.
    for h in [
        ("origin", "https://m.sec-bank.example"),
        ("referer", "https://m.sec-bank.example/trade/index.html"),
    ] {
        let r = send(&c, &url, &project, &key, &[h]).await;
        assert_eq!(r.status().as_u16(), 200, "{h:?}");
        accepted += 1;
    }
    // Any other origin is refused with the command that would allow it.
    for h in [
        ("origin", "https://phish.example"),
        ("origin", "http://m.sec-bank.example"),
        ("referer", "https://phish.example/m.sec-bank.example"),
    ] {
        let r = send(&c, &url, &project, &key, &[h, ("accept-language", "en")]).await;
        let (status, code, msg, _) = refusal(r).await;
        assert_eq!(
            (status, code.as_str()),
            (403, "sentry.origin_not_allowed"),
            "{h:?}"
        );
        assert!(msg.contains("--allow-origin"), "{msg}");
    }

    // The API shows operators the same state and DSN; an admin turns it
    // off, and this node refuses at once.
    let v: Value = c
        .get(format!("{url}/api/v1/apps/{APP}/sentry"))
        .bearer_auth(&ops)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(v["project"].to_string(), project, "{v}");
    assert_eq!(v["allowed_origins"], json!(["https://m.sec-bank.example"]));
    assert_eq!(v["dsns"][0]["key_id"], key.key_id.as_str());
    let r = c
        .put(format!("{url}/api/v1/apps/{APP}/sentry"))
        .bearer_auth(&ops)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 403, "operators may not change it");
    let r = c
        .put(format!("{url}/api/v1/apps/{APP}/sentry"))
        .bearer_auth(&admin)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 200);
    let (status, code, ..) = refusal(send(&c, &url, &project, &key, &[]).await).await;
    assert_eq!((status, code.as_str()), (403, "sentry.intake_disabled"));
    let audit = srv.count(&format!(
        "SELECT COUNT(*) FROM ops_audit WHERE kind = 'sentry_intake' AND app_id = '{APP}'"
    ));
    assert_eq!(audit, 2, "enable (cli) and disable (root) audited");
    assert_eq!(
        srv.text("SELECT actor FROM ops_audit WHERE action = 'sentry_intake.disable'")
            .as_deref(),
        Some("root")
    );

    // Only the accepted envelopes were stored: one crash each.
    assert_stored_exactly(&c, &url, f64::from(accepted)).await;
}

/// Posts one crash envelope for `key` to `project`; returns the response.
async fn envelope_to(
    c: &reqwest::Client,
    url: &str,
    project: &str,
    key: &Key,
) -> reqwest::Response {
    send(c, url, project, key, &[("accept-language", "en")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_intake_is_rate_limited_per_app_with_sentry_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let second = create_app_key(dir.path(), APP);
    let other = create_app_key(dir.path(), "sec-other");
    let project = crate::common::enable_sentry(dir.path(), APP);
    let other_project = crate::common::enable_sentry(dir.path(), "sec-other");
    let config = dir.path().join("vitals.toml");
    std::fs::write(
        &config,
        "[collector.rate_limit]\nevents_per_sec = 1\nburst_events = 4\n",
    )
    .expect("write config");
    let srv = Server::start_with(dir.path(), "info", Some(&config));
    let (c, url) = (client(), srv.url.clone());

    // Envelopes of one crash each: the burst passes, then 429 with the
    // headers Sentry SDKs obey (Retry-After, X-Sentry-Rate-Limits) and the
    // documented JSON error naming the app.
    // (The bucket refills one event a second, so a slow machine may pass
    // one more per second spent.)
    let mut accepted = 0;
    let started = Instant::now();
    let refused = loop {
        let r = envelope_to(&c, &url, &project, &key).await;
        if r.status().as_u16() == 200 {
            accepted += 1;
            let allowed = 4.0 + started.elapsed().as_secs_f64().ceil();
            assert!(
                f64::from(accepted) <= allowed,
                "more than the burst accepted"
            );
            continue;
        }
        break r;
    };
    let empty_at = Instant::now();
    assert!(accepted >= 1, "nothing accepted before the limit");
    assert_eq!(refused.status().as_u16(), 429);
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let retry: u64 = header(&refused, "retry-after")
        .parse()
        .expect("Retry-After");
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        header(&refused, "x-sentry-rate-limits"),
        format!("{retry}::organization")
    );
    let (_, code, msg, _) = refusal(refused).await;
    assert_eq!(code, "request.rate_limited");
    assert!(msg.contains(APP), "{msg}");

    // The limit is the app's: its other key is refused too, and the signed
    // SDK's batches for it share the bucket, while another app's DSN goes
    // on.
    // Either is refused, unless a token came back meanwhile.
    let mut limited = |status: u16, what: &str| {
        if status == 200 {
            assert!(empty_at.elapsed() >= Duration::from_secs(1), "{what}");
            accepted += 1;
        } else {
            assert_eq!(status, 429, "{what}");
        }
    };
    let r = envelope_to(&c, &url, &project, &second).await;
    limited(r.status().as_u16(), "the app's second key");
    let one = crate::common::batches(APP, 1, 1, 9).pop().expect("batch");
    let body = serde_json::to_vec(&one).expect("serialise");
    let r = signed(&c, &url, &key, body, now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    limited(r.status().as_u16(), "a signed batch of one event");
    let r = envelope_to(&c, &url, &other_project, &other).await;
    assert_eq!(r.status().as_u16(), 200, "another app");
    accepted += 1;

    // After the advertised wait the app reports again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let started = Instant::now();
    loop {
        let r = envelope_to(&c, &url, &project, &key).await;
        if r.status().as_u16() == 200 {
            accepted += 1;
            break;
        }
        assert_eq!(r.status().as_u16(), 429);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never refilled"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Nothing refused was stored.
    assert_stored_exactly(&c, &url, f64::from(accepted)).await;
}
