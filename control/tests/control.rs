//! The control plane end to end, in-process: signed client config over
//! HTTP (signature, tamper, ETag), two-person actions with audit and
//! revert, and site failover against a probe target on loopback.

use actix_web::{App, test};
use serde_json::{Value, json};
use std::sync::Arc;
use vitals_control::model::{Address, Probe, Site, kind};
use vitals_control::{
    Action, ActionRequest, Control, ControlError, ControlSettings, Mode, Outcome, signing,
};
use vitals_i18n::Lang;
use vitals_protocol::sign;
use vitals_store::control::Role;
use vitals_store::{ControlPlane, SqliteStore, Store};

struct Env {
    _dir: tempfile::TempDir,
    control: Arc<Control>,
    collector: vitals_collector::Collector,
    key_id: String,
    secret: String,
}

async fn env(settings: ControlSettings) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let cp = Arc::new(ControlPlane::open(dir.path().join("control.sqlite")).unwrap());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("t.sqlite")).unwrap());
    store.migrate().await.unwrap();
    let key = cp.create_key("zq").unwrap();
    let collector = vitals_collector::Collector::start(
        Default::default(),
        dir.path(),
        cp.clone(),
        store.clone(),
        Lang::ZhCn,
    )
    .unwrap();
    let control = Arc::new(
        Control::new(
            cp,
            settings,
            Some(store),
            Some(collector.inner.clone()),
            Lang::ZhCn,
        )
        .unwrap(),
    );
    Env {
        _dir: dir,
        control,
        collector,
        key_id: key.key_id,
        secret: key.secret,
    }
}

fn signed_get(e: &Env, query: &str, nonce: &str) -> test::TestRequest {
    let ts = vitals_control::now();
    let sig = sign::sign(
        e.secret.as_bytes(),
        "GET",
        "/api/v1/client-config",
        ts,
        nonce,
        b"",
    );
    test::TestRequest::get()
        .uri(&format!("/api/v1/client-config?{query}"))
        .insert_header((sign::HEADER_KEY, e.key_id.as_str()))
        .insert_header((sign::HEADER_TIMESTAMP, ts.to_string()))
        .insert_header((sign::HEADER_NONCE, nonce))
        .insert_header((sign::HEADER_SIGNATURE, sig))
}

fn emergency_action(mode: Mode) -> ActionRequest {
    serde_json::from_value(json!({
        "app": "zq",
        "reason": "crash spike in 5.2.0",
        "mode": mode,
        "action": {"type": "activate_emergency", "id": "em-5.2", "emergency": {
            "platform": "android", "versions": {"min": "5.2.0", "below": "5.3.0"},
            "action": "block", "target_version": "5.1.9-emergency",
            "url": "https://dl.example/zq-emergency.apk",
            "reason": {"zh-CN": "交易功能临时切换到应急版本", "en": "trading moved to the emergency version"},
            "mandatory": true}}
    }))
    .unwrap()
}

#[actix_web::test]
async fn signed_config_verifies_with_published_key_and_tampering_fails() {
    // A policy that lets operators act alone (the emergency is applied at
    // once below).
    let e = env(ControlSettings {
        require_approval: Vec::new(),
        ..Default::default()
    })
    .await;
    let c = e.control.clone();
    let app =
        test::init_service(App::new().configure(move |cfg| vitals_control::api::configure(c, cfg)))
            .await;
    let pk: Value = test::call_and_read_body_json(
        &app,
        test::TestRequest::get()
            .uri("/api/v1/client-config/public-key?app=zq")
            .to_request(),
    )
    .await;
    let keys: Vec<String> = serde_json::from_value(pk["public_keys"].clone()).unwrap();
    assert_eq!(keys.len(), 1);

    e.control
        .request(&emergency_action(Mode::Automatic), "alice")
        .unwrap();
    let q = "app=zq&platform=android&version=5.2.0&build=520&install_id=i-1";
    let resp =
        test::call_service(&app, signed_get(&e, q, "nonce-aaaaaaaaaaaa1").to_request()).await;
    assert_eq!(resp.status(), 200);
    let etag = resp
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let sig = resp
        .headers()
        .get("x-vitals-signature-ed25519")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let body = test::read_body(resp).await;
    assert!(body.iter().all(u8::is_ascii), "ASCII-only JSON");
    assert!(
        signing::verify(&body, &sig, &keys),
        "verifies with the published key"
    );
    let mut tampered = body.to_vec();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    assert!(
        !signing::verify(&tampered, &sig, &keys),
        "tampered body fails"
    );
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["v"], 1);
    assert_eq!(doc["app_id"], "zq");
    assert_eq!(doc["emergency"]["action"], "block");
    assert_eq!(doc["emergency"]["target_version"], "5.1.9-emergency");
    assert!(doc["expires_at"].as_i64().unwrap() > doc["issued_at"].as_i64().unwrap());

    // Same state: 304 with the ETag.
    let resp = test::call_service(
        &app,
        signed_get(&e, q, "nonce-aaaaaaaaaaaa2")
            .insert_header(("if-none-match", etag.as_str()))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 304);
    // Other versions are not under the directive.
    let other: Value = test::call_and_read_body_json(
        &app,
        signed_get(
            &e,
            "app=zq&platform=android&version=5.3.0",
            "nonce-aaaaaaaaaaaa3",
        )
        .to_request(),
    )
    .await;
    assert!(other["emergency"].is_null());
    // Unsigned and replayed requests are refused with the ingest codes.
    let resp = test::call_service(
        &app,
        test::TestRequest::get()
            .uri(&format!("/api/v1/client-config?{q}"))
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 401);
    let resp =
        test::call_service(&app, signed_get(&e, q, "nonce-aaaaaaaaaaaa1").to_request()).await;
    assert_eq!(resp.status(), 401);
    let err: Value = test::read_body_json(resp).await;
    assert_eq!(err["error"]["code"], "auth.replayed_nonce");
    e.collector.shutdown().await;
}

