//! A crash is a forced exit (the standard, clause 3.2): `fatal` defaults to
//! `!handled`, and a crash event both handled and fatal is refused with the
//! JSON path of `fatal`.

use serde_json::{Value, json};
use vitals_i18n::Lang;
use vitals_protocol::{Event, Limits, ValidationKind, decode, validate};

const NOW_MS: i64 = 1_795_917_000_000;

fn batch(crashes: &[Value]) -> Vec<u8> {
    let mut events = vec![
        json!({"type": "session", "ts": NOW_MS, "session_id": "s1", "phase": "start"}),
        json!({"type": "custom", "ts": NOW_MS, "name": "orders", "value": 1.0}),
    ];
    for (i, c) in crashes.iter().enumerate() {
        let mut c = c.clone();
        c["type"] = json!("crash");
        c["ts"] = json!(NOW_MS);
        c["crash_id"] = json!(format!("c{i}"));
        c["exception_type"] = json!("java.lang.IllegalStateException");
        events.push(c);
    }
    serde_json::to_vec(&json!({
        "v": 1, "batch_id": "b1", "app_id": "demo",
        "release": {"version": "2.0.0", "build": "200"}, "platform": "android",
        "device": {"model": "SM-S9180", "os_version": "14"},
        "install_id": "inst-1", "events": events
    }))
    .unwrap()
}

/// (fatal, handled) of each crash event after decoding.
fn flags(body: &[u8]) -> Vec<(bool, bool)> {
    decode(body)
        .unwrap()
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Crash(c) => Some((c.fatal, c.handled)),
            _ => None,
        })
        .collect()
}

#[test]
fn fatal_defaults_to_not_handled() {
    let body = batch(&[
        json!({}),                                 // both omitted: a crash
        json!({"handled": true}),                  // a caught error
        json!({"handled": false}),                 // uncaught: a crash
        json!({"fatal": false}),                   // said so
        json!({"fatal": true, "handled": false}),  // said so
        json!({"fatal": false, "handled": true}),  // said so
        json!({"fatal": false, "handled": false}), // kept, not a crash
    ]);
    assert_eq!(
        flags(&body),
        [
            (true, false),
            (false, true),
            (true, false),
            (false, false),
            (true, false),
            (false, true),
            (false, false),
        ]
    );
    let b = decode(&body).unwrap();
    validate(&b, &Limits::default(), NOW_MS).unwrap();
    // What is stored (and spooled) says it outright.
    let again: Value = serde_json::to_value(&b.events[3]).unwrap();
    assert_eq!(
        (&again["fatal"], &again["handled"]),
        (&json!(false), &json!(true))
    );
}

#[test]
fn handled_and_fatal_is_refused_at_its_path() {
    let body = batch(&[
        json!({"handled": true}),
        json!({"handled": true, "fatal": true}),
    ]);
    let b = decode(&body).unwrap();
    let err = validate(&b, &Limits::default(), NOW_MS).unwrap_err();
    assert_eq!(err.path, "events[3].fatal");
    assert_eq!(err.kind, ValidationKind::FatalHandled);
    assert!(err.reason(Lang::En).contains("forced exit"), "{err}");
    assert!(err.reason(Lang::ZhCn).contains("被迫退出"), "{err}");
    assert!(err.message(Lang::En).contains("events[3].fatal"));
}
