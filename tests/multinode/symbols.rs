//! 6: a debug file uploaded through one node is used by the other without
//! a restart: a minidump sent there is stored symbolicated.

use crate::cluster::*;
use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

const SYM_APP: &str = "mn-native";
const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/minidump");
/// linux.dmp's main module (crash.debug).
const DEBUG_ID: &str = "c0bcc3f1-9827-fe65-3058-404b2831d9e6";

/// Posts the fixture minidump linux.dmp to node `base`'s Sentry endpoint.
async fn post_minidump(client: &reqwest::Client, base: &str, key: &Key, project: &str) {
    let dump = std::fs::read(format!("{FIX}/mini-dumps/linux.dmp")).expect("linux.dmp");
    let mut body = Vec::new();
    body.extend_from_slice(b"--vitalsB\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n");
    body.extend_from_slice(
        json!({
            "event_id": uuid::Uuid::new_v4().simple().to_string(),
            "release": format!("{SYM_APP}@1.0.0+1"),
            "timestamp": now_secs(),
            "user": {"id": "u1"}
        })
        .to_string()
        .as_bytes(),
    );
    body.extend_from_slice(b"\r\n--vitalsB\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"linux.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(&dump);
    body.extend_from_slice(b"\r\n--vitalsB--\r\n");
    let r = client
        .post(format!(
            "{base}/api/{}/minidump/?sentry_key={}",
            project, key.key_id
        ))
        .header("content-type", "multipart/form-data; boundary=vitalsB")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST minidump to {base}: {e}"));
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
}

/// The fixture's ground truth (tests/fixtures/README.md): rip 0x401d72 →
/// `crash` main.cpp:23, inlined in `start` :27, in `main` :35.
fn symbolicated(doc: &Value) -> bool {
    let frames = doc["threads"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["crashed"] == true))
        .and_then(|t| t["frames"].as_array().cloned())
        .unwrap_or_default();
    let find = |func: &str, line: u64| {
        frames.iter().any(|f| {
            f["function"].as_str().is_some_and(|n| n.contains(func))
                && f["line"].as_u64() == Some(line)
                && f["file"].as_str().is_some_and(|p| p.ends_with("main.cpp"))
        })
    };
    find("crash", 23) && find("start", 27) && find("main", 35)
}

/// Whether the crash's notes name `debug_id` as a missing file (the
/// system libraries of the dump, libc and ld, stay missing).
fn names_missing_file(doc: &Value, debug_id: &str) -> bool {
    doc["notes"].as_array().is_some_and(|n| {
        n.iter()
            .filter_map(Value::as_str)
            .any(|n| n.starts_with(vitals_store::MISSING_FILE_NOTE) && n.contains(debug_id))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_file_uploaded_through_one_node_symbolicates_crashes_on_the_other() {
    let Some(mut c) = Cluster::new("symbols") else {
        return;
    };
    let key = create_app_key_with_config(c.config(0), SYM_APP);
    let project = enable_sentry_with_config(c.config(0), SYM_APP);
    let ops = create_named_token_with_config(c.config(0), "operator", "ops");
    c.start_both();
    let client = reqwest::Client::new();
    let list = |i: usize| {
        let (client, url, ops) = (
            client.clone(),
            format!("{}/api/v1/apps/{SYM_APP}/debug-files", c.url(i)),
            ops.clone(),
        );
        async move {
            let (status, body) = get_json(&client, &url, &ops).await;
            assert_eq!(status, 200, "{url}: {body}");
            body["files"].as_array().cloned().unwrap_or_default()
        }
    };
    // Node B has looked at the app (it has no files yet) before the upload:
    // what it learnt then must not stick.
    assert!(list(1).await.is_empty());

    // The debug file goes in through node A, as CI uploads it.
    let out = vitals_command()
        .args(["upload-symbols", "--app", SYM_APP, "--lang", "en", "--url"])
        .arg(c.url(0))
        .arg("--token")
        .arg(&ops)
        .arg("--config")
        .arg(c.config(0))
        .arg(format!("{FIX}/symbolic-debugfiles/linux/crash.debug"))
        .output()
        .expect("run vitals upload-symbols");
    assert!(
        out.status.success(),
        "upload-symbols: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let on_a = list(0).await;
    assert_eq!(on_a.len(), 1, "A lists its upload at once: {on_a:?}");
    let file_id = on_a[0]["id"].as_str().unwrap_or_default().to_string();

    // Node B sees it without a restart (its index follows the directory).
    eventually("node B lists the file uploaded through A", PATIENCE, || {
        let (f, file_id) = (list(1), file_id.clone());
        async move {
            let files = f.await;
            if files.iter().any(|x| x["id"] == file_id.as_str()) {
                Ok(())
            } else {
                Err(format!("{files:?}"))
            }
        }
    })
    .await;

    // A crash sent to B now is stored symbolicated by B.
    post_minidump(&client, &c.url(1), &key, &project).await;
    let sql = format!(
        "SELECT payload FROM {}.events WHERE app_id = '{SYM_APP}' AND kind = 'crash' \
         FORMAT JSONEachRow",
        c.db
    );
    let ch = c.ch[1].clone();
    let doc = eventually("the crash sent to B is stored", PATIENCE, || {
        let r = query(&ch, &sql);
        async move {
            let text = r?;
            let row: Value = text
                .lines()
                .next()
                .and_then(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| format!("no crash row yet: {text:?}"))?;
            serde_json::from_str::<Value>(row["payload"].as_str().unwrap_or(""))
                .map_err(|e| format!("payload ({e}): {row}"))
        }
    })
    .await;
    assert!(
        symbolicated(&doc),
        "the crash stored by B is not symbolicated: frames {}\nnotes {}\nnode b:\n{}",
        doc["threads"],
        doc["notes"],
        c.log_tail(1)
    );
    assert!(
        !names_missing_file(&doc, DEBUG_ID),
        "B marked the crash as missing the file: {}",
        doc["notes"]
    );
}
