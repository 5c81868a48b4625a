//! Random hostile bytes in every string field of every door (issue #22):
//! signed ingest (each string of a batch carrying every event type), the
//! Sentry routes (each string of an event, the envelope, the DSN's project
//! and key), the JSON API (paths, queries and bodies) and the dashboard's
//! forms (signed in, with the CSRF token). Every answer must be below 500,
//! carry no SQL and, on JSON routes, be the documented error shape; then
//! every release's API pages, its dashboard page, `vitals gate` and the
//! alert rules must still evaluate.
//!
//! Seeded: `VITALS_RANDOM_SEED` replays a run, `VITALS_RANDOM_CASES` sets
//! how many values (default 16); a failure names the seed, the case and
//! the field. SQLite always; ClickHouse when `VITALS_TEST_CLICKHOUSE_URL`
//! is set (required under CI).

use super::harness::*;
use super::random_values::{Rng, form, pct, problem, string_paths, value, with_value};
use crate::common::{Key, create_app_key, enable_sentry, shared_clickhouse};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const APP: &str = "sec-random";
const PW: &str = "Pa55word-for-random";

/// A batch with every event type and every optional string set.
fn batch_template() -> Value {
    let now = now_secs() * 1000;
    json!({
        "v": 1, "batch_id": "b", "app_id": APP,
        "release": {"version": "5.2.0", "build": "520013"},
        "platform": "android", "environment": "production",
        "device": {"model": "SM-S9180", "class": "phone", "os_version": "14",
                   "screen": {"width": 1080, "height": 2340, "density": 2.625},
                   "abi": "arm64-v8a", "device_id": "oaid-1"},
        "network": {"ip_family": "dual", "carrier": "5g"},
        "install_id": "i-1", "user_id": "C00012345",
        "consent": {"analytics": true, "device_ids": true},
        "events": [
            {"type": "session", "ts": now - 9000, "session_id": "s-1", "phase": "start"},
            {"type": "cold_start", "ts": now - 8900, "duration_ms": 1850,
             "spans": [{"name": "sdk:push", "start_ms": 0, "duration_ms": 620}]},
            {"type": "perf", "ts": now - 8800, "cpu_pct": 3.2, "memory_mb": 142.5},
            {"type": "network", "ts": now - 8700, "category": "quote", "site": "sh-quote-1",
             "latency_ms": 86, "status": 200, "ip_family": "ipv6"},
            {"type": "install", "ts": now - 8600, "duration_ms": 9400, "package_bytes": 68157440,
             "abi_split": [{"abi": "arm64-v8a", "bytes": 41943040}]},
            {"type": "hot_update", "ts": now - 8500, "patch_id": "p-1", "stage": "failed",
             "package_bytes": 524288, "error_code": "E42"},
            {"type": "upgrade_prompt", "ts": now - 8400, "target_version": "5.3.0",
             "outcome": "later", "placement": "home"},
            {"type": "custom", "ts": now - 8300, "name": "order_submit", "kind": "timer",
             "value": 240},
            {"type": "crash", "ts": now - 8200, "crash_id": "c-1", "session_id": "s-1",
             "exception_type": "java.lang.NullPointerException", "message": "null",
             "fatal": true, "raw": "raw report", "fingerprint": "fp-1",
             "threads": [{"id": 1, "name": "main", "crashed": true, "frames": [
                 {"function": "submit", "module": "com.zq.Order", "file": "Order.java",
                  "line": 142, "in_app": true, "addr": "0x7a1c2b3f40"}]}],
             "images": [{"debug_id": "3c9f2a1b-7e4d-5a6c-8b9e-0f1a2b3c4d5e", "code_id": "abc",
                         "name": "/system/lib64/libhwui.so", "base": "0x7a1c000000",
                         "size": 4194304, "arch": "arm64"}]},
            {"type": "session", "ts": now - 8100, "session_id": "s-1", "phase": "end",
             "status": "crashed", "duration_ms": 900, "foreground_ms": 800}
        ]
    })
}

