//! End to end with a real SMTP server on loopback (Python's `aiosmtpd`,
//! writing a maildir): a crash spike in release 5.2.0 fires the 5.1a rule,
//! the mail arrives with subject, clause id, figures and the chart; the
//! rule's automatic action puts the emergency directive into the client
//! config in the same evaluation; no duplicate inside the re-notify
//! interval; the recovery mail follows when the spike ends. Time is
//! injected: nothing sleeps for a schedule.

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use vitals_alerts::{AlertSettings, Alerts, DefaultAlerts};
use vitals_control::client_config::{ClientQuery, build};
use vitals_control::{Control, ControlSettings};
use vitals_i18n::Lang;
use vitals_protocol::AcceptedBatch;
use vitals_store::{ControlPlane, SqliteStore, Store};

struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts aiosmtpd on a free loopback port; `None` (skip) when it is not
/// installed, except under CI where it must be (.ci/run installs it).
fn start_smtp(dir: &Path) -> Option<Smtp> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let maildir = dir.join("maildir");
    let child = Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var("CI").is_err(),
                "python3 missing under CI: {e}"
            );
            return None;
        }
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Smtp {
                child,
                port,
                maildir,
            });
        }
        if let Ok(Some(status)) = child.try_wait() {
            assert!(
                std::env::var("CI").is_err(),
                "aiosmtpd did not start ({status}); pip install aiosmtpd"
            );
            eprintln!("aiosmtpd not available ({status}): test skipped");
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("aiosmtpd did not listen within 10 s");
}

/// Messages in the maildir, oldest first.
fn mails(dir: &Path) -> Vec<String> {
    let mut files: Vec<(std::time::SystemTime, String, PathBuf)> =
        std::fs::read_dir(dir.join("new"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let m = e
                            .metadata()
                            .and_then(|m| m.modified())
                            .unwrap_or(std::time::UNIX_EPOCH);
                        (m, e.file_name().to_string_lossy().to_string(), e.path())
                    })
                    .collect()
            })
            .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|(_, _, p)| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// The decoded (RFC 2047) subject of a raw message.
fn subject(raw: &str) -> String {
    let mut lines = raw.lines().skip_while(|l| !l.starts_with("Subject:"));
    let mut s = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("Subject:")
        .to_string();
    for l in lines {
        if l.starts_with(' ') || l.starts_with('\t') {
            s.push_str(l);
        } else {
            break;
        }
    }
    s.split_whitespace()
        .map(|w| {
            match w
                .strip_prefix("=?utf-8?b?")
                .or_else(|| w.strip_prefix("=?UTF-8?B?"))
            {
                Some(b) => {
                    let b = b.trim_end_matches("?=");
                    String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(b)
                            .unwrap_or_default(),
                    )
                    .unwrap_or_default()
                }
                None => format!("{w} "),
            }
        })
        .collect::<String>()
}

/// Decoded bodies of base64 parts with a content type starting with `ct`.
fn parts(raw: &str, ct: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for chunk in raw.split("\r\n--").flat_map(|c| c.split("\n--")) {
        let Some((head, body)) = chunk
            .split_once("\r\n\r\n")
            .or_else(|| chunk.split_once("\n\n"))
        else {
            continue;
        };
        let head_l = head.to_ascii_lowercase();
        if head_l.contains(&format!("content-type: {ct}")) {
            let data: String = body
                .lines()
                .take_while(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .concat();
            if head_l.contains("base64") {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(data.trim())
                        .unwrap_or_default(),
                );
            } else {
                out.push(body.as_bytes().to_vec());
            }
        }
    }
    out
}

