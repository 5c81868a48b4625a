use super::*;
use crate::*;

const NOW: i64 = 1_764_000_000_000;

fn batch(events: Vec<Event>) -> Batch {
    Batch {
        v: 1,
        batch_id: "b-1".into(),
        app_id: "demo".into(),
        release: Release {
            version: "1.0.0".into(),
            build: "100".into(),
        },
        platform: Platform::Ios,
        device: Device {
            model: "iPhone15,2".into(),
            class: DeviceClass::Phone,
            os_version: "17.1".into(),
            screen: Screen {
                width: 1179,
                height: 2556,
                density: 3.0,
            },
            abi: "arm64".into(),
            rooted: false,
            emulator: false,
            device_id: None,
        },
        network: Network::default(),
        install_id: "inst-1".into(),
        user_id: None,
        consent: Consent::default(),
        environment: None,
        sent_at: None,
        events,
    }
}

fn session(ts: i64) -> Event {
    Event::Session(SessionEvent {
        ts,
        session_id: "s1".into(),
        phase: SessionPhase::Start,
        status: None,
        duration_ms: 0,
        foreground_ms: 0,
    })
}

#[test]
fn accepts_a_good_batch_and_roundtrips_json() {
    let b = batch(vec![session(NOW)]);
    validate(&b, &Limits::default(), NOW).expect("valid");
    let json = serde_json::to_vec(&b).unwrap();
    assert_eq!(decode(&json).unwrap(), b);
}

#[test]
fn malformed_json_names_the_path() {
    let body = br#"{"v":1,"batch_id":"b","app_id":"a","release":{"version":"1"},"platform":"ios",
        "device":{"model":"m","os_version":"1"},"install_id":"i",
        "events":[{"type":"session","ts":1,"session_id":"s","phase":"start"},
                  {"type":"perf","ts":"yesterday"}]}"#;
    let err = decode(body).unwrap_err();
    assert!(err.is_malformed());
    // Internally tagged enums are buffered by serde, so the path ends at
    // the event; the reason names the field's problem.
    assert_eq!(err.path, "events[1]");
    let msg = err.message(vitals_i18n::Lang::En);
    assert!(
        msg.contains("events[1]") && msg.contains("yesterday"),
        "{msg}"
    );
}

#[test]
fn unknown_platform_is_malformed_at_platform() {
    let body =
        br#"{"v":1,"batch_id":"b","app_id":"a","release":{"version":"1"},"platform":"symbian",
        "device":{"model":"m","os_version":"1"},"install_id":"i","events":[]}"#;
    assert_eq!(decode(body).unwrap_err().path, "platform");
}

#[test]
fn too_many_events() {
    let b = batch((0..1001).map(|_| session(NOW)).collect());
    let err = validate(&b, &Limits::default(), NOW).unwrap_err();
    assert_eq!(err.path, "events");
    assert_eq!(
        err.kind,
        ValidationKind::TooManyEvents {
            count: 1001,
            limit: 1000
        }
    );
}

#[test]
fn late_and_future_timestamps() {
    let limits = Limits::default();
    let ok_late = batch(vec![session(NOW - 29 * 86_400_000)]);
    validate(&ok_late, &limits, NOW).expect("29 days late is accepted");
    let too_old = batch(vec![session(NOW - 31 * 86_400_000)]);
    assert_eq!(
        validate(&too_old, &limits, NOW).unwrap_err().path,
        "events[0].ts"
    );
    let future = batch(vec![session(NOW + 3_600_000)]);
    let err = validate(&future, &limits, NOW).unwrap_err();
    assert!(matches!(
        err.kind,
        ValidationKind::InFuture {
            skew_secs: 3600,
            ..
        }
    ));
}

#[test]
fn ids_are_restricted_and_capped() {
    let mut b = batch(vec![session(NOW)]);
    b.install_id = "has space".into();
    assert_eq!(
        validate(&b, &Limits::default(), NOW).unwrap_err().path,
        "install_id"
    );
    b.install_id = "x".repeat(129);
    let err = validate(&b, &Limits::default(), NOW).unwrap_err();
    assert_eq!(
        err.kind,
        ValidationKind::StringTooLong {
            len: 129,
            limit: 128
        }
    );
}

