//! End-to-end: a minidump posted to the Sentry `/minidump/` endpoint of the
//! real binary, with the matching debug file uploaded by
//! `vitals upload-symbols`, is stored symbolicated: function, file and line
//! of the crashing frame and its inline chain.

mod common;

use common::*;
use std::process::Command;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minidump");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minidump_with_uploaded_debug_file_is_symbolicated() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let Key { key_id: key, .. } = create_app_key(&data, "native");
    let project = enable_sentry(&data, "native");
    // The debug file goes into the local store before the server starts.
    let up = Command::new(bin())
        .args([
            "upload-symbols",
            "--app",
            "native",
            "--lang",
            "en",
            "--data-dir",
        ])
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

    let dump = std::fs::read(format!("{FIX}/mini-dumps/linux.dmp")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut body = Vec::new();
    body.extend_from_slice(b"--vitalsB\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n");
    body.extend_from_slice(
        format!(
            "{{\"release\":\"native@1.0.0+1\",\"timestamp\":{now},\"user\":{{\"id\":\"u1\"}}}}"
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"\r\n--vitalsB\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"linux.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(&dump);
    body.extend_from_slice(b"\r\n--vitalsB--\r\n");
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/{project}/minidump/?sentry_key={key}",
            v.url
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

    let conn = rusqlite::Connection::open(data.join("telemetry.sqlite")).unwrap();
    let mut payload = String::new();
    for _ in 0..200 {
        if let Ok(p) = conn.query_row(
            "SELECT payload FROM events WHERE kind = 'crash' LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        ) {
            payload = p;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let doc: serde_json::Value =
        serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}: {payload:?}"));
    let frames = doc["threads"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["crashed"] == true))
        .map(|t| t["frames"].clone())
        .unwrap_or_default();
    let frames = frames.as_array().cloned().unwrap_or_default();
    let show: Vec<String> = frames
        .iter()
        .take(4)
        .map(|f| format!("{} {}:{}", f["function"], f["file"], f["line"]))
        .collect();
    // Fixture README: rip 0x401d72 → crash main.cpp:23, inlined in start :27, in main :35.
    let find = |func: &str, line: u64| {
        frames.iter().any(|f| {
            f["function"].as_str().is_some_and(|n| n.contains(func))
                && f["line"].as_u64() == Some(line)
                && f["file"].as_str().is_some_and(|p| p.ends_with("main.cpp"))
        })
    };
    assert!(
        find("crash", 23) && find("start", 27) && find("main", 35),
        "frames: {show:?}\nnotes: {}",
        doc["notes"]
    );
    assert!(
        doc["notes"].to_string().contains("symbolicated"),
        "{}",
        doc["notes"]
    );
    v.terminate();
}