fn batch(id: &str, version: &str, install: &str, ts_ms: i64, crashed: bool) -> AcceptedBatch {
    let json = serde_json::json!({
        "v": 1, "batch_id": id, "app_id": "zq",
        "release": {"version": version, "build": "1"}, "platform": "android",
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

async fn load(
    store: &dyn Store,
    prefix: &str,
    version: &str,
    start: DateTime<Utc>,
    n: usize,
    crashed_every: usize,
) {
    let batches: Vec<AcceptedBatch> = (0..n)
        .map(|i| {
            let ts = start.timestamp_millis() + (i as i64 % 1800) * 1000;
            batch(
                &format!("{prefix}-{i}"),
                version,
                &format!("i-{i}"),
                ts,
                crashed_every > 0 && i % crashed_every == 0,
            )
        })
        .collect();
    store
        .insert(&batches, &Default::default(), false)
        .await
        .unwrap();
}

const RULES: &str = r#"
[[alert]]
id = "crash-spike"
app = "zq"
clause = "5.1a"
metric = "crash_rate_per_session"
statistic = "rate"
threshold = 0.0005
min_sample = 200
window_secs = 3600
for_secs = 0
renotify_secs = 3600
schedule = "0 */5 * * * *"
email = ["ops@example.cn", "sre@example.cn"]

[alert.action]
mode = "automatic"
action = { type = "activate_emergency", id = "crash-spike", emergency = { platform = "android", action = "block", target_version = "5.1.9-emergency", url = "https://dl.example.cn/zq-emergency.apk", reason = { zh-CN = "交易功能已切换到应急版本", en = "trading moved to the emergency version" }, mandatory = true } }
"#;

/// The services over a fresh SQLite store with app `zq`, and alerts that
/// mail through `smtp` with the rules file `rules` and `defaults`.
struct Setup {
    cp: Arc<ControlPlane>,
    store: Arc<dyn Store>,
    control: Arc<Control>,
    alerts: Alerts,
    t0: DateTime<Utc>,
}

async fn setup(dir: &Path, smtp: &Smtp, rules: Option<&str>, defaults: DefaultAlerts) -> Setup {
    let cp = Arc::new(ControlPlane::open(dir.join("control.sqlite")).unwrap());
    cp.ensure_app("zq", None).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("t.sqlite")).unwrap());
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
    let analyzer = vitals_analyzer::Analyzer::new(
        store.clone(),
        cp.clone(),
        vitals_analyzer::policy::Policy::standard(),
        "Asia/Shanghai",
    );
    let rules = rules.map(|text| {
        let path = dir.join("alerts.toml");
        std::fs::write(&path, text).unwrap();
        path
    });
    let mut settings = AlertSettings {
        rules,
        attempts: 2,
        backoff_ms: 0,
        defaults,
        ..Default::default()
    };
    settings.smtp.host = "127.0.0.1".into();
    settings.smtp.port = smtp.port;
    settings.smtp.tls = "none".into();
    settings.smtp.from = "vitals <vitals@example.cn>".into();
    settings.digest.recipients.clear();
    settings.weekly.recipients.clear();
    // 2024-11-29 10:00 Shanghai.
    let t0 = chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2024, 11, 29, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let alerts = Alerts::new(
        control.clone(),
        store.clone(),
        analyzer,
        settings,
        Lang::ZhCn,
        "Asia/Shanghai",
        &prometheus::Registry::new(),
        t0,
    )
    .unwrap();
    Setup {
        cp,
        store,
        control,
        alerts,
        t0,
    }
}

/// A fresh install (no rules configured) alerts the administrators when
/// the crash rate crosses 0.05 %: the default rules, one per blocker and
/// urgent rule of the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_install_alerts_on_a_crash_spike() {
    let dir = tempfile::tempdir().unwrap();
    let Some(smtp) = start_smtp(dir.path()) else {
        return;
    };
    let defaults = DefaultAlerts {
        email: vec!["admin@example.cn".into()],
        ..Default::default()
    };
    let Setup {
        store, alerts, t0, ..
    } = setup(dir.path(), &smtp, None, defaults).await;
    let ids: Vec<String> = alerts.rules().into_iter().map(|r| r.id).collect();
    for want in [
        "default/zq/5.1a/crash_rate_per_session",
        "default/zq/5.1a/crash_rate_per_user",
        "default/zq/5.1b/crash_group_user_share",
        "default/zq/5.3c/cold_start",
        "default/zq/5.3d/cpu",
        "default/zq/5.3e/memory",
    ] {
        assert!(ids.iter().any(|i| i == want), "{want} in {ids:?}");
    }
    let minute = |m: i64| chrono::Duration::minutes(m);
    // 2,000 sessions in the hour, 1 in 20 crashed: 5 % per session.
    load(store.as_ref(), "spike", "5.2.0", t0 - minute(40), 2000, 20).await;
    // The sessions end "crashed" without crash reports: their users
    // crashed all the same (either signal, docs/METRICS.md), so both 5.1a
    // rates fire; no crash group exists for 5.1b.
    let fired = alerts.tick(t0 + minute(5)).await;
    let rules: Vec<&str> = fired.iter().map(|t| t.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "default/zq/5.1a/crash_rate_per_session",
            "default/zq/5.1a/crash_rate_per_user"
        ],
        "{fired:?}"
    );
    assert_eq!(
        (fired[0].event, fired[0].series.as_str()),
        ("fired", "5.2.0")
    );
    let got = mails(&smtp.maildir);
    assert_eq!(got.len(), fired.len(), "one mail per fired rule");
    assert!(got.iter().all(|m| m.contains("admin@example.cn")));
    assert!(got.iter().any(|m| m.contains("5.1a")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_spike_fires_mails_acts_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(smtp) = start_smtp(dir.path()) else {
        return;
    };
    // Only the configured rule: the defaults have their own test.
    let defaults = DefaultAlerts {
        enabled: false,
        ..Default::default()
    };
    let Setup {
        cp,
        store,
        control,
        alerts,
        t0,
    } = setup(dir.path(), &smtp, Some(RULES), defaults).await;
    let client = || {
        let q = ClientQuery {
            app: "zq".into(),
            platform: "android".into(),
            version: "5.2.0".into(),
            ..Default::default()
        };
        build(&cp, &control.settings, &q, "k", t0.timestamp()).unwrap()
    };

    // Healthy hour before: 5.2.0 with 400 sessions, no crash. Nothing fires.
    load(
        store.as_ref(),
        "ok1",
        "5.2.0",
        t0 - chrono::Duration::minutes(50),
        400,
        0,
    )
    .await;
    let minute = |m: i64| chrono::Duration::minutes(m);
    assert!(
        alerts.tick(t0 + minute(1)).await.is_empty(),
        "not due before 10:05"
    );
    assert!(alerts.tick(t0 + minute(5)).await.is_empty(), "healthy");
    assert!(client().emergency.is_none());

    // The spike: 1 in 10 sessions crashes.
    load(store.as_ref(), "spike", "5.2.0", t0 + minute(6), 600, 10).await;
    let fired = alerts.tick(t0 + minute(40)).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        (fired[0].event, fired[0].series.as_str()),
        ("fired", "5.2.0")
    );
    // Automatic mode: the directive is in the client config now, in this
    // very evaluation.
    let em = client()
        .emergency
        .expect("emergency directive in client-config");
    assert_eq!(em.target_version, "5.1.9-emergency");
    assert!(em.mandatory);
    let other = build(
        &cp,
        &control.settings,
        &ClientQuery {
            app: "zq".into(),
            platform: "android".into(),
            version: "5.1.0".into(),
            ..Default::default()
        },
        "k",
        0,
    )
    .unwrap();
    assert!(other.emergency.is_none(), "scoped to the breaching release");
    let audit = cp.audit(Some("zq"), 10).unwrap();
    assert_eq!(audit[0].action, "emergency.activate");
    assert_eq!(audit[0].actor, "alert:crash-spike");
    assert!(
        audit[0]
            .alert
            .as_deref()
            .unwrap_or_default()
            .starts_with("crash-spike#")
    );

    // Still breaching 20 minutes later: inside the re-notify interval, no mail.
    assert!(alerts.tick(t0 + minute(60)).await.is_empty());
    let got = mails(&smtp.maildir);
    assert_eq!(got.len(), 1, "exactly one mail for the spike");
    let mail = &got[0];
    let subj = subject(mail);
    assert!(subj.contains("[5.1a]"), "clause id in the subject: {subj}");
    assert!(subj.contains("5.2.0") && subj.contains("告警"), "{subj}");
    assert!(mail.contains("ops@example.cn") && mail.contains("sre@example.cn"));
    let text = String::from_utf8(parts(mail, "text/plain").concat()).unwrap_or_default();
    assert!(
        text.contains("5.1a") && text.contains("crash-spike"),
        "{text}"
    );
    assert!(text.contains("当前值：10.0000%"), "value figure: {text}");
    assert!(text.contains("阈值：0.0500%"), "threshold figure: {text}");
    assert!(
        text.contains("60 / 600 个会话崩溃"),
        "sessions figure: {text}"
    );
    assert!(
        text.contains("2024-11-29 10:40:00（Asia/Shanghai）"),
        "local time: {text}"
    );
    assert!(text.contains("审计记录"), "action noted: {text}");
    let png = parts(mail, "image/png");
    assert_eq!(png.len(), 1, "one chart");
    assert_eq!(&png[0][..8], b"\x89PNG\r\n\x1a\n");
    assert!(!parts(mail, "text/html").is_empty());
    let history = cp.alert_history(&Default::default()).unwrap();
    let deliveries = cp.deliveries(history[0].id).unwrap();
    assert!(
        deliveries.iter().any(|d| d.ok && d.channel == "email"),
        "{deliveries:?}"
    );

    // The spike ends: an hour of healthy sessions, evaluated at 11:40.
    load(store.as_ref(), "ok2", "5.2.0", t0 + minute(70), 1000, 0).await;
    let rec = alerts.tick(t0 + minute(100)).await;
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].event, "recovered");
    let got = mails(&smtp.maildir);
    assert_eq!(got.len(), 2);
    let subj = subject(&got[1]);
    assert!(subj.contains("[5.1a]") && subj.contains("已恢复"), "{subj}");
    // Nothing more while healthy.
    assert!(alerts.tick(t0 + minute(105)).await.is_empty());
    assert_eq!(mails(&smtp.maildir).len(), 2);
}
