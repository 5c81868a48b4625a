//! 5.4b: the share of an older release's users shown an in-app prompt to
//! upgrade to the newest version, per platform, from the moment the newest
//! version came out; the answers as evidence. The expected figures are
//! counted here from the fleet written below.

mod common;

use common::*;
use vitals_analyzer::evaluate::{Evidence, Verdict};
use vitals_analyzer::policy::{Metric, Policy};
use vitals_protocol::*;
use vitals_store::ControlPlane;
use vitals_store::releases::ReleaseMeta;

const DAY: i64 = 86_400_000;

fn prompt(ts: i64, target: &str, outcome: UpgradeOutcome) -> Event {
    Event::UpgradePrompt(UpgradePromptEvent {
        ts,
        target_version: target.into(),
        outcome,
        placement: "home".into(),
    })
}

fn on(platform: Platform, mut b: AcceptedBatch) -> AcceptedBatch {
    b.batch.platform = platform;
    b
}

/// Sessions of `user` on `version` at `ts`, plus `extra` events.
fn visit(
    platform: Platform,
    version: &str,
    user: u64,
    ts: i64,
    tag: &str,
    extra: Vec<Event>,
) -> AcceptedBatch {
    let mut events = vec![start(ts, format!("{tag}-{user}"))];
    events.extend(extra);
    on(
        platform,
        batch(format!("{tag}-{user}"), version, user, events),
    )
}

