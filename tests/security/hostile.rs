//! Hostile values at the edges (issue #22): a control character in an
//! identifier is refused at ingest naming its path, and a hostile value in a
//! URL is a client's mistake answered 4xx, never a 503 carrying SQL.

use super::harness::*;
use crate::common::create_app_key;

const APP: &str = "sec-hostile";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_and_never_reach_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let token = named_token(dir.path(), "viewer", "hostile-viewer");
    let srv = Server::start(dir.path(), "info");
    let c = client();
    let url = &srv.url;

    let good = crate::common::batches(APP, 1, 5, 1).pop().expect("batch");
    let r = signed(
        &c,
        url,
        &key,
        serde_json::to_vec(&good).unwrap(),
        now_secs(),
        &fresh_nonce(),
    )
    .send()
    .await
    .expect("post");
    assert_eq!(r.status().as_u16(), 202);

    // NUL, CR/LF and a right-to-left override in the version: 400 naming
    // the path, nothing stored.
    for (i, bad) in ["5.2.99\u{0}", "5.2.99\r\nX-Injected: 1", "5.2\u{202E}99"]
        .into_iter()
        .enumerate()
    {
        let mut b = crate::common::batches(APP, 1, 5, 100 + i as u64)
            .pop()
            .unwrap();
        b.release.version = bad.into();
        let r = signed(
            &c,
            url,
            &key,
            serde_json::to_vec(&b).unwrap(),
            now_secs(),
            &fresh_nonce(),
        )
        .header("accept-language", "en")
        .send()
        .await
        .expect("post");
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.expect("JSON error");
        assert_eq!(status, 400, "{bad:?}: {v}");
        assert_eq!(v["error"]["path"], "release.version", "{bad:?}: {v}");
        assert_eq!(
            v["error"]["code"], "validate.forbidden_char",
            "{bad:?}: {v}"
        );
    }
    assert_stored_exactly(&c, url, good.events.len() as f64).await;

    // The same values in URLs: unknown releases (404), never 503, never SQL.
    for path in [
        "5.2.99%00",
        "5.2.99%0D%0A",
        "%27%20OR%201%3D1--",
        "a%5C%27b",
    ] {
        for page in ["health", "compliance", "crash-groups"] {
            let r = c
                .get(format!("{url}/api/v1/apps/{APP}/releases/{path}/{page}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("get");
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert!(
                (400..500).contains(&status),
                "{path}/{page}: {status} {text}"
            );
            let upper = text.to_uppercase();
            for sql in ["SELECT ", " FROM ", "WHERE ", "SQLITE", "CLICKHOUSE"] {
                assert!(!upper.contains(sql), "{path}/{page} leaks {sql:?}: {text}");
            }
        }
    }

    // The good release still evaluates.
    let r = c
        .get(format!(
            "{url}/api/v1/apps/{APP}/releases/{}/health",
            good.release.version
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
}
