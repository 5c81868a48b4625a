//! End-to-end: the real binary ingests exact fleets, then `vitals gate`
//! answers with the documented exit codes and JUnit XML.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

const APP: &str = "gate";

fn batch_json(
    id: &str,
    version: &str,
    user: u64,
    events: Vec<serde_json::Value>,
) -> vitals_protocol::Batch {
    serde_json::from_value(json!({
        "v": 1, "batch_id": id, "app_id": APP,
        "release": {"version": version, "build": "1"}, "platform": "android",
        "device": {"model": "SM-S9180", "os_version": "14", "screen": {"width": 1080, "height": 2340, "density": 2.75}},
        "install_id": format!("inst-{user}"), "user_id": format!("user-{user}"), "events": events
    }))
    .expect("valid batch")
}

/// `users` users with one session each, the first `crashed` of them
/// crashing, 200 cold starts of 900 ms and 300 CPU and memory samples
/// (1–3 %, 100–150 MB).
fn fleet(version: &str, users: u64, crashed: u64) -> Vec<vitals_protocol::Batch> {
    let ts = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 600)
        * 1000;
    (0..users)
        .map(|u| {
            let sid = format!("{version}-{u}");
            let mut ev = vec![json!({"type": "session", "ts": ts, "session_id": sid, "phase": "start"})];
            if u < crashed {
                ev.push(json!({"type": "session", "ts": ts + 5000, "session_id": sid, "phase": "end", "status": "crashed", "duration_ms": 5000}));
                ev.push(json!({"type": "crash", "ts": ts + 5000, "crash_id": format!("c-{sid}"), "exception_type": "java.lang.IllegalStateException",
                    "threads": [{"crashed": true, "frames": [{"module": "com.broker.trade.OrderBook", "function": "submit", "line": 88}]}]}));
            } else {
                ev.push(json!({"type": "session", "ts": ts + 5000, "session_id": sid, "phase": "end", "status": "ok", "duration_ms": 5000}));
            }
            if u < 200 {
                ev.push(json!({"type": "cold_start", "ts": ts, "duration_ms": 900}));
            }
            if u < 300 {
                ev.push(json!({"type": "perf", "ts": ts, "cpu_pct": 1.0 + (u % 3) as f64,
                    "memory_mb": 100.0 + (u % 51) as f64}));
            }
            batch_json(&format!("{version}-b{u}"), version, u, ev)
        })
        .collect()
}

fn gate(data: &std::path::Path, release: &str, format: &str) -> (i32, String, String) {
    gate_with(data, release, format, &[])
}

