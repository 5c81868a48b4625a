//! Generation tests: validity, determinism, crash-rate contrast, fleet mix.

use super::device::VirtualDevice;
use super::*;
use std::collections::{HashMap, HashSet};
use vitals_protocol::{Event, Limits, Platform, SessionPhase, SessionStatus, decode, validate};

const NOW: i64 = 1_764_000_000_000; // 2025-11-24T16:00:00Z

fn cfg() -> SimConfig {
    SimConfig {
        now_ms: Some(NOW),
        ..SimConfig::default()
    }
}

#[test]
fn generated_batches_pass_validation_and_are_well_formed() {
    let c = cfg();
    let batches = generate_batches(&c, 300);
    let limits = Limits::default();
    let mut batch_ids = HashSet::new();
    let mut session_ids = HashSet::new();
    let mut crash_ids = HashSet::new();
    for b in &batches {
        validate(b, &limits, NOW).unwrap_or_else(|e| panic!("batch {} invalid: {e}", b.batch_id));
        // Still valid when it reaches the server ten minutes later.
        validate(b, &limits, NOW + 600_000)
            .unwrap_or_else(|e| panic!("batch {} late: {e}", b.batch_id));
        let json = serde_json::to_vec(b).expect("serialises");
        assert_eq!(&decode(&json).expect("decodes"), b);
        let gz = send::encode_body(b, true).expect("gzip");
        assert!(gz.len() < limits.max_body_bytes && json.len() < limits.max_decompressed_bytes);
        assert_eq!(b.events.len(), c.events_per_batch);
        assert!(
            b.events.windows(2).all(|w| w[0].ts() <= w[1].ts()),
            "events in time order"
        );
        assert!(batch_ids.insert(b.batch_id.clone()), "duplicate batch id");

        // Every session starts before it ends, once each; crashes point at
        // a session of the same batch and sit inside it.
        let mut open: HashMap<&str, i64> = HashMap::new();
        let mut crashed_sessions = HashSet::new();
        for e in &b.events {
            match e {
                Event::Session(s) if s.phase == SessionPhase::Start => {
                    assert!(
                        session_ids.insert(s.session_id.clone()),
                        "duplicate session id"
                    );
                    open.insert(&s.session_id, s.ts);
                }
                Event::Session(s) => {
                    let start = open.remove(s.session_id.as_str()).expect("end after start");
                    assert_eq!(s.ts - start, s.duration_ms as i64);
                    assert!(s.foreground_ms <= s.duration_ms);
                    if s.status == Some(SessionStatus::Crashed) {
                        assert!(
                            crashed_sessions.remove(s.session_id.as_str()),
                            "crashed session has a crash"
                        );
                    }
                }
                Event::Crash(cr) => {
                    assert!(crash_ids.insert(cr.crash_id.clone()), "duplicate crash id");
                    let sid = cr.session_id.as_deref().expect("crash names its session");
                    assert!(open.contains_key(sid), "crash inside an open session");
                    assert!(!cr.threads.is_empty() && cr.threads.iter().any(|t| t.crashed));
                    if cr.fatal {
                        crashed_sessions.insert(sid.to_string());
                    }
                    for th in &cr.threads {
                        for f in &th.frames {
                            if let Some(a) = &f.addr {
                                let m = f.module.as_deref().expect("native frame names its image");
                                assert!(
                                    cr.images
                                        .iter()
                                        .any(|i| i.name == m && !i.debug_id.is_empty())
                                );
                                assert!(a.starts_with("0x"));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        assert!(open.is_empty(), "every session ends in its batch");
        assert!(crashed_sessions.is_empty());
    }
}

#[test]
fn edge_sizes_and_spans_stay_valid() {
    for (events_per_batch, days) in [(1, 1), (2, 7), (3, 30), (1000, 30), (57, 2)] {
        let c = SimConfig {
            events_per_batch,
            days,
            devices: 50,
            ..cfg()
        };
        for b in generate_batches(&c, 60) {
            assert_eq!(b.events.len(), events_per_batch);
            validate(&b, &Limits::default(), NOW + 599_000)
                .unwrap_or_else(|e| panic!("{events_per_batch}/{days}: {e}"));
            let oldest = b.events.iter().map(Event::ts).min().expect("events");
            assert!(
                oldest >= NOW - i64::from(days) * 86_400_000,
                "within {days} days"
            );
            assert!(b.events.iter().all(|e| e.ts() <= NOW));
        }
    }
}

#[test]
fn same_seed_same_batches_different_seed_different() {
    let c = cfg();
    let a = generate_batches(&c, 120);
    let b = generate_batches(&c, 120);
    assert_eq!(a, b);

    let other = generate_batches(
        &SimConfig {
            seed: c.seed + 1,
            ..c.clone()
        },
        120,
    );
    assert_ne!(a, other);
    let ids: HashSet<_> = a.iter().map(|b| &b.batch_id).collect();
    assert!(other.iter().all(|b| !ids.contains(&b.batch_id)));

    // Any batch can be produced on its own, in any order.
    let g = BatchGenerator::new(&c);
    for i in [119u64, 7, 0, 64] {
        assert_eq!(g.batch(i), a[i as usize]);
    }
    // Ids do not depend on the anchor (a re-send later is idempotent).
    let later = g.batch_at(5, NOW + 3_600_000);
    assert_eq!(later.batch_id, a[5].batch_id);
    let sid = |b: &vitals_protocol::Batch| -> Vec<String> {
        b.events
            .iter()
            .filter_map(|e| match e {
                Event::Session(s) => Some(s.session_id.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(sid(&later)[..2], sid(&a[5])[..2]);
}

#[test]
fn bad_release_crashes_clearly_more() {
    let c = SimConfig {
        crash_probability: 0.002,
        devices: 400,
        ..cfg()
    };
    let batches = generate_batches(&c, 800);
    let truth = ground_truth(&batches);
    let bad = truth.get("5.3.0").expect("newest release present");
    assert!(bad.sessions_started > 300, "{bad:?}");
    assert!(bad.sessions_crashed >= 10, "{bad:?}");
    assert_eq!(bad.sessions_crashed, bad.fatal_crashes);
    let (mut sessions, mut crashed) = (0, 0);
    for (v, t) in &truth {
        if v != "5.3.0" {
            sessions += t.sessions_started;
            crashed += t.sessions_crashed;
        }
    }
    let others = crashed as f64 / sessions as f64;
    assert!(
        bad.crash_rate() > 6.0 * others,
        "bad {} vs others {}",
        bad.crash_rate(),
        others
    );
    assert!(
        bad.users_with_fatal_crash <= bad.users && bad.installs_with_fatal_crash <= bad.installs
    );

    // The regression dominates the bad release's crashes, and is absent
    // elsewhere.
    let regression = |t: &str| {
        t == "NSInvalidArgumentException"
            || t.ends_with("IndexOutOfBoundsException")
            || t == "TypeError"
    };
    let (mut bad_reg, mut bad_all) = (0, 0);
    for b in batches.iter().filter(|b| b.release.version == "5.3.0") {
        for e in &b.events {
            if let Event::Crash(cr) = e
                && cr.fatal
            {
                bad_all += 1;
                bad_reg += usize::from(regression(&cr.exception_type));
            }
        }
    }
    assert!(
        bad_reg * 10 >= bad_all * 7,
        "{bad_reg}/{bad_all} regression crashes"
    );
}

#[test]
fn default_rates_pass_and_fail_the_standard() {
    // With the defaults the good releases stay under 0.05% and the bad one
    // is far over it (the exact counts are fixed by the seed).
    let c = SimConfig {
        devices: 3000,
        events_per_batch: 400,
        ..cfg()
    };
    let truth = ground_truth(&generate_batches(&c, 2500));
    let bad = &truth["5.3.0"];
    assert!(bad.crash_rate() > 0.002, "{bad:?}");
    for (v, t) in &truth {
        if v != "5.3.0" && t.sessions_started > 5000 {
            assert!(t.crash_rate() < 0.0008, "{v}: {t:?}");
        }
    }
}

#[test]
fn new_release_rolls_out_progressively() {
    let c = SimConfig {
        devices: 2000,
        events_per_batch: 10,
        ..cfg()
    };
    let batches = generate_batches(&c, 4000);
    let day = 86_400_000;
    let share = |from: i64, to: i64| {
        let sel: Vec<_> = batches
            .iter()
            .filter(|b| {
                let t = b.events[0].ts();
                t >= NOW - to * day && t < NOW - from * day
            })
            .collect();
        let newest = sel.iter().filter(|b| b.release.version == "5.3.0").count();
        (newest as f64 / sel.len().max(1) as f64, sel.len())
    };
    let (old, n_old) = share(4, 7);
    let (mid, _) = share(2, 3);
    let (recent, n_recent) = share(0, 1);
    assert!(n_old > 100 && n_recent > 100);
    assert_eq!(old, 0.0, "not before its release");
    assert!(recent > mid && mid > 0.0, "recent {recent} mid {mid}");
    assert!(recent > 0.3, "recent {recent}");
}

#[test]
fn fleet_mix_is_roughly_right() {
    let n = 20_000u64;
    let devices: Vec<_> = (0..n).map(|i| VirtualDevice::generate(7, i, n)).collect();
    let share = |f: &dyn Fn(&VirtualDevice) -> bool| {
        devices.iter().filter(|d| f(d)).count() as f64 / n as f64
    };
    for (p, want) in [
        (Platform::Ios, 0.35),
        (Platform::Ipados, 0.05),
        (Platform::Android, 0.45),
        (Platform::AndroidTablet, 0.03),
        (Platform::Harmonyos, 0.10),
        (Platform::Miniprogram, 0.02),
    ] {
        let got = share(&|d| d.platform == p);
        assert!((got - want).abs() < 0.015, "{p:?}: {got} vs {want}");
    }
    let tablets = share(&|d| d.device.class == vitals_protocol::DeviceClass::Tablet);
    assert!((0.07..0.10).contains(&tablets), "tablets {tablets}");
    let flagged = share(&|d| d.device.rooted || d.device.emulator);
    assert!(
        (0.008..0.03).contains(&flagged),
        "rooted/emulator {flagged}"
    );
    let v4 = share(&|d| d.ip_family == vitals_protocol::IpFamily::Ipv4);
    let v6 = share(&|d| d.ip_family == vitals_protocol::IpFamily::Ipv6);
    assert!(
        (v4 - 0.5).abs() < 0.02 && (v6 - 0.1).abs() < 0.02,
        "v4 {v4} v6 {v6}"
    );
    let users = share(&|d| d.user_id.is_some());
    assert!((0.65..0.72).contains(&users), "users {users}");
    let ids = share(&|d| d.device.device_id.is_some());
    assert!((0.45..0.52).contains(&ids), "device ids {ids}");
    assert!(
        devices
            .iter()
            .all(|d| d.consent.device_ids == d.device.device_id.is_some())
    );
    let next =
        share(&|d| d.platform == Platform::Harmonyos && d.device.os_version.starts_with('5'));
    assert!(next > 0.01, "HarmonyOS NEXT {next}");
    let installs: HashSet<_> = devices.iter().map(|d| &d.install_id).collect();
    assert_eq!(installs.len(), devices.len());
    // Old iOS versions only on old models.
    assert!(
        devices
            .iter()
            .all(|d| d.device.os_version != "12.5.7" || d.device.model == "iPhone7,2")
    );
}

#[test]
fn config_defaults_and_checks() {
    let c: SimConfig =
        serde_json::from_str(r#"{"seed": 9, "devices": 10, "key_id": "k", "key_secret": "s"}"#)
            .expect("partial config");
    assert_eq!(
        (c.seed, c.devices, c.events_per_batch, c.concurrency, c.days),
        (9, 10, 100, 16, 7)
    );
    assert!(c.gzip && c.releases.len() == 4 && c.max_retries == 8);
    c.check_run().expect("valid");
    assert!(
        serde_json::from_str::<SimConfig>(r#"{"sead": 1}"#).is_err(),
        "unknown fields refused"
    );
    assert!(
        !format!("{c:?}").contains("\"s\""),
        "secret redacted in Debug"
    );

    let bad = |f: &dyn Fn(&mut SimConfig)| {
        let mut c = c.clone();
        f(&mut c);
        c.check_run().is_err()
    };
    assert!(bad(&|c| c.days = 31));
    assert!(bad(&|c| c.days = 0));
    assert!(bad(&|c| c.events_per_batch = 1001));
    assert!(bad(&|c| c.bad_release = Some("9.9.9".into())));
    assert!(bad(&|c| c.releases.clear()));
    assert!(bad(&|c| c.target = "ftp://x".into()));
    assert!(bad(&|c| c.key_secret.clear()));
    assert!(bad(&|c| c.app_id = "a b".into()));
    assert!(!bad(&|c| c.bad_release = Some(String::new())));

    // No bad release: no contrast.
    let flat = SimConfig {
        bad_release: Some(String::new()),
        crash_probability: 0.01,
        ..cfg()
    };
    let truth = ground_truth(&generate_batches(&flat, 400));
    assert!(truth.values().all(|t| t.crash_rate() < 0.03), "{truth:?}");
}

#[test]
fn report_renders_from_the_catalogue() {
    let mut r = SimReport {
        batches_sent: 10,
        events_sent: 1000,
        batches_accepted: 8,
        retries: 3,
        ..Default::default()
    };
    r.batches_rejected.insert(401, 2);
    r.elapsed_secs = 2.0;
    r.events_per_sec = 400.0;
    let en = r.render(vitals_i18n::Lang::En);
    assert_eq!(
        en,
        "simulation done: 10 batches sent (1000 events), 8 accepted, 2 rejected, 3 retries; 2.0 s, 400 events/s"
    );
    assert!(r.render(vitals_i18n::Lang::ZhCn).contains("发送 10 个批次"));
    let json = serde_json::to_value(&r).expect("serialises");
    assert_eq!(json["batches_rejected"]["401"], 2);
}

/// Live traffic (`live_share`): that share of batches are devices active in
/// the last hour, sessions ending before now, mostly on the newest release;
/// every other batch is exactly what it is without live traffic.
#[test]
fn live_share_puts_that_share_of_batches_in_the_last_hour_and_keeps_the_rest() {
    let hour = 3_600_000;
    let history = generate_batches(&cfg(), 2000);
    let live_cfg = SimConfig {
        live_share: 0.3,
        ..cfg()
    };
    let live = generate_batches(&live_cfg, 2000);
    let recent = |b: &vitals_protocol::Batch| b.events.iter().all(|e| e.ts() >= NOW - hour);
    assert!(
        !history.iter().any(recent),
        "without live traffic no batch lies in the last hour"
    );
    let (mut n_live, mut newest) = (0, 0);
    for (h, l) in history.iter().zip(&live) {
        assert!(l.events.iter().all(|e| e.ts() < NOW));
        validate(l, &Limits::default(), NOW).expect("valid");
        if recent(l) {
            n_live += 1;
            newest += usize::from(l.release.version == "5.3.0");
        } else {
            assert_eq!(h, l, "a history batch is unchanged");
        }
    }
    assert!((500..=700).contains(&n_live), "{n_live} of 2000 live");
    assert!(newest * 3 > n_live, "{newest} of {n_live} live on 5.3.0");
    let bad = SimConfig {
        live_share: 1.5,
        ..cfg()
    };
    assert!(bad.check().is_err());
}