#[test]
fn start_with_status_is_rejected() {
    let b = batch(vec![Event::Session(SessionEvent {
        ts: NOW,
        session_id: "s".into(),
        phase: SessionPhase::Start,
        status: Some(SessionStatus::Crashed),
        duration_ms: 0,
        foreground_ms: 0,
    })]);
    assert_eq!(
        validate(&b, &Limits::default(), NOW).unwrap_err().path,
        "events[0].status"
    );
}

#[test]
fn out_of_range_cpu_and_messages_in_both_languages() {
    let b = batch(vec![Event::Perf(PerfEvent {
        ts: NOW,
        cpu_pct: Some(-1.0),
        memory_mb: None,
    })]);
    let err = validate(&b, &Limits::default(), NOW).unwrap_err();
    assert_eq!(err.path, "events[0].cpu_pct");
    assert!(err.message(vitals_i18n::Lang::ZhCn).contains("超出范围"));
    assert!(err.message(vitals_i18n::Lang::En).contains("outside"));
}

#[test]
fn wrong_version() {
    let mut b = batch(vec![session(NOW)]);
    b.v = 2;
    assert_eq!(
        validate(&b, &Limits::default(), NOW).unwrap_err().kind,
        ValidationKind::UnsupportedVersion(2)
    );
}

#[test]
fn control_and_bidi_characters_are_refused_in_labels_naming_the_path() {
    type Setter = fn(&mut Batch, String);
    let cases: [(&str, Setter); 4] = [
        ("release.version", |b, s| b.release.version = s),
        ("release.build", |b, s| b.release.build = s),
        ("device.model", |b, s| b.device.model = s),
        ("device.os_version", |b, s| b.device.os_version = s),
    ];
    for (path, set) in cases {
        for bad in [
            "5.2.99\u{0}",
            "5.2\r\n",
            "a\tb",
            "\u{7f}",
            "\u{85}",
            "x\u{202E}y",
            "\u{2066}",
        ] {
            let mut b = batch(vec![session(NOW)]);
            set(&mut b, bad.into());
            let e = validate(&b, &Limits::default(), NOW).expect_err(bad);
            assert_eq!(e.path, path, "{bad:?}");
            assert!(
                matches!(e.kind, ValidationKind::ForbiddenChar { .. }),
                "{bad:?}: {e:?}"
            );
            assert!(e.message(vitals_i18n::Lang::En).contains(path));
        }
        // Ordinary text, Chinese and emoji stay accepted.
        let mut b = batch(vec![session(NOW)]);
        set(&mut b, "5.2.0 正式版 📈".into());
        validate(&b, &Limits::default(), NOW).expect("plain label");
    }
}

#[test]
fn a_plus_in_the_version_is_refused_but_not_in_the_build() {
    // `5.2+1` with build `7` would read as version `5.2`, build `1+7`.
    let mut b = batch(vec![session(NOW)]);
    b.release.version = "5.2+1".into();
    let e = validate(&b, &Limits::default(), NOW).unwrap_err();
    assert_eq!(e.path, "release.version");
    assert_eq!(e.kind, ValidationKind::ForbiddenChar { code: 0x2B, at: 3 });
    assert!(e.message(vitals_i18n::Lang::En).contains("U+002B"));
    b.release.version = "5.2".into();
    b.release.build = "1+7".into();
    validate(&b, &Limits::default(), NOW).expect("a + in the build");
}

#[test]
fn nul_is_refused_even_in_free_text_which_keeps_its_newlines() {
    let crash = |message: &str| {
        Event::Crash(CrashEvent {
            ts: NOW,
            crash_id: "c1".into(),
            session_id: None,
            exception_type: "SIGSEGV".into(),
            message: message.into(),
            fatal: true,
            handled: false,
            threads: vec![],
            images: vec![],
            raw: None,
            fingerprint: None,
            notes: vec![],
        })
    };
    validate(
        &batch(vec![crash("line 1\nline 2\tend")]),
        &Limits::default(),
        NOW,
    )
    .expect("newlines in a message");
    let e = validate(&batch(vec![crash("abc\u{0}def")]), &Limits::default(), NOW).unwrap_err();
    assert_eq!(e.path, "events[0].message");
    assert_eq!(e.kind, ValidationKind::ForbiddenChar { code: 0, at: 3 });
}
