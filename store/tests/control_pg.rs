//! The control plane on both backends: every scenario runs once against an
//! embedded SQLite file and once against a real PostgreSQL server, through
//! the public API only (plus raw SQL where a guarantee of the database
//! itself is checked, such as the append-only audit log).
//!
//! PostgreSQL comes from `VITALS_TEST_POSTGRES_URL` (`.ci/run` starts one;
//! locally: `deploy/postgres/run-local.sh /tmp/vitals-pg 15432 &` and
//! `export VITALS_TEST_POSTGRES_URL=postgres://vitals@127.0.0.1:15432/vitals_test`).
//! Each test creates a database of its own through that URL (so the role
//! needs CREATEDB) and drops it at the end. Without the variable the
//! PostgreSQL half is skipped, except under `CI=true`, where it fails.

#[macro_use]
mod control_pg_support;

use control_pg_support::{Fixture, Target};
use serde_json::json;
use std::sync::{Arc, Barrier};
use std::time::Duration;
use vitals_store::control::{AuthFailure, Role};
use vitals_store::ops::{AlertEvent, AlertFilter, Applied, Change, Delivery};
use vitals_store::releases::{GroupStatus, MinVersion, PackageSize, ReleaseMeta};
use vitals_store::users::SessionLimits;
use vitals_store::{ControlPlane, StoreError};

on_both_backends!(
    apps_and_key_rotation,
    tokens_and_roles,
    users_and_sessions,
    releases_and_group_states,
    objects_changes_and_append_only_audit,
    concurrent_changes_keep_the_audit_chain,
    pending_approvals,
    alert_history_and_deliveries,
    signing_keys,
    erasures,
    leases_one_holder_expiry_and_release,
    lease_race_between_nodes,
    schedule_runs_are_claimed_once,
);

// --------------------------------------------------------------- scenarios

