//! 4: the signed client config is the same document from both nodes, and
//! a change made through one node (rollout, emergency, two-person action
//! requested on one and approved on the other) shows on the other at once;
//! dashboard sessions work on either node.

use crate::cluster::*;
use crate::common::*;
use serde_json::{Value, json};

const CTL_APP: &str = "mn-control";
const CLIENT_Q: &str = "app=mn-control&platform=android&version=5.2.0&build=520";

/// The signed config node i serves: (body bytes, ETag, signature).
async fn client_config(
    client: &reqwest::Client,
    base: &str,
    key: &(String, String),
) -> (Vec<u8>, String, String) {
    let r = get_signed(client, base, key, "/api/v1/client-config", CLIENT_Q).await;
    let status = r.status().as_u16();
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (etag, sig) = (header("etag"), header("x-vitals-signature-ed25519"));
    let body = r.bytes().await.expect("body").to_vec();
    assert_eq!(
        status,
        200,
        "client config from {base}: {}",
        String::from_utf8_lossy(&body)
    );
    (body, etag, sig)
}

/// The documents of both nodes, which must be byte-identical (refetched
/// when the two requests fell into different refresh windows).
async fn same_config_from_both(
    client: &reqwest::Client,
    c: &Cluster,
    key: &(String, String),
) -> Value {
    for _ in 0..3 {
        let a = client_config(client, &c.url(0), key).await;
        let b = client_config(client, &c.url(1), key).await;
        let (da, db): (Value, Value) = (
            serde_json::from_slice(&a.0).unwrap(),
            serde_json::from_slice(&b.0).unwrap(),
        );
        if da["issued_at"] != db["issued_at"] {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&a.0),
            String::from_utf8_lossy(&b.0),
            "the same document from both nodes"
        );
        assert_eq!(a.1, b.1, "same ETag");
        assert_eq!(
            a.2, b.2,
            "same signature (same key, Ed25519 is deterministic)"
        );
        return da;
    }
    panic!("the two nodes never agreed on the refresh window");
}

