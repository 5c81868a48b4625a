//! Webhooks end to end (issue #22, SSRF): a crash spike fires a rule whose
//! webhooks point at HTTP servers on loopback, which an admin allows
//! explicitly (`[alerts.webhooks] allow_internal = ["127.0.0.1"]`):
//!
//! - the good one gets the JSON notice once;
//! - one answering 500 with a long body quoting a secret: retried, and
//!   each record keeps `HTTP 500` and a bounded excerpt without the secret;
//! - one answering a redirect to another loopback server: the redirect is
//!   not followed (that server gets nothing);
//! - every record's target has its `key=` masked.
//!
//! Without the admin's entry (the default settings), a rule stored earlier
//! that points at loopback is refused at delivery: one attempt, recorded
//! with the reason in the configured language, and the server gets
//! nothing. Loading rules that point at the metadata address or carry a
//! header in an e-mail recipient fails.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vitals_alerts::outbound::WebhookSettings;
use vitals_alerts::{AlertError, AlertSettings, Alerts};
use vitals_control::{Control, ControlSettings};
use vitals_i18n::Lang;
use vitals_protocol::AcceptedBatch;
use vitals_store::ops::{Applied, Change};
use vitals_store::{ControlPlane, SqliteStore, Store};

/// An HTTP server on loopback that answers every request with one canned
/// response and keeps the request bodies.
struct Hook {
    port: u16,
    got: Arc<Mutex<Vec<String>>>,
}

impl Hook {
    async fn start(response: String) -> Hook {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let (g, response) = (g.clone(), response.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 8192];
                    loop {
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse::<usize>().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                g.lock().unwrap().push(text[end + 4..].to_string());
                                break;
                            }
                        }
                        match s.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let _ = s.write_all(response.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Hook { port, got }
    }

    fn requests(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn batch(id: &str, install: &str, ts_ms: i64, crashed: bool) -> AcceptedBatch {
    let json = serde_json::json!({
        "v": 1, "batch_id": id, "app_id": "zq",
        "release": {"version": "5.2.0", "build": "1"}, "platform": "android",
        "device": {"model": "SM-S9180", "class": "phone", "os_version": "14",
                   "screen": {"width": 1080, "height": 2340, "density": 2.625}},
        "install_id": install,
        "events": [
            {"type": "session", "ts": ts_ms, "session_id": format!("s-{id}"), "phase": "start"},
            {"type": "session", "ts": ts_ms + 60_000, "session_id": format!("s-{id}"), "phase": "end",
             "status": if crashed { "crashed" } else { "ok" }, "duration_ms": 60_000}
        ]
    });
    AcceptedBatch {
        app_id: "zq".into(),
        received_at_ms: ts_ms,
        client_ip: None,
        batch: serde_json::from_value(json).expect("valid batch"),
    }
}

fn rule(id: &str, webhooks: &[(&str, String)], email: &str) -> String {
    let mut r = format!(
        r#"
[[alert]]
id = "{id}"
app = "zq"
clause = "5.1a"
metric = "crash_rate_per_session"
statistic = "rate"
threshold = 0.0005
min_sample = 200
window_secs = 3600
schedule = "0 */5 * * * *"
email = ["{email}"]
"#
    );
    for (kind, url) in webhooks {
        r.push_str(&format!(
            "[[alert.webhooks]]\nkind = \"{kind}\"\nurl = \"{url}\"\n"
        ));
    }
    r
}

struct World {
    dir: tempfile::TempDir,
    cp: Arc<ControlPlane>,
    store: Arc<dyn Store>,
    control: Arc<Control>,
    t0: DateTime<Utc>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let cp = Arc::new(ControlPlane::open(dir.path().join("control.sqlite")).unwrap());
    cp.ensure_app("zq", None).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("t.sqlite")).unwrap());
    store.migrate().await.unwrap();
    let control = Arc::new(
        Control::new(
            cp.clone(),
            ControlSettings::default(),
            Some(store.clone()),
            None,
            Lang::ZhCn,
        )
        .unwrap(),
    );
    let t0 = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2024, 11, 29, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    // A spike: 1 in 10 of 600 sessions crashes.
    let batches: Vec<AcceptedBatch> = (0..600)
        .map(|i| {
            let ts = (t0 + chrono::Duration::minutes(6)).timestamp_millis() + i as i64 * 1000;
            batch(&format!("b-{i}"), &format!("i-{i}"), ts, i % 10 == 0)
        })
        .collect();
    store
        .insert(&batches, &Default::default(), false)
        .await
        .unwrap();
    World {
        dir,
        cp,
        store,
        control,
        t0,
    }
}

