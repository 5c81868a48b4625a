//! Dashboard and API authorisation: the role matrix of every state-changing
//! dashboard route, API tokens per role, CSRF and origin checks, session
//! fixation and logout, login throttling.

use crate::APP;
use crate::common::create_app_key;
use crate::harness::*;
use std::time::Duration;

const PW: &str = "Pa55word-for-tests";

/// A server with users viewer1 / ops-a / ops-b / admin1 and the app.
fn setup(dir: &std::path::Path) -> Server {
    create_app_key(dir, APP);
    for (name, role) in [
        ("viewer1", "viewer"),
        ("ops-a", "operator"),
        ("ops-b", "operator"),
        ("admin1", "admin"),
    ] {
        create_user(dir, name, role, PW);
    }
    Server::start(dir, "info")
}

fn kill_switch<'a>(csrf: &'a str, feature: &'a str, mode: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("_csrf", csrf),
        ("type", "set_kill_switch"),
        ("feature", feature),
        ("enabled", "false"),
        ("reason", "security test"),
        ("mode", mode),
        ("confirm", "yes"),
    ]
}

/// A forged form post: what it is, its `_csrf` field, extra headers.
type Forgery<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>);

/// Posts a form as session `s`; returns the status.
async fn post(
    c: &reqwest::Client,
    url: &str,
    s: &Session,
    path: String,
    fields: Vec<(&str, &str)>,
) -> u16 {
    post_form(c, url, &path, Some(&s.header()), &fields, &[])
        .await
        .status()
        .as_u16()
}

fn status_of(srv: &Server, pending: &str) -> String {
    srv.text(&format!(
        "SELECT status FROM ops_pending WHERE id = '{pending}'"
    ))
    .expect("pending action")
}

