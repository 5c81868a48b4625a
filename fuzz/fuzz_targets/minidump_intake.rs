//! Minidumps as the symbolicator receives them (a Sentry `minidump`
//! attachment, kept as a crash whose raw payload is `minidump:` + base64):
//! the service's own entry (`symbolicate_blocking`): payload detection,
//! rust-minidump's reader and stack walker with the store-backed symbol
//! supplier, then the common processing (native lookups, grouping
//! fingerprint). The debug-file store lives in a temporary directory and
//! holds the files named in `VITALS_FUZZ_SYMBOLS` (`:`-separated), if set:
//! deploy/bench/fuzz.sh points it at the fixtures' debug files, so dumps of
//! those programs get CFI and symbols.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use vitals_protocol::CrashEvent;
use vitals_symbolicator::{Config, Symbolicator, UploadHints};

const APP: &str = "fuzz-app";

fn symbolicator() -> &'static Arc<Symbolicator> {
    static S: OnceLock<Arc<Symbolicator>> = OnceLock::new();
    S.get_or_init(|| {
        let root =
            std::env::temp_dir().join(format!("vitals-fuzz-minidump-{}", std::process::id()));
        let mut cfg = Config::new(&root);
        cfg.workers = 1;
        let sym = Symbolicator::start(cfg).expect("symbolicator starts on an empty store");
        for path in std::env::var("VITALS_FUZZ_SYMBOLS")
            .unwrap_or_default()
            .split(':')
        {
            let path = std::path::Path::new(path);
            let (Ok(data), Some(name)) = (std::fs::read(path), path.file_name()) else {
                continue;
            };
            let name = name.to_string_lossy();
            if let Err(e) = sym.store().put(APP, &name, &data, &UploadHints::default()) {
                eprintln!("minidump_intake: {} not stored: {e}", path.display());
            }
        }
        sym
    })
}

fuzz_target!(|data: &[u8]| {
    let sym = symbolicator();
    let ev = CrashEvent {
        ts: 1_732_849_900_000,
        crash_id: "fuzz-crash".into(),
        session_id: None,
        exception_type: String::new(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads: Vec::new(),
        images: Vec::new(),
        raw: Some(format!(
            "minidump:{}",
            base64::engine::general_purpose::STANDARD.encode(data)
        )),
        fingerprint: None,
        notes: Vec::new(),
    };
    let out = sym.symbolicate_blocking(APP, None, &ev);
    let _ = serde_json::to_vec(&out);
});