fn alerts(w: &World, rules: &str, webhooks: WebhookSettings) -> Result<Alerts, AlertError> {
    let path = w.dir.path().join("alerts.toml");
    std::fs::write(&path, rules).unwrap();
    let mut settings = AlertSettings {
        rules: Some(path),
        attempts: 2,
        backoff_ms: 0,
        webhook_timeout_secs: 5,
        webhooks,
        // Only the configured rules (the defaults: smtp_e2e.rs).
        defaults: vitals_alerts::DefaultAlerts {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    };
    settings.digest.recipients.clear();
    settings.weekly.recipients.clear();
    Alerts::new(
        w.control.clone(),
        w.store.clone(),
        vitals_analyzer::Analyzer::new(
            w.store.clone(),
            w.cp.clone(),
            vitals_analyzer::policy::Policy::standard(),
            "Asia/Shanghai",
        ),
        settings,
        Lang::ZhCn,
        "Asia/Shanghai",
        &prometheus::Registry::new(),
        w.t0,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_only_allowed_hosts_and_records_keep_no_secret() {
    let w = world().await;
    let ok = Hook::start(response("200 OK", "", r#"{"errcode":0}"#)).await;
    let long = format!(
        "upstream failed; callback https://gw.bank.example/cb?access_token=SECRET-C {}",
        "x".repeat(8000)
    );
    let failing = Hook::start(response("500 Internal Server Error", "", &long)).await;
    let trap = Hook::start(response("200 OK", "", "{}")).await;
    let redirect = Hook::start(response(
        "302 Found",
        &format!("Location: http://127.0.0.1:{}/\r\n", trap.port),
        "",
    ))
    .await;
    let hooks = [
        (
            "json",
            format!("http://127.0.0.1:{}/hook?key=SECRET-A", ok.port),
        ),
        (
            "wecom",
            format!(
                "http://127.0.0.1:{}/cgi-bin/webhook/send?key=SECRET-B",
                failing.port
            ),
        ),
        ("dingtalk", format!("http://127.0.0.1:{}/r", redirect.port)),
    ];
    // The loopback servers need the admin's explicit entry.
    let refused = alerts(
        &w,
        &rule("spike", &hooks, "ops@example.cn"),
        Default::default(),
    )
    .err()
    .expect("loopback refused by default");
    assert!(
        refused
            .to_string()
            .contains("not in [alerts.webhooks] allow_hosts"),
        "{refused}"
    );
    let allow = WebhookSettings {
        allow_internal: vec!["127.0.0.1".into()],
        ..Default::default()
    };
    let a = alerts(&w, &rule("spike", &hooks, "ops@example.cn"), allow).unwrap();
    let fired = a.tick(w.t0 + chrono::Duration::minutes(40)).await;
    assert_eq!(fired.len(), 1, "{fired:?}");

    assert_eq!(ok.requests(), 1);
    assert!(ok.got.lock().unwrap()[0].contains("\"clause\":\"5.1a\""));
    assert_eq!(failing.requests(), 2, "retried once");
    assert_eq!(redirect.requests(), 2);
    assert_eq!(trap.requests(), 0, "a redirect was followed");

    let history = w.cp.alert_history(&Default::default()).unwrap();
    let ds = w.cp.deliveries(history[0].id).unwrap();
    let all = format!("{ds:?}");
    assert!(!all.contains("SECRET"), "a secret in the records: {all}");
    let of = |channel: &str| {
        ds.iter()
            .filter(|d| d.channel == channel)
            .collect::<Vec<_>>()
    };
    let json = of("json");
    assert_eq!(json.len(), 1);
    assert!(json[0].ok);
    assert_eq!(
        json[0].target,
        format!("http://127.0.0.1:{}/hook?key=***", ok.port)
    );
    let wecom = of("wecom");
    assert_eq!(wecom.len(), 2);
    for d in &wecom {
        let e = d.error.as_deref().unwrap_or_default();
        assert!(!d.ok && e.starts_with("HTTP 500: upstream failed"), "{e}");
        assert!(e.chars().count() <= 301, "{} characters", e.chars().count());
        assert!(e.contains("access_token=***"), "{e}");
    }
    let ding = of("dingtalk");
    assert!(ding.iter().all(|d| {
        !d.ok
            && d.error
                .as_deref()
                .unwrap_or_default()
                .starts_with("HTTP 302")
    }));
    println!(
        "\nWEBHOOK records: ok={:?} failed={:?}",
        json[0].target, wecom[0].error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_targets_are_refused_at_delivery_and_when_loading() {
    let w = world().await;
    let trap = Hook::start(response("200 OK", "", "{}")).await;
    // A rule saved through the API earlier (before the allow-list was
    // tightened) that points at loopback.
    let stored: vitals_alerts::rule::AlertRule =
        toml::from_str::<vitals_alerts::rule::RulesFile>(&rule(
            "old",
            &[("json", format!("http://127.0.0.1:{}/x", trap.port))],
            "ops@example.cn",
        ))
        .unwrap()
        .alerts
        .remove(0);
    w.cp.apply_change(
        &Change {
            app_id: "zq".into(),
            kind: vitals_alerts::engine::RULE_KIND.into(),
            object_id: "old".into(),
            action: "alert_rule.put".into(),
            after: Some(serde_json::to_value(&stored).unwrap()),
            reason: String::new(),
            alert: None,
            client_visible: false,
        },
        &Applied {
            actor: "ops-a",
            ..Default::default()
        },
    )
    .unwrap();
    let a = alerts(&w, "", WebhookSettings::default()).unwrap();
    let fired = a.tick(w.t0 + chrono::Duration::minutes(40)).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(trap.requests(), 0, "an internal address was reached");
    let history = w.cp.alert_history(&Default::default()).unwrap();
    let ds = w.cp.deliveries(history[0].id).unwrap();
    assert_eq!(ds.len(), 1, "refusals are not retried: {ds:?}");
    let e = ds[0].error.as_deref().unwrap_or_default();
    assert!(!ds[0].ok && e.contains("不在允许列表中"), "{e}");

    // Loading rules: the metadata service even when its address is listed
    // as a host, and a recipient smuggling a header.
    let meta = WebhookSettings {
        allow_hosts: vec!["169.254.169.254".into()],
        allow_internal: vec![],
    };
    let r = rule(
        "meta",
        &[("json", "http://169.254.169.254/latest/meta-data/".into())],
        "ops@example.cn",
    );
    let e = alerts(&w, &r, meta).err().expect("metadata refused");
    assert!(
        e.to_string().contains("internal address 169.254.169.254"),
        "{e}"
    );
    let r = rule("hdr", &[], "ops@example.cn\\r\\nBcc: all@evil.example");
    let e = alerts(&w, &r, WebhookSettings::default())
        .err()
        .expect("recipient refused");
    assert!(matches!(e, AlertError::Refused { .. }), "{e}");
}