#[actix_web::test]
async fn approval_needs_a_second_operator_and_revert_restores() {
    let e = env(ControlSettings::default()).await;
    let c = &e.control;
    let client = |c: &Control| {
        let q = vitals_control::client_config::ClientQuery {
            app: "zq".into(),
            platform: "android".into(),
            version: "5.2.1".into(),
            ..Default::default()
        };
        vitals_control::client_config::build(&c.cp, &c.settings, &q, "k", vitals_control::now())
            .unwrap()
    };
    let Outcome::Pending { pending } = c
        .request(&emergency_action(Mode::Approval), "alice")
        .unwrap()
    else {
        panic!("approval mode must not apply at once");
    };
    assert!(
        client(c).emergency.is_none(),
        "nothing changes before approval"
    );
    assert!(matches!(
        c.approve(&pending.id, "alice"),
        Err(ControlError::SameApprover)
    ));
    assert!(client(c).emergency.is_none());
    let applied = c.approve(&pending.id, "bob").unwrap();
    assert_eq!(applied.actor, "alice");
    assert_eq!(applied.approved_by.as_deref(), Some("bob"));
    assert!(client(c).emergency.is_some());
    assert!(matches!(
        c.approve(&pending.id, "carol"),
        Err(ControlError::NotPending(_))
    ));
    let reverted = c.revert(applied.id, "carol", "spike over").unwrap();
    assert_eq!(reverted.reverts, Some(applied.id));
    assert!(
        client(c).emergency.is_none(),
        "revert restores the previous state"
    );
    let log = c.cp.audit(Some("zq"), 10).unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].action, "emergency.activate.revert");
    assert_eq!(log[1].before, None);
    assert!(log[1].after.is_some());
    assert_eq!(log[0].after, None);
    // Identities come from named tokens.
    let t = c.cp.create_named_token(Role::Operator, "dave").unwrap();
    assert_eq!(
        c.cp.identify(Some(&format!("Bearer {t}")), Role::Operator)
            .unwrap()
            .name,
        "dave"
    );
    e.collector.shutdown().await;
}

#[actix_web::test]
async fn the_approval_policy_holds_whatever_mode_is_asked() {
    // Default policy: every action needs a second person.
    let e = env(ControlSettings::default()).await;
    let c = &e.control;
    let Outcome::Pending { pending } = c
        .request(&emergency_action(Mode::Automatic), "alice")
        .unwrap()
    else {
        panic!("automatic mode applied an action the policy puts under approval");
    };
    assert_eq!(pending.requested_by, "alice");
    assert!(
        c.cp.audit(Some("zq"), 10).unwrap().is_empty(),
        "nothing applied"
    );
    assert!(matches!(
        c.approve(&pending.id, "alice"),
        Err(ControlError::SameApprover)
    ));
    let applied = c.approve(&pending.id, "bob").unwrap();
    assert_eq!(applied.approved_by.as_deref(), Some("bob"));
    // An alert rule acts in the mode it was saved with (saving one that
    // acts automatically here takes an admin: tests/security/two_person.rs).
    let kill = ActionRequest {
        app: "zq".into(),
        action: Action::SetKillSwitch {
            feature: "trade".into(),
            enabled: false,
        },
        reason: "[5.1a] rule".into(),
        mode: Some(Mode::Automatic),
        alert: Some("rule#1".into()),
    };
    assert!(matches!(
        c.request_by_rule(&kill, "alert:rule").unwrap(),
        Outcome::Applied { .. }
    ));
    e.collector.shutdown().await;

    // A policy naming some actions: the others may be automatic.
    let e = env(ControlSettings {
        require_approval: vec!["kill_switch.set".into()],
        ..Default::default()
    })
    .await;
    let c = &e.control;
    assert!(matches!(
        c.request(&emergency_action(Mode::Automatic), "alice")
            .unwrap(),
        Outcome::Applied { .. }
    ));
    let person = ActionRequest {
        alert: None,
        ..kill.clone()
    };
    assert!(matches!(
        c.request(&person, "alice").unwrap(),
        Outcome::Pending { .. }
    ));
    e.collector.shutdown().await;
}