/// A Sentry event with the strings SDKs send.
fn sentry_template() -> Value {
    json!({
        "event_id": "e", "timestamp": now_secs(), "platform": "javascript",
        "level": "fatal", "logger": "js", "server_name": "web-1",
        "release": format!("{APP}@5.2.0+520013"), "dist": "520013",
        "environment": "production", "transaction": "/trade", "message": "hello",
        "user": {"id": "u-1"}, "tags": {"screen": "home"},
        "contexts": {"os": {"name": "Android", "version": "14"},
                     "device": {"model": "SM-S9180", "family": "Samsung"}},
        "sdk": {"name": "sentry.javascript.browser", "version": "7.0.0"},
        "exception": {"values": [{
            "type": "TypeError", "value": "x is undefined", "module": "app",
            "mechanism": {"type": "onerror", "handled": false},
            "stacktrace": {"frames": [{"function": "submit", "filename": "app.js",
                "abs_path": "https://m.example/app.js", "lineno": 1, "colno": 2,
                "in_app": true}]}}]},
        "breadcrumbs": {"values": [{"category": "ui", "message": "click"}]}
    })
}

/// An alert rule as the API takes it.
fn rule_template() -> Value {
    json!({
        "id": "r", "app": APP, "clause": "5.1a", "metric": "crash_rate_per_session",
        "statistic": "rate", "threshold": 0.0005, "category": "trade",
        "schedule": "0 * * * * *", "releases": ["5.2.0+520013"],
        "email": ["ops@bank.example"]
    })
}

/// A release's metadata as `POST /api/v1/apps/{app}/releases` takes it.
fn release_template() -> Value {
    json!({
        "version": "5.2.0", "build": "520013", "notes": "notes",
        "min_os": {"android": "10"}
    })
}

/// Sends requests, records what is wrong with their answers.
struct Probe {
    c: reqwest::Client,
    url: String,
    seed: u64,
    case: usize,
    sent: usize,
    wrong: Vec<String>,
}

impl Probe {
    async fn check(&mut self, what: &str, v: &[u8], rb: reqwest::RequestBuilder, json: bool) {
        self.sent += 1;
        let (status, ctype, body) = match rb.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let ctype = r
                    .headers()
                    .get("content-type")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                (status, ctype, r.bytes().await.unwrap_or_default().to_vec())
            }
            // A URL the client cannot build (over its length limit) was
            // never sent.
            Err(e) if e.is_builder() => return,
            Err(e) => (599, String::new(), e.to_string().into_bytes()),
        };
        if let Some(p) = problem(status, &ctype, &body, json) {
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(300).collect();
            self.wrong.push(format!(
                "seed {} case {} {what} with {:?}: {p}: {excerpt}",
                self.seed,
                self.case,
                String::from_utf8_lossy(v)
            ));
        }
    }
}

/// One value into every string of a signed batch, one field per request.
async fn ingest(p: &mut Probe, key: &Key, v: &[u8]) {
    let template = batch_template();
    for path in string_paths(&template) {
        let mut doc = template.clone();
        if path != "/batch_id" {
            doc["batch_id"] = json!(fresh_nonce());
        }
        let body = with_value(&doc, &path, v);
        let rb = signed(&p.c, &p.url, key, body, now_secs(), &fresh_nonce());
        p.check(&format!("ingest {path}"), v, rb, true).await;
    }
}

fn envelope(event: &[u8], item_type: &[u8]) -> Vec<u8> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut out = format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":").into_bytes();
    out.extend_from_slice(&super::random_values::json_literal(item_type));
    out.extend_from_slice(format!(",\"length\":{}}}\n", event.len()).as_bytes());
    out.extend_from_slice(event);
    out.push(b'\n');
    out
}

