//! End-to-end security tests (issue #9) against the real `vitals serve` on
//! loopback with the embedded SQLite store: signed ingest (signature,
//! timestamp window, replay, key rotation and revocation), request size
//! limits and bombs, and — in `security/` — the dashboard's authorisation
//! matrix, CSRF, sessions and login throttling, debug-file uploads, and
//! secrets kept out of the logs; alert rules' outbound targets, sign-in
//! under attack, private data files, the two-person rule and
//! the protocol as documented, Sentry intake opt-in per app, and random
//! hostile bytes in every string field of every door (issue #22).
//!
//! Every refusal is checked twice: by its status and error code, and by
//! what the server kept (metrics, the control-plane database, the disk).
#![recursion_limit = "256"]

#[path = "security/at_rest.rs"]
mod at_rest;
mod common;
#[path = "security/harness.rs"]
mod harness;
#[path = "security/hostile.rs"]
mod hostile;
#[path = "security/login.rs"]
mod login;
#[path = "security/logs.rs"]
mod logs;
#[path = "security/outbound.rs"]
mod outbound;
#[path = "security/protocol.rs"]
mod protocol;
#[path = "security/random_input.rs"]
mod random_input;
#[path = "security/random_values.rs"]
mod random_values;
#[path = "security/sentry.rs"]
mod sentry;
#[path = "security/two_person.rs"]
mod two_person;
#[path = "security/uploads.rs"]
mod uploads;
#[path = "security/web.rs"]
mod web;

use common::{Key, create_app_key};
use harness::*;
use std::time::{Duration, Instant};

