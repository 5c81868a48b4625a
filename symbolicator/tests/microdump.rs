//! Breakpad microdumps against `tests/fixtures/android/breakpad-microdump`:
//! the stack walked with CFI from the uploaded `.sym` files and symbolicated
//! must read, frame for frame, like Breakpad's own `microdump_stackwalk`
//! output recorded upstream (`microdump.stackwalk.machine_readable-*.out`,
//! parsed here at test time).

mod common;

use base64::Engine;
use common::{read, symbolicator, upload};
use vitals_protocol::CrashEvent;
use vitals_symbolicator::microdump::{self, MicroCpu};
use vitals_symbolicator::{FrameStatus, Status, SymbolicatedCrash, Symbolicator};

const DIR: &str = "android/breakpad-microdump";
const SYMS: &[&str] = &[
    "android/breakpad-microdump/symbols/microdump/breakpad_unittests/DA7778FB66018A4E9B4110ED06E730D00/breakpad_unittests.sym",
    "android/breakpad-microdump/symbols/microdump/breakpad_unittests/D6D1FEC9A15DE7F38A236898871A2E770/breakpad_unittests.sym",
];

fn text(name: &str) -> String {
    String::from_utf8(read(&format!("{DIR}/{name}"))).expect("utf8")
}

fn event(id: &str, raw: String) -> CrashEvent {
    CrashEvent {
        ts: 0,
        crash_id: id.to_string(),
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

/// One frame of Breakpad's machine-readable output:
/// `thread|frame|module|function|file|line|offset`.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    module: String,
    function: String,
    file: String,
    line: u32,
    offset: String,
}

/// `a/b/../../c` → `c`: debug files store paths as the compiler wrote them;
/// the SymCache (symbolic) cleans `.` and `..` components, Breakpad prints
/// them as they are. Same file, two spellings.
fn clean(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." => {}
            ".." if out.last().is_some_and(|p| !p.is_empty() && *p != "..") => {
                out.pop();
            }
            p => out.push(p),
        }
    }
    out.join("/")
}

fn expected(arch: &str) -> Vec<Row> {
    let rows: Vec<Row> = text(&format!("microdump.stackwalk.machine_readable-{arch}.out"))
        .lines()
        .filter(|l| l.starts_with("0|"))
        .map(|l| {
            let p: Vec<&str> = l.split('|').collect();
            assert_eq!(p.len(), 7, "{l}");
            Row {
                module: p[2].to_string(),
                function: p[3].to_string(),
                file: clean(p[4]),
                line: p[5].parse().unwrap_or(0),
                offset: p[6].to_string(),
            }
        })
        .collect();
    assert!(rows.len() >= 8, "{arch}: {rows:?}");
    rows
}

/// The crashed thread as rows; `offset` is the module offset for frames
/// without a function (what Breakpad prints then) and empty otherwise.
fn got(c: &SymbolicatedCrash) -> Vec<Row> {
    c.crashed_thread()
        .expect("crashed thread")
        .frames
        .iter()
        .map(|f| Row {
            module: f.image.clone().unwrap_or_default(),
            function: f.function.clone().unwrap_or_default(),
            file: f.file.clone().unwrap_or_default(),
            line: f.line.unwrap_or(0),
            offset: match (&f.function, f.offset) {
                (None, Some(o)) => format!("{o:#x}"),
                _ => String::new(),
            },
        })
        .collect()
}

/// `trailing`: frames past Breakpad's last one that our walker may add.
fn check_against_stackwalk(s: &Symbolicator, arch: &str, trailing: usize) -> SymbolicatedCrash {
    let raw = text(&format!("microdump-{arch}.dmp"));
    let c = s.symbolicate_blocking("app", None, &event(arch, raw));
    assert!(!matches!(c.status, Status::Raw { .. }), "{arch}: {c:?}");
    let want = expected(arch);
    let have = got(&c);
    for (i, w) in want.iter().enumerate() {
        let h = have
            .get(i)
            .unwrap_or_else(|| panic!("{arch}: frame {i} missing, got {have:#?}"));
        assert_eq!(h.module, w.module, "{arch} frame {i}");
        assert_eq!(h.function, w.function, "{arch} frame {i}");
        assert_eq!(h.file, w.file, "{arch} frame {i}");
        assert_eq!(h.line, w.line, "{arch} frame {i}");
        if w.function.is_empty() {
            assert_eq!(h.offset, w.offset, "{arch} frame {i}");
        }
    }
    // Breakpad's walk ends in libc (no symbols there). Past that point the
    // frame-pointer fallback of rust-minidump's arm64 walker still follows
    // fp for two more (unsymbolicated) frames, Breakpad's does not: frames
    // may follow, never differ or come in between.
    assert_eq!(have.len(), want.len() + trailing, "{arch}: {have:#?}");
    assert!(
        have[want.len()..].iter().all(|f| f.function.is_empty()),
        "{arch}: {have:#?}"
    );
    let t = c.crashed_thread().expect("thread");
    assert!(
        t.frames
            .iter()
            .take(want.len())
            .filter(|f| f.image.as_deref() == Some("breakpad_unittests"))
            .all(|f| f.status == Some(FrameStatus::Symbolicated)),
        "{arch}"
    );
    c
}