/// One value into every string of a Sentry event (envelope and store), the
/// item type, the project, the key and the auth header.
async fn sentry(p: &mut Probe, key: &Key, project: &str, v: &[u8]) {
    let template = sentry_template();
    let url = &p.url.clone();
    let q = format!("sentry_key={}&sentry_version=7", key.key_id);
    for (n, path) in string_paths(&template).into_iter().enumerate() {
        let mut doc = template.clone();
        if path != "/event_id" {
            doc["event_id"] = json!(uuid::Uuid::new_v4().simple().to_string());
        }
        let event = with_value(&doc, &path, v);
        let (route, body) = if n % 2 == 0 {
            ("envelope", envelope(&event, b"event"))
        } else {
            ("store", event)
        };
        let rb =
            p.c.post(format!("{url}/api/{project}/{route}/?{q}"))
                .header("content-type", "application/json")
                .body(body);
        p.check(&format!("sentry {route} {path}"), v, rb, true)
            .await;
    }
    let event = serde_json::to_vec(&template).expect("serialise");
    let hostile = pct(v);
    let requests = [
        (
            format!("{url}/api/{project}/envelope/?{q}"),
            envelope(&event, v),
        ),
        (
            format!("{url}/api/{hostile}/envelope/?{q}"),
            envelope(&event, b"event"),
        ),
        (format!("{url}/api/{hostile}/store/?{q}"), event.clone()),
        (
            format!("{url}/api/{project}/store/?sentry_key={hostile}&sentry_version={hostile}"),
            event.clone(),
        ),
        (
            format!("{url}/api/{project}/minidump/?sentry_key={hostile}"),
            v.to_vec(),
        ),
    ];
    for (i, (u, body)) in requests.into_iter().enumerate() {
        let rb = p.c.post(u).body(body);
        p.check(&format!("sentry request {i}"), v, rb, true).await;
    }
    let mut auth = b"Sentry sentry_key=".to_vec();
    auth.extend_from_slice(v);
    if let Ok(h) = reqwest::header::HeaderValue::from_bytes(&auth) {
        let rb =
            p.c.post(format!("{url}/api/{project}/store/"))
                .header("x-sentry-auth", h)
                .body(event);
        p.check("sentry x-sentry-auth", v, rb, true).await;
    }
}

