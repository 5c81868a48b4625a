//! ProGuard/R8 retrace against `tests/fixtures/android/proguard`.
//!
//! Pinned: proguard 5.10.5. The one `version_sensitive` vector
//! (`test_inline_group_no_base_entries`) is checked against the output its
//! note records for proguard >= 5.10.4 (PR #95: a single frame when there is
//! neither line number nor signature).

mod common;

use common::{read, symbolicator, upload};
use serde_json::Value;
use vitals_protocol::{CrashEvent, Frame, Image, Thread};
use vitals_symbolicator::android::{build_proguard_cache, parse_cache, retrace_text};
use vitals_symbolicator::detect::{FileKind, detect};

fn vectors() -> Vec<Value> {
    String::from_utf8(read("android/proguard/retrace_vectors.jsonl"))
        .expect("utf8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("vector"))
        .collect()
}

#[test]
fn retrace_vectors_all_pass() {
    let mut passed = 0;
    let mut failures = Vec::new();
    for v in vectors() {
        let mapping: Vec<u8> = match (v.get("mapping_inline"), v.get("mapping_file")) {
            (Some(Value::String(m)), _) => m.as_bytes().to_vec(),
            (_, Some(Value::String(f))) => read(&format!("android/proguard/{f}")),
            _ => panic!("vector without mapping: {v}"),
        };
        let cache = build_proguard_cache(&mapping).expect("cache");
        let cache = parse_cache(&cache).expect("parse");
        let input = v["input"].as_str().expect("input");
        let got = retrace_text(&cache, input).expect("retrace");
        let expected = if v.get("version_sensitive").and_then(Value::as_bool) == Some(true) {
            // Recorded in the vector's note for proguard 5.10.4+.
            "    java.lang.RuntimeException: Crash\n    at com.example.app.MainActivity.onClick(MainActivity.kt:0)".to_string()
        } else {
            v["expected"].as_str().expect("expected").to_string()
        };
        let ok = match v["compare"].as_str() {
            Some("trim_end") => got.trim_end() == expected.trim_end(),
            _ => got.trim() == expected.trim(),
        };
        if ok {
            passed += 1;
        } else {
            failures.push(format!(
                "{} / {}:\n--- got\n{got}\n--- expected\n{expected}",
                v["source_file"], v["test"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(passed, 50);
}

#[test]
fn mapping_uuids_match_sentry() {
    let meta: Value =
        serde_json::from_slice(&read("android/proguard/mapping_metadata.json")).expect("json");
    for (file, m) in meta.as_object().expect("obj") {
        let data = read(&format!("android/proguard/{file}"));
        let d = detect(&data, file).expect("detected");
        assert_eq!(d.kind, FileKind::Proguard);
        assert_eq!(d.mapping_uuid.as_deref(), m["uuid_v5"].as_str(), "{file}");
        if let Some(crlf) = m
            .get("uuid_v5_with_crlf_line_endings")
            .and_then(Value::as_str)
        {
            let text = String::from_utf8(data).expect("utf8").replace('\n', "\r\n");
            let d = detect(text.as_bytes(), file).expect("detected");
            assert_eq!(d.mapping_uuid.as_deref(), Some(crlf), "{file} CRLF");
        }
    }
}

#[test]
fn frame_vectors() {
    let fv: Value =
        serde_json::from_slice(&read("android/proguard/frame_vectors.json")).expect("json");
    for v in fv.as_array().expect("arr") {
        let mapping = read(&format!(
            "android/proguard/{}",
            v["mapping_file"].as_str().expect("f")
        ));
        let bytes = build_proguard_cache(&mapping).expect("cache");
        let cache = parse_cache(&bytes).expect("parse");
        let class = v["class"].as_str().expect("class");
        if let Some(exp) = v.get("expected_class") {
            assert_eq!(cache.remap_class(class), exp.as_str(), "{class}");
            continue;
        }
        let method = v["method"].as_str().expect("method");
        let line = v["line"].as_u64().expect("line") as usize;
        let frame = proguard::StackFrame::new(class, method, line);
        let got: Vec<(String, String, usize, Option<String>)> = cache
            .remap_frame(&frame)
            .map(|f| {
                (
                    f.class().to_string(),
                    f.method().to_string(),
                    f.line().unwrap_or(0),
                    f.file().map(str::to_string),
                )
            })
            .collect();
        let exp: Vec<(String, String, usize, Option<String>)> = v["expected"]
            .as_array()
            .expect("expected")
            .iter()
            .map(|e| {
                (
                    e["class"].as_str().unwrap_or("").to_string(),
                    e["method"].as_str().unwrap_or("").to_string(),
                    e["line"].as_u64().unwrap_or(0) as usize,
                    e["file"].as_str().map(str::to_string),
                )
            })
            .collect();
        assert_eq!(got, exp, "{class}.{method}:{line}");
    }
}

#[test]
fn java_crash_event_is_retraced_with_inlines() {
    let (_d, s) = symbolicator();
    upload(&s, "android", &["android/proguard/mapping-inlines.txt"]);
    let frame = |module: &str, function: &str, file: Option<&str>, line: Option<u32>| Frame {
        module: Some(module.into()),
        function: Some(function.into()),
        file: file.map(str::to_string),
        line,
        ..Default::default()
    };
    let ev = CrashEvent {
        ts: 0,
        crash_id: "j1".into(),
        session_id: None,
        exception_type: "java.lang.RuntimeException".into(),
        message: "Button press caused an exception!".into(),
        fatal: true,
        handled: false,
        threads: vec![Thread {
            id: 1,
            name: "main".into(),
            crashed: true,
            frames: vec![
                frame(
                    "io.sentry.sample.MainActivity",
                    "t",
                    Some("MainActivity.java"),
                    Some(1),
                ),
                frame("e.a.c.a", "onClick", None, None),
                frame(
                    "android.view.View",
                    "performClick",
                    Some("View.java"),
                    Some(7125),
                ),
            ],
        }],
        images: vec![Image {
            debug_id: "3828bd45-950f-5e77-9737-b6b3a1d80299".into(),
            arch: "proguard".into(),
            ..Default::default()
        }],
        raw: None,
        fingerprint: None,
        notes: Vec::new(),
    };
    let c = s.symbolicate_blocking("android", None, &ev);
    let t = c.crashed_thread().expect("thread");
    let got: Vec<String> = t
        .frames
        .iter()
        .map(|f| {
            format!(
                "{}.{}:{}",
                f.module.as_deref().unwrap_or(""),
                f.function.as_deref().unwrap_or(""),
                f.line.unwrap_or(0)
            )
        })
        .collect();
    assert_eq!(
        got[..3],
        [
            "io.sentry.sample.MainActivity.bar:54".to_string(),
            "io.sentry.sample.MainActivity.foo:44".to_string(),
            "io.sentry.sample.MainActivity.onClickHandler:40".to_string(),
        ]
    );
    assert!(t.frames[0].inlined && t.frames[1].inlined && !t.frames[2].inlined);
    assert!(c.missing.is_empty(), "{:?}", c.missing);
    assert_eq!(c.status, vitals_symbolicator::Status::Complete);
    // Without the mapping, the crash names it.
    let (_d2, s2) = symbolicator();
    let c2 = s2.symbolicate_blocking("android", None, &ev);
    assert_eq!(c2.missing.len(), 1);
    assert_eq!(
        c2.missing[0].key(),
        "proguard:3828bd45-950f-5e77-9737-b6b3a1d80299"
    );
}
