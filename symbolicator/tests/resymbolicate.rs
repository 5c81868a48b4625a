//! Re-symbolication: a stored crash that lacked a file is found affected by
//! the upload of that file (and only by it, and only for its app), and its
//! stored raw form, processed again, reads like a crash that arrived after
//! the upload.

mod common;

use common::{read, symbolicator, upload};
use vitals_protocol::{CrashEvent, Frame, Image, Thread};
use vitals_symbolicator::resymbolicate::{EVENT_FRAMES_PREFIX, raw_form};
use vitals_symbolicator::{
    DebugFileMeta, Status, SymbolicatedCrash, Symbolicator, UploadHints, Uploaded,
};

const PROBE_DSYM: &str = "apple/crashprobe-ios/dSYMs/arm64-CrashProbeiOS.app.dSYM/Contents/Resources/DWARF/CrashProbeiOS";
const LIB_DSYM: &str = "apple/crashprobe-ios/dSYMs/arm64-CrashLibiOS.framework.dSYM/Contents/Resources/DWARF/CrashLibiOS";
const ELF: &str = "minidump/symbolic-debugfiles/linux/crash.debug";

fn put(s: &Symbolicator, app: &str, path: &str) -> DebugFileMeta {
    let name = path.rsplit('/').next().unwrap_or(path);
    s.store()
        .put(app, name, &read(path), &UploadHints::default())
        .expect("put")
        .meta
}

fn event(raw: Option<String>, threads: Vec<Thread>, images: Vec<Image>) -> CrashEvent {
    CrashEvent {
        ts: 0,
        crash_id: "c1".into(),
        session_id: None,
        exception_type: "SIGSEGV".into(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads,
        images,
        raw,
        fingerprint: None,
        notes: Vec::new(),
    }
}

/// What the server's enricher stores: the symbolicated threads in place of
/// the ones sent, the raw form in `raw` (the enricher's frame mapping).
fn stored(ev: &CrashEvent, out: &SymbolicatedCrash) -> CrashEvent {
    let mut c = ev.clone();
    c.raw = raw_form(ev);
    c.threads = out.protocol_threads();
    c.fingerprint = Some(out.fingerprint.clone());
    c
}

#[test]
fn crashprobe_report_waits_for_its_dsym() {
    let (_d, s) = symbolicator();
    upload(&s, "crashprobe", &[LIB_DSYM]);
    let report = String::from_utf8(read(
        "apple/crashprobe-ios/reports-debug-arm64/Dereference a NULL pointer.json",
    ))
    .expect("utf8");
    let ev = event(Some(report), Vec::new(), Vec::new());
    let first = s.symbolicate_blocking("crashprobe", None, &ev);
    assert_eq!(first.status, Status::Partial);
    let kept = stored(&ev, &first);

    // Uploads that do not supply the missing dSYM change nothing.
    let lib = s
        .store()
        .by_debug_id("crashprobe", "5db9dd67-7626-3675-8c6a-606e8c7518f7");
    let unrelated = Uploaded::from_metas(lib.iter().map(|m| m.as_ref()));
    assert!(!unrelated.is_empty());
    assert!(!s.is_affected("crashprobe", &unrelated, &first));
    // The right dSYM, but uploaded for another app: not served to this one.
    let elsewhere = put(&s, "other-app", PROBE_DSYM);
    let elsewhere = Uploaded::from_keys(elsewhere.keys());
    assert!(!s.is_affected("crashprobe", &elsewhere, &first));

    let meta = put(&s, "crashprobe", PROBE_DSYM);
    let uploaded = Uploaded::from_metas([&meta]);
    assert!(s.is_affected("crashprobe", &uploaded, &first));
    let resolved = s.resolved_by("crashprobe", &uploaded, &first.missing);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].name, "CrashProbeiOS");
    // The keys route finds it too.
    let by_keys = Uploaded::from_keys(meta.keys());
    assert!(s.is_affected("crashprobe", &by_keys, &first));
    assert!(first.missing_keys().iter().any(|k| meta.keys().contains(k)));

    let again = s
        .resymbolicate_blocking("crashprobe", None, &kept)
        .expect("reprocessable");
    let fresh = s.symbolicate_blocking("crashprobe", None, &ev);
    assert_eq!(again, fresh);
    assert!(again.missing.iter().all(|m| m.name != "CrashProbeiOS"));
    let line53 = again
        .crashed_thread()
        .expect("thread")
        .frames
        .iter()
        .any(|f| {
            f.function.as_deref() == Some("-[CRLDetailViewController doCrash]")
                && f.line == Some(53)
        });
    assert!(line53, "{again:?}");
    assert_eq!(again.fingerprint, first.fingerprint);
    // Nothing more to gain from the same upload.
    assert!(!s.is_affected("crashprobe", &uploaded, &again));
}