async fn serve_http(
    l4: tokio::net::TcpListener,
    l6: tokio::net::TcpListener,
) -> tokio::task::JoinHandle<()> {
    async fn answer(l: tokio::net::TcpListener) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    }
    tokio::spawn(async move {
        tokio::join!(answer(l4), answer(l6));
    })
}

#[tokio::test]
async fn site_failover_demotes_and_restores_with_loopback_probe_target() {
    let mut settings = ControlSettings::default();
    settings.probe.fail_threshold = 2;
    settings.probe.recover_threshold = 2;
    settings.probe.timeout_ms = 500;
    let e = env(settings).await;
    let c = &e.control;
    // Two probe targets on loopback, each on IPv4 and IPv6.
    let bind = || async {
        let l4 = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let l6 = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
        let ports = (
            l4.local_addr().unwrap().port(),
            l6.local_addr().unwrap().port(),
        );
        (serve_http(l4, l6).await, ports)
    };
    let (primary_target, (a4, a6)) = bind().await;
    let (backup_target, (b4, b6)) = bind().await;
    let site = |id: &str, (p4, p6): (u16, u16), weight| Site {
        id: id.into(),
        category: "trade".into(),
        addresses: vec![
            Address {
                url: format!("http://127.0.0.1:{p4}"),
                family: "ipv4".into(),
            },
            Address {
                url: format!("http://[::1]:{p6}"),
                family: "ipv6".into(),
            },
        ],
        weight,
        probe: Probe {
            kind: "http".into(),
            path: "/healthz".into(),
        },
        drained: false,
    };
    for s in [site("sh-1", (a4, a6), 200), site("sz-1", (b4, b6), 100)] {
        s.check().unwrap();
        c.cp.apply_change(
            &vitals_store::ops::Change {
                app_id: "zq".into(),
                kind: kind::SITE.into(),
                object_id: s.id.clone(),
                action: "site.put".into(),
                after: Some(serde_json::to_value(&s).unwrap()),
                reason: "setup".into(),
                alert: None,
                client_visible: true,
            },
            &vitals_store::ops::Applied {
                actor: "ops",
                ..Default::default()
            },
        )
        .unwrap();
    }
    let order = || {
        let q = vitals_control::client_config::ClientQuery {
            app: "zq".into(),
            ..Default::default()
        };
        let b = vitals_control::client_config::build(&c.cp, &c.settings, &q, "k", 0).unwrap();
        b.sites
            .iter()
            .map(|s| format!("{}:{}", s.id, s.health))
            .collect::<Vec<_>>()
    };
    let seq0 = c.cp.config_seq("zq").unwrap().0;
    let mut t = 1_000_000;
    assert!(c.probe_round(t).await.is_empty());
    assert_eq!(order(), ["sh-1:up", "sz-1:up"]);

    // The primary's target stops.
    primary_target.abort();
    let _ = primary_target.await;
    t += 10;
    assert!(
        c.probe_round(t).await.is_empty(),
        "one failure is below the threshold"
    );
    assert_eq!(order(), ["sh-1:up", "sz-1:up"]);
    t += 10;
    assert_eq!(c.probe_round(t).await, ["sh-1"], "demoted at the threshold");
    assert_eq!(order(), ["sz-1:up", "sh-1:down"]);
    assert!(
        c.cp.config_seq("zq").unwrap().0 > seq0,
        "clients see a new config"
    );

    // It returns on the same ports.
    let l4 = tokio::net::TcpListener::bind(("127.0.0.1", a4))
        .await
        .unwrap();
    let l6 = tokio::net::TcpListener::bind(("::1", a6)).await.unwrap();
    let back = serve_http(l4, l6).await;
    t += 10;
    assert!(c.probe_round(t).await.is_empty());
    t += 10;
    assert_eq!(c.probe_round(t).await, ["sh-1"], "restored after recovery");
    assert_eq!(order(), ["sh-1:up", "sz-1:up"]);
    let log = c.cp.audit(Some("zq"), 10).unwrap();
    assert_eq!(log[0].action, "site.restore_health");
    assert_eq!(log[1].action, "site.demote");
    assert_eq!(log[1].actor, "prober");
    backup_target.abort();
    back.abort();
    e.collector.shutdown().await;
}

#[actix_web::test]
async fn actions_serialise_as_documented() {
    let a: Action = serde_json::from_value(
        json!({"type": "set_kill_switch", "feature": "trade", "enabled": false}),
    )
    .unwrap();
    assert_eq!(
        a,
        Action::SetKillSwitch {
            feature: "trade".into(),
            enabled: false
        }
    );
}