fn apps_and_key_rotation(f: &Fixture) {
    let cp = &f.cp;
    assert!(matches!(
        cp.ensure_app("bad id", None),
        Err(StoreError::Invalid(_))
    ));
    let a = cp.ensure_app("demo", Some("Demo")).unwrap();
    assert_eq!((a.name.as_str(), a.store_ip), ("Demo", false));
    assert_eq!(a.pseudonym_secret.len(), 32);
    let again = cp.ensure_app("demo", Some("Other")).unwrap();
    assert_eq!(again, a, "ensure_app returns the existing app unchanged");
    let b = cp.ensure_app("another", None).unwrap();
    assert_eq!(b.name, "another");
    // Sentry intake is off for new apps (tests/sentry_intake.rs).
    assert!(!a.sentry.enabled && a.sentry.project.is_none());
    let ids: Vec<String> = cp.apps().unwrap().into_iter().map(|a| a.app_id).collect();
    assert_eq!(ids, ["another", "demo"]);
    cp.set_store_ip("demo", true).unwrap();
    assert!(cp.app("demo").unwrap().unwrap().store_ip);
    assert!(matches!(
        cp.set_store_ip("nope", true),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(cp.app("nope").unwrap(), None);

    let k1 = cp.create_key("demo").unwrap();
    let k2 = cp.create_key("demo").unwrap();
    assert_ne!(k1.secret, k2.secret);
    assert!(matches!(
        cp.create_key("demo"),
        Err(StoreError::Conflict(_))
    ));
    let other = cp.create_key("another").unwrap();
    cp.revoke_key(&k1.key_id).unwrap();
    assert!(matches!(
        cp.revoke_key(&k1.key_id),
        Err(StoreError::NotFound(_))
    ));
    let k3 = cp.create_key("demo").unwrap();
    let keys = cp.keys().unwrap();
    assert_eq!(keys.len(), 4);
    let demo_active: Vec<&str> = keys
        .iter()
        .filter(|k| k.app_id == "demo" && k.active)
        .map(|k| k.key_id.as_str())
        .collect();
    assert_eq!(demo_active.len(), 2);
    assert!(demo_active.contains(&k2.key_id.as_str()) && demo_active.contains(&k3.key_id.as_str()));
    let revoked = keys.iter().find(|k| k.key_id == k1.key_id).unwrap();
    assert!(!revoked.active && revoked.revoked_at.is_some());
    assert!(
        keys.iter()
            .any(|k| k.key_id == other.key_id && k.secret == other.secret)
    );
    // A key for a new app creates the app.
    cp.create_key("fresh").unwrap();
    assert!(cp.app("fresh").unwrap().is_some());
}

fn tokens_and_roles(f: &Fixture) {
    let cp = &f.cp;
    let admin = cp.create_token(Role::Admin, "ci").unwrap();
    let viewer = cp.create_token(Role::Viewer, "dash").unwrap();
    assert_eq!(cp.token_role(&admin).unwrap(), Some(Role::Admin));
    assert_eq!(cp.token_role(&viewer).unwrap(), Some(Role::Viewer));
    assert_eq!(cp.token_role("vt_wrong").unwrap(), None);
    assert_eq!(
        cp.authorize(Some(&format!("Bearer {admin}")), Role::Operator),
        Ok(Role::Admin)
    );
    assert_eq!(
        cp.authorize(Some(&format!("Bearer {viewer}")), Role::Operator),
        Err(AuthFailure::Forbidden {
            role: Role::Viewer,
            needed: Role::Operator
        })
    );
    assert_eq!(cp.authorize(None, Role::Viewer), Err(AuthFailure::Missing));
    assert_eq!(
        cp.authorize(Some("Bearer vt_nope"), Role::Viewer),
        Err(AuthFailure::Bad)
    );
    let alice = cp.create_named_token(Role::Operator, "alice").unwrap();
    assert!(matches!(
        cp.create_named_token(Role::Admin, "alice"),
        Err(StoreError::Conflict(_))
    ));
    let id = cp
        .identify(Some(&format!("Bearer {alice}")), Role::Viewer)
        .unwrap();
    assert_eq!((id.name.as_str(), id.role), ("alice", Role::Operator));
    let anon = cp
        .identify(Some(&format!("Bearer {admin}")), Role::Admin)
        .unwrap();
    assert!(anon.name.starts_with("token:"), "{}", anon.name);
    // The refused duplicate left no orphan token behind.
    assert_eq!(f.raw("UPDATE api_tokens SET label = label"), Ok(3));
}

fn users_and_sessions(f: &Fixture) {
    let cp = &f.cp;
    let u = cp
        .create_user("ops-a", Role::Operator, "correct horse battery")
        .unwrap();
    assert!(matches!(
        cp.create_user("ops-a", Role::Viewer, "another password"),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        cp.create_user("bad name", Role::Viewer, "another password"),
        Err(StoreError::Invalid(_))
    ));
    cp.create_user("viewer-b", Role::Viewer, "another password")
        .unwrap();
    let names: Vec<(String, Role)> = cp
        .users()
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.role))
        .collect();
    assert_eq!(
        names,
        [
            ("ops-a".to_string(), Role::Operator),
            ("viewer-b".to_string(), Role::Viewer)
        ]
    );
    assert_eq!(cp.verify_user("ops-a", "wrong password!").unwrap(), None);
    assert_eq!(cp.verify_user("nobody", "whatever it is").unwrap(), None);
    assert_eq!(
        cp.verify_user("ops-a", "correct horse battery")
            .unwrap()
            .map(|u| u.role),
        Some(Role::Operator)
    );

    let limits = SessionLimits::default();
    let (id, s) = cp.create_web_session(&u, limits).unwrap();
    let live = cp.web_session(&id, limits).unwrap().unwrap();
    assert_eq!(
        (live.csrf, live.user, live.role),
        (s.csrf, s.user, Role::Operator)
    );
    assert_eq!(cp.web_session("not-a-session", limits).unwrap(), None);
    cp.end_web_session(&id).unwrap();
    assert_eq!(cp.web_session(&id, limits).unwrap(), None);

    // A new password ends every session.
    let (id2, _) = cp.create_web_session(&u, limits).unwrap();
    cp.set_password("ops-a", "a brand new password").unwrap();
    assert_eq!(cp.web_session(&id2, limits).unwrap(), None);
    assert_eq!(
        cp.verify_user("ops-a", "correct horse battery").unwrap(),
        None
    );
    assert!(
        cp.verify_user("ops-a", "a brand new password")
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        cp.set_password("nobody", "long enough password"),
        Err(StoreError::NotFound(_))
    ));

    // Disabling ends sessions and logins; re-enabling allows logins again.
    let (id3, _) = cp.create_web_session(&u, limits).unwrap();
    cp.set_user_disabled("ops-a", true).unwrap();
    assert_eq!(cp.web_session(&id3, limits).unwrap(), None);
    assert_eq!(
        cp.verify_user("ops-a", "a brand new password").unwrap(),
        None
    );
    assert!(cp.users().unwrap()[0].disabled);
    cp.set_user_disabled("ops-a", false).unwrap();
    assert!(
        cp.verify_user("ops-a", "a brand new password")
            .unwrap()
            .is_some()
    );

    // An expired session is refused (and revoked).
    let short = SessionLimits {
        max_secs: 0,
        idle_secs: 60,
    };
    let (id4, _) = cp.create_web_session(&u, short).unwrap();
    assert_eq!(cp.web_session(&id4, limits).unwrap(), None);
}

