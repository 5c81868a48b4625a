//! The two-person rule (issue #22): when the policy puts an action under
//! approval (every emergency action by default), a request asking for
//! `"mode": "automatic"` through the API still waits for a second person,
//! and an operator cannot save an alert rule that would carry it out
//! automatically (an admin can).

use crate::APP;
use crate::common::create_app_key;
use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_mode_does_not_bypass_a_second_person() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_app_key(dir.path(), APP);
    let ops_a = named_token(dir.path(), "operator", "api-ops-a");
    let ops_b = named_token(dir.path(), "operator", "api-ops-b");
    let admin = named_token(dir.path(), "admin", "api-admin");
    let srv = Server::start(dir.path(), "info");
    let (c, url) = (client(), srv.url.clone());
    let post = |token: &str, path: &str, body: serde_json::Value| {
        c.post(format!("{url}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
    };

    // Asked for automatic: recorded for approval, nothing applied.
    let action = serde_json::json!({
        "app": APP, "reason": "order book failing", "mode": "automatic",
        "action": {"type": "set_kill_switch", "feature": "trade", "enabled": false},
    });
    let r = post(&ops_a, "/api/v1/actions", action.clone())
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["status"], "pending", "{body}");
    let id = body["pending"]["id"]
        .as_str()
        .expect("pending id")
        .to_string();
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM ops_audit"),
        0,
        "applied alone"
    );
    // Emergency directives alike.
    let emergency = serde_json::json!({
        "app": APP, "reason": "crash spike", "mode": "automatic",
        "action": {"type": "activate_emergency", "id": "em-1", "emergency": {
            "platform": "android", "versions": {"min": "5.2.0", "below": "5.3.0"},
            "action": "block", "target_version": "5.1.9",
            "url": "https://dl.example.cn/app.apk",
            "reason": {"zh-CN": "请升级", "en": "please update"}, "mandatory": true}},
    });
    let r = post(&ops_a, "/api/v1/actions", emergency)
        .await
        .expect("post");
    let body: serde_json::Value = r.json().await.expect("JSON");
    assert_eq!(body["status"], "pending", "{body}");
    assert_eq!(srv.count("SELECT COUNT(*) FROM ops_audit"), 0);

    // The requester cannot approve; another operator can.
    let approve = |t: &str| {
        post(
            t,
            &format!("/api/v1/actions/{id}/approve"),
            serde_json::json!({}),
        )
    };
    assert_eq!(approve(&ops_a).await.expect("post").status().as_u16(), 403);
    assert_eq!(approve(&ops_b).await.expect("post").status().as_u16(), 200);
    assert_eq!(
        srv.text("SELECT actor || '/' || approved_by FROM ops_audit")
            .as_deref(),
        Some("api-ops-a/api-ops-b")
    );

    // An alert rule acting automatically: an admin's decision.
    let rule = |mode: &str| {
        serde_json::json!({
            "id": "kill-on-spike", "app": APP, "clause": "5.1a",
            "metric": "crash_rate_per_session", "statistic": "rate",
            "threshold": 0.0005, "min_sample": 200, "email": ["ops@example.cn"],
            "action": {"mode": mode,
                       "action": {"type": "set_kill_switch", "feature": "trade", "enabled": false}},
        })
    };
    let put = |token: &str, body: serde_json::Value| {
        c.put(format!("{url}/api/v1/alerts/rules/kill-on-spike"))
            .header("authorization", format!("Bearer {token}"))
            .json(&body)
            .send()
    };
    let r = put(&ops_a, rule("automatic")).await.expect("put");
    let (status, code, msg, _) = refusal(r).await;
    assert_eq!(
        (status, code.as_str()),
        (403, "control.automatic_needs_admin")
    );
    assert!(
        msg.contains("kill_switch.set") && msg.contains("管理员"),
        "{msg}"
    );
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM ops_objects WHERE kind = 'alert_rule'"),
        0
    );
    assert_eq!(
        put(&ops_a, rule("approval"))
            .await
            .expect("put")
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        put(&admin, rule("automatic"))
            .await
            .expect("put")
            .status()
            .as_u16(),
        200
    );
}