const APP: &str = "sec-bank";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_ingest_refuses_forged_stale_and_replayed_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let srv = Server::start(dir.path(), "info");
    let c = client();
    let url = &srv.url;
    let mut stored = 0usize;

    // A valid request is accepted.
    let (body, n) = batch_body(APP, 1);
    let r = signed(&c, url, &key, body, now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    stored += n;

    // Signed with a wrong secret: refused, with a readable message in the
    // default language (zh-CN) and in English on request.
    let forged = Key {
        key_id: key.key_id.clone(),
        secret: "0".repeat(64),
    };
    let (body, _) = batch_body(APP, 2);
    let r = signed(&c, url, &forged, body.clone(), now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    let (status, code, msg, lang) = refusal(r).await;
    assert_eq!((status, code.as_str()), (401, "auth.bad_signature"));
    assert_eq!(lang, "zh-CN");
    assert!(msg.contains("签名校验失败"), "zh message: {msg}");
    let r = signed(&c, url, &forged, body, now_secs(), &fresh_nonce())
        .header("accept-language", "en")
        .send()
        .await
        .expect("post");
    let (status, code, msg, lang) = refusal(r).await;
    assert_eq!(
        (status, code.as_str(), lang.as_str()),
        (401, "auth.bad_signature", "en")
    );
    assert!(msg.starts_with("signature mismatch"), "en message: {msg}");

    // Body altered after signing.
    let (body, _) = batch_body(APP, 3);
    let (other, _) = batch_body(APP, 4);
    let (ts, nonce) = (now_secs(), fresh_nonce());
    let mut rb = c
        .post(format!("{url}/api/v1/batch"))
        .header("content-type", "application/json");
    for (k, v) in sig_headers(&key.key_id, &key.secret, &body, ts, &nonce) {
        rb = rb.header(k, v);
    }
    let (status, code, ..) = refusal(rb.body(other).send().await.expect("post")).await;
    assert_eq!((status, code.as_str()), (401, "auth.bad_signature"));

    // Timestamps outside ±300 s are refused, inside are accepted.
    for skew in [-301i64, 301, -3600, 86_400] {
        let (body, _) = batch_body(APP, 10 + skew.unsigned_abs());
        let r = signed(&c, url, &key, body, now_secs() + skew, &fresh_nonce())
            .header("accept-language", "en")
            .send()
            .await
            .expect("post");
        let (status, code, msg, _) = refusal(r).await;
        assert_eq!(
            (status, code.as_str()),
            (401, "auth.stale_timestamp"),
            "skew {skew}"
        );
        assert!(msg.contains("300"), "{msg}");
    }
    let (body, n) = batch_body(APP, 5);
    let r = signed(&c, url, &key, body, now_secs() - 250, &fresh_nonce())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202, "inside the window");
    stored += n;

    // The very same request twice: the second is a replay.
    let (body, n) = batch_body(APP, 6);
    let (ts, nonce) = (now_secs(), fresh_nonce());
    let first = signed(&c, url, &key, body.clone(), ts, &nonce)
        .send()
        .await
        .expect("post");
    assert_eq!(first.status().as_u16(), 202);
    stored += n;
    let again = signed(&c, url, &key, body, ts, &nonce)
        .send()
        .await
        .expect("post");
    let (status, code, msg, _) = refusal(again).await;
    assert_eq!((status, code.as_str()), (401, "auth.replayed_nonce"));
    assert!(msg.contains("重放"), "{msg}");
    // A replayed nonce with a new body and signature is refused too.
    let (body, _) = batch_body(APP, 7);
    let r = signed(&c, url, &key, body, ts, &nonce)
        .send()
        .await
        .expect("post");
    assert_eq!(refusal(r).await.1, "auth.replayed_nonce");

    // Only the three accepted batches were stored.
    assert_stored_exactly(&c, url, stored as f64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_allows_two_active_keys_and_revocation_applies_within_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let k1 = create_app_key(dir.path(), APP);
    let k2 = create_app_key(dir.path(), APP);
    let other = create_app_key(dir.path(), "sec-other");
    let srv = Server::start(dir.path(), "info");
    let c = client();
    let url = &srv.url;
    let mut stored = 0usize;
    let mut seed = 100;
    let mut post = |key: &Key| {
        seed += 1;
        let (body, n) = batch_body(APP, seed);
        (signed(&c, url, key, body, now_secs(), &fresh_nonce()), n)
    };

    // Both active keys are accepted.
    for k in [&k1, &k2] {
        let (rb, n) = post(k);
        assert_eq!(rb.send().await.expect("post").status().as_u16(), 202);
        stored += n;
    }
    // A key of another app may not report for this one.
    let (rb, _) = post(&other);
    let (status, code, ..) = refusal(rb.send().await.expect("post")).await;
    assert_eq!((status, code.as_str()), (403, "auth.app_mismatch"));

    // A third active key is refused (store/src/control.rs: at most two).
    let out = cli(dir.path(), &["keys", "create", "--app", APP], None);
    assert!(!out.status.success(), "third active key created");
    let active = srv.count(&format!(
        "SELECT COUNT(*) FROM ingest_keys WHERE app_id = '{APP}' AND active = 1"
    ));
    assert_eq!(active, 2);

    // Revoke k1: within the refresh time (5 s) it is refused; k2 goes on.
    let out = cli(dir.path(), &["keys", "revoke", &k1.key_id], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    loop {
        let (rb, n) = post(&k1);
        let r = rb
            .header("accept-language", "en")
            .send()
            .await
            .expect("post");
        if r.status().as_u16() == 202 {
            stored += n; // still cached: accepted before the refresh
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "revoked key still accepted"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let (status, code, msg, _) = refusal(r).await;
        assert_eq!((status, code.as_str()), (401, "auth.revoked_key"));
        assert!(msg.contains(&k1.key_id) && msg.contains("revoked"), "{msg}");
        break;
    }
    let (rb, n) = post(&k2);
    assert_eq!(rb.send().await.expect("post").status().as_u16(), 202);
    stored += n;

    // The rotation completes: a new second key, accepted once refreshed.
    let k3 = create_app_key(dir.path(), APP);
    let started = Instant::now();
    loop {
        let (rb, n) = post(&k3);
        let r = rb.send().await.expect("post");
        if r.status().as_u16() == 202 {
            stored += n;
            break;
        }
        assert_eq!(refusal(r).await.1, "auth.unknown_key");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "new key never accepted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_stored_exactly(&c, url, stored as f64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_bodies_and_gzip_bombs_are_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_app_key(dir.path(), APP);
    let srv = Server::start(dir.path(), "info");
    let c = client();
    let url = &srv.url;
    let host = &srv.addr;

    // Request heads: actix-http buffers at most 128 KiB of head per
    // connection and at most 96 headers; beyond either it answers 431. A
    // 64 KiB header fits that bound and is served (not an error).
    let big_header = |kib: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
            "a".repeat(kib << 10)
        )
        .into_bytes()
    };
    let (status, ..) = raw(host, big_header(64), Vec::new());
    assert!(matches!(status, 200 | 400 | 431), "64 KiB header: {status}");
    for kib in [256, 1024] {
        let (status, ..) = raw(host, big_header(kib), Vec::new());
        assert_eq!(status, 431, "{kib} KiB header");
    }
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n{many}\r\n");
    let (status, ..) = raw(host, head.into_bytes(), Vec::new());
    assert_eq!(status, 431, "200 headers");
    let healthy = c
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthy.status().as_u16(), 200);

    // A correctly signed 2 MiB body (limit 1 MiB), declared and chunked.
    let mut big = br#"{"v":1,"pad":""#.to_vec();
    big.resize(2 << 20, b'x');
    big.extend_from_slice(b"\"}");
    let sig = sig_headers(&key.key_id, &key.secret, &big, now_secs(), &fresh_nonce());
    let mut head = format!(
        "POST /api/v1/batch HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        big.len()
    );
    for (k, v) in &sig {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let (status, _, body) = raw(host, head.into_bytes(), big.clone());
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request.too_large"), "{body}");

    let sig = sig_headers(&key.key_id, &key.secret, &big, now_secs(), &fresh_nonce());
    let mut head = format!(
        "POST /api/v1/batch HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nAccept-Language: en\r\n"
    );
    for (k, v) in &sig {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut chunked = Vec::new();
    for part in big.chunks(32 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, _, body) = raw(host, head.into_bytes(), chunked);
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("request.too_large") && body.contains("exceeds"),
        "{body}"
    );

    // A gzip bomb: 64 MiB of zeros in ~64 KiB, correctly signed.
    let bomb = gzip_zeros(64);
    assert!(bomb.len() < 200 << 10, "bomb is {} bytes", bomb.len());
    let r = signed(&c, url, &key, bomb, now_secs(), &fresh_nonce())
        .header("content-encoding", "gzip")
        .send()
        .await
        .expect("post");
    let (status, code, msg, _) = refusal(r).await;
    assert_eq!(
        (status, code.as_str()),
        (413, "request.decompressed_too_large")
    );
    assert!(msg.contains("1048576"), "{msg}");

    // Still serving: health, and a normal batch is accepted and stored;
    // nothing of the refused ones was.
    let healthy = c
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(healthy.status().as_u16(), 200);
    let (body, n) = batch_body(APP, 1);
    let r = signed(&c, url, &key, body, now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    assert_stored_exactly(&c, url, n as f64).await;
    assert!(
        srv.peak_rss_kib() < 512 << 10,
        "peak RSS {} KiB",
        srv.peak_rss_kib()
    );
}