fn releases_and_group_states(f: &Fixture) {
    let cp = &f.cp;
    let meta = ReleaseMeta {
        app_id: "a".into(),
        version: "1.2.0".into(),
        build: "120".into(),
        notes: "修复登录问题".into(),
        package_sizes: vec![PackageSize {
            platform: "android".into(),
            abi: "arm64-v8a".into(),
            bytes: 80 << 20,
        }],
        min_version: Some(MinVersion {
            version: "1.0.0".into(),
            announced_at: 100,
            enforce_at: 200,
        }),
        released_at: 50,
        min_os: [
            ("ios".into(), "13.0".into()),
            ("harmonyos".into(), "5.0.1".into()),
        ]
        .into(),
    };
    cp.put_release(&meta).unwrap();
    let older = ReleaseMeta {
        version: "1.1.0".into(),
        build: "110".into(),
        min_version: None,
        package_sizes: vec![],
        released_at: 10,
        ..meta.clone()
    };
    cp.put_release(&older).unwrap();
    let updated = ReleaseMeta {
        notes: "new notes".into(),
        ..meta.clone()
    };
    cp.put_release(&updated).unwrap();
    assert_eq!(cp.releases("a").unwrap(), vec![older, updated]);
    assert!(cp.releases("b").unwrap().is_empty());
    let bad = ReleaseMeta {
        min_version: Some(MinVersion {
            version: "1".into(),
            announced_at: 300,
            enforce_at: 200,
        }),
        ..meta
    };
    assert!(matches!(cp.put_release(&bad), Err(StoreError::Invalid(_))));

    cp.set_group_state(
        "a",
        "fp1",
        GroupStatus::Resolved,
        Some("1.2.0"),
        None,
        "ops",
    )
    .unwrap();
    cp.set_group_state("a", "fp2", GroupStatus::Merged, None, Some("fp1"), "ops")
        .unwrap();
    let g = cp.group_state("a", "fp1").unwrap().unwrap();
    assert_eq!(
        (g.status, g.resolved_in.as_deref(), g.updated_by.as_str()),
        (GroupStatus::Resolved, Some("1.2.0"), "ops")
    );
    assert!(g.resolved_at.is_some());
    cp.set_group_state("a", "fp1", GroupStatus::Open, None, None, "bob")
        .unwrap();
    let g = cp.group_state("a", "fp1").unwrap().unwrap();
    assert_eq!((g.status, g.resolved_at), (GroupStatus::Open, None));
    let all = cp.group_states("a").unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .any(|g| g.fingerprint == "fp2" && g.merged_into.as_deref() == Some("fp1"))
    );
    assert_eq!(cp.group_state("b", "fp1").unwrap(), None);
}

fn change(after: Option<serde_json::Value>) -> Change {
    Change {
        app_id: "a".into(),
        kind: "kill_switch".into(),
        object_id: "trade".into(),
        action: "kill_switch.set".into(),
        after,
        reason: "incident".into(),
        alert: None,
        client_visible: true,
    }
}

