//! Android tombstones against `tests/fixtures/android/tombstones` (AOSP's
//! example crashes for arm, arm64, x86, x86_64): every value the parser
//! returns is compared with what the fixture text says, read here with
//! patterns of the test's own; then symbolication of a tombstone frame by
//! the uploaded `.so` its BuildId names.

mod common;

use common::{read, symbolicator, upload};
use regex::Regex;
use vitals_protocol::CrashEvent;
use vitals_symbolicator::{FrameStatus, Status, android, detect, tombstone};

const ARCHES: &[&str] = &["arm", "arm64", "x86", "x86_64"];

fn fixture_text(arch: &str) -> String {
    String::from_utf8(read(&format!("android/tombstones/aosp_example_{arch}.txt"))).expect("utf8")
}

fn event(raw: String) -> CrashEvent {
    CrashEvent {
        ts: 0,
        crash_id: "t".into(),
        session_id: None,
        exception_type: String::new(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads: Vec::new(),
        images: Vec::new(),
        raw: Some(raw),
        fingerprint: None,
        notes: Vec::new(),
    }
}

/// (index, pc, path, function without +offset, build id)
type FrameSaid = (usize, u64, String, Option<String>, Option<String>);

/// What the fixture says, read with the test's own patterns.
struct Said {
    abi: String,
    tid: Option<u64>,
    thread_name: Option<String>,
    signal: (i32, String, i32, String),
    fault: Option<u64>,
    abort: Option<String>,
    frames: Vec<FrameSaid>,
}

fn said(text: &str) -> Said {
    let cap1 = |re: &str| {
        Regex::new(re)
            .expect("re")
            .captures(text)
            .map(|c| c[1].to_string())
    };
    let sig = Regex::new(r"(?m)^signal (\d+) \((\w+)\), code (-?\d+) \((\w+)\), fault addr (\S+)")
        .expect("re")
        .captures(text)
        .expect("signal line");
    let frame_re = Regex::new(
        r"(?m)^\s*#(\d+) pc ([0-9a-f]+)\s+(\S+)(?: \((.+?)\+\d+\))?(?: \(BuildId: ([0-9a-fA-F]+)\))?\s*$",
    )
    .expect("re");
    Said {
        abi: cap1(r"(?m)^ABI: '([^']+)'").expect("ABI"),
        tid: cap1(r"(?m)^pid: \d+, tid: (\d+)").map(|t| t.parse().expect("tid")),
        thread_name: cap1(r"(?m)^pid: .*name: (\S+)"),
        signal: (
            sig[1].parse().expect("signo"),
            sig[2].to_string(),
            sig[3].parse().expect("code"),
            sig[4].to_string(),
        ),
        fault: u64::from_str_radix(sig[5].trim_start_matches("0x"), 16).ok(),
        abort: cap1(r"(?m)^Abort message: '(.*)'"),
        frames: frame_re
            .captures_iter(text)
            .map(|c| {
                (
                    c[1].parse().expect("index"),
                    u64::from_str_radix(&c[2], 16).expect("pc"),
                    c[3].to_string(),
                    c.get(4).map(|m| m.as_str().to_string()),
                    c.get(5).map(|m| m.as_str().to_ascii_lowercase()),
                )
            })
            .collect(),
    }
}

fn check(text: &str, what: &str) {
    let want = said(text);
    let t = tombstone::parse(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(t.abi.as_deref(), Some(want.abi.as_str()), "{what}");
    let s = t.signal.as_ref().expect("signal");
    assert_eq!(
        (s.number, s.name.clone(), s.code, s.code_name.clone()),
        (
            want.signal.0,
            want.signal.1.clone(),
            Some(want.signal.2),
            Some(want.signal.3.clone())
        ),
        "{what}"
    );
    assert_eq!(s.fault_addr, want.fault, "{what}");
    assert_eq!(t.abort_message, want.abort, "{what}");
    let crashed = &t.threads[0];
    assert!(crashed.crashed, "{what}");
    if let Some(tid) = want.tid {
        assert_eq!(crashed.tid, tid, "{what}");
    }
    if let Some(n) = &want.thread_name {
        assert_eq!(&crashed.name, n, "{what}");
    }
    assert!(
        want.frames.len() >= 7,
        "{what}: the test's pattern read too little"
    );
    let got: Vec<_> = crashed
        .frames
        .iter()
        .map(|f| {
            (
                f.index,
                f.pc,
                f.path.clone(),
                f.function.clone(),
                f.build_id.clone(),
            )
        })
        .collect();
    assert_eq!(got, want.frames, "{what}");

    // The raw form the processor gets.
    let raw = android::parse_tombstone(text).expect("raw");
    assert_eq!(raw.exception_type, want.signal.1, "{what}");
    let expected_message = want.abort.clone().unwrap_or_else(|| s.line.clone());
    assert_eq!(raw.message, expected_message, "{what}");
    assert_eq!(raw.threads[0].frames.len(), want.frames.len(), "{what}");
    let paths: std::collections::BTreeSet<&str> =
        want.frames.iter().map(|f| f.2.as_str()).collect();
    assert_eq!(raw.images.len(), paths.len(), "{what}");
    assert!(raw.images.iter().all(|i| i.arch == want.abi && i.base == 0));
}

#[test]
fn every_aosp_tombstone_parses_as_written() {
    for arch in ARCHES {
        let text = fixture_text(arch);
        check(&text, arch);
    }
}

/// The AOSP examples carry neither an abort message nor BuildIds (their
/// Android version printed none); the same text with both spliced in, as
/// current `crash_dump` writes them.
#[test]
fn abort_message_and_build_ids_when_present() {
    let text = fixture_text("arm64")
        .replacen(
            "signal 6 (SIGABRT)",
            "Abort message: 'pay: invariant broken'\nsignal 6 (SIGABRT)",
            1,
        )
        .replace(
            "/system/lib64/libc.so (tgkill+8)",
            "/system/lib64/libc.so (tgkill+8) (BuildId: 7E3B0E2A9F6D0C1B5A4E3D2C1B0A9F8E)",
        );
    check(&text, "arm64 + abort + build id");
    let raw = android::parse_tombstone(&text).expect("raw");
    assert_eq!(raw.message, "pay: invariant broken");
    let libc = raw
        .images
        .iter()
        .find(|i| i.name == "/system/lib64/libc.so")
        .expect("libc");
    assert_eq!(
        libc.code_id.as_deref(),
        Some("7e3b0e2a9f6d0c1b5a4e3d2c1b0a9f8e")
    );
}

/// No fixture `.so` matches the AOSP tombstones (their binaries were never
/// published and they print no BuildId). The path is tested with the one
/// ELF-with-DWARF fixture there is, `minidump/symbolic-debugfiles/linux/
/// crash.debug` (x86_64): its build id, read from the file, is spliced into
/// the x86_64 tombstone as frame #00 of an app library at the same offset
/// the Linux minidump of that program crashed at (0x1d72, main.cpp:23).
/// The libc frames under it stay as AOSP wrote them (a mixed stack, but
/// each frame is looked up on its own).
#[test]
fn tombstone_frame_symbolicated_by_build_id() {
    const ELF: &str = "minidump/symbolic-debugfiles/linux/crash.debug";
    let det = detect::detect(&read(ELF), "crash.debug").expect("detected");
    let build_id = det.objects[0].code_id.clone().expect("build id");
    let text = fixture_text("x86_64")
        .replacen(
            "signal 6 (SIGABRT), code -6 (SI_TKILL), fault addr --------",
            "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x45",
            1,
        )
        .replacen(
            "#00 pc 0000000000077807  /system/lib64/libc.so (tgkill+7)",
            &format!(
                "#00 pc 0000000000001d72  /data/app/com.bank.pay-1/lib/x86_64/libcrash.so (BuildId: {build_id})"
            ),
            1,
        );
    let (_d, s) = symbolicator();

    // Before the upload: the library is named by its BuildId.
    let before = s.symbolicate_blocking("app", None, &event(text.clone()));
    assert_eq!(before.exception_type, "SIGSEGV");
    let m = before
        .missing
        .iter()
        .find(|m| m.name == "libcrash.so")
        .expect("libcrash.so missing");
    assert_eq!(m.code_id.as_deref(), Some(build_id.as_str()));
    assert!(m.in_app);
    assert_eq!(before.status, Status::Partial);

    upload(&s, "app", &[ELF]);
    let after = s.symbolicate_blocking("app", None, &event(text));
    let t = after.crashed_thread().expect("thread");
    let chain: Vec<(Option<&str>, Option<u32>, bool)> = t
        .frames
        .iter()
        .filter(|f| f.raw_index == 0)
        .map(|f| (f.function.as_deref(), f.line, f.inlined))
        .collect();
    assert_eq!(
        chain,
        vec![
            (Some("crash"), Some(23), true),
            (Some("start"), Some(27), true),
            (Some("main"), Some(35), false)
        ]
    );
    assert!(
        t.frames[0]
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("main.cpp"))
    );
    assert_eq!(t.frames[0].status, Some(FrameStatus::Symbolicated));
    assert_eq!(t.frames[0].offset, Some(0x1d72));
    assert!(after.missing.iter().all(|m| m.name != "libcrash.so"));
    // libc is the system's: still named, not in-app, so the crash is complete.
    assert!(after.missing.iter().all(|m| !m.in_app));
    assert_eq!(after.status, Status::Complete);
    // The libc frames keep the names the tombstone printed.
    let f1 = t.frames.iter().find(|f| f.raw_index == 1).expect("frame 1");
    assert_eq!(f1.function.as_deref(), Some("pthread_kill"));
}
