//! 5.4b: the in-app upgrade prompt event — shown, and what the user did
//! (accepted, declined, later), with the version it offered.

use serde_json::{Value, json};
use vitals_i18n::Lang;
use vitals_protocol::{Event, EventKind, Limits, UpgradeOutcome, ValidationKind, decode, validate};

const NOW_MS: i64 = 1_795_917_000_000;

fn batch(prompts: &[Value]) -> Vec<u8> {
    let mut events =
        vec![json!({"type": "session", "ts": NOW_MS, "session_id": "s1", "phase": "start"})];
    for p in prompts {
        let mut p = p.clone();
        p["type"] = json!("upgrade_prompt");
        p["ts"] = json!(NOW_MS);
        events.push(p);
    }
    serde_json::to_vec(&json!({
        "v": 1, "batch_id": "b1", "app_id": "demo",
        "release": {"version": "2.0.0", "build": "200"}, "platform": "android",
        "device": {"model": "SM-S9180", "os_version": "14"},
        "install_id": "inst-1", "events": events
    }))
    .unwrap()
}

#[test]
fn every_outcome_decodes_with_its_target_and_placement() {
    let body = batch(&[
        json!({"target_version": "2.1.0", "outcome": "shown", "placement": "home"}),
        json!({"target_version": "2.1.0", "outcome": "accepted"}),
        json!({"target_version": "2.1.0", "outcome": "declined"}),
        json!({"target_version": "2.1.0", "outcome": "later"}),
    ]);
    let b = decode(&body).unwrap();
    validate(&b, &Limits::default(), NOW_MS).unwrap();
    let got: Vec<(String, UpgradeOutcome, String)> = b
        .events
        .iter()
        .filter_map(|e| match e {
            Event::UpgradePrompt(u) => {
                assert_eq!(e.kind(), EventKind::UpgradePrompt);
                assert_eq!(e.kind().as_str(), "upgrade_prompt");
                Some((u.target_version.clone(), u.outcome, u.placement.clone()))
            }
            _ => None,
        })
        .collect();
    use UpgradeOutcome::*;
    assert_eq!(
        got,
        [
            ("2.1.0".into(), Shown, "home".into()),
            ("2.1.0".into(), Accepted, String::new()),
            ("2.1.0".into(), Declined, String::new()),
            ("2.1.0".into(), Later, String::new()),
        ]
    );
    // The wire form round-trips.
    let again = decode(&serde_json::to_vec(&b).unwrap()).unwrap();
    assert_eq!(again, b);
    assert_eq!(
        EventKind::parse("upgrade_prompt"),
        Some(EventKind::UpgradePrompt)
    );
    assert!(EventKind::ALL.contains(&EventKind::UpgradePrompt));
}

#[test]
fn a_prompt_without_a_target_or_with_an_unknown_outcome_is_refused() {
    // No target version: the prompt must name what it offered.
    let e = decode(&batch(&[json!({"outcome": "shown"})])).unwrap_err();
    assert_eq!(e.path, "events[1]");
    assert!(e.message(Lang::En).contains("target_version"), "{e:?}");
    let e = decode(&batch(&[
        json!({"target_version": "2.1.0", "outcome": "ignored"}),
    ]))
    .unwrap_err();
    assert!(e.is_malformed(), "{e:?}");
    let e = decode(&batch(&[
        json!({"target_version": "2.1.0", "outcome": "shown", "extra": 1}),
    ]))
    .unwrap_err();
    assert!(e.is_malformed(), "unknown fields are refused: {e:?}");
    // An empty target, or one with a line break, decodes but is invalid,
    // named by its path.
    for (target, kind) in [
        ("", ValidationKind::Empty),
        (
            "2.1\n0",
            ValidationKind::ForbiddenChar { code: 0x0A, at: 3 },
        ),
    ] {
        let b = decode(&batch(&[
            json!({"target_version": target, "outcome": "accepted"}),
        ]))
        .unwrap();
        let e = validate(&b, &Limits::default(), NOW_MS).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.kind),
            ("events[1].target_version", kind)
        );
    }
    let long = "x".repeat(Limits::default().max_short_len + 1);
    let b = decode(&batch(&[
        json!({"target_version": "2.1.0", "outcome": "shown", "placement": long}),
    ]))
    .unwrap();
    let e = validate(&b, &Limits::default(), NOW_MS).unwrap_err();
    assert_eq!(e.path, "events[1].placement");
}