#[test]
fn microdump_arm_matches_breakpad_stackwalk() {
    let (_d, s) = symbolicator();
    upload(&s, "app", SYMS);
    let c = check_against_stackwalk(&s, "arm", 0);
    // The same dump handed over as a minidump attachment is recognised too.
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(read(&format!("{DIR}/microdump-arm.dmp")));
    let again = s.symbolicate_blocking("app", None, &event("arm", format!("minidump:{b64}")));
    assert_eq!(again.threads, c.threads);
    assert_eq!(again.fingerprint, c.fingerprint);
}

#[test]
fn microdump_arm64_matches_breakpad_stackwalk() {
    let (_d, s) = symbolicator();
    upload(&s, "app", SYMS);
    check_against_stackwalk(&s, "arm64", 2);
}

#[test]
fn microdump_without_symbols_names_the_missing_sym() {
    let (_d, s) = symbolicator();
    let c = s.symbolicate_blocking("app", None, &event("arm", text("microdump-arm.dmp")));
    // Without CFI only the context frame is certain; it is named, not lost.
    let t = c.crashed_thread().expect("thread");
    assert_eq!(t.frames[0].addr.as_deref(), Some("0xaaaeb307"));
    assert_eq!(t.frames[0].image.as_deref(), Some("breakpad_unittests"));
    assert_eq!(t.frames[0].status, Some(FrameStatus::Missing));
    let m = c
        .missing
        .iter()
        .find(|m| m.name == "breakpad_unittests")
        .expect("named as missing");
    assert_eq!(
        m.debug_id.as_deref(),
        Some("da7778fb-6601-8a4e-9b41-10ed06e730d0")
    );
    assert_eq!(c.status, Status::Partial);
}

#[test]
fn microdump_with_crash_reason_parses() {
    let raw = text("microdump-withcrashreason.dmp");
    let md = microdump::parse(&raw).expect("parse");
    let os = md.os.as_ref().expect("O record");
    assert_eq!(os.name, "Android");
    assert_eq!(os.cpu, MicroCpu::Arm);
    assert_eq!(os.cpu_count, 8);
    assert_eq!(os.hw_arch, "armv8l");
    assert_eq!(
        os.version,
        "Nokia/TA-1025_00WW/PLE:7.1.1/NMF26F/00WW_3_32C:user/release-keys"
    );
    assert_eq!(
        md.product_version.as_deref(),
        Some("AndroidWebView:62.0.3188.0")
    );
    assert_eq!(md.process_type.as_deref(), Some("webview"));
    let r = md.crash_reason.as_ref().expect("R record");
    assert_eq!(
        (r.signal, r.name.as_str(), r.address),
        (5, "SIGTRAP", 0x4a7c_b000)
    );
    assert_eq!(md.gpu, None, "an empty G record means unknown");
    // The log holds six microdumps; the first is read. Every `M` line of it
    // is a module; ids as written, all-zero ids dropped.
    let m_lines = raw
        .lines()
        .take_while(|l| !l.contains(microdump::END_MARKER))
        .filter(|l| l.contains("): M "))
        .count();
    assert_eq!(md.modules.len(), m_lines);
    let mono = md
        .modules
        .iter()
        .find(|m| m.name == "libmonochrome.so")
        .expect("libmonochrome.so");
    assert_eq!(
        (mono.base, mono.file_offset, mono.size),
        (0xd227_3000, 0x0424_7000, 0x02c9_4000)
    );
    assert_eq!(mono.breakpad_id, "8A2EFA0DECC3EF7057A1C62BF1AECCA80");
    let jit = md
        .modules
        .iter()
        .find(|m| m.name == "dalvik-jit-code-cache (deleted)")
        .expect("jit");
    assert_eq!(jit.debug_id, None);
    let st = md.stack.as_ref().expect("stack");
    assert_eq!(
        (st.sp, st.start, st.bytes.len()),
        (0xc937_9c60, 0xc937_9000, 0x2000)
    );

    // Through the service: crash reason from the R record; the crash frame
    // lands in a module we hold no symbols for, which is named.
    let (_d, s) = symbolicator();
    let c = s.symbolicate_blocking("app", None, &event("webview", raw));
    assert_eq!(c.exception_type, "SIGTRAP");
    assert_eq!(c.message, "SIGTRAP at 0x4a7cb000");
    let f0 = &c.crashed_thread().expect("thread").frames[0];
    assert_eq!(f0.status, Some(FrameStatus::Missing), "{f0:?}");
    let img = f0.image.clone().expect("image");
    assert!(c.missing.iter().any(|m| m.name == img), "{:?}", c.missing);
}
