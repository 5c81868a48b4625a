//! Sign-in under attack (issue #22): a flood of concurrent sign-ins with
//! unknown names and guesses at `admin` from several addresses (behind a
//! trusted proxy, `X-Forwarded-For`) must keep the server's memory bounded
//! (each password check holds 19 MiB: only a few run at once, the rest
//! wait in a short queue or get 429 + Retry-After), and the right password
//! must keep working for `admin` from their own browser meanwhile. The
//! per-name delay strangers get is progressive and capped, never a lock.

use crate::harness::*;
use std::time::{Duration, Instant};

const PW: &str = "Pa55word-for-tests";
const ADMIN_IP: &str = "198.51.100.7";

/// A sign-in through the real form from client address `ip` (told by the
/// trusted proxy), with `cookies` also sent. Returns the response.
async fn sign_in(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    password: &str,
    ip: &str,
    cookies: &str,
) -> reqwest::Response {
    let (token, field) = login_form(c, url).await;
    c.post(format!("{url}/ui/login"))
        .header("x-forwarded-for", ip)
        .header("cookie", format!("vitals_login={token}; {cookies}"))
        .form(&[
            ("name", name),
            ("password", password),
            ("_csrf", field.as_str()),
            ("next", "/ui/"),
        ])
        .send()
        .await
        .expect("POST /ui/login")
}

fn status_and_retry(r: &reqwest::Response) -> (u16, Option<u64>) {
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (r.status().as_u16(), retry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sign_ins_keeps_memory_bounded_and_the_right_password_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_user(dir.path(), "admin", "admin", PW);
    let config = dir.path().join("vitals.toml");
    std::fs::write(&config, "[web]\ntrusted_proxies = [\"127.0.0.1\"]\n").expect("config");
    let srv = Server::start_with(dir.path(), "info", Some(&config));
    let (c, url) = (client(), srv.url.clone());

    // The admin signs in once from their own browser: it keeps a device
    // cookie.
    let r = sign_in(&c, &url, "admin", PW, ADMIN_IP, "").await;
    assert_eq!(r.status().as_u16(), 303);
    let (device, attrs) = set_cookie(&r, "vitals_device").expect("device cookie");
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
        "{attrs}"
    );
    let device = format!("vitals_device={device}");
    let baseline = srv.peak_rss_kib();

    // The attack: 128 unknown names from 16 addresses and 32 guesses at
    // admin's password from 8 others, all at once.
    let started = Instant::now();
    let unknown = (0..128).map(|i| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = sign_in(
                &c,
                &url,
                &format!("nobody-{i:03}-{}", "x".repeat(40)),
                "some guess 123",
                &format!("203.0.113.{}", i % 16),
                "",
            )
            .await;
            status_and_retry(&r)
        }
    });
    let guesses = (0..32).map(|i| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let r = sign_in(
                &c,
                &url,
                "admin",
                &format!("guess-number-{i}"),
                &format!("192.0.2.{}", i % 8),
                "",
            )
            .await;
            status_and_retry(&r)
        }
    });
    // Meanwhile the admin signs in three times, from their browser.
    let admin = {
        let (c, url, device) = (c.clone(), url.clone(), device.clone());
        async move {
            let mut out = Vec::new();
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let t = Instant::now();
                let r = sign_in(&c, &url, "admin", PW, ADMIN_IP, &device).await;
                out.push((r.status().as_u16(), t.elapsed()));
            }
            out
        }
    };
    let (unknown, guesses, admin) = tokio::join!(
        futures_util::future::join_all(unknown),
        futures_util::future::join_all(guesses),
        admin
    );
    let flood_secs = started.elapsed().as_secs_f64();
    let peak = srv.peak_rss_kib();

    let attack: Vec<(u16, Option<u64>)> = unknown.iter().chain(&guesses).copied().collect();
    let checked = attack.iter().filter(|(s, _)| *s == 401).count();
    let refused = attack.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(checked + refused, attack.len(), "{attack:?}");
    assert!(
        attack
            .iter()
            .filter(|(s, _)| *s == 429)
            .all(|(_, r)| r.is_some_and(|r| r >= 1)),
        "every 429 has a Retry-After"
    );
    for (status, took) in &admin {
        assert_eq!(
            *status, 303,
            "the right password during the attack: {admin:?}"
        );
        assert!(*took < Duration::from_secs(5), "{admin:?}");
    }
    let grew_mib = peak.saturating_sub(baseline) / 1024;
    println!(
        "\nLOGIN flood: 160 attempts in {flood_secs:.1} s, {checked} checked, {refused} refused (429); \
         admin sign-ins {:?}; VmHWM {} MiB before, {} MiB after (+{grew_mib} MiB)",
        admin.iter().map(|(_, t)| t.as_millis()).collect::<Vec<_>>(),
        baseline / 1024,
        peak / 1024,
    );
    // A few checks at a time hold 19 MiB each: nowhere near 160 × 19 MiB.
    assert!(grew_mib < 128, "peak memory grew by {grew_mib} MiB");

    // A stranger's right password for the guessed name waits a capped,
    // progressive delay: no lock.
    let r = sign_in(&c, &url, "admin", PW, "198.51.100.99", "").await;
    let (status, retry) = status_and_retry(&r);
    let stranger_in = match status {
        429 => {
            let retry = retry.expect("Retry-After");
            assert!((1..=60).contains(&retry), "Retry-After {retry}");
            0
        }
        303 => 1,
        other => panic!("stranger's right password: {other}"),
    };
    // The guessing addresses are throttled; the admin's is not.
    let r = sign_in(&c, &url, "admin", PW, ADMIN_IP, &device).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM web_sessions WHERE user_name = 'admin'"),
        5 + stranger_in
    );
}