fn actor(name: &str) -> Applied<'_> {
    Applied {
        actor: name,
        ..Default::default()
    }
}

fn objects_changes_and_append_only_audit(f: &Fixture) {
    let cp = &f.cp;
    // Internal state: no audit entry, no sequence bump.
    cp.put_state("a", "site_health", "s1", &json!({"failures": 1}))
        .unwrap();
    cp.put_state("a", "site_health", "s1", &json!({"failures": 2}))
        .unwrap();
    cp.put_state("b", "site_health", "s1", &json!({"failures": 0}))
        .unwrap();
    let o = cp.object("a", "site_health", "s1").unwrap().unwrap();
    assert_eq!(
        (o.body, o.updated_by.as_str()),
        (json!({"failures": 2}), "system")
    );
    assert_eq!(cp.objects(None, "site_health").unwrap().len(), 2);
    assert_eq!(cp.objects(Some("b"), "site_health").unwrap().len(), 1);
    assert_eq!(cp.object("a", "site_health", "nope").unwrap(), None);
    assert_eq!(cp.config_seq("a").unwrap(), (0, 0));
    assert!(cp.audit(None, 10).unwrap().is_empty());

    let e1 = cp
        .apply_change(
            &Change {
                alert: Some("rule#7".into()),
                ..change(Some(json!({"enabled": false})))
            },
            &actor("alice"),
        )
        .unwrap();
    assert_eq!((e1.before.clone(), e1.actor.as_str()), (None, "alice"));
    assert_eq!(e1.alert.as_deref(), Some("rule#7"));
    let e2 = cp
        .apply_change(
            &change(Some(json!({"enabled": true}))),
            &Applied {
                actor: "bob",
                approved_by: Some("carol"),
                reverts: Some(e1.id),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(e2.id > e1.id);
    assert_eq!(e2.before, Some(json!({"enabled": false})));
    assert_eq!(e2.after, Some(json!({"enabled": true})));
    assert_eq!(
        (e2.approved_by.as_deref(), e2.reverts),
        (Some("carol"), Some(e1.id))
    );
    let o = cp.object("a", "kill_switch", "trade").unwrap().unwrap();
    assert_eq!(
        (o.body, o.updated_by.as_str()),
        (json!({"enabled": true}), "bob")
    );
    let (seq, changed_at) = cp.config_seq("a").unwrap();
    assert_eq!(seq, 2);
    assert!(changed_at > 0);
    cp.bump_config_seq("a").unwrap();
    assert_eq!(cp.config_seq("a").unwrap().0, 3);

    // Not client-visible: audited, no sequence bump. Deleting: after None.
    let e3 = cp
        .apply_change(
            &Change {
                client_visible: false,
                ..change(None)
            },
            &actor("alice"),
        )
        .unwrap();
    assert_eq!(
        (e3.before, e3.after),
        (Some(json!({"enabled": true})), None)
    );
    assert_eq!(cp.object("a", "kill_switch", "trade").unwrap(), None);
    assert_eq!(cp.config_seq("a").unwrap().0, 3);

    let log = cp.audit(Some("a"), 10).unwrap();
    assert_eq!(
        log.iter().map(|e| e.id).collect::<Vec<_>>(),
        [e3.id, e2.id, e1.id],
        "newest first"
    );
    assert_eq!(cp.audit(Some("a"), 2).unwrap().len(), 2);
    assert!(cp.audit(Some("b"), 10).unwrap().is_empty());
    assert_eq!(cp.audit(None, 10).unwrap().len(), 3);
    assert_eq!(cp.audit_entry(e2.id).unwrap(), Some(e2.clone()));
    assert_eq!(cp.audit_entry(e3.id + 1000).unwrap(), None);

    // The database itself refuses to rewrite history.
    for sql in [
        "UPDATE ops_audit SET actor = 'mallory'",
        "DELETE FROM ops_audit",
    ] {
        let err = f.raw(sql).expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if let Target::Postgres(_) = f.target {
        let err = f.raw("TRUNCATE ops_audit").expect_err("TRUNCATE");
        assert!(err.contains("append-only"), "{err}");
    }
    assert_eq!(cp.audit(None, 10).unwrap()[1], e2);
}

/// Two nodes change one object at once: each audit entry's `before` is the
/// previous entry's `after`, so the log agrees with the state.
fn concurrent_changes_keep_the_audit_chain(f: &Fixture) {
    let nodes = [Arc::new(f.node()), Arc::new(f.node())];
    let start = Arc::new(Barrier::new(nodes.len()));
    let threads: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(n, cp)| {
            let (cp, start) = (cp.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..15 {
                    cp.apply_change(&change(Some(json!({"n": n, "i": i}))), &actor("node"))
                        .expect("apply_change");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    let mut log = f.cp.audit(Some("a"), 100).unwrap();
    log.reverse();
    assert_eq!(log.len(), 30);
    assert_eq!(log[0].before, None);
    for w in log.windows(2) {
        assert_eq!(
            w[1].before, w[0].after,
            "entry {} after {}",
            w[1].id, w[0].id
        );
    }
    let last = f.cp.object("a", "kill_switch", "trade").unwrap().unwrap();
    assert_eq!(Some(last.body), log[29].after);
    assert_eq!(f.cp.config_seq("a").unwrap().0, 30);
}

fn pending_approvals(f: &Fixture) {
    let cp = &f.cp;
    let c = change(Some(json!({"enabled": false})));
    let p = cp.create_pending(&c, "alice").unwrap();
    assert!(p.id.starts_with("act_"));
    assert_eq!(
        (p.status.as_str(), p.requested_by.as_str(), &p.change),
        ("pending", "alice", &c)
    );
    let other = cp
        .create_pending(
            &Change {
                app_id: "b".into(),
                ..c.clone()
            },
            "bob",
        )
        .unwrap();
    assert_eq!(cp.pending(&p.id).unwrap(), Some(p.clone()));
    assert_eq!(cp.pending("act_nope").unwrap(), None);
    assert_eq!(cp.pendings(None, true).unwrap().len(), 2);
    assert_eq!(cp.pendings(Some("a"), true).unwrap(), vec![p.clone()]);

    assert!(cp.decide_pending(&p.id, "approved", "carol").unwrap());
    assert!(
        !cp.decide_pending(&p.id, "rejected", "dave").unwrap(),
        "decided once"
    );
    let e = cp
        .apply_change(
            &c,
            &Applied {
                actor: "alice",
                approved_by: Some("carol"),
                pending_id: Some(&p.id),
                reverts: None,
            },
        )
        .unwrap();
    let done = cp.pending(&p.id).unwrap().unwrap();
    assert_eq!(
        (
            done.status.as_str(),
            done.decided_by.as_deref(),
            done.audit_id
        ),
        ("approved", Some("carol"), Some(e.id))
    );
    assert!(done.decided_at.is_some());
    assert_eq!(e.pending_id.as_deref(), Some(p.id.as_str()));
    assert_eq!(cp.pendings(Some("a"), true).unwrap(), vec![]);
    assert_eq!(cp.pendings(Some("a"), false).unwrap().len(), 1);
    assert_eq!(cp.pendings(None, true).unwrap(), vec![other]);
}

fn alert_history_and_deliveries(f: &Fixture) {
    let cp = &f.cp;
    let ev = |at: i64, rule: &str, app: &str, value: Option<f64>| AlertEvent {
        id: 0,
        at,
        rule_id: rule.into(),
        app_id: app.into(),
        series: "release=2.1.0".into(),
        event: "fired".into(),
        clause: "5.1a".into(),
        value,
        threshold: Some(0.0005),
        detail: json!({"sessions": 600, "note": "10 %"}),
    };
    let h1 = cp.record_alert(&ev(100, "r1", "a", Some(0.1))).unwrap();
    let h2 = cp.record_alert(&ev(200, "r2", "a", None)).unwrap();
    let h3 = cp.record_alert(&ev(300, "r1", "b", Some(2.0))).unwrap();
    assert!(h1 < h2 && h2 < h3);
    let all = cp.alert_history(&AlertFilter::default()).unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [h3, h2, h1]);
    assert_eq!(
        all[2],
        AlertEvent {
            id: h1,
            ..ev(100, "r1", "a", Some(0.1))
        }
    );
    assert_eq!(all[1].value, None);
    let by = |f: AlertFilter| -> Vec<i64> {
        cp.alert_history(&f)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let app_a = AlertFilter {
        app_id: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(by(app_a), [h2, h1]);
    let rule_r1 = AlertFilter {
        rule_id: Some("r1".into()),
        ..Default::default()
    };
    assert_eq!(by(rule_r1), [h3, h1]);
    let window = AlertFilter {
        since: Some(150),
        until: Some(300),
        ..Default::default()
    };
    assert_eq!(by(window), [h3, h2]);
    let limited = AlertFilter {
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(by(limited), [h3]);

    let d = |attempt: u32, ok: bool| Delivery {
        history_id: h1,
        channel: "email".into(),
        target: "ops@example.cn".into(),
        attempt,
        ok,
        error: (!ok).then(|| "421 try later".to_string()),
        at: 101,
    };
    cp.record_delivery(&d(1, false)).unwrap();
    cp.record_delivery(&d(2, true)).unwrap();
    assert_eq!(cp.deliveries(h1).unwrap(), vec![d(1, false), d(2, true)]);
    assert!(cp.deliveries(h2).unwrap().is_empty());
}

fn signing_keys(f: &Fixture) {
    let cp = &f.cp;
    assert!(cp.signing_keys().unwrap().is_empty());
    let s1: Vec<u8> = (0u8..32).collect();
    let s2 = vec![0u8, 255, 0, 1, 2, 3];
    cp.add_signing_key("k1", &s1).unwrap();
    cp.add_signing_key("k2", &s2).unwrap();
    assert!(matches!(
        cp.add_signing_key("k1", &s2),
        Err(StoreError::Conflict(_))
    ));
    let keys = cp.signing_keys().unwrap();
    assert_eq!(
        keys.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
        ["k2", "k1"],
        "newest first"
    );
    assert_eq!((keys[0].secret.clone(), keys[1].secret.clone()), (s2, s1));
    cp.retire_signing_key("k1").unwrap();
    assert!(matches!(
        cp.retire_signing_key("k1"),
        Err(StoreError::NotFound(_))
    ));
    let keys = cp.signing_keys().unwrap();
    assert!(keys[1].retired_at.is_some() && keys[0].retired_at.is_none());
}

fn erasures(f: &Fixture) {
    let cp = &f.cp;
    assert!(cp.erasures().unwrap().is_empty());
    cp.request_erasure("a", "p1").unwrap();
    cp.request_erasure("a", "p2").unwrap();
    cp.request_erasure("b", "p1").unwrap();
    cp.request_erasure("a", "p1").unwrap();
    cp.complete_erasure("a", "p1").unwrap();
    let set = cp.erasures().unwrap();
    assert_eq!(set.len(), 3);
    assert!(set.contains(&("a".to_string(), "p2".to_string())));
    assert!(set.contains(&("b".to_string(), "p1".to_string())));
}

fn leases_one_holder_expiry_and_release(f: &Fixture) {
    let cp = &f.cp;
    let node_b = f.node();
    // Lease times are whole seconds of the database clock, so a lease of
    // `ttl` seconds lives between ttl - 1 and ttl seconds: 2 s here.
    assert!(cp.try_lease("alerts", "node-a", 2).unwrap());
    assert!(
        !node_b.try_lease("alerts", "node-b", 30).unwrap(),
        "a holds it"
    );
    assert!(cp.try_lease("alerts", "node-a", 2).unwrap(), "renewal");
    assert_eq!(
        node_b.lease_holder("alerts").unwrap().as_deref(),
        Some("node-a")
    );
    assert!(node_b.try_lease("prober", "node-b", 30).unwrap(), "per job");
    // a stops renewing: after the lease runs out, b takes over.
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(node_b.lease_holder("alerts").unwrap(), None);
    assert!(node_b.try_lease("alerts", "node-b", 30).unwrap(), "expired");
    assert!(!cp.try_lease("alerts", "node-a", 30).unwrap());
    // Only the holder can release; a release frees it at once.
    cp.release_lease("alerts", "node-a").unwrap();
    assert!(!cp.try_lease("alerts", "node-a", 30).unwrap());
    node_b.release_lease("alerts", "node-b").unwrap();
    assert!(cp.try_lease("alerts", "node-a", 30).unwrap(), "released");
    assert!(matches!(
        cp.try_lease("alerts", "node-a", u64::MAX),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        cp.try_lease("alerts", "", 30),
        Err(StoreError::Invalid(_))
    ));
}

fn lease_race_between_nodes(f: &Fixture) {
    let n = 4;
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (node, start) = (f.node(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                node.try_lease("race", &format!("node-{i}"), 30)
                    .expect("try_lease")
            })
        })
        .collect();
    let won: Vec<bool> = threads
        .into_iter()
        .map(|t| t.join().expect("lease thread"))
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
    let winner = won.iter().position(|w| *w).unwrap();
    assert_eq!(
        f.cp.lease_holder("race").unwrap(),
        Some(format!("node-{winner}"))
    );
}

fn schedule_runs_are_claimed_once(f: &Fixture) {
    let (a, b) = (&f.cp, f.node());
    assert_eq!(a.last_run("alerts:digest").unwrap(), None);
    assert!(a.claim_run("alerts:digest", None, 1000, "node-a").unwrap());
    assert!(!b.claim_run("alerts:digest", None, 1000, "node-b").unwrap());
    assert_eq!(b.last_run("alerts:digest").unwrap(), Some(1000));
    assert!(
        b.claim_run("alerts:digest", Some(1000), 2000, "node-b")
            .unwrap()
    );
    assert!(
        !a.claim_run("alerts:digest", Some(1000), 2001, "node-a")
            .unwrap()
    );
    assert_eq!(a.last_run("alerts:digest").unwrap(), Some(2000));
}

// ------------------------------------------------------ PostgreSQL only

#[test]
fn postgres_reconnects_after_its_connections_are_killed() {
    let Some(f) = Fixture::postgres() else {
        return;
    };
    let Target::Postgres(db) = &f.target else {
        unreachable!("postgres fixture")
    };
    f.cp.ensure_app("demo", None).unwrap();
    let mut admin = postgres::Client::connect(&db.admin_url, postgres::NoTls).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&db.name],
        )
        .unwrap();
    assert!(!killed.is_empty(), "the pool had connections to kill");
    // A call on a killed connection may fail once per connection; then the
    // pool has reconnected.
    let mut failures = 0;
    let app = loop {
        match f.cp.app("demo") {
            Ok(a) => break a,
            Err(e) => {
                assert!(matches!(e, StoreError::Postgres(_)), "{e}");
                failures += 1;
                assert!(failures <= 2, "no reconnect: {e}");
            }
        }
    };
    assert_eq!(app.map(|a| a.app_id).as_deref(), Some("demo"));
    for _ in 0..4 {
        f.cp.apps().expect("every connection works again");
    }
}

#[test]
fn postgres_schema_creation_is_idempotent_and_concurrent() {
    let Some(f) = Fixture::postgres() else {
        return;
    };
    let Target::Postgres(db) = &f.target else {
        unreachable!("postgres fixture")
    };
    f.cp.ensure_app("demo", None).unwrap();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || ControlPlane::open_postgres(&url, 1).map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().expect("opener").expect("schema again");
    }
    assert_eq!(f.cp.apps().unwrap().len(), 1, "data kept");
    assert_eq!(f.cp.backend(), "postgres");
}

#[test]
fn postgres_unreachable_server_names_the_url_without_password() {
    let e = ControlPlane::open_postgres("postgres://vitals:s3cret@127.0.0.1:1/vitals", 1)
        .err()
        .expect("nothing listens on port 1");
    let msg = e.to_string();
    assert!(matches!(e, StoreError::Postgres(_)), "{msg}");
    assert!(
        msg.contains("unreachable") && msg.contains("vitals:***@127.0.0.1:1"),
        "{msg}"
    );
    assert!(!msg.contains("s3cret"), "{msg}");
}