/// A crash that came as frames + images: the stored threads after the
/// first pass hold names and inline chains of their own; the raw form
/// keeps the frames as sent.
#[tokio::test]
async fn frames_event_reprocessed_from_its_raw_form() {
    let (_d, s) = symbolicator();
    let ev = event(
        None,
        vec![Thread {
            id: 1,
            name: "main".into(),
            crashed: true,
            frames: vec![Frame {
                addr: Some("0x401d72".into()),
                ..Default::default()
            }],
        }],
        vec![Image {
            debug_id: "c0bcc3f1-9827-fe65-3058-404b2831d9e6".into(),
            name: "/data/app/com.bank.pay-1/lib/x86_64/libcrash.so".into(),
            base: "0x400000".into(),
            size: 0x10000,
            arch: "x86_64".into(),
            ..Default::default()
        }],
    );
    let first = s.symbolicate_blocking("app", None, &ev);
    assert_eq!(first.status, Status::Partial);
    let kept = stored(&ev, &first);
    assert!(
        kept.raw
            .as_deref()
            .is_some_and(|r| r.starts_with(EVENT_FRAMES_PREFIX))
    );

    let meta = put(&s, "app", ELF);
    assert!(s.is_affected("app", &Uploaded::from_metas([&meta]), &first));
    let again = s
        .resymbolicate("app", None, &kept)
        .await
        .expect("reprocessable");
    assert_eq!(again.status, Status::Complete);
    let chain: Vec<_> = again.threads[0]
        .frames
        .iter()
        .map(|f| (f.function.clone().unwrap_or_default(), f.line.unwrap_or(0)))
        .collect();
    assert_eq!(
        chain,
        vec![
            ("crash".to_string(), 23),
            ("start".to_string(), 27),
            ("main".to_string(), 35)
        ]
    );

    // Without a raw form there is nothing safe to start from.
    let mut bare = kept.clone();
    bare.raw = None;
    assert!(s.resymbolicate_blocking("app", None, &bare).is_err());
}

/// A tombstone names its library by BuildId only: the missing entry has a
/// code id and no debug id, and is found by the ELF's code id.
#[test]
fn tombstone_missing_by_build_id_is_affected() {
    let (_d, s) = symbolicator();
    let det = vitals_symbolicator::detect::detect(&read(ELF), "crash.debug").expect("elf");
    let build_id = det.objects[0].code_id.clone().expect("build id");
    let text = format!(
        "ABI: 'x86_64'\nsignal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x45\n\nbacktrace:\n    #00 pc 0000000000001d72  /data/app/com.bank.pay-1/lib/x86_64/libcrash.so (BuildId: {build_id})\n"
    );
    let ev = event(Some(text), Vec::new(), Vec::new());
    let first = s.symbolicate_blocking("app", None, &ev);
    let m = &first.missing[0];
    assert_eq!(
        (m.debug_id.as_deref(), m.code_id.as_deref()),
        (None, Some(build_id.as_str()))
    );
    assert_eq!(m.key(), format!("code:{build_id}"));
    let meta = put(&s, "app", ELF);
    assert!(meta.keys().contains(&m.key()));
    assert!(s.is_affected("app", &Uploaded::from_keys(meta.keys()), &first));
    let again = s
        .resymbolicate_blocking("app", None, &stored(&ev, &first))
        .expect("again");
    assert_eq!(again.status, Status::Complete);
    assert_eq!(
        again.threads[0].frames[0].function.as_deref(),
        Some("crash")
    );
}

/// A microdump stored before its `.sym` arrived.
#[test]
fn microdump_reprocessed_after_sym_upload() {
    let (_d, s) = symbolicator();
    let text =
        String::from_utf8(read("android/breakpad-microdump/microdump-arm64.dmp")).expect("utf8");
    let ev = event(Some(text), Vec::new(), Vec::new());
    let first = s.symbolicate_blocking("app", None, &ev);
    let meta = put(
        &s,
        "app",
        "android/breakpad-microdump/symbols/microdump/breakpad_unittests/D6D1FEC9A15DE7F38A236898871A2E770/breakpad_unittests.sym",
    );
    assert!(s.is_affected("app", &Uploaded::from_metas([&meta]), &first));
    let again = s
        .resymbolicate_blocking("app", None, &stored(&ev, &first))
        .expect("again");
    let f0 = &again.crashed_thread().expect("thread").frames[0];
    assert_eq!(
        f0.function.as_deref(),
        Some("MicrodumpWriterTest_Setup_Test::TestBody")
    );
    // With CFI the walk now reaches main.
    assert!(
        again.threads[0]
            .frames
            .iter()
            .any(|f| f.function.as_deref() == Some("main"))
    );
}
