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

/// The two app images of the CrashProbe build: (dSYM, debug id as the
/// reports name it).
const APP_IMAGES: &[(&str, &str)] = &[
    (DSYMS[0], "B8FDD34A-7F2F-3268-925B-9541332F84A2"),
    (DSYMS[1], "5DB9DD67-7626-3675-8C6A-606E8C7518F7"),
];

/// The debug id the "rebuilt" binary gets instead of `old`.
fn rebuilt_id(old: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("rebuild {old}").as_bytes(),
    )
}

/// A rebuilt dSYM: the same DWARF (same symbols, same layout) under a new
/// LC_UUID, the only place a Mach-O carries its debug id. The store reads
/// the debug id from the content, so this is what a rebuild uploads.
fn rebuilt_dsym(path: &str, old: &str) -> Vec<u8> {
    let mut data = read(path);
    let old = uuid::Uuid::parse_str(old).expect("uuid");
    let old_b = old.as_bytes();
    let at: Vec<usize> = data
        .windows(16)
        .enumerate()
        .filter(|(_, w)| *w == old_b)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "{path}: LC_UUID found once");
    data[at[0]..at[0] + 16].copy_from_slice(rebuilt_id(&old.to_string()).as_bytes());
    data
}

/// The report as the rebuilt release sends it: each app image with its new
/// debug id and another load address (`slide` added to the image, to every
/// frame in it and to the registers pointing into it), and a new container
/// path (a reinstall gets a new bundle container UUID).
fn rebuilt_report(json: &str, slide: u64) -> String {
    let json = json.replace(
        "859E6782-D23C-4B40-96D3-6C49619406E2",
        "0F1E2D3C-4B5A-4697-8877-665544332211",
    );
    let mut v: Value = serde_json::from_str(&json).expect("json");
    let hex = |x: &Value| {
        x.as_str()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
    };
    // (old base, size) of the app images, re-identified in place.
    let mut ranges = Vec::new();
    for img in v
        .pointer_mut("/debug_meta/images")
        .and_then(Value::as_array_mut)
        .expect("images")
    {
        let Some(uuid) = img["uuid"].as_str().map(str::to_ascii_uppercase) else {
            continue;
        };
        if !APP_IMAGES.iter().any(|(_, id)| *id == uuid) {
            continue;
        }
        let base = hex(&img["image_addr"]).expect("image_addr");
        ranges.push((base, img["image_size"].as_u64().expect("size")));
        img["uuid"] = Value::String(rebuilt_id(&uuid.to_ascii_lowercase()).to_string());
        img["image_addr"] = Value::String(format!("{:#x}", base + slide));
    }
    assert_eq!(ranges.len(), 2);
    let inside = |a: u64| ranges.iter().any(|(b, s)| a >= *b && a < b + s);
    fn walk(v: &mut Value, f: &dyn Fn(&mut serde_json::Map<String, Value>)) {
        match v {
            Value::Object(m) => {
                f(m);
                for x in m.values_mut() {
                    walk(x, f);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    // Frames (and the images they name) inside an app image move with it;
    // so do pc and lr when they point into one.
    let move_frame = |m: &mut serde_json::Map<String, Value>| {
        let in_app_frame = m.get("image_addr").and_then(hex).is_some_and(inside);
        for (k, x) in m.iter_mut() {
            let Some(a) = hex(x) else { continue };
            let shift = match k.as_str() {
                "image_addr" | "instruction_addr" | "symbol_addr" => in_app_frame,
                "pc" | "lr" => inside(a),
                _ => false,
            };
            if shift {
                *x = Value::String(format!("{:#x}", a + slide));
            }
        }
    };
    for key in ["exception", "threads"] {
        if let Some(part) = v.get_mut(key) {
            walk(part, &move_frame);
        }
    }
    let out = v.to_string();
    for (_, id) in APP_IMAGES {
        assert!(
            !out.to_ascii_uppercase().contains(id),
            "{id} left in the rebuilt report"
        );
    }
    out
}

/// Grouping across a rebuilt binary. A new release rebuilt from the same
/// sources has new debug ids and loads at other addresses; its crashes must
/// fall into the groups of the old release's. Method: the rebuild is
/// simulated (no second CrashProbe build exists) by re-identifying the two
/// app images: the dSYMs are uploaded a second time with a new LC_UUID (so
/// the store indexes them under the new debug ids), every report is
/// rewritten to name the new debug ids, another load address and another
/// container path, and symbolicated for another release string.
#[test]
fn crashprobe_groups_survive_a_rebuild() {
    let (_d, s) = symbolicator();
    upload(&s, "crashprobe", DSYMS);
    for (path, old) in APP_IMAGES {
        let name = path.rsplit('/').next().unwrap_or(path);
        let meta = s
            .store()
            .put(
                "crashprobe",
                name,
                &rebuilt_dsym(path, old),
                &vitals_symbolicator::UploadHints::default(),
            )
            .expect("upload rebuilt dSYM")
            .meta;
        assert_eq!(
            meta.objects[0].debug_id,
            rebuilt_id(&old.to_ascii_lowercase()).to_string()
        );
    }
    let (mut n, mut resolved) = (0, 0);
    for entry in
        std::fs::read_dir(fixture("apple/crashprobe-ios/reports-debug-arm64")).expect("dir")
    {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        let json = report_json(&name);
        let old =
            s.symbolicate_blocking("crashprobe", Some("1.0 (1)"), &event(&name, json.clone()));
        let new = s.symbolicate_blocking(
            "crashprobe",
            Some("1.1 (2)"),
            &event(&name, rebuilt_report(&json, 0x0800_0000)),
        );
        assert_eq!(
            old.fingerprint, new.fingerprint,
            "{name}: rebuilt binary regrouped\n{:?}\n{:?}",
            old.fingerprint_basis, new.fingerprint_basis
        );
        // The rebuilt crash really was symbolicated with the rebuilt dSYMs:
        // the app frames read the same, from the new addresses.
        let app = |c: &SymbolicatedCrash| -> Vec<(Option<String>, Option<u32>, Option<String>)> {
            bt(c)
                .iter()
                .map(|f| (f.function.clone(), f.line, f.addr.clone()))
                .collect()
        };
        let (a, b) = (app(&old), app(&new));
        assert_eq!(a.len(), b.len(), "{name}");
        resolved += a.iter().filter(|f| f.1.is_some()).count();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.0, x.1), (&y.0, y.1), "{name}");
            if x.2.is_some() {
                assert_ne!(x.2, y.2, "{name}: addresses moved");
            }
        }
        assert!(
            new.missing
                .iter()
                .all(|m| m.name != "CrashProbeiOS" && m.name != "CrashLibiOS"),
            "{name}: {:?}",
            new.missing
        );
        n += 1;
    }
    assert_eq!(n, 21);
    assert!(resolved >= 21, "app frames resolved with lines: {resolved}");
}