fn pending_of(srv: &Server, user: &str, feature: &str) -> String {
    srv.text(&format!(
        "SELECT id FROM ops_pending WHERE requested_by = '{user}' AND change LIKE '%{feature}%'"
    ))
    .expect("pending action id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_role_matrix_for_every_state_changing_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = setup(dir.path());
    let (c, url) = (client(), srv.url.clone());
    let viewer = login(&c, &url, "viewer1", PW).await;
    let ops_a = login(&c, &url, "ops-a", PW).await;
    let ops_b = login(&c, &url, "ops-b", PW).await;
    let admin = login(&c, &url, "admin1", PW).await;
    // Crash-group state: operator and above.
    for (s, user, expect) in [
        (&viewer, "viewer1", 403),
        (&ops_a, "ops-a", 303),
        (&admin, "admin1", 303),
    ] {
        let fp = format!("fp-{user}");
        let path = format!("/ui/apps/{APP}/crashes/{fp}/state");
        let fields = vec![("_csrf", s.csrf.as_str()), ("status", "ignored")];
        assert_eq!(
            post(&c, &url, s, path, fields).await,
            expect,
            "{user} sets crash state"
        );
        let state = srv.text(&format!(
            "SELECT status || '/' || updated_by FROM crash_groups WHERE fingerprint = '{fp}'"
        ));
        if expect == 403 {
            assert_eq!(state, None, "viewer changed a crash group");
        } else {
            assert_eq!(state, Some(format!("ignored/{user}")));
        }
    }

    // Emergency action requests: operator and above; a viewer's leaves
    // nothing behind.
    let actions = format!("/ui/apps/{APP}/actions");
    let f = kill_switch(&viewer.csrf, "f-viewer", "approval");
    assert_eq!(post(&c, &url, &viewer, actions.clone(), f).await, 403);
    assert_eq!(srv.count("SELECT COUNT(*) FROM ops_pending"), 0);
    let f = kill_switch(&viewer.csrf, "f-viewer", "automatic");
    assert_eq!(post(&c, &url, &viewer, actions.clone(), f).await, 403);
    assert_eq!(srv.count("SELECT COUNT(*) FROM ops_audit"), 0);
    let f = kill_switch(&ops_a.csrf, "f-ops", "approval");
    assert_eq!(post(&c, &url, &ops_a, actions.clone(), f).await, 303);
    let f = kill_switch(&admin.csrf, "f-admin", "approval");
    assert_eq!(post(&c, &url, &admin, actions.clone(), f).await, 303);
    let p_ops = pending_of(&srv, "ops-a", "f-ops");
    let p_admin = pending_of(&srv, "admin1", "f-admin");
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM ops_audit"),
        0,
        "approval mode applied nothing"
    );

    // Approve / reject: a viewer may not; nobody approves their own request.
    let decide = |s: &Session, id: &str, verb: &str| {
        let (c, url, s) = (c.clone(), url.clone(), s.clone());
        let path = format!("/ui/actions/{id}/{verb}");
        async move {
            let fields = vec![("_csrf", s.csrf.as_str()), ("confirm", "yes")];
            post(&c, &url, &s, path, fields).await
        }
    };
    assert_eq!(decide(&viewer, &p_ops, "approve").await, 403);
    assert_eq!(decide(&viewer, &p_ops, "reject").await, 403);
    assert_eq!(
        decide(&ops_a, &p_ops, "approve").await,
        403,
        "self-approval"
    );
    assert_eq!(
        decide(&admin, &p_admin, "approve").await,
        403,
        "self-approval"
    );
    assert_eq!(status_of(&srv, &p_ops), "pending");
    assert_eq!(status_of(&srv, &p_admin), "pending");
    assert_eq!(srv.count("SELECT COUNT(*) FROM ops_audit"), 0);
    // A second person approves; the requester stays the actor.
    assert_eq!(decide(&ops_b, &p_ops, "approve").await, 303);
    assert_eq!(status_of(&srv, &p_ops), "approved");
    assert_eq!(
        srv.text("SELECT actor || '/' || approved_by FROM ops_audit")
            .as_deref(),
        Some("ops-a/ops-b")
    );
    // Decided once: neither approved again nor rejected afterwards.
    assert_eq!(decide(&admin, &p_ops, "approve").await, 409);
    assert_eq!(decide(&admin, &p_ops, "reject").await, 409);
    assert_eq!(decide(&ops_a, &p_admin, "reject").await, 303);
    assert_eq!(status_of(&srv, &p_admin), "rejected");
    assert_eq!(decide(&ops_b, &p_admin, "approve").await, 409);
    assert_eq!(srv.count("SELECT COUNT(*) FROM ops_audit"), 1);

    // Automatic mode does not get around the two-person rule the policy
    // sets (issue #22): the request waits for a second person.
    let f = kill_switch(&ops_b.csrf, "f-auto", "automatic");
    assert_eq!(post(&c, &url, &ops_b, actions.clone(), f).await, 303);
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM ops_audit WHERE actor = 'ops-b' AND approved_by IS NULL"),
        0,
        "applied by one person"
    );
    assert_eq!(
        status_of(&srv, &pending_of(&srv, "ops-b", "f-auto")),
        "pending"
    );

    // Display preferences are a GET (cookies only): there is no POST.
    let r = post_form(
        &c,
        &url,
        "/ui/prefs",
        Some(&viewer.header()),
        &[("_csrf", &viewer.csrf)],
        &[],
    )
    .await;
    assert!(
        matches!(r.status().as_u16(), 404 | 405),
        "POST /ui/prefs: {}",
        r.status()
    );

    // Logout is open to every role and ends only that session.
    for s in [&viewer, &ops_a, &ops_b, &admin] {
        let fields = vec![("_csrf", s.csrf.as_str())];
        assert_eq!(post(&c, &url, s, "/ui/logout".into(), fields).await, 303);
        assert_eq!(
            page_csrf(&c, &url, &s.cookie).await,
            None,
            "session still live"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_checked_per_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_app_key(dir.path(), APP);
    let viewer = named_token(dir.path(), "viewer", "api-viewer");
    let op_a = named_token(dir.path(), "operator", "api-ops-a");
    let op_b = named_token(dir.path(), "operator", "api-ops-b");
    let admin = named_token(dir.path(), "admin", "api-admin");
    let srv = Server::start(dir.path(), "info");
    let (c, url) = (client(), srv.url.clone());
    let bearer = |t: &str| format!("Bearer {t}");

    // Erasure of a user's data: admin only.
    let erase = format!("{url}/api/v1/users/0123456789abcdef0123456789abcdef?app={APP}");
    let r = c.delete(&erase).send().await.expect("delete");
    assert_eq!(refusal(r).await.1, "auth.missing_token");
    let r = c
        .delete(&erase)
        .header("authorization", "Bearer vt_not-a-token")
        .send()
        .await
        .expect("delete");
    let (status, code, ..) = refusal(r).await;
    assert_eq!((status, code.as_str()), (401, "auth.bad_token"));
    for t in [&viewer, &op_a] {
        let r = c
            .delete(&erase)
            .header("authorization", bearer(t))
            .header("accept-language", "en")
            .send()
            .await
            .expect("delete");
        let (status, code, msg, _) = refusal(r).await;
        assert_eq!((status, code.as_str()), (403, "auth.forbidden"));
        assert!(msg.contains("needs admin"), "{msg}");
    }
    assert_eq!(srv.count("SELECT COUNT(*) FROM erasures"), 0);
    let r = c
        .delete(&erase)
        .header("authorization", bearer(&admin))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(srv.count("SELECT COUNT(*) FROM erasures"), 1);

    // Actions: operator and above; the requester's token cannot approve.
    let action = serde_json::json!({
        "app": APP, "reason": "security test", "mode": "approval",
        "action": {"type": "set_kill_switch", "feature": "trade", "enabled": false},
    });
    let request = |t: &str| {
        c.post(format!("{url}/api/v1/actions"))
            .header("authorization", bearer(t))
            .json(&action)
            .send()
    };
    let (status, code, ..) = refusal(request(&viewer).await.expect("post")).await;
    assert_eq!((status, code.as_str()), (403, "auth.forbidden"));
    assert_eq!(srv.count("SELECT COUNT(*) FROM ops_pending"), 0);
    assert_eq!(request(&op_a).await.expect("post").status().as_u16(), 200);
    let id = pending_of(&srv, "api-ops-a", "trade");
    let approve = |t: &str| {
        c.post(format!("{url}/api/v1/actions/{id}/approve"))
            .header("authorization", bearer(t))
            .send()
    };
    assert_eq!(approve(&viewer).await.expect("post").status().as_u16(), 403);
    assert_eq!(
        approve(&op_a).await.expect("post").status().as_u16(),
        403,
        "self-approval"
    );
    assert_eq!(status_of(&srv, &id), "pending");
    assert_eq!(approve(&op_b).await.expect("post").status().as_u16(), 200);
    assert_eq!(status_of(&srv, &id), "approved");

    // Debug-file upload: operator (CI) and above; listing: viewer.
    let (ctype, body) = multipart("mapping.txt", b"com.example.A -> a:\n");
    let up = format!("{url}/api/v1/apps/{APP}/debug-files");
    let r = c
        .post(&up)
        .header("authorization", bearer(&viewer))
        .header("content-type", ctype.clone())
        .body(body.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 403);
    let r = c.get(&up).send().await.expect("list");
    assert_eq!(r.status().as_u16(), 401);
    let listed = c
        .get(&up)
        .header("authorization", bearer(&viewer))
        .send()
        .await
        .expect("list")
        .json::<serde_json::Value>()
        .await
        .expect("JSON");
    assert_eq!(
        listed["files"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_token_and_origin_are_enforced_on_every_post() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = setup(dir.path());
    let (c, url) = (client(), srv.url.clone());
    let ops = login(&c, &url, "ops-a", PW).await;
    let viewer = login(&c, &url, "viewer1", PW).await;
    let ops_b = login(&c, &url, "ops-b", PW).await;
    let f = kill_switch(&ops_b.csrf, "pending-one", "approval");
    let r = post_form(
        &c,
        &url,
        &format!("/ui/apps/{APP}/actions"),
        Some(&ops_b.header()),
        &f,
        &[],
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let pending = pending_of(&srv, "ops-b", "pending-one");

    let routes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("/ui/apps/{APP}/crashes/fp-csrf/state"),
            vec![("status", "ignored")],
        ),
        (
            format!("/ui/apps/{APP}/actions"),
            kill_switch("", "f-csrf", "automatic")[1..].to_vec(),
        ),
        (
            format!("/ui/actions/{pending}/approve"),
            vec![("confirm", "yes")],
        ),
        (
            format!("/ui/actions/{pending}/reject"),
            vec![("confirm", "yes")],
        ),
        ("/ui/logout".to_string(), vec![]),
    ];
    let unchanged = |what: &str| {
        assert_eq!(srv.count("SELECT COUNT(*) FROM crash_groups"), 0, "{what}");
        assert_eq!(srv.count("SELECT COUNT(*) FROM ops_audit"), 0, "{what}");
        assert_eq!(status_of(&srv, &pending), "pending", "{what}");
    };
    let good_origin = url.clone();
    let wrong = "0".repeat(64);
    let forgeries: Vec<Forgery> = vec![
        ("no token", None, vec![]),
        ("wrong token", Some(wrong.as_str()), vec![]),
        (
            "another session's token",
            Some(viewer.csrf.as_str()),
            vec![],
        ),
        (
            "foreign Origin",
            Some(ops.csrf.as_str()),
            vec![("origin", "http://evil.example")],
        ),
        (
            "null Origin",
            Some(ops.csrf.as_str()),
            vec![("origin", "null")],
        ),
        (
            "cross-site fetch",
            Some(ops.csrf.as_str()),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "same-site fetch",
            Some(ops.csrf.as_str()),
            vec![("sec-fetch-site", "same-site")],
        ),
    ];
    let ck = ops.header();
    for (path, fields) in &routes {
        for (what, token, headers) in &forgeries {
            let mut form = fields.clone();
            if let Some(t) = token {
                form.push(("_csrf", t));
            }
            let r = post_form(&c, &url, path, Some(&ck), &form, headers).await;
            let status = r.status().as_u16();
            let html = r.text().await.unwrap_or_default();
            assert_eq!(status, 403, "{what} on {path}");
            assert!(
                html.contains("表单令牌或来源校验失败"),
                "{what} on {path}: {html}"
            );
            unchanged(&format!("{what} on {path}"));
        }
    }
    // A forged logout did not end the session.
    assert!(page_csrf(&c, &url, &ops.cookie).await.is_some());
    // English on request.
    let r = post_form(
        &c,
        &url,
        &routes[0].0,
        Some(&ck),
        &routes[0].1,
        &[("accept-language", "en")],
    )
    .await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("form token or origin check failed")
    );

    // The same request from our own page goes through.
    let mut form = routes[0].1.clone();
    form.push(("_csrf", &ops.csrf));
    let own = [
        ("origin", good_origin.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let r = post_form(&c, &url, &routes[0].0, Some(&ck), &form, &own).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(srv.count("SELECT COUNT(*) FROM crash_groups"), 1);

    // The login form: double-submit cookie required, foreign origin refused.
    let (_, field) = login_form(&c, &url).await;
    let creds = [
        ("name", "ops-a"),
        ("password", PW),
        ("_csrf", field.as_str()),
    ];
    let r = post_form(&c, &url, "/ui/login", None, &creds, &[]).await;
    assert_eq!(r.status().as_u16(), 403, "login without the CSRF cookie");
    assert!(set_cookie(&r, "vitals_session").is_none());
    let (cookie, field) = login_form(&c, &url).await;
    let creds = [
        ("name", "ops-a"),
        ("password", PW),
        ("_csrf", field.as_str()),
    ];
    let ck = format!("vitals_login={cookie}");
    let r = post_form(
        &c,
        &url,
        "/ui/login",
        Some(&ck),
        &creds,
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(r.status().as_u16(), 403, "cross-site login");
    assert!(set_cookie(&r, "vitals_session").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_fixation_is_impossible_and_logout_ends_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = setup(dir.path());
    let (c, url) = (client(), srv.url.clone());
    let planted = "a".repeat(64);
    assert_eq!(
        page_csrf(&c, &url, &planted).await,
        None,
        "planted cookie is no session"
    );

    let r = try_login(
        &c,
        &url,
        "ops-a",
        PW,
        Some(&format!("vitals_session={planted}")),
    )
    .await;
    assert_eq!(r.status().as_u16(), 303);
    let (issued, attrs) = set_cookie(&r, "vitals_session").expect("a new session cookie");
    assert_ne!(issued, planted, "login kept the client's session id");
    assert_eq!(issued.len(), 64, "256-bit id");
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict") && attrs.contains("Path=/")
    );
    assert_eq!(
        page_csrf(&c, &url, &planted).await,
        None,
        "planted cookie became a session"
    );
    // Only a hash of the id is stored.
    assert_eq!(
        srv.count(&format!(
            "SELECT COUNT(*) FROM web_sessions WHERE id_hash = '{issued}'"
        )),
        0
    );
    let csrf = page_csrf(&c, &url, &issued).await.expect("live session");
    let s = Session {
        cookie: issued,
        csrf,
    };

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
    let (cleared, attrs) = set_cookie(&r, "vitals_session").expect("cookie cleared");
    assert!(
        cleared.is_empty() && attrs.contains("Max-Age=0"),
        "{cleared} {attrs}"
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM web_sessions WHERE revoked_at IS NOT NULL"),
        1
    );
    // The old cookie (as a stolen copy would be) no longer works, for
    // pages or for forms with its old token.
    assert_eq!(page_csrf(&c, &url, &s.cookie).await, None);
    let path = format!("/ui/apps/{APP}/crashes/fp-after-logout/state");
    let form = [("_csrf", s.csrf.as_str()), ("status", "ignored")];
    let r = post_form(&c, &url, &path, Some(&s.header()), &form, &[]).await;
    assert_eq!(r.status().as_u16(), 303);
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(loc.starts_with("/ui/login"), "{loc}");
    assert_eq!(srv.count("SELECT COUNT(*) FROM crash_groups"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_even_with_the_right_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let srv = setup(dir.path());
    let (c, url) = (client(), srv.url.clone());

    // Three free failures (web/src/auth.rs FREE_ATTEMPTS), then 2 s.
    for _ in 0..3 {
        let r = try_login(&c, &url, "ops-a", "wrong-password-1", None).await;
        assert_eq!(r.status().as_u16(), 401);
        assert!(set_cookie(&r, "vitals_session").is_none());
    }
    let r = try_login(&c, &url, "ops-a", PW, None).await;
    assert_eq!(r.status().as_u16(), 429, "right password while throttled");
    assert!(set_cookie(&r, "vitals_session").is_none());
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert!(
        r.text()
            .await
            .unwrap_or_default()
            .contains("登录失败次数过多")
    );
    // Another user from the same address is not affected.
    let r = try_login(&c, &url, "ops-b", PW, None).await;
    assert_eq!(r.status().as_u16(), 303);
    // After the delay the right password works again.
    tokio::time::sleep(Duration::from_millis(retry * 1000 + 300)).await;
    let r = try_login(&c, &url, "ops-a", PW, None).await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(set_cookie(&r, "vitals_session").is_some());

    // A burst of concurrent guesses gets no more than the free attempts
    // checked: the rest are throttled before the password is looked at.
    let guesses = (0..12).map(|i| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            try_login(&c, &url, "viewer1", &format!("guess-number-{i}"), None)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + throttled, statuses.len(), "{statuses:?}");
    assert!(
        checked <= 3,
        "{checked} concurrent guesses checked: {statuses:?}"
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM web_sessions WHERE user_name = 'viewer1'"),
        0
    );
}
