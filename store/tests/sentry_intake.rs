//! Sentry-protocol intake in the control plane (issue #22), on SQLite and
//! on a real PostgreSQL server (`VITALS_TEST_POSTGRES_URL`, see
//! `control_pg.rs`): off until enabled, random project ids that are
//! neither the app's name nor a counter, checked allowed origins, audited
//! changes, and a control plane from before the table existed.

#[macro_use]
mod control_pg_support;

use control_pg_support::Fixture;
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};
use vitals_store::StoreError;
use vitals_store::sentry_intake::{IntakeChange, PROJECT_MAX, PROJECT_MIN};

on_both_backends!(
    intake_is_opt_in_with_random_projects,
    origins_are_checked_merged_and_audited,
    upgrade_from_a_control_plane_without_the_table,
    two_nodes_enabling_at_once_draw_one_project,
);

fn enable() -> IntakeChange {
    IntakeChange {
        enabled: Some(true),
        ..Default::default()
    }
}

fn intake_is_opt_in_with_random_projects(f: &Fixture) {
    let cp = &f.cp;
    let apps: Vec<String> = (0..40).map(|i| format!("app-{i:02}")).collect();
    for a in &apps {
        cp.create_key(a).unwrap();
        let s = cp.app(a).unwrap().unwrap().sentry;
        assert!(!s.enabled && s.project.is_none(), "{a}: {s:?}");
    }
    let mut projects = Vec::new();
    for a in &apps {
        let s = cp.set_sentry_intake(a, &enable(), "test").unwrap();
        assert!(s.enabled);
        let p = s.project.unwrap();
        assert!((PROJECT_MIN..=PROJECT_MAX).contains(&p), "{p}");
        assert_eq!(
            cp.app_for_sentry_project(p).unwrap().as_deref(),
            Some(a.as_str())
        );
        projects.push(p);
    }
    // Distinct, and not a counter: no two apps created one after the other
    // got neighbouring ids, and they spread over the range.
    assert_eq!(projects.iter().collect::<BTreeSet<_>>().len(), apps.len());
    assert!(
        projects.windows(2).all(|w| (w[0] - w[1]).abs() > 1),
        "{projects:?}"
    );
    let (lo, hi) = (
        projects.iter().min().unwrap(),
        projects.iter().max().unwrap(),
    );
    assert!(hi - lo > (PROJECT_MAX - PROJECT_MIN) / 4, "{projects:?}");
    // The apps API row shows it; nothing else changed for other apps.
    let all = cp.apps().unwrap();
    assert!(all.iter().all(|a| a.sentry.enabled));
    cp.create_key("plain").unwrap();
    assert!(!cp.app("plain").unwrap().unwrap().sentry.enabled);
    assert_eq!(cp.app_for_sentry_project(1).unwrap(), None);

    // Off keeps the project for a later enable.
    let off = IntakeChange {
        enabled: Some(false),
        ..Default::default()
    };
    let s = cp.set_sentry_intake(&apps[0], &off, "test").unwrap();
    assert!(!s.enabled);
    assert_eq!(s.project, Some(projects[0]));
    assert!(!cp.app(&apps[0]).unwrap().unwrap().sentry.enabled);
    let s = cp.set_sentry_intake(&apps[0], &enable(), "test").unwrap();
    assert_eq!(s.project, Some(projects[0]));

    assert!(matches!(
        cp.set_sentry_intake("no-such-app", &enable(), "test"),
        Err(StoreError::NotFound(_))
    ));
    // The table refuses a second app on one project, whatever the API does.
    let dup = f.raw(&format!(
        "UPDATE sentry_intake SET project = {} WHERE app_id = '{}'",
        projects[1], apps[2]
    ));
    assert!(dup.is_err(), "{dup:?}");
}

