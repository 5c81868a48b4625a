//! End-to-end: a minidump arrives (Sentry `/minidump/` endpoint of the
//! real binary) before its debug file. It is stored unsymbolicated, naming
//! the file it lacks. Then the debug file is uploaded with
//! `vitals upload-symbols --url`; the server re-symbolicates the stored
//! crash in the background and rewrites it: the store, the crash endpoint
//! and the crash-groups API show the symbolicated frames and the new
//! fingerprint — the group a crash sent after the upload lands in — and
//! the old group is gone.
//!
//! SQLite always; ClickHouse too when `VITALS_TEST_CLICKHOUSE_URL` is set.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minidump");
const APP: &str = "native";
/// linux.dmp's main module (crash.debug).
const DEBUG_ID: &str = "c0bcc3f1-9827-fe65-3058-404b2831d9e6";

enum Backend {
    Sqlite(PathBuf),
    ClickHouse { url: String, db: String },
}

/// A stored crash row.
#[derive(Debug, Clone)]
struct Row {
    crash_id: String,
    fingerprint: String,
    payload: Value,
}

impl Backend {
    fn rows(&self) -> Vec<Row> {
        match self {
            Backend::Sqlite(path) => {
                let Ok(conn) = rusqlite::Connection::open(path) else {
                    return Vec::new();
                };
                let Ok(mut st) = conn.prepare(
                    "SELECT crash_id, fingerprint, payload FROM events WHERE kind = 'crash' ORDER BY ts",
                ) else {
                    return Vec::new();
                };
                st.query_map([], |r| {
                    Ok(Row {
                        crash_id: r.get(0)?,
                        fingerprint: r.get(1)?,
                        payload: serde_json::from_str(&r.get::<_, String>(2)?)
                            .unwrap_or(Value::Null),
                    })
                })
                .map(|rows| rows.flatten().collect())
                .unwrap_or_default()
            }
            Backend::ClickHouse { url, db } => query(
                url,
                &format!(
                    "SELECT crash_id, fingerprint, payload FROM {db}.events \
                     WHERE kind = 'crash' ORDER BY ts FORMAT JSONEachRow"
                ),
            )
            .map(|text| {
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .map(|v| Row {
                        crash_id: v["crash_id"].as_str().unwrap_or("").to_string(),
                        fingerprint: v["fingerprint"].as_str().unwrap_or("").to_string(),
                        payload: serde_json::from_str(v["payload"].as_str().unwrap_or(""))
                            .unwrap_or(Value::Null),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        }
    }

    fn row(&self, crash_id: &str) -> Option<Row> {
        self.rows().into_iter().find(|r| r.crash_id == crash_id)
    }
}

fn crashed_frames(doc: &Value) -> Vec<Value> {
    doc["threads"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["crashed"] == true))
        .and_then(|t| t["frames"].as_array().cloned())
        .unwrap_or_default()
}

/// The fixture's ground truth: `crash` main.cpp:23, inlined in `start`
/// :27, in `main` :35.
fn symbolicated(doc: &Value) -> bool {
    let frames = crashed_frames(doc);
    let find = |func: &str, line: u64| {
        frames.iter().any(|f| {
            f["function"].as_str().is_some_and(|n| n.contains(func))
                && f["line"].as_u64() == Some(line)
                && f["file"].as_str().is_some_and(|p| p.ends_with("main.cpp"))
        })
    };
    find("crash", 23) && find("start", 27) && find("main", 35)
}

fn notes(doc: &Value) -> String {
    doc["notes"].to_string()
}

fn names_missing_file(doc: &Value) -> bool {
    doc["notes"].as_array().is_some_and(|n| {
        n.iter()
            .filter_map(Value::as_str)
            .any(|n| n.starts_with(vitals_store::MISSING_FILE_NOTE) && n.contains(DEBUG_ID))
    })
}

async fn post_minidump(client: &reqwest::Client, url: &str, key: &Key, project: &str) {
    let dump = std::fs::read(format!("{FIX}/mini-dumps/linux.dmp")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut body = Vec::new();
    body.extend_from_slice(b"--vitalsB\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n");
    body.extend_from_slice(
        format!(
            "{{\"event_id\":\"{}\",\"release\":\"native@1.0.0+1\",\"timestamp\":{now},\"user\":{{\"id\":\"u1\"}}}}",
            uuid::Uuid::new_v4().simple()
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"\r\n--vitalsB\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"linux.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(&dump);
    body.extend_from_slice(b"\r\n--vitalsB--\r\n");
    let resp = client
        .post(format!(
            "{url}/api/{}/minidump/?sentry_key={}",
            project, key.key_id
        ))
        .header("content-type", "multipart/form-data; boundary=vitalsB")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> Value {
    let r = client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"))
}

async fn group_fingerprints(client: &reqwest::Client, url: &str, token: &str) -> Vec<String> {
    let g = get(
        client,
        &format!("{url}/api/v1/apps/{APP}/releases/1.0.0+1/crash-groups"),
        token,
    )
    .await;
    g["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("{g}"))
        .iter()
        .filter_map(|g| g["fingerprint"].as_str().map(str::to_string))
        .collect()
}

/// Polls `f` every 200 ms for up to `secs`.
async fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scenario(data: &Path, backend: Backend, clickhouse: Option<(&str, &str)>) {
    let key = create_app_key(data, APP);
    let project = enable_sentry(data, APP);
    let token = create_token(data, "admin");
    let v = Vitals::serve(data, clickhouse);
    let client = reqwest::Client::new();

    // 1. The crash arrives first: stored unsymbolicated, naming its file.
    post_minidump(&client, &v.url, &key, &project).await;
    let first = wait_for(30, || backend.rows().into_iter().next())
        .await
        .expect("crash stored");
    let old_fp = first.fingerprint.clone();
    assert!(!symbolicated(&first.payload), "{}", first.payload);
    assert!(
        names_missing_file(&first.payload),
        "notes: {}",
        notes(&first.payload)
    );
    assert!(
        first.payload["raw"]
            .as_str()
            .is_some_and(|r| r.starts_with("attachment:")),
        "raw form kept as the attachment reference: {}",
        first.payload["raw"]
    );
    let crash_url = format!("{}/api/v1/apps/{APP}/crashes/{}", v.url, first.crash_id);
    let before = get(&client, &crash_url, &token).await;
    assert!(!symbolicated(&before), "{before}");
    assert!(
        before["missing"]
            .as_array()
            .is_some_and(|m| m.iter().any(|f| f["debug_id"].as_str() == Some(DEBUG_ID))),
        "{}",
        before["missing"]
    );
    assert!(
        before["notes"].as_array().is_some_and(|n| n
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.starts_with("missing: ")))),
        "{}",
        before["notes"]
    );
    assert_eq!(
        group_fingerprints(&client, &v.url, &token).await,
        vec![old_fp.clone()]
    );

    // 2. The debug file arrives, through the running server.
    let up = Command::new(bin())
        .args(["upload-symbols", "--app", APP, "--lang", "en", "--url"])
        .arg(&v.url)
        .arg("--token")
        .arg(&token)
        .arg("--data-dir")
        .arg(data)
        .arg(format!("{FIX}/symbolic-debugfiles/linux/crash.debug"))
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    // 3. The stored crash is rewritten: symbolicated, regrouped.
    let id = first.crash_id.clone();
    let rewritten = wait_for(30, || {
        backend
            .row(&id)
            .filter(|r| symbolicated(&r.payload) && r.fingerprint != old_fp)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "stored crash not re-symbolicated within 30 s: {:?}",
            backend.row(&id)
        )
    });
    assert!(
        !names_missing_file(&rewritten.payload),
        "{}",
        notes(&rewritten.payload)
    );
    assert_eq!(
        rewritten.payload["raw"], first.payload["raw"],
        "the raw form survives the rewrite"
    );
    let after = get(&client, &crash_url, &token).await;
    assert!(symbolicated(&after), "{after}");
    assert_eq!(after["exception_type"], before["exception_type"]);
    assert!(
        after["missing"]
            .as_array()
            .is_some_and(|m| m.iter().all(|f| f["debug_id"].as_str() != Some(DEBUG_ID))),
        "{}",
        after["missing"]
    );
    let groups = group_fingerprints(&client, &v.url, &token).await;
    assert_eq!(
        groups,
        vec![rewritten.fingerprint.clone()],
        "old group gone"
    );

    // 4. A crash sent now lands in the same group.
    post_minidump(&client, &v.url, &key, &project).await;
    let second = wait_for(30, || backend.rows().into_iter().find(|r| r.crash_id != id))
        .await
        .expect("second crash stored");
    assert!(symbolicated(&second.payload), "{}", second.payload);
    assert_eq!(second.fingerprint, rewritten.fingerprint);
    let g = get(
        &client,
        &format!("{}/api/v1/apps/{APP}/releases/1.0.0+1/crash-groups", v.url),
        &token,
    )
    .await;
    assert_eq!(g["groups"].as_array().map(Vec::len), Some(1), "{g}");
    assert_eq!(g["groups"][0]["events"], 2, "{g}");

    // The job's counters.
    let metrics = client
        .get(format!("{}/metrics", v.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "vitals_crashes_resymbolicated_total 1",
        "vitals_crashes_regrouped_total 1",
        "vitals_crash_resymbolication_failures_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in metrics");
    }
    v.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_debug_file_resymbolicates_and_regroups_stored_crash_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let backend = Backend::Sqlite(data.join("telemetry.sqlite"));
    scenario(&data, backend, None).await;
}

/// A file that arrives while the server is down (written straight into
/// the data directory) is picked up by the sweep at the next start, as is
/// whatever a job stopped mid-way left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_sweep_resymbolicates_what_arrived_while_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let backend = Backend::Sqlite(data.join("telemetry.sqlite"));
    let key = create_app_key(&data, APP);
    let project = enable_sentry(&data, APP);
    let v = Vitals::serve(&data, None);
    post_minidump(&reqwest::Client::new(), &v.url, &key, &project).await;
    let first = wait_for(30, || backend.rows().into_iter().next())
        .await
        .expect("crash stored");
    assert!(names_missing_file(&first.payload));
    v.terminate();

    let up = Command::new(bin())
        .args(["upload-symbols", "--app", APP, "--lang", "en", "--data-dir"])
        .arg(&data)
        .arg(format!("{FIX}/symbolic-debugfiles/linux/crash.debug"))
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let v = Vitals::serve(&data, None);
    let id = first.crash_id.clone();
    let rewritten = wait_for(30, || {
        backend
            .row(&id)
            .filter(|r| symbolicated(&r.payload) && r.fingerprint != first.fingerprint)
    })
    .await;
    assert!(rewritten.is_some(), "{:?}", backend.row(&id));
    v.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_debug_file_resymbolicates_and_regroups_stored_crash_clickhouse() {
    let Some(url) = shared_clickhouse() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let db = format!("vitals_resym_{}", std::process::id());
    let _ = query(&url, &format!("DROP DATABASE IF EXISTS {db}"));
    let backend = Backend::ClickHouse {
        url: url.clone(),
        db: db.clone(),
    };
    scenario(&data, backend, Some((&url, &db))).await;
    let _ = query(&url, &format!("DROP DATABASE IF EXISTS {db}"));
}