/// One value into the API's paths, queries and bodies (admin token).
async fn api(p: &mut Probe, token: &str, v: &[u8], erase: bool) {
    let url = p.url.clone();
    let h = pct(v);
    let rel = "5.2.0%2B520013";
    let mut gets = vec![
        format!("/api/v1/apps/{h}/releases"),
        format!("/api/v1/apps/{h}/releases/{rel}/health"),
        format!("/api/v1/apps/{APP}/releases/{rel}/crash-groups?sort={h}"),
        format!("/api/v1/apps/{APP}/timeseries?metric={h}"),
        format!(
            "/api/v1/apps/{APP}/timeseries?metric=crash_rate_per_session&release={h}&interval={h}"
        ),
        format!("/api/v1/apps/{APP}/crashes/{h}"),
        format!("/api/v1/apps/{h}/debug-files"),
        format!("/api/v1/apps/{h}/control"),
        format!("/api/v1/apps/{h}/sentry"),
        format!("/api/v1/audit?app={h}"),
        format!("/api/v1/alerts/history?app={h}"),
        format!("/api/v1/alerts/history/{h}/deliveries"),
        format!("/api/v1/actions?app={h}&status={h}"),
        format!("/api/v1/client-config?app={h}"),
    ];
    for page in [
        "health",
        "compliance",
        "crash-groups",
        "compatibility",
        "performance",
        "updates",
    ] {
        gets.push(format!("/api/v1/apps/{APP}/releases/{h}/{page}"));
    }
    for path in gets {
        let rb = p.c.get(format!("{url}{path}")).bearer_auth(token);
        p.check(&format!("GET {path}"), v, rb, true).await;
    }

    // Bodies: each string of a template, one at a time.
    let bodies = [
        (
            "POST",
            format!("/api/v1/apps/{APP}/releases"),
            release_template(),
        ),
        (
            "PUT",
            "/api/v1/alerts/rules/fuzz-rule".to_string(),
            rule_template(),
        ),
        (
            "POST",
            format!("/api/v1/apps/{APP}/crash-groups/fp-1/state"),
            json!({"status": "resolved", "resolved_in": "5.2.1", "merged_into": "fp-2"}),
        ),
        (
            "PUT",
            format!("/api/v1/apps/{APP}/sentry"),
            json!({"enabled": true, "allowed_origins": ["https://m.example"]}),
        ),
        (
            "POST",
            "/api/v1/actions".to_string(),
            json!({"app": APP, "reason": "r", "mode": "approval",
                   "action": {"type": "set_kill_switch", "feature": "trade", "enabled": false}}),
        ),
        (
            "POST",
            format!("/api/v1/apps/{APP}/groups/merge"),
            json!({"into": "fp-1", "from": ["fp-2"]}),
        ),
    ];
    for (method, path, template) in bodies {
        for ptr in string_paths(&template) {
            let body = with_value(&template, &ptr, v);
            let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let rb =
                p.c.request(m, format!("{url}{path}"))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body);
            p.check(&format!("{method} {path} {ptr}"), v, rb, true)
                .await;
        }
    }

    // Hostile path segments of the write routes.
    let raw = v.to_vec();
    let writes = [
        (
            "POST",
            format!("/api/v1/apps/{h}/releases"),
            release_template(),
        ),
        ("PUT", format!("/api/v1/alerts/rules/{h}"), rule_template()),
        ("DELETE", format!("/api/v1/alerts/rules/{h}"), json!({})),
        (
            "POST",
            format!("/api/v1/apps/{APP}/crash-groups/{h}/state"),
            json!({"status": "ignored"}),
        ),
        (
            "PUT",
            format!("/api/v1/apps/{APP}/{h}/{h}"),
            json!({"a": 1}),
        ),
        ("DELETE", format!("/api/v1/apps/{APP}/{h}/{h}"), json!({})),
        ("POST", format!("/api/v1/actions/{h}/approve"), json!({})),
        ("POST", format!("/api/v1/actions/{h}/reject"), json!({})),
        ("POST", format!("/api/v1/audit/{h}/revert"), json!({})),
        (
            "POST",
            format!("/api/v1/apps/{APP}/groups/{h}/split"),
            json!({}),
        ),
        (
            "PUT",
            format!("/api/v1/apps/{h}/sentry"),
            json!({"enabled": false}),
        ),
    ];
    for (method, path, body) in writes {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let rb =
            p.c.request(m, format!("{url}{path}"))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&body).expect("serialise"));
        p.check(&format!("{method} {path}"), v, rb, true).await;
    }
    // The value as a whole body.
    let rb =
        p.c.post(format!("{url}/api/v1/apps/{APP}/releases"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(raw);
    p.check("POST releases raw body", v, rb, true).await;
    if erase {
        let rb =
            p.c.delete(format!("{url}/api/v1/users/{h}?app={APP}"))
                .bearer_auth(token);
        p.check("DELETE /api/v1/users/{v}", v, rb, true).await;
    }
}

/// One value into the dashboard's forms and page parameters.
async fn forms(p: &mut Probe, s: &Session, v: &[u8], login: bool) {
    let url = p.url.clone();
    let h = pct(v);
    let csrf = s.csrf.as_bytes();
    let state: Vec<(&str, &[u8])> = vec![
        ("_csrf", csrf),
        ("status", b"resolved"),
        ("resolved_in", b"5.2.1"),
        ("merged_into", b"fp-2"),
        ("release", b"5.2.0+520013"),
    ];
    let action: Vec<(&str, &[u8])> = vec![
        ("_csrf", csrf),
        ("type", b"set_kill_switch"),
        ("id", b"em-1"),
        ("feature", b"trade"),
        ("enabled", b"false"),
        ("emergency_action", b"notice"),
        ("platform", b"android"),
        ("below", b"5.0.0"),
        ("target_version", b"5.2.0"),
        ("url", b"https://bank.example/upgrade"),
        ("message", b"m"),
        ("reason", b"r"),
        ("mode", b"approval"),
        ("confirm", b"yes"),
    ];
    let posts = [
        (format!("/ui/apps/{APP}/crashes/fp-1/state"), state.clone()),
        (format!("/ui/apps/{APP}/actions"), action),
    ];
    for (path, fields) in posts {
        for i in 1..fields.len() {
            let mut f = fields.clone();
            f[i].1 = v;
            let rb =
                p.c.post(format!("{url}{path}"))
                    .header("cookie", s.header())
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form(&f));
            p.check(&format!("form {path} {}", f[i].0), v, rb, false)
                .await;
        }
    }
    let confirm: Vec<(&str, &[u8])> = vec![("_csrf", csrf), ("confirm", b"yes")];
    let logout: Vec<(&str, &[u8])> = vec![("_csrf", v)];
    let paths = vec![
        (format!("/ui/apps/{APP}/crashes/{h}/state"), state),
        (format!("/ui/actions/{h}/approve"), confirm.clone()),
        (format!("/ui/actions/{h}/reject"), confirm),
        ("/ui/logout".to_string(), logout),
    ];
    if login {
        // With a valid double-submit pair, so the name and password reach
        // the throttle and the password check.
        let (cookie, field) = login_form(&p.c, &url).await;
        let fields: Vec<(&str, &[u8])> = vec![
            ("name", v),
            ("password", v),
            ("_csrf", field.as_bytes()),
            ("next", v),
        ];
        let rb =
            p.c.post(format!("{url}/ui/login"))
                .header("cookie", format!("vitals_login={cookie}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&fields));
        p.check("form /ui/login", v, rb, false).await;
    }
    for (path, f) in paths {
        let rb =
            p.c.post(format!("{url}{path}"))
                .header("cookie", s.header())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&f));
        p.check(&format!("form {path}"), v, rb, false).await;
    }
    for path in [
        format!("/ui/apps/{h}/releases/{h}"),
        format!("/ui/apps/{APP}/releases/{h}"),
        format!("/ui/apps/{APP}/crashes/{h}"),
        format!("/ui/apps/{APP}/crashes?release={h}&sort=urgent"),
        format!("/ui/apps/{APP}/crashes?sort={h}"),
        format!("/ui/apps/{h}/compatibility?release={h}"),
        format!("/ui/apps/{APP}/performance?release={h}"),
        format!("/ui/apps/{APP}/updates?release={h}"),
        format!("/ui/apps/{h}/emergency"),
        format!("/ui/alerts?app={h}"),
        format!("/ui/?app={h}"),
        format!("/ui/prefs?lang={h}&next={h}"),
        format!("/ui/assets/{h}"),
    ] {
        let rb = p.c.get(format!("{url}{path}")).header("cookie", s.header());
        p.check(&format!("GET {path}"), v, rb, false).await;
    }
}

