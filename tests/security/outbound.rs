//! Outbound targets of alert rules through the API (issue #22, SSRF):
//! webhooks to internal, metadata or unlisted hosts and e-mail recipients
//! that smuggle a header are refused with a readable reason (zh-CN by
//! default, English on request); a WeCom robot's `key=` is shown masked to
//! viewers and operators — in the rules, the audit log and the dashboard —
//! and in full to admins only.

use crate::APP;
use crate::common::create_app_key;
use crate::harness::*;

const KEY: &str = "693a91f6-7c2b-4bc4-9a6e-SECRETKEY";

fn rule(id: &str, url: &str, email: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "app": APP, "clause": "5.1a", "metric": "crash_rate_per_session",
        "statistic": "rate", "threshold": 0.0005, "min_sample": 200,
        "email": [email],
        "webhooks": [{"kind": "wecom", "url": url}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_targets_are_allow_listed_and_their_secrets_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    create_app_key(dir.path(), APP);
    let viewer = named_token(dir.path(), "viewer", "api-viewer");
    let ops = named_token(dir.path(), "operator", "api-ops");
    let admin = named_token(dir.path(), "admin", "api-admin");
    create_user(dir.path(), "viewer1", "viewer", "Pa55word-for-tests");
    let srv = Server::start(dir.path(), "info");
    let (c, url) = (client(), srv.url.clone());
    let put = |id: &str, body: serde_json::Value, lang: &'static str| {
        c.put(format!("{url}/api/v1/alerts/rules/{id}"))
            .header("authorization", format!("Bearer {ops}"))
            .header("accept-language", lang)
            .json(&body)
            .send()
    };

    // Internal and unlisted targets: refused, nothing stored.
    for (target, zh, en) in [
        (
            "http://169.254.169.254/latest/meta-data/iam/",
            "不在允许列表中",
            "webhook host 169.254.169.254 is not allowed",
        ),
        (
            "http://127.0.0.1:8123/?query=DROP%20DATABASE%20vitals",
            "不在允许列表中",
            "webhook host 127.0.0.1 is not allowed",
        ),
        (
            "http://[::ffff:a9fe:a9fe]/",
            "不在允许列表中",
            "is not allowed",
        ),
        (
            "http://evil.example/collect",
            "不在允许列表中",
            "webhook host evil.example is not allowed",
        ),
        (
            "file:///etc/passwd",
            "必须是带主机名的 http(s) 地址",
            "must be an http(s) URL",
        ),
    ] {
        let body = rule("r1", target, "ops@example.cn");
        let (status, code, msg, lang) =
            refusal(put("r1", body.clone(), "zh-CN").await.expect("put")).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "request.invalid"),
            "{target}: {msg}"
        );
        assert_eq!(lang, "zh-CN");
        assert!(msg.contains(zh), "{target}: {msg}");
        let (_, _, msg, _) = refusal(put("r1", body, "en").await.expect("put")).await;
        assert!(msg.contains(en), "{target}: {msg}");
    }
    for email in [
        "ops@example.cn\r\nBcc: everyone@evil.example",
        "Ops <ops@example.cn>",
        "not-an-address",
    ] {
        let body = rule(
            "r1",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            email,
        );
        let (status, _, msg, _) = refusal(put("r1", body, "en").await.expect("put")).await;
        assert_eq!(status, 400, "{email:?}: {msg}");
        assert!(msg.contains("is not an e-mail address"), "{msg}");
    }
    assert_eq!(
        srv.count("SELECT COUNT(*) FROM ops_objects WHERE kind = 'alert_rule'"),
        0
    );

    // A WeCom robot (allowed by default) is stored.
    let wecom = format!("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}");
    let r = put("wecom", rule("wecom", &wecom, "ops@example.cn"), "en")
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 200);
    let answer = r.text().await.unwrap_or_default();
    assert!(!answer.contains("SECRETKEY"), "operator's answer: {answer}");

    // Viewers and operators see the key masked, admins in full.
    let get = |token: &str, path: &str| {
        c.get(format!("{url}{path}"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    for path in ["/api/v1/alerts/rules", "/api/v1/audit"] {
        for (who, token) in [("viewer", &viewer), ("operator", &ops)] {
            let text = get(token, path)
                .await
                .expect("get")
                .text()
                .await
                .unwrap_or_default();
            assert!(text.contains("qyapi.weixin.qq.com"), "{who} {path}: {text}");
            assert!(!text.contains("SECRETKEY"), "{who} {path}: {text}");
            assert!(text.contains("key=***"), "{who} {path}: {text}");
        }
        let text = get(&admin, path)
            .await
            .expect("get")
            .text()
            .await
            .unwrap_or_default();
        assert!(text.contains(KEY), "admin {path}: {text}");
    }
    let s = login(&c, &url, "viewer1", "Pa55word-for-tests").await;
    for page in ["/ui/alerts", &format!("/ui/apps/{APP}/emergency")] {
        let html = c
            .get(format!("{url}{page}"))
            .header("cookie", s.header())
            .send()
            .await
            .expect("page")
            .text()
            .await
            .unwrap_or_default();
        assert!(!html.contains("SECRETKEY"), "{page}");
    }
}
