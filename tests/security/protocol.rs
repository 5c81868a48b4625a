//! The protocol as documented (issue #22): batches in `deflate` or `br`
//! get `415 request.bad_encoding` (docs/protocol.md lists identity, gzip
//! and zstd), after the signature is checked; writes to the API are
//! authenticated before their body is read (an anonymous malformed body
//! gets 401, not a 400 describing the route); HSTS when served over HTTPS.

use crate::APP;
use crate::common::create_app_key;
use crate::harness::*;
use std::io::Write;

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("deflate");
    e.finish().expect("deflate")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_come_only_in_documented_encodings_after_their_signature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let srv = Server::start(dir.path(), "info");
    let (c, url) = (client(), srv.url.clone());

    let (json, _) = batch_body(APP, 1);
    for (encoding, body) in [
        ("deflate", zlib(&json)),
        ("br", b"\x1b\x00\x00\x00".to_vec()),
        ("x-gzip", gzip(&json)),
        ("compress", json.clone()),
    ] {
        let r = signed(&c, &url, &key, body, now_secs(), &fresh_nonce())
            .header("content-encoding", encoding)
            .header("accept-language", "en")
            .send()
            .await
            .expect("post");
        let (status, code, msg, _) = refusal(r).await;
        assert_eq!(
            (status, code.as_str()),
            (415, "request.bad_encoding"),
            "{encoding}: {msg}"
        );
    }
    // Unsigned: refused for that first, whatever the encoding.
    let r = c
        .post(format!("{url}/api/v1/batch"))
        .header("content-encoding", "deflate")
        .body(zlib(&json))
        .send()
        .await
        .expect("post");
    assert_eq!(refusal(r).await.0, 401);
    // The documented ones are taken.
    let (json, n) = batch_body(APP, 2);
    let r = signed(&c, &url, &key, gzip(&json), now_secs(), &fresh_nonce())
        .header("content-encoding", "gzip")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let (json, m) = batch_body(APP, 3);
    let r = signed(&c, &url, &key, json, now_secs(), &fresh_nonce())
        .header("content-encoding", "identity")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    assert_stored_exactly(&c, &url, (n + m) as f64).await;
    // No HSTS over plain HTTP.
    let r = c.get(format!("{url}/healthz")).send().await.expect("get");
    assert!(r.headers().get("strict-transport-security").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_writes_are_authenticated_before_their_body_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_app_key(dir.path(), APP);
    let ops = named_token(dir.path(), "operator", "api-ops");
    let srv = Server::start(dir.path(), "info");
    let (c, url) = (client(), srv.url.clone());
    let routes: Vec<(reqwest::Method, String)> = vec![
        (reqwest::Method::POST, "/api/v1/actions".into()),
        (reqwest::Method::POST, "/api/v1/audit/1/revert".into()),
        (reqwest::Method::PUT, "/api/v1/alerts/rules/r1".into()),
        (reqwest::Method::PUT, format!("/api/v1/apps/{APP}/sites/s1")),
        (
            reqwest::Method::POST,
            format!("/api/v1/apps/{APP}/releases"),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/apps/{APP}/groups/merge"),
        ),
    ];
    let send = |m: &reqwest::Method, path: &str, auth: Option<&str>| {
        let mut rb = c
            .request(m.clone(), format!("{url}{path}"))
            .header("content-type", "application/json")
            .body("{\"this is\": not json");
        if let Some(t) = auth {
            rb = rb.header("authorization", format!("Bearer {t}"));
        }
        rb.send()
    };
    for (m, path) in &routes {
        let (status, code, msg, lang) = refusal(send(m, path, None).await.expect("send")).await;
        assert_eq!(
            (status, code.as_str(), lang.as_str()),
            (401, "auth.missing_token", "zh-CN"),
            "{m} {path}: {msg}"
        );
        let (status, code, ..) =
            refusal(send(m, path, Some("vt_forged")).await.expect("send")).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "auth.bad_token"),
            "{m} {path}"
        );
        // With a token, the body is read and found wanting.
        let r = send(m, path, Some(&ops)).await.expect("send");
        assert_eq!(r.status().as_u16(), 400, "{m} {path}");
    }
    assert!(
        srv.log_text()
            .contains("API write refused before reading its body"),
        "logged"
    );
    // Dashboard forms alike: without a session, the sign-in redirect,
    // whatever the body.
    for path in [
        format!("/ui/apps/{APP}/actions"),
        format!("/ui/apps/{APP}/crashes/fp/state"),
        "/ui/actions/x/approve".to_string(),
        "/ui/logout".to_string(),
    ] {
        let r = c
            .post(format!("{url}{path}"))
            .header("content-type", "application/json")
            .body("{\"not\": a form")
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 303, "{path}");
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(loc.starts_with("/ui/login"), "{path}: {loc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_brings_hsts_and_secure_cookies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("vitals.toml");
    std::fs::write(&config, "[https]\nenabled = true\n").expect("config");
    let srv = Server::start_with(dir.path(), "info", Some(&config));
    let c = client();
    for path in ["/healthz", "/ui/login", "/api/v1/apps"] {
        let r = c
            .get(format!("{}{path}", srv.url))
            .send()
            .await
            .expect("get");
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
        if path == "/ui/login" {
            let (_, attrs) = set_cookie(&r, "vitals_login").expect("login cookie");
            assert!(attrs.contains("Secure"), "{attrs}");
        }
    }
}
