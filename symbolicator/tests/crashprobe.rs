//! CrashProbe iOS (KSCrash JSON, arm64) against `expected_arm64.json`,
//! following the upstream procedure noted there, plus grouping of the 21
//! crashes.

mod common;

use common::{fixture, read, symbolicator, upload};
use serde_json::Value;
use std::collections::HashMap;
use vitals_protocol::CrashEvent;
use vitals_symbolicator::{SymbolicatedCrash, SymbolicatedFrame, Symbolicator};

const DSYMS: &[&str] = &[
    "apple/crashprobe-ios/dSYMs/arm64-CrashProbeiOS.app.dSYM/Contents/Resources/DWARF/CrashProbeiOS",
    "apple/crashprobe-ios/dSYMs/arm64-CrashLibiOS.framework.dSYM/Contents/Resources/DWARF/CrashLibiOS",
];

fn event(report: &str, json: String) -> CrashEvent {
    CrashEvent {
        ts: 0,
        crash_id: report.to_string(),
        session_id: None,
        exception_type: String::new(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads: Vec::new(),
        images: Vec::new(),
        raw: Some(json),
        fingerprint: None,
        notes: Vec::new(),
    }
}

fn report_json(report: &str) -> String {
    String::from_utf8(read(&format!(
        "apple/crashprobe-ios/reports-debug-arm64/{report}"
    )))
    .expect("utf8")
}

fn run(s: &Symbolicator, report: &str) -> SymbolicatedCrash {
    s.symbolicate_blocking("crashprobe", None, &event(report, report_json(report)))
}

/// The upstream filter: frames of CrashProbeiOS / CrashLibiOS, not main.m.
fn bt(c: &SymbolicatedCrash) -> Vec<&SymbolicatedFrame> {
    c.crashed_thread()
        .expect("crashed thread")
        .frames
        .iter()
        .filter(|f| matches!(f.image.as_deref(), Some("CrashProbeiOS" | "CrashLibiOS")))
        .filter(|f| {
            f.file
                .as_deref()
                .map(|p| !p.ends_with("/main.m") && p != "main.m")
                .unwrap_or(true)
        })
        .collect()
}

fn basename(f: &SymbolicatedFrame) -> &str {
    f.file
        .as_deref()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("")
}

fn cases() -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&read("apple/crashprobe-ios/expected_arm64.json")).expect("json");
    v["cases"].as_array().expect("cases").clone()
}

#[test]
fn crashprobe_frames_match_expected_file_and_line() {
    let (_d, s) = symbolicator();
    upload(&s, "crashprobe", DSYMS);
    let mut checked = 0;
    for case in cases() {
        let report = case["report"].as_str().expect("report");
        let c = run(&s, report);
        let frames = bt(&c);
        if case.get("xfail").is_some() {
            // Upstream marks these as failing on arm64: they still must
            // process (kept with what the reporter recorded).
            assert!(c.crashed_thread().is_some(), "{report}");
            assert!(
                !matches!(c.status, vitals_symbolicator::Status::Raw { .. }),
                "{report}"
            );
            continue;
        }
        let exp0 = &case["bt0"];
        let f0 = frames
            .first()
            .unwrap_or_else(|| panic!("{report}: no frames"));
        assert_eq!(
            basename(f0),
            exp0[0].as_str().expect("file"),
            "{report}: {f0:?}"
        );
        match &exp0[1] {
            Value::Number(n) => assert_eq!(
                u64::from(f0.line.unwrap_or(0)),
                n.as_u64().expect("n"),
                "{report}"
            ),
            Value::String(note) if note.starts_with("35 or 37") => {
                assert!(matches!(f0.line, Some(35 | 37)), "{report}: {:?}", f0.line)
            }
            _ => {} // upstream leaves it unchecked (see the note)
        }
        if let Some(exp1) = case.get("bt1") {
            let f1 = frames.get(1).unwrap_or_else(|| panic!("{report}: no bt1"));
            assert_eq!(basename(f1), exp1[0].as_str().expect("file"), "{report}");
            if let Some(l) = exp1[1].as_u64() {
                assert_eq!(u64::from(f1.line.unwrap_or(0)), l, "{report}");
            }
        }
        // KSCrash recorded no stack for the NX-page jump, only registers: we
        // recover pc and lr (CRLCrashNXPage.m:37), not the walk to doCrash.
        let registers_only = report == "Jump into an NX page.json" && frames.len() == 1;
        if let Some(idx) = case
            .get("doCrash_index")
            .and_then(Value::as_i64)
            .filter(|_| !registers_only)
        {
            let i = if idx < 0 {
                frames.len() as i64 + idx
            } else {
                idx
            } as usize;
            let f = frames
                .get(i)
                .unwrap_or_else(|| panic!("{report}: no frame {i}"));
            assert_eq!(
                f.function.as_deref(),
                Some("-[CRLDetailViewController doCrash]"),
                "{report}"
            );
            assert_eq!(basename(f), "CRLDetailViewController.m", "{report}");
            assert_eq!(f.line, Some(53), "{report}");
        }
        checked += 1;
    }
    assert_eq!(checked, 18);
}

