//! Real, unmodified Sentry SDKs — `sentry-sdk` for Python and `@sentry/node`
//! — pointed at the real `vitals` binary with a vitals DSN. Scripts run
//! sessions, crash in some of them with unhandled exceptions, and the
//! analyzer's crash rates per session and per user must equal what the
//! scripts did; the crashes become groups whose frames name the scripts'
//! functions.
//!
//! `.ci/run` installs the SDKs (`pip install sentry-sdk`, `npm ci` in
//! `tests/sentry_sdks`). Without them the test is skipped locally and fails
//! under CI.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn sdks_available(dir: &Path) -> bool {
    let py = Command::new("python3")
        .args(["-c", "import sentry_sdk"])
        .output()
        .is_ok_and(|o| o.status.success());
    let node = dir.join("node_modules/@sentry/node").exists();
    if !(py && node) {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must install sentry-sdk and @sentry/node (python ok: {py}, node ok: {node})"
        );
        eprintln!("Sentry SDKs not installed: skipping");
    }
    py && node
}

/// Runs one app process; a crash run exits non-zero by design.
fn run(dir: &Path, program: &str, script: &str, dsn: &str, user: &str, crash: bool) {
    let out = Command::new(program)
        .current_dir(dir)
        .args([script, dsn, user, if crash { "crash" } else { "ok" }])
        .output()
        .expect("run SDK script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if crash {
        assert!(
            !out.status.success(),
            "{script} {user}: a crash run should fail"
        );
        assert!(
            stderr.contains("over the limit"),
            "{script} {user}: {stderr}"
        );
    } else {
        assert!(out.status.success(), "{script} {user}: {stderr}");
    }
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_sentry_sdks_report_sessions_and_crashes() {
    let dir = repo().join("tests/sentry_sdks");
    if !sdks_available(&dir) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let Key { key_id: key, .. } = create_app_key(&data, "sdk");
    // Sentry-protocol intake is off until an admin enables it (issue #22).
    let project = enable_sentry(&data, "sdk");
    let token = create_token(&data, "viewer");
    let v = Vitals::serve(&data, None);
    let dsn = format!(
        "{}/{project}",
        v.url.replacen("http://", &format!("http://{key}@"), 1)
    );

    // Python: 4 users, 8 sessions, 3 crashed, 2 users with a crash.
    let py_runs = [
        ("u1", false),
        ("u1", false),
        ("u1", true),
        ("u2", false),
        ("u2", false),
        ("u3", true),
        ("u3", true),
        ("u4", false),
    ];
    for (user, crash) in py_runs {
        run(&dir, "python3", "python_app.py", &dsn, user, crash);
    }
    // Node: 3 users, 5 sessions, 1 crashed, 1 user with a crash.
    let node_runs = [
        ("n1", false),
        ("n1", true),
        ("n2", false),
        ("n3", false),
        ("n3", false),
    ];
    for (user, crash) in node_runs {
        run(&dir, "node", "node_app.mjs", &dsn, user, crash);
    }

    let client = reqwest::Client::new();
    let releases = format!("{}/api/v1/apps/sdk/releases", v.url);
    let mut body = serde_json::Value::Null;
    for _ in 0..200 {
        body = get(&client, &releases, &token).await;
        let total: u64 = body["releases"]
            .as_array()
            .map(|r| r.iter().map(|x| x["sessions"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        let crashes: u64 = body["releases"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| x["fatal_crashes"].as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0);
        if total >= 13 && crashes >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let find = |version: &str| {
        body["releases"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["version"] == version).cloned())
            .unwrap_or_else(|| panic!("no release {version} in {body}"))
    };
    for (version, sessions, crashed, users, crashed_users) in
        [("2.0.0", 8, 3, 4, 2), ("3.0.0", 5, 1, 3, 1)]
    {
        let r = find(version);
        assert_eq!(
            (
                r["sessions"].as_u64(),
                r["crashed_sessions"].as_u64(),
                r["users"].as_u64(),
                r["crashed_users"].as_u64()
            ),
            (
                Some(sessions),
                Some(crashed),
                Some(users),
                Some(crashed_users)
            ),
            "{version}: {r}"
        );
        let health = get(
            &client,
            &format!("{}/api/v1/apps/sdk/releases/{version}/health", v.url),
            &token,
        )
        .await;
        assert_eq!(
            health["crash_rate_per_session"].as_f64(),
            Some(crashed as f64 / sessions as f64),
            "{health}"
        );
        assert_eq!(
            health["crash_rate_per_user"].as_f64(),
            Some(crashed_users as f64 / users as f64),
            "{health}"
        );
        assert_eq!(
            r["build"],
            if version == "2.0.0" { "20" } else { "30" },
            "release split into version and build"
        );
    }
    // Crash groups carry the scripts' exception types; the stored frames
    // name the scripts' functions.
    for (version, exception, functions) in [
        ("2.0.0", "ValueError", ["validate_order", "place_order"]),
        ("3.0.0", "RangeError", ["validateOrder", "placeOrder"]),
    ] {
        let groups = get(
            &client,
            &format!(
                "{}/api/v1/apps/sdk/releases/{version}/crash-groups?sort=urgent",
                v.url
            ),
            &token,
        )
        .await;
        let g = groups["groups"]
            .as_array()
            .unwrap_or_else(|| panic!("{groups}"));
        assert_eq!(g.len(), 1, "one group per crash kind: {groups}");
        assert!(
            g[0]["exception_type"].as_str().unwrap().contains(exception),
            "{groups}"
        );
        let conn = rusqlite::Connection::open(data.join("telemetry.sqlite")).unwrap();
        let payload: String = conn
            .query_row(
                "SELECT payload FROM events WHERE kind = 'crash' AND version = ?1 LIMIT 1",
                [version],
                |r| r.get(0),
            )
            .unwrap();
        for f in functions {
            assert!(payload.contains(f), "{version}: {f} not in {payload}");
        }
    }
    v.terminate();
}