/// One release's API pages, dashboard page and `vitals gate`.
async fn release_evaluates(
    srv: &Server,
    c: &reqwest::Client,
    token: &str,
    s: &Session,
    config: &Path,
    rel: &Value,
) -> Vec<String> {
    let url = &srv.url;
    let mut wrong = Vec::new();
    let (version, build) = (
        rel["version"].as_str().unwrap_or_default(),
        rel["build"].as_str().unwrap_or_default(),
    );
    let label = if build.is_empty() {
        version.to_string()
    } else {
        format!("{version}+{build}")
    };
    let l = pct(label.as_bytes());
    // Every page of the release all batches without a hostile version went
    // to; the verdict pages of every other (each page is an evaluation).
    let pages: &[&str] = if label == "5.2.0+520013" {
        &[
            "health",
            "compliance",
            "crash-groups?sort=urgent",
            "compatibility",
            "performance",
            "updates",
        ]
    } else {
        &["health", "compliance"]
    };
    for page in pages {
        let r = c
            .get(format!("{url}/api/v1/apps/{APP}/releases/{l}/{page}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET release page");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        let leak = problem(status, "application/json", text.as_bytes(), true);
        if status != 200 || leak.is_some() {
            wrong.push(format!("{label:?} {page}: {status} {leak:?} {text}"));
        }
    }
    let r = c
        .get(format!("{url}/ui/apps/{APP}/releases/{l}"))
        .header("cookie", s.header())
        .send()
        .await
        .expect("GET release page");
    if r.status().as_u16() != 200 {
        wrong.push(format!("{label:?} dashboard page: {}", r.status()));
    }
    let out = tokio::process::Command::new(crate::common::bin())
        .args([
            "gate",
            "--app",
            APP,
            "--release",
            &label,
            "--format",
            "json",
        ])
        .args(["--lang", "en", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(&srv.dir)
        .output()
        .await
        .expect("run vitals gate");
    let decided = serde_json::from_slice::<Value>(&out.stdout)
        .is_ok_and(|v| v.get("decision").is_some_and(Value::is_string));
    if !decided || out.status.code().is_none_or(|c| c > 2) {
        wrong.push(format!(
            "{label:?} gate: {:?} {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    wrong
}

/// After the run: every release's API pages and dashboard page answer 200,
/// `vitals gate` gives a decision for each, and the alert rules run again
/// without a failed evaluation. Returns what did not.
async fn still_evaluates(
    srv: &Server,
    c: &reqwest::Client,
    token: &str,
    s: &Session,
    config: &Path,
) -> Vec<String> {
    let url = &srv.url;
    let mut wrong = Vec::new();
    let log_start = srv.log_text().len();
    let r = c
        .get(format!("{url}/api/v1/apps/{APP}/releases"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET releases");
    assert_eq!(r.status().as_u16(), 200, "releases list");
    let list: Value = r.json().await.expect("releases JSON");
    let releases = list["releases"].as_array().cloned().unwrap_or_default();
    assert!(!releases.is_empty(), "no release stored: {list}");
    let started = Instant::now();
    // Eight releases at a time (each runs `vitals gate` too).
    let checks = releases
        .iter()
        .map(|rel| release_evaluates(srv, c, token, s, config, rel));
    let mut results = futures_util::stream::iter(checks).buffer_unordered(8);
    while let Some(w) = results.next().await {
        wrong.extend(w);
    }
    eprintln!(
        "{} releases evaluated in {:.1} s",
        releases.len(),
        started.elapsed().as_secs_f64()
    );

    // The default alert rules run every second: wait for a run that
    // started after now to store its state for the release that has the
    // most sessions (the one every batch without a hostile version went to).
    let series = "%|5.2.0";
    let last = |srv: &Server| {
        srv.count(&format!(
            "SELECT COALESCE(MAX(updated_at), 0) FROM ops_objects WHERE kind = 'alert_state' \
             AND app_id = '{APP}' AND id LIKE '{series}'"
        ))
    };
    let before = last(srv);
    let started = Instant::now();
    while last(srv) <= before {
        if started.elapsed() > Duration::from_secs(30) {
            wrong.push("no alert rule evaluated the first release within 30 s".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = srv.log_text();
    for line in log[log_start.min(log.len())..].lines() {
        if line.contains("evaluation failed") || line.contains("ERROR") {
            wrong.push(format!("log: {line}"));
        }
    }
    wrong
}

async fn run(clickhouse: Option<(&str, &str)>) {
    let seed: u64 = std::env::var("VITALS_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(22_000_022);
    let cases: usize = std::env::var("VITALS_RANDOM_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let project = enable_sentry(dir.path(), APP);
    let token = named_token(dir.path(), "admin", "random-admin");
    create_user(dir.path(), "random-admin", "admin", PW);
    let config = dir.path().join("vitals.toml");
    let mut toml = "[alerts.defaults]\nschedule = \"* * * * * *\"\n".to_string();
    if let Some((url, db)) = clickhouse {
        toml.push_str(&format!(
            "[clickhouse]\nurl = \"{url}\"\ndatabase = \"{db}\"\n"
        ));
    }
    std::fs::write(&config, toml).expect("write config");
    let srv = Server::start_with(dir.path(), "info", Some(&config));
    let c = client();
    let session = login(&c, &srv.url, "random-admin", PW).await;

    // A release with data before anything hostile arrives.
    let mut good = batch_template();
    good["batch_id"] = json!(fresh_nonce());
    let body = serde_json::to_vec(&good).expect("serialise");
    let r = signed(&c, &srv.url, &key, body, now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202, "the good batch");

    let probe = || Probe {
        c: c.clone(),
        url: srv.url.clone(),
        seed,
        case: 0,
        sent: 0,
        wrong: Vec::new(),
    };
    // One probe per door, the four doors at once for each value.
    let mut ps = [probe(), probe(), probe(), probe()];
    let mut rng = Rng::new(seed);
    let mut sweep = 0;
    let started = Instant::now();
    for i in 0..cases {
        let v = value(i, &mut rng, &mut sweep);
        for p in ps.iter_mut() {
            p.case = i;
        }
        let [a, b, d, e] = &mut ps;
        tokio::join!(
            ingest(a, &key, &v),
            sentry(b, &key, &project, &v),
            api(d, &token, &v, i % 8 == 0),
            forms(e, &session, &v, i % 8 == 4),
        );
    }
    let mut p = probe();
    for q in ps {
        p.sent += q.sent;
        p.wrong.extend(q.wrong);
    }
    let backend = if clickhouse.is_some() {
        "ClickHouse"
    } else {
        "SQLite"
    };
    eprintln!(
        "{backend}: {} requests for {cases} values (seed {seed}) in {:.1} s",
        p.sent,
        started.elapsed().as_secs_f64()
    );
    for w in &p.wrong {
        eprintln!("{w}");
    }
    assert!(
        p.wrong.is_empty(),
        "{} of {} answers wrong, first ones:\n{}",
        p.wrong.len(),
        p.sent,
        p.wrong
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Everything accepted is stored, then everything still evaluates.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let accepted = metric(&c, &srv.url, "vitals_events_accepted_total").await;
        let stored = metric(&c, &srv.url, "vitals_events_stored_total").await;
        if stored >= accepted {
            break;
        }
        assert!(Instant::now() < deadline, "{stored} of {accepted} stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("stored at {:.1} s", started.elapsed().as_secs_f64());
    let wrong = still_evaluates(&srv, &c, &token, &session, &config).await;
    assert!(
        wrong.is_empty(),
        "after the run (seed {seed}):\n{}",
        wrong
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_hostile_input_on_sqlite_never_fails_leaks_sql_or_breaks_evaluation() {
    run(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_hostile_input_on_clickhouse_never_fails_leaks_sql_or_breaks_evaluation() {
    let Some(url) = shared_clickhouse() else {
        return;
    };
    /// Drops the test's database, also when the test fails.
    struct Dropped(String, String);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let sql = format!("DROP DATABASE IF EXISTS {}", self.1);
            let _ = crate::common::query(&self.0, &sql);
        }
    }
    let db = Dropped(url.clone(), crate::common::db_name("sec_random"));
    run(Some((&url, &db.1))).await;
}