#[tokio::test]
async fn users_due_a_prompt_and_those_shown_one_offering_the_newest_version() {
    use UpgradeOutcome::*;
    let base = now_ms() - 10 * DAY;
    let (old, released, new) = (base, base + 2 * DAY, base + 3 * DAY);
    let (ios_newest_at, ios_new) = (base + 4 * DAY, base + 5 * DAY);
    let mut data = Vec::new();
    // Android, 1.0.0: 300 users before 2.0.0 came out; 200 of them again
    // after, of whom 180 were shown a prompt for 2.0.0 (100 accepted after
    // seeing it, 30 answered "no" with no `shown` sent, 20 "later", 30
    // never answered) and 10 a prompt for the older 1.5.0.
    for u in 0..300 {
        let extra = if u == 250 {
            // Prompted before 2.0.0 was out: outside the window.
            vec![prompt(old + 1, "2.0.0", Shown)]
        } else {
            vec![]
        };
        data.push(visit(Platform::Android, "1.0.0", u, old, "a-old", extra));
    }
    for u in 0..200 {
        let t = new + 1000;
        let extra = match u {
            0..100 => vec![prompt(t, "2.0.0", Shown), prompt(t + 5, "2.0.0", Accepted)],
            100..130 => vec![prompt(t, "2.0.0", Declined)],
            130..150 => vec![prompt(t, "2.0.0", Shown), prompt(t + 5, "2.0.0", Later)],
            150..180 => vec![prompt(t, "2.0.0", Shown)],
            180..190 => vec![prompt(t, "1.5.0", Shown)],
            _ => vec![],
        };
        data.push(visit(Platform::Android, "1.0.0", u, new, "a-new", extra));
    }
    // iOS: 2.1.0 (not registered) has sessions from `ios_newest_at`, so it
    // is the newest there; of 50 users of 1.0.0 after that, 40 were shown
    // a prompt for 2.1.0, 10 one for 2.0.0 (not the newest on iOS).
    data.push(visit(
        Platform::Ios,
        "2.1.0",
        5000,
        ios_newest_at,
        "i-21",
        vec![],
    ));
    for u in 1000..1100 {
        data.push(visit(Platform::Ios, "1.0.0", u, new, "i-old", vec![]));
    }
    for u in 1000..1050 {
        let target = if u < 1040 { "2.1.0" } else { "2.0.0" };
        let extra = vec![prompt(ios_new + 1, target, Shown)];
        data.push(visit(Platform::Ios, "1.0.0", u, ios_new, "i-new", extra));
    }
    let b = backends(&data).await;
    for (store, dir) in b.iter() {
        let who = store.backend();
        // 2.0.0 is registered as released at `released`.
        let cp = ControlPlane::open(dir.join("cp.sqlite")).unwrap();
        cp.ensure_app("syn", None).unwrap();
        cp.put_release(&ReleaseMeta {
            app_id: "syn".into(),
            version: "2.0.0".into(),
            build: String::new(),
            notes: "新版本".into(),
            package_sizes: vec![],
            min_version: None,
            released_at: released / 1000,
            min_os: Default::default(),
        })
        .unwrap();
        drop(cp);
        let e = eval(store.clone(), dir, "1.0.0", None).await;
        let u = &e.facts.upgrade;
        let per: Vec<_> = u
            .platforms
            .iter()
            .map(|p| {
                (
                    p.platform.as_str(),
                    p.newest.as_str(),
                    p.since,
                    (p.due, p.prompted),
                    (p.accepted, p.declined, p.later, p.stale_prompts),
                )
            })
            .collect();
        assert_eq!(
            per,
            [
                (
                    "android",
                    "2.0.0",
                    (released / 1000) as u32,
                    (200, 180),
                    (100, 30, 20, 10)
                ),
                (
                    "ios",
                    "2.1.0",
                    (ios_newest_at / 1000) as u32,
                    (50, 40),
                    (0, 0, 0, 10)
                ),
            ],
            "{who}"
        );
        let r = e
            .results
            .iter()
            .find(|r| r.metric == Metric::UpgradePromptShare)
            .unwrap();
        assert_eq!(r.id, "5.4b/upgrade_prompt_share");
        // 220 of 250 = 88 %: under 90 %.
        assert_eq!((r.value, r.sample), (Some(220.0 / 250.0), 250), "{who}");
        assert_eq!(r.verdict, Verdict::Fail, "{who}");
        assert_eq!(
            r.evidence,
            Evidence::UpgradePrompt {
                newest: "android 2.0.0, ios 2.1.0".into(),
                prompted: 220,
                due: 250,
                accepted: 100,
                declined: 30,
                later: 20,
                stale: 20,
            }
        );
        let text = r.evidence.render(vitals_i18n::Lang::En);
        assert!(text.contains("220 of 250 users"), "{text}");
        assert!(
            r.evidence
                .render(vitals_i18n::Lang::ZhCn)
                .contains("250 个用户中 220 个"),
        );
        // At 85 % the same release passes; at exactly 88 % too (inclusive).
        for (t, v) in [
            (0.85, Verdict::Pass),
            (0.88, Verdict::Pass),
            (0.89, Verdict::Fail),
        ] {
            let p = Policy::parse(&format!(
                "[[override]]\napp = \"syn\"\nclause = \"5.4b\"\nthreshold = {t}\n"
            ))
            .unwrap();
            let e = eval(store.clone(), dir, "1.0.0", Some(&p)).await;
            assert_eq!(verdict(&e, Metric::UpgradePromptShare).0, v, "{who} at {t}");
        }
        // The newest release has nothing to prompt for.
        let e = eval(store.clone(), dir, "2.1.0", None).await;
        let r = e
            .results
            .iter()
            .find(|r| r.metric == Metric::UpgradePromptShare)
            .unwrap();
        assert!(e.facts.upgrade.platforms.is_empty(), "{who}");
        assert_eq!(
            (r.value, r.verdict, &r.evidence),
            (None, Verdict::InsufficientData, &Evidence::UpgradeNotDue)
        );
        // The client config now tells iOS clients to prompt for 2.2.0 (its
        // channel): the newest there from the moment it was set, so no iOS
        // user is due yet and the 2.1.0 prompts are for an older version.
        let cp = ControlPlane::open(dir.join("cp.sqlite")).unwrap();
        let channel = serde_json::json!({"latest_version": "2.2.0", "notes": "", "store_url": "https://example.com"});
        cp.put_state("syn", "channel", "ios", &channel).unwrap();
        let set_at = cp
            .object("syn", "channel", "ios")
            .unwrap()
            .unwrap()
            .updated_at;
        drop(cp);
        let e = eval(store.clone(), dir, "1.0.0", None).await;
        let ios = e
            .facts
            .upgrade
            .platforms
            .iter()
            .find(|p| p.platform == "ios")
            .unwrap();
        assert_eq!(
            (
                ios.newest.as_str(),
                i64::from(ios.since),
                ios.due,
                ios.prompted
            ),
            ("2.2.0", set_at, 0, 0),
            "{who}"
        );
        assert_eq!(e.facts.upgrade.newest(), "android 2.0.0, ios 2.2.0");
        assert_eq!(
            verdict(&e, Metric::UpgradePromptShare),
            (Verdict::Pass, Some(180.0 / 200.0)),
            "{who}: only Android users are due, 90 % of them prompted"
        );
    }
}
