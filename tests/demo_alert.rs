//! `vitals demo` shows an alert firing (issue #15, "alerts out of the box"):
//! the simulated fleet's newest release crashes more often than 0.05 % and
//! part of the fleet is live traffic of the last hour, so the default
//! crash-rate rule fires; the demo prints it and the dashboard's alert page
//! lists it.

mod common;
#[allow(dead_code)]
#[path = "security/harness.rs"]
mod harness;

use common::bin;
use harness::{client, login};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RULE: &str = "default/demo/5.1a/crash_rate_per_session";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fires_the_default_crash_rate_alert_and_shows_it() {
    let t = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(bin())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--lang",
            "en",
            "--devices",
            "400",
            "--rate",
            "40",
            "--seed",
            "11",
            "--data-dir",
        ])
        .arg(t.path().join("demo"))
        .env("VITALS_LOG", "warn")
        .env_remove("VITALS_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vitals demo");
    let (tx, rx) = mpsc::channel::<String>();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let (mut url, mut admin, mut announced) = (String::new(), None, false);
    let deadline = Instant::now() + Duration::from_secs(420);
    let fired = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(l) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no alert printed within 7 minutes (url {url})");
        };
        if url.is_empty()
            && let Some(u) = l.split_whitespace().find(|w| w.starts_with("http://"))
        {
            url = u.trim_end_matches("/ui/").trim_end_matches('/').to_string();
        }
        let parts: Vec<&str> = l.trim().split(" / ").collect();
        if l.starts_with("  ") && parts.len() == 3 && parts[0] == "admin" {
            admin = Some(parts[1].to_string());
        }
        announced |= l.starts_with("Default alert rules") && l.contains("/ui/alerts");
        if l.starts_with("ALERT fired: ") && l.contains(RULE) {
            break l;
        }
    };
    assert!(announced, "the demo says where alerts show");
    // The newest release, over 0.05 %, with the evidence and where to look.
    assert!(fired.contains("(clause 5.1a) release 5.3.0: "), "{fired}");
    assert!(fired.contains("threshold 0.0500%"), "{fired}");
    assert!(fired.contains("sessions crashed"), "{fired}");
    assert!(fired.ends_with(&format!("See {url}/ui/alerts")), "{fired}");
    let value: f64 = fired
        .split("release 5.3.0: ")
        .nth(1)
        .and_then(|r| r.split('%').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {fired}"));
    assert!(value > 0.05, "{fired}");

    // The dashboard's alert page lists the rule and its firing.
    let c = client();
    let s = login(&c, &url, "admin", admin.as_deref().expect("admin account")).await;
    let page = c
        .get(format!("{url}/ui/alerts"))
        .header("cookie", format!("vitals_session={}", s.cookie))
        .send()
        .await
        .expect("GET /ui/alerts")
        .text()
        .await
        .expect("alerts page");
    let history = page
        .split("data-testid=\"alert-history\"")
        .nth(1)
        .expect("an alert history table");
    assert!(history.contains(RULE), "rule missing from the history");
    assert!(history.contains("! fired"), "no fired event listed");
    assert!(history.contains("5.1a"));
    let _ = child.kill();
    let _ = child.wait();
}
