//! Minidumps against `tests/fixtures/minidump` (see its README): crash
//! reason, and the frames (function, file, line, inline chain) resolved
//! with the uploaded debug files.

mod common;

use base64::Engine;
use common::{read, symbolicator, upload};
use vitals_protocol::CrashEvent;
use vitals_symbolicator::{FrameStatus, SymbolicatedCrash, SymbolicatedFrame, Symbolicator};

fn event(dump: &str) -> CrashEvent {
    let b64 = base64::engine::general_purpose::STANDARD.encode(read(dump));
    CrashEvent {
        ts: 0,
        crash_id: dump.to_string(),
        session_id: None,
        exception_type: String::new(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads: Vec::new(),
        images: Vec::new(),
        raw: Some(format!("minidump:{b64}")),
        fingerprint: None,
        notes: Vec::new(),
    }
}

fn run(s: &Symbolicator, app: &str, dump: &str) -> SymbolicatedCrash {
    s.symbolicate_blocking(app, None, &event(dump))
}

/// The frames of raw frame `idx` of the crashed thread as
/// (function, file basename, line), innermost first.
fn chain(c: &SymbolicatedCrash, idx: usize) -> Vec<(String, String, u32)> {
    let t = c.crashed_thread().expect("crashed thread");
    t.frames
        .iter()
        .filter(|f| f.raw_index == idx)
        .map(|f: &SymbolicatedFrame| {
            (
                f.function.clone().unwrap_or_default(),
                f.file
                    .as_deref()
                    .map(|p| p.rsplit(['/', '\\']).next().unwrap_or(p).to_string())
                    .unwrap_or_default(),
                f.line.unwrap_or(0),
            )
        })
        .collect()
}

fn s3(a: &str, b: &str, c: u32) -> (String, String, u32) {
    (a.to_string(), b.to_string(), c)
}

#[test]
fn linux_dump_with_elf_dwarf() {
    let (_d, s) = symbolicator();
    upload(
        &s,
        "app",
        &["minidump/symbolic-debugfiles/linux/crash.debug"],
    );
    let c = run(&s, "app", "minidump/mini-dumps/linux.dmp");
    assert_eq!(c.exception_type, "SIGSEGV");
    assert!(c.message.ends_with("at 0x45"), "{}", c.message);
    let t = c.crashed_thread().expect("thread");
    assert_eq!(t.frames[0].addr.as_deref(), Some("0x401d72"));
    assert_eq!(
        chain(&c, 0),
        vec![
            s3("crash", "main.cpp", 23),
            s3("start", "main.cpp", 27),
            s3("main", "main.cpp", 35)
        ]
    );
    assert!(t.frames[0].inlined && t.frames[1].inlined && !t.frames[2].inlined);
}

#[test]
fn macos_dump_with_dsym() {
    let (_d, s) = symbolicator();
    upload(
        &s,
        "app",
        &["minidump/symbolic-debugfiles/macos/crash.dSYM/Contents/Resources/DWARF/crash"],
    );
    let c = run(&s, "app", "minidump/mini-dumps/macos.dmp");
    assert!(
        c.exception_type.starts_with("EXC_BAD_ACCESS"),
        "{}",
        c.exception_type
    );
    assert!(c.message.ends_with("at 0x45"), "{}", c.message);
    assert_eq!(
        chain(&c, 0),
        vec![
            s3("(anonymous namespace)::crash()", "main.cpp", 21),
            s3("(anonymous namespace)::start()", "main.cpp", 25),
            s3("main", "main.cpp", 32)
        ]
    );
    assert_eq!(
        c.crashed_thread().expect("t").frames[0].offset,
        Some(0xdc15)
    );
}

#[test]
fn windows_dump_with_pdb_resolves_inlines() {
    let (_d, s) = symbolicator();
    upload(
        &s,
        "app",
        &["minidump/symbolic-debugfiles/windows/crash.pdb"],
    );
    let c = run(&s, "app", "minidump/mini-dumps/windows.dmp");
    assert_eq!(c.exception_type, "EXCEPTION_ACCESS_VIOLATION_WRITE");
    assert!(c.message.ends_with("at 0x45"), "{}", c.message);
    assert_eq!(
        chain(&c, 0),
        vec![
            s3("`anonymous namespace'::crash()", "main.cpp", 24),
            s3("`anonymous namespace'::start()", "main.cpp", 28),
            s3("main(int, char**)", "main.cpp", 35)
        ]
    );
    let f1 = chain(&c, 1);
    assert_eq!(
        f1.last(),
        Some(&s3("__scrt_common_main_seh()", "exe_common.inl", 283)),
        "{f1:?}"
    );
}

#[test]
fn windows_dump_with_breakpad_sym() {
    let (_d, s) = symbolicator();
    upload(
        &s,
        "app",
        &["minidump/mini-dumps/symbols/crash.pdb/3249D99D0C4049318610F4E4FB0B69361/crash.sym"],
    );
    let c = run(&s, "app", "minidump/mini-dumps/windows.dmp");
    assert_eq!(chain(&c, 0), vec![s3("main", "main.cpp", 35)]);
    assert_eq!(
        chain(&c, 1),
        vec![s3("__scrt_common_main_seh", "exe_common.inl", 283)]
    );
}

/// `minidump2.stackwalk.out` parsed: (module, function, file, line) per frame.
fn stackwalk_expected() -> Vec<(String, String, String, u32)> {
    let text = String::from_utf8(read(
        "minidump/breakpad/minidump2.stackwalk.machine_readable.out",
    ))
    .expect("utf8");
    text.lines()
        .filter(|l| l.starts_with("0|"))
        .map(|l| {
            let p: Vec<&str> = l.split('|').collect();
            let file = p[4].rsplit(['\\', '/']).next().unwrap_or("").to_string();
            (
                p[2].to_string(),
                p[3].to_string(),
                file,
                p[5].parse().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn breakpad_minidump2_matches_stackwalk() {
    let (_d, s) = symbolicator();
    upload(
        &s,
        "app",
        &[
            "minidump/breakpad/symbols/test_app.pdb/5A9832E5287241C1838ED98914E9B7FF1/test_app.sym",
            "minidump/breakpad/symbols/kernel32.pdb/BCE8785C57B44245A669896B6A19B9542/kernel32.sym",
        ],
    );
    let c = run(&s, "app", "minidump/breakpad/minidump2.dmp");
    assert_eq!(c.exception_type, "EXCEPTION_ACCESS_VIOLATION_WRITE");
    let expected = stackwalk_expected();
    assert_eq!(expected.len(), 4);
    let t = c.crashed_thread().expect("thread");
    let got: Vec<(String, String, String, u32)> = t
        .frames
        .iter()
        .map(|f| {
            (
                f.image.clone().unwrap_or_default(),
                f.function.clone().unwrap_or_default(),
                f.file
                    .as_deref()
                    .map(|p| p.rsplit(['\\', '/']).next().unwrap_or("").to_string())
                    .unwrap_or_default(),
                f.line.unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(got[..expected.len()], expected[..]);
    assert!(
        t.frames
            .iter()
            .take(4)
            .all(|f| f.status == Some(FrameStatus::Symbolicated))
    );
}

#[test]
fn missing_symbols_are_named() {
    let (_d, s) = symbolicator();
    let c = run(&s, "app", "minidump/mini-dumps/macos.dmp");
    let m = c
        .missing
        .iter()
        .find(|m| m.debug_id.as_deref() == Some("67e9247c-814e-392b-a027-dbde6748fcbf"))
        .expect("crash binary named as missing");
    assert_eq!(m.name, "crash");
    assert!(
        m.message(vitals_i18n::Lang::En)
            .contains("67e9247c-814e-392b-a027-dbde6748fcbf")
    );
    assert!(
        c.missing_keys()
            .contains(&"debug:67e9247c-814e-392b-a027-dbde6748fcbf".to_string())
    );
}

#[test]
fn linux_inline_records_from_breakpad() {
    let (_d, s) = symbolicator();
    upload(
        &s,
        "app",
        &[
            "minidump/breakpad/symbols/linux_inline/BBA6FA10B8AAB33D00000000000000000/linux_inline.new.sym",
        ],
    );
    let c = run(&s, "app", "minidump/breakpad/linux_inline.dmp");
    let t = c.crashed_thread().expect("thread");
    assert_eq!(t.frames[0].offset, Some(0x161b6));
    let ch: Vec<_> = chain(&c, 0)
        .into_iter()
        .map(|(f, file, l)| format!("{f} {file}:{l}"))
        .collect();
    assert_eq!(ch.len(), 4, "{ch:?}");
    assert!(
        ch[0].contains("func") && ch[0].ends_with("linux_inline.cpp:27"),
        "{ch:?}"
    );
    assert!(
        ch[3].starts_with("main ") && ch[3].ends_with("a.cpp:42"),
        "{ch:?}"
    );
}