#[test]
fn crashprobe_missing_dsym_is_named() {
    let (_d, s) = symbolicator();
    upload(&s, "crashprobe", &DSYMS[1..]);
    let c = run(&s, "Dereference a NULL pointer.json");
    let m = c
        .missing
        .iter()
        .find(|m| m.name == "CrashProbeiOS")
        .expect("CrashProbeiOS named");
    assert_eq!(m.label, "dSYM");
    assert_eq!(
        m.debug_id.as_deref(),
        Some("b8fdd34a-7f2f-3268-925b-9541332f84a2")
    );
    assert_eq!(
        m.message(vitals_i18n::Lang::En),
        "missing debug file: upload dSYM b8fdd34a-7f2f-3268-925b-9541332f84a2 for CrashProbeiOS; the crash is reprocessed once it arrives"
    );
    assert_eq!(c.status, vitals_symbolicator::Status::Partial);
    // Re-symbolication once the file arrives.
    upload(&s, "crashprobe", &DSYMS[..1]);
    let c2 = run(&s, "Dereference a NULL pointer.json");
    assert!(c2.missing.iter().all(|m| m.name != "CrashProbeiOS"));
    let f = &c2.crashed_thread().expect("t").frames[1];
    assert_eq!(f.line, Some(53), "reprocessed with the new dSYM: {f:?}");
    assert_eq!(c.crashed_thread().expect("t").frames[1].line, None);
    // The reporter's own symbol name kept the group stable meanwhile.
    assert_eq!(c.fingerprint, c2.fingerprint);
}

/// Shifts every image and frame address by `slide` (a relaunch with
/// another ASLR slide, as a rebuilt release would load).
fn slid(json: &str, slide: u64) -> String {
    let mut v: Value = serde_json::from_str(json).expect("json");
    let shift = |x: &mut Value| {
        if let Some(a) = x
            .as_str()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        {
            *x = Value::String(format!("{:#x}", a + slide));
        }
    };
    if let Some(imgs) = v
        .pointer_mut("/debug_meta/images")
        .and_then(Value::as_array_mut)
    {
        for i in imgs {
            shift(&mut i["image_addr"]);
        }
    }
    if let Some(frames) = v
        .pointer_mut("/exception/values/0/stacktrace/frames")
        .and_then(Value::as_array_mut)
    {
        for f in frames {
            shift(&mut f["instruction_addr"]);
            if f.get("symbol_addr").is_some() {
                shift(&mut f["symbol_addr"]);
            }
        }
    }
    if let Some(regs) = v
        .pointer_mut("/exception/values/0/stacktrace/registers")
        .and_then(Value::as_object_mut)
    {
        for r in ["pc", "lr"] {
            if let Some(x) = regs.get_mut(r) {
                shift(x);
            }
        }
    }
    v.to_string()
}

#[test]
fn crashprobe_groups_one_per_crash_kind_and_stable() {
    let (_d, s) = symbolicator();
    upload(&s, "crashprobe", DSYMS);
    let mut by_fp: HashMap<String, Vec<String>> = HashMap::new();
    let mut n = 0;
    for entry in
        std::fs::read_dir(fixture("apple/crashprobe-ios/reports-debug-arm64")).expect("dir")
    {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        let json = report_json(&name);
        let c = s.symbolicate_blocking("crashprobe", None, &event(&name, json.clone()));
        assert!(
            c.fingerprint_basis.iter().all(|b| !b.contains("0x")),
            "{name}: {:?}",
            c.fingerprint_basis
        );
        let moved =
            s.symbolicate_blocking("crashprobe", None, &event(&name, slid(&json, 0x4000_0000)));
        assert_eq!(
            c.fingerprint, moved.fingerprint,
            "{name}: fingerprint moved with the load address"
        );
        by_fp.entry(c.fingerprint.clone()).or_default().push(name);
        n += 1;
    }
    assert_eq!(n, 21);
    // The two "Smash the … of the stack" reports carry no stack at all (no
    // frames, a garbage pc and lr, the same message pattern): nothing tells
    // them apart, upstream marks both xfail, so they share one group. Every
    // other crash kind has its own.
    let shared: Vec<Vec<String>> = by_fp
        .values()
        .filter(|v| v.len() > 1)
        .map(|v| {
            let mut v = v.clone();
            v.sort();
            v
        })
        .collect();
    assert_eq!(
        shared,
        vec![vec![
            "Smash the bottom of the stack.json".to_string(),
            "Smash the top of the stack.json".to_string()
        ]],
        "distinct crash kinds share a group"
    );
    assert_eq!(by_fp.len(), 20);
}

#[test]
#[ignore]
fn dump_one() {
    let (_d, s) = symbolicator();
    upload(&s, "crashprobe", DSYMS);
    let name = std::env::var("REPORT").unwrap_or("Dereference a NULL pointer.json".into());
    let c = run(&s, &name);
    for f in &c.crashed_thread().expect("t").frames {
        println!(
            "{:?} {:?} {:?} {:?}:{:?} in_app={} inl={} {:?}",
            f.raw_index, f.image, f.function, f.file, f.line, f.in_app, f.inlined, f.status
        );
    }
    println!("{:?}\n{:?}", c.fingerprint_basis, c.missing);
}