/// The public keys node i publishes, and whether `sig` over `body`
/// verifies with them.
async fn published_keys(client: &reqwest::Client, base: &str) -> Value {
    let r = client
        .get(format!(
            "{base}/api/v1/client-config/public-key?app={CTL_APP}"
        ))
        .send()
        .await
        .expect("public key");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_changes_through_one_node_show_on_the_other_at_once() {
    let Some(mut c) = Cluster::new("control") else {
        return;
    };
    let k = create_app_key_with_config(c.config(0), CTL_APP);
    let key = (k.key_id.clone(), k.secret.clone());
    let alice = create_named_token_with_config(c.config(0), "operator", "alice");
    let bob = create_named_token_with_config(c.config(1), "operator", "bob");
    c.start_both();
    let client = reqwest::Client::new();

    // One signing key for the installation, published alike by both.
    let (pk_a, pk_b) = (
        published_keys(&client, &c.url(0)).await,
        published_keys(&client, &c.url(1)).await,
    );
    assert_eq!(pk_a, pk_b, "both nodes publish the same keys");
    let keys: Vec<String> = serde_json::from_value(pk_a["public_keys"].clone()).unwrap();
    assert_eq!(
        keys.len(),
        1,
        "two nodes starting together make one signing key: {pk_a}"
    );

    let doc0 = same_config_from_both(&client, &c, &key).await;
    assert_eq!(doc0["app_id"], CTL_APP);
    assert_eq!(doc0["key_id"], pk_a["key_id"], "{doc0}");
    assert!(doc0["emergency"].is_null(), "{doc0}");
    assert_eq!(doc0["rollouts"], json!([]), "{doc0}");
    let seq0 = doc0["seq"].as_i64().expect("seq");
    // The signature verifies with the key the *other* node publishes.
    let (body, _, sig) = client_config(&client, &c.url(0), &key).await;
    assert!(
        vitals_control::signing::verify(&body, &sig, &keys),
        "node A's document verifies with node B's published key"
    );

    // A rollout put through A is in B's very next document.
    let (status, body) = send_json(
        &client,
        reqwest::Method::PUT,
        &format!(
            "{}/api/v1/apps/{CTL_APP}/rollouts/dark-mode?reason=trial",
            c.url(0)
        ),
        &alice,
        &json!({"id": "dark-mode", "kind": "feature", "percent": 25.0, "value": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (b_body, _, _) = client_config(&client, &c.url(1), &key).await;
    let doc_b: Value = serde_json::from_slice(&b_body).unwrap();
    assert_eq!(doc_b["seq"], seq0 + 1, "{doc_b}");
    let ro = &doc_b["rollouts"][0];
    assert_eq!(
        (&ro["id"], &ro["percent"], &ro["state"], &ro["value"]),
        (
            &json!("dark-mode"),
            &json!(25.0),
            &json!("active"),
            &json!(true)
        ),
        "{doc_b}"
    );

    // An emergency directive activated through A (automatic mode) is in
    // B's next document.
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions", c.url(0)),
        &alice,
        &json!({
            "app": CTL_APP, "reason": "crash spike in 5.2.0", "mode": "automatic",
            "action": {"type": "activate_emergency", "id": "em-5.2", "emergency": {
                "platform": "android", "versions": {"min": "5.2.0", "below": "5.3.0"},
                "action": "block", "target_version": "5.1.9-emergency",
                "url": "https://dl.example/mn-emergency.apk",
                "reason": {"zh-CN": "交易功能临时切换到应急版本", "en": "trading moved to the emergency version"},
                "mandatory": true}}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied", "{body}");
    let (b_body, _, _) = client_config(&client, &c.url(1), &key).await;
    let doc_b: Value = serde_json::from_slice(&b_body).unwrap();
    assert_eq!(doc_b["seq"], seq0 + 2, "{doc_b}");
    let em = &doc_b["emergency"];
    assert_eq!(em["id"], "em-5.2", "{doc_b}");
    assert_eq!(em["action"], "block", "{doc_b}");
    assert_eq!(em["target_version"], "5.1.9-emergency", "{doc_b}");
    assert_eq!(em["mandatory"], true, "{doc_b}");

    // Two-person rule across nodes: requested on A by alice, alice cannot
    // approve it on B, bob can; until then clients see nothing.
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions", c.url(0)),
        &alice,
        &json!({
            "app": CTL_APP, "reason": "order book failing", "mode": "automatic",
            "action": {"type": "set_kill_switch", "feature": "trade", "enabled": false}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["status"], "pending",
        "the policy puts kill switches under approval, whatever mode is asked: {body}"
    );
    let pending = body["pending"]["id"]
        .as_str()
        .expect("pending id")
        .to_string();
    let doc = same_config_from_both(&client, &c, &key).await;
    assert_eq!(
        doc["seq"],
        seq0 + 2,
        "a pending action changes nothing: {doc}"
    );
    assert_eq!(doc["kill_switches"], json!({}), "{doc}");
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions/{pending}/approve", c.url(1)),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(
        status, 403,
        "the requester cannot approve, on any node: {body}"
    );
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions/{pending}/approve", c.url(1)),
        &bob,
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actor"], "alice", "{body}");
    assert_eq!(body["approved_by"], "bob", "{body}");
    let (a_body, _, _) = client_config(&client, &c.url(0), &key).await;
    let doc_a: Value = serde_json::from_slice(&a_body).unwrap();
    assert_eq!(doc_a["seq"], seq0 + 3, "{doc_a}");
    assert_eq!(doc_a["kill_switches"], json!({"trade": false}), "{doc_a}");

    // Final state: the same document, the same operator view and audit.
    let doc = same_config_from_both(&client, &c, &key).await;
    assert_eq!(doc["seq"], seq0 + 3);
    let mut views = Vec::new();
    for i in 0..2 {
        let (status, state) = get_json(
            &client,
            &format!("{}/api/v1/apps/{CTL_APP}/control", c.url(i)),
            &bob,
        )
        .await;
        assert_eq!(status, 200, "{state}");
        let (status, audit) = get_json(
            &client,
            &format!("{}/api/v1/audit?app={CTL_APP}", c.url(i)),
            &bob,
        )
        .await;
        assert_eq!(status, 200, "{audit}");
        views.push((state, audit));
    }
    assert_eq!(views[0], views[1], "one control plane behind both nodes");
    let actions: Vec<&str> = views[0]
        .1
        .as_array()
        .expect("audit list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["kill_switch.set", "emergency.activate", "rollout.put"],
        "{}",
        views[0].1
    );

    // The dashboard needs no sticky sessions: signed in on A, the session
    // works on B; signed out on B, it is gone on A too.
    create_user_with_config(c.config(1), "olga", "operator", "correct horse battery");
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = web
        .post(format!("{}/ui/login", c.url(0)))
        .header("cookie", "vitals_login=t0k3n-for-the-login-form")
        .form(&[
            ("name", "olga"),
            ("password", "correct horse battery"),
            ("_csrf", "t0k3n-for-the-login-form"),
            ("next", "/ui/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed in on A");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("vitals_session="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .expect("session cookie")
        .to_string();
    let cookie = format!("vitals_session={session}");
    let page = |i: usize, cookie: Option<String>| {
        let (web, url) = (web.clone(), format!("{}/ui/", c.url(i)));
        async move {
            let mut rq = web.get(url);
            if let Some(ck) = cookie {
                rq = rq.header("cookie", ck);
            }
            let r = rq.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(
        page(1, None).await.0,
        303,
        "B without a session: to sign-in"
    );
    let (status, html) = page(1, Some(cookie.clone())).await;
    assert_eq!(status, 200, "A's session is valid on B");
    assert!(html.contains("olga"), "B shows the signed-in user");
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF field on the page")
        .to_string();
    let r = web
        .post(format!("{}/ui/logout", c.url(1)))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed out on B");
    assert_eq!(
        page(0, Some(cookie)).await.0,
        303,
        "the session ended on B is gone on A"
    );
}
