//! Apple crash inputs as the symbolicator reads a crash's raw payload:
//! `.crash` text reports, `.ips` JSON reports and KSCrash / Sentry JSON
//! events, each converted to the raw form and run through the common
//! processing (native lookups against an empty store, grouping).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use vitals_symbolicator::grouping::{GroupOverrides, GroupingRules};
use vitals_symbolicator::process::Processor;
use vitals_symbolicator::raw::RawCrash;
use vitals_symbolicator::service::payload_kind;
use vitals_symbolicator::{Config, Symbolicator, apple};

const APP: &str = "fuzz-app";

struct Fixture {
    sym: Arc<Symbolicator>,
    rules: GroupingRules,
    overrides: GroupOverrides,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("vitals-fuzz-apple-{}", std::process::id()));
        let mut cfg = Config::new(&root);
        cfg.workers = 1;
        Fixture {
            sym: Symbolicator::start(cfg).expect("symbolicator starts on an empty store"),
            rules: GroupingRules::default(),
            overrides: GroupOverrides::default(),
        }
    })
}

fn process(raw: RawCrash) {
    let f = fixture();
    let p = Processor {
        app: APP,
        release: None,
        native: f.sym.native(),
        retracer: f.sym.retracer(),
        js: f.sym.js(),
        rules: &f.rules,
        overrides: &f.overrides,
    };
    let out = p.run("fuzz-crash", raw);
    let _ = serde_json::to_vec(&out);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = payload_kind(&text);
    if let Ok(report) = apple::parse_text_report(&text) {
        process(apple::text_report_to_raw(&report));
    }
    // The service calls it only when `looks_like_ips`; here always.
    let _ = apple::looks_like_ips(&text);
    if let Ok(raw) = apple::parse_ips(&text) {
        process(raw);
    }
    if let Ok(raw) = apple::parse_sentry_event(&text) {
        process(raw);
    }
});