/// `vitals gate` with further arguments.
fn gate_with(
    data: &std::path::Path,
    release: &str,
    format: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let out = Command::new(bin())
        .args([
            "gate",
            "--app",
            APP,
            "--release",
            release,
            "--format",
            format,
            "--lang",
            "en",
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .output()
        .expect("run vitals gate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A server on `data` that has ingested `all` and stored every session;
/// with a viewer token.
async fn loaded(data: &std::path::Path, all: &[vitals_protocol::Batch]) -> (Vitals, String) {
    let key = create_key(data, APP);
    let v = Vitals::serve(data, None);
    let client = reqwest::Client::new();
    let want: u64 = all
        .iter()
        .flat_map(|b| &b.events)
        .filter(|e| matches!(e, vitals_protocol::Event::Session(s) if s.phase == vitals_protocol::SessionPhase::Start))
        .count() as u64;
    let posts = all.chunks(all.len().div_ceil(4)).map(|part| {
        let (client, url, key, part) = (client.clone(), v.url.clone(), key.clone(), part.to_vec());
        tokio::spawn(async move {
            for b in &part {
                assert_eq!(post(&client, &url, &key, b).await, 202);
            }
        })
    });
    for p in posts.collect::<Vec<_>>() {
        p.await.expect("poster");
    }
    // Wait until stored: the releases API counts sessions.
    let token = create_token(data, "viewer");
    let mut stored = 0;
    for _ in 0..200 {
        let body: serde_json::Value = client
            .get(format!("{}/api/v1/apps/{APP}/releases", v.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stored = body["releases"]
            .as_array()
            .map(|r| r.iter().map(|x| x["sessions"].as_u64().unwrap_or(0)).sum())
            .unwrap_or(0);
        if stored == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stored, want);
    (v, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_exit_codes_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 5.1a says "ensure": a crash-free release is proven below 0.05 % once
    // the Wilson upper end of 0 in n is, from n = 7,680 on.
    let mut all = fleet("1.0.0", 8000, 0);
    all.extend(fleet("2.0.0", 2000, 100));
    all.extend(fleet("3.0.0", 40, 0));
    let (v, _) = loaded(&data, &all).await;
    v.terminate();

    let (code, out, err) = gate(&data, "1.0.0", "text");
    assert_eq!(code, 0, "good release is go:\n{out}\n{err}");
    assert!(out.contains("Decision: GO"), "{out}");

    let (code, out, _) = gate(&data, "2.0.0", "junit");
    assert_eq!(code, 1, "bad release is no-go:\n{out}");
    assert!(out.starts_with("<?xml"), "{out}");
    assert!(out.contains(r#"<testcase classname="5.1a" name="5.1a/crash_rate_per_session"><failure type="blocker""#), "{out}");
    assert!(
        out.contains(r#"name="5.1b/crash_group_user_share"><failure type="urgent""#),
        "{out}"
    );
    assert!(
        out.contains(r#"name="5.3c/cold_start"><system-out>"#),
        "cold start passes: {out}"
    );
    let cases = out.matches("<testcase ").count();
    assert!(out.contains(&format!("tests=\"{cases}\"")), "{out}");

    let (code, out, _) = gate(&data, "3.0.0", "json");
    assert_eq!(code, 2, "40 sessions is insufficient data:\n{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"], "insufficient_data");

    // Every release's JSON, with and without a baseline, is what the
    // published schema says (docs/gate.schema.json).
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/gate.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for (release, baseline) in [("1.0.0", None), ("2.0.0", Some("1.0.0")), ("3.0.0", None)] {
        let extra = baseline.map(|b| vec!["--baseline", b]).unwrap_or_default();
        let (_, out, err) = gate_with(&data, release, "json", &extra);
        let doc: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("gate JSON ({e}): {err}"));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{release}: {errors:#?}");
        if baseline.is_some() {
            assert_eq!(doc["baseline"]["release"], "1.0.0", "{release}");
        }
    }

    let (code, _, err) = gate(&data, "9.9.9", "text");
    assert_eq!(code, 2);
    assert!(err.contains("no data for release 9.9.9"), "{err}");

    // A policy error is refused with the rule and the reason, exit 2.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[override]]\napp = \"gate\"\nclause = \"5.3c\"\nstatistic = \"rate\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args([
            "gate",
            "--app",
            APP,
            "--release",
            "1.0.0",
            "--lang",
            "en",
            "--policy",
        ])
        .arg(&bad)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("5.3c/cold_start") && err.contains("statistic"),
        "{err}"
    );

    // The Markdown report names the clauses.
    let out = Command::new(bin())
        .args([
            "report",
            "--app",
            APP,
            "--release",
            "2.0.0",
            "--lang",
            "en",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("# gate 2.0.0 compliance report") && md.contains("| 5.1a |"),
        "{md}"
    );
}

/// `vitals` run in `cwd` with no data directory or server in its
/// environment.
fn vitals_in(cwd: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .current_dir(cwd)
        .env_remove("VITALS_DATA_DIR")
        .env_remove("VITALS_CONFIG")
        .env_remove("VITALS_URL")
        .env_remove("VITALS_TOKEN")
        .env_remove("VITALS_CLICKHOUSE_URL")
        .args(args)
        .output()
        .expect("run vitals");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A CI pipeline's release check: `vitals gate --url … --token …` from
/// another directory answers exactly what the server's own data gives
/// locally (JSON, text, JUnit, exit codes, a policy file sent along); an
/// unknown release or a bad token is exit 2 with the server's message; a
/// read command on a missing data directory fails and creates nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_asks_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut all = fleet("1.0.0", 8000, 0);
    all.extend(fleet("2.0.0", 1500, 60));
    let (v, token) = loaded(&data, &all).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let policy = dir.path().join("loose.toml");
    // Cold start's p90 must be under 800 ms: the 900 ms fleet fails it.
    std::fs::write(
        &policy,
        "[[override]]\napp = \"gate\"\nclause = \"5.3c\"\nthreshold = 800\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--release", "1.0.0", "--format", "json"],
        vec!["--release", "1.0.0", "--format", "text"],
        vec!["--release", "2.0.0", "--format", "json"],
        vec!["--release", "2.0.0", "--format", "junit"],
        vec![
            "--release",
            "2.0.0",
            "--format",
            "json",
            "--baseline",
            "1.0.0",
        ],
        vec![
            "--release",
            "1.0.0",
            "--format",
            "json",
            "--policy",
            &policy,
        ],
    ];
    let mut remote = Vec::new();
    for c in &cases {
        let mut args = vec![
            "gate", "--app", APP, "--lang", "en", "--url", &v.url, "--token", &token,
        ];
        args.extend(c);
        remote.push(vitals_in(elsewhere.path(), &args));
    }
    // An unknown release and a bad token: exit 2 with the server's words.
    let (code, out, err) = vitals_in(
        elsewhere.path(),
        &[
            "gate",
            "--app",
            APP,
            "--release",
            "9.9.9",
            "--lang",
            "en",
            "--url",
            &v.url,
            "--token",
            &token,
        ],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("404") && err.contains("no data for release 9.9.9"),
        "{err}"
    );
    let (code, _, err) = vitals_in(
        elsewhere.path(),
        &[
            "gate",
            "--app",
            APP,
            "--release",
            "1.0.0",
            "--lang",
            "en",
            "--url",
            &v.url,
            "--token",
            "vt_wrong",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("401"), "{err}");
    // The remote report is the server's Markdown.
    let (code, md, err) = vitals_in(
        elsewhere.path(),
        &[
            "report",
            "--app",
            APP,
            "--release",
            "2.0.0",
            "--lang",
            "en",
            "--url",
            &v.url,
            "--token",
            &token,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        md.contains("# gate 2.0.0 compliance report") && md.contains("| 5.1a |"),
        "{md}"
    );
    v.terminate();
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "the remote gate wrote nothing where it ran"
    );

    // The same questions of the same data, locally.
    let data_arg = data.to_str().unwrap();
    for (c, (rcode, rout, rerr)) in cases.iter().zip(&remote) {
        let mut args = vec!["gate", "--app", APP, "--lang", "en", "--data-dir", data_arg];
        args.extend(c);
        let (code, out, err) = vitals_in(elsewhere.path(), &args);
        assert_eq!(rcode, &code, "{c:?}: remote {rerr} local {err}");
        assert_eq!(rout, &out, "{c:?}: remote and local output differ");
        assert_eq!(rerr, &err, "{c:?}");
    }
    assert_eq!(remote[0].0, 0, "1.0.0 is go");
    assert_eq!(remote[2].0, 1, "2.0.0 is no-go");
    assert_eq!(
        remote[5].0, 1,
        "the policy sent along fails 1.0.0's cold start"
    );
    assert!(remote[1].1.contains("Decision: GO"), "{}", remote[1].1);

    // A read command on a missing data directory: exit 2, a message that
    // says what to do, and no files created.
    let missing = elsewhere.path().join("no-such-dir");
    for cmd in [
        vec!["gate", "--app", APP, "--release", "1.0.0", "--lang", "en"],
        vec!["report", "--app", APP, "--lang", "en"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--data-dir", missing.to_str().unwrap()]);
        let (code, _, err) = vitals_in(elsewhere.path(), &args);
        assert_ne!(code, 0, "{cmd:?}");
        assert!(
            err.contains("no data in the data directory") && err.contains("--url"),
            "{err}"
        );
        assert!(!missing.exists(), "{cmd:?} created {}", missing.display());
        // Without --data-dir, the default ./vitals-data is not created either.
        let (code, _, _) = vitals_in(elsewhere.path(), &cmd);
        assert_ne!(code, 0);
        assert_eq!(
            std::fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "{cmd:?}"
        );
    }
    // `vitals switch status` does not answer "0 directives" from a fresh,
    // empty control plane.
    let (code, out, err) = vitals_in(
        elsewhere.path(),
        &[
            "switch",
            "status",
            "--app",
            APP,
            "--lang",
            "en",
            "--data-dir",
            missing.to_str().unwrap(),
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains("no control plane in the data directory"),
        "{err}"
    );
    assert!(!missing.exists());
}
