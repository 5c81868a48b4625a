//! Secrets never reach the logs: the server at its most verbose level
//! (`VITALS_LOG=trace`), and the CLI that creates keys, users and tokens.

use crate::APP;
use crate::common::Key;
use crate::harness::*;
use std::time::{Duration, Instant};

const PW: &str = "Correct-Horse-Battery-9";
const WRONG_PW: &str = "Correct-Horse-Battery-8";

/// `vitals keys create` with trace logging; checks its log (stderr) does
/// not carry the secret it prints on stdout.
fn create_key_logged(dir: &std::path::Path) -> Key {
    let out = cli(dir, &["keys", "create", "--app", APP], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let key = Key {
        key_id: field("key id:"),
        secret: field("secret:"),
    };
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&key.secret));
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_trace_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = create_key_logged(dir.path());
    let out = cli(
        dir.path(),
        &[
            "users",
            "create",
            "--name",
            "ops-a",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some(&format!("{PW}\n")),
    );
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(PW),
        "CLI logged the password"
    );
    let out = cli(
        dir.path(),
        &["tokens", "create", "--role", "admin", "--name", "ci"],
        None,
    );
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&token),
        "CLI logged the token"
    );

    let srv = Server::start(dir.path(), "trace");
    let (c, url) = (client(), srv.url.clone());

    // Signed ingest: accepted, forged, replayed.
    let (body, _) = batch_body(APP, 1);
    let (ts, nonce) = (now_secs(), fresh_nonce());
    let r = signed(&c, &url, &key, body.clone(), ts, &nonce)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    let r = signed(&c, &url, &key, body, ts, &nonce)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);
    let forged = Key {
        key_id: key.key_id.clone(),
        secret: format!("{}x", key.secret),
    };
    let (body, _) = batch_body(APP, 2);
    let r = signed(&c, &url, &forged, body, now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);

    // Dashboard: a failed and a good sign-in, a form post, logout.
    let (login_cookie, _) = login_form(&c, &url).await;
    let r = try_login(&c, &url, "ops-a", WRONG_PW, None).await;
    assert_eq!(r.status().as_u16(), 401);
    let s = login(&c, &url, "ops-a", PW).await;
    let path = format!("/ui/apps/{APP}/crashes/fp-logs/state");
    let form = [("_csrf", s.csrf.as_str()), ("status", "ignored")];
    let r = post_form(&c, &url, &path, Some(&s.header()), &form, &[]).await;
    assert_eq!(r.status().as_u16(), 303);
    let r = post_form(
        &c,
        &url,
        "/ui/logout",
        Some(&s.header()),
        &[("_csrf", &s.csrf)],
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);

    // API tokens: a good one and a mistyped one.
    let bad_token = format!("{token}0");
    for t in [&token, &bad_token] {
        let r = c
            .get(format!("{url}/api/v1/apps"))
            .header("authorization", format!("Bearer {t}"))
            .send()
            .await
            .expect("GET /api/v1/apps");
        assert!(matches!(r.status().as_u16(), 200 | 401), "{}", r.status());
    }

    // A key created while the server runs, then used.
    let fresh = create_key_logged(dir.path());
    let started = Instant::now();
    loop {
        let (body, _) = batch_body(APP, 3);
        let r = signed(&c, &url, &fresh, body, now_secs(), &fresh_nonce())
            .send()
            .await
            .expect("post");
        if r.status().as_u16() == 202 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "new key not accepted"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let log = srv.log_text();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "not verbose:\n{log}"
    );
    assert!(log.contains("dashboard sign-in"), "the exercise was logged");
    let secrets = [
        ("ingest secret", key.secret.as_str()),
        ("new ingest secret", fresh.secret.as_str()),
        ("forged secret", forged.secret.as_str()),
        ("password", PW),
        ("wrong password", WRONG_PW),
        ("API token", token.as_str()),
        ("mistyped API token", bad_token.as_str()),
        ("session cookie", s.cookie.as_str()),
        ("CSRF token", s.csrf.as_str()),
        ("login CSRF cookie", login_cookie.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 10, "{what} too short to search for");
        if let Some(line) = log.lines().find(|l| l.contains(secret)) {
            panic!("{what} in the log: {line}");
        }
    }
}