fn origins_are_checked_merged_and_audited(f: &Fixture) {
    let cp = &f.cp;
    cp.create_key("web").unwrap();
    let change = |add: &[&str], replace: Option<&[&str]>| IntakeChange {
        enabled: None,
        allowed_origins: replace.map(|r| r.iter().map(|s| s.to_string()).collect()),
        add_origins: add.iter().map(|s| s.to_string()).collect(),
    };
    // Origins without enabling: stored, intake stays off.
    let s = cp
        .set_sentry_intake(
            "web",
            &change(&["HTTPS://App.Example.com:443/"], None),
            "alice",
        )
        .unwrap();
    assert!(!s.enabled);
    assert_eq!(s.allowed_origins, ["https://app.example.com"]);
    let s = cp
        .set_sentry_intake(
            "web",
            &change(&["*.bank.cn", "https://app.example.com"], None),
            "alice",
        )
        .unwrap();
    assert_eq!(s.allowed_origins, ["https://app.example.com", "*.bank.cn"]);
    assert!(s.origin_allowed("https://m.bank.cn"));
    // A bad pattern changes nothing.
    for bad in ["https://app.example.com/login", "*", "https://a b"] {
        let r = cp.set_sentry_intake("web", &change(&[], Some(&["x.cn", bad])), "alice");
        if bad == "*" {
            assert_eq!(r.unwrap().allowed_origins, ["x.cn", "*"]);
            continue;
        }
        match r {
            Err(StoreError::Invalid(m)) => assert!(m.contains("allowed_origins[1]"), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert_eq!(
        cp.app("web").unwrap().unwrap().sentry.allowed_origins,
        ["x.cn", "*"]
    );
    let s = cp
        .set_sentry_intake("web", &change(&[], Some(&[])), "bob")
        .unwrap();
    assert!(s.allowed_origins.is_empty());
    let s = cp.set_sentry_intake("web", &enable(), "carol").unwrap();
    assert!(s.enabled && !s.origin_allowed("https://app.example.com"));

    // Every change is in the audit log, with who did it and before / after.
    let audit = cp.audit(Some("web"), 20).unwrap();
    let mine: Vec<_> = audit.iter().filter(|a| a.kind == "sentry_intake").collect();
    assert_eq!(mine.len(), 5, "{audit:?}");
    let last = mine.first().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("sentry_intake.enable", "carol")
    );
    assert_eq!(last.before.as_ref().unwrap()["enabled"], false);
    assert_eq!(last.after.as_ref().unwrap()["enabled"], true);
    let first = mine.last().unwrap();
    assert_eq!(first.before, None);
    assert_eq!(first.actor, "alice");
}

fn upgrade_from_a_control_plane_without_the_table(f: &Fixture) {
    let cp = &f.cp;
    cp.create_key("old-1").unwrap();
    cp.create_key("old-2").unwrap();
    cp.set_sentry_intake("old-1", &enable(), "test").unwrap();
    // A control plane written by a version without Sentry intake settings:
    // the table does not exist (its apps had projects 1, 2, … then).
    f.raw("DROP TABLE sentry_intake").unwrap();
    let node = f.node();
    for a in ["old-1", "old-2"] {
        let s = node.app(a).unwrap().unwrap().sentry;
        assert!(!s.enabled && s.project.is_none(), "{a}: {s:?}");
    }
    assert_eq!(node.app_for_sentry_project(1).unwrap(), None);
    let s = node.set_sentry_intake("old-2", &enable(), "admin").unwrap();
    assert!(s.project.unwrap() >= PROJECT_MIN);
    assert!(
        cp.app("old-2").unwrap().unwrap().sentry.enabled,
        "seen by the other node"
    );
}

fn two_nodes_enabling_at_once_draw_one_project(f: &Fixture) {
    f.cp.create_key("race").unwrap();
    let nodes = [Arc::new(f.node()), Arc::new(f.node())];
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = nodes
        .iter()
        .map(|n| {
            let (n, b) = (n.clone(), barrier.clone());
            std::thread::spawn(move || {
                b.wait();
                n.set_sentry_intake("race", &enable(), "node")
                    .unwrap()
                    .project
            })
        })
        .collect();
    let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(got[0], got[1]);
    assert_eq!(f.cp.app("race").unwrap().unwrap().sentry.project, got[0]);
}
