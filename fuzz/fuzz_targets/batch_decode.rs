//! The collector's batch intake after authentication: body decompression
//! (gzip, deflate, br, zstd, identity; capped), JSON decoding, validation
//! against the default limits, the error message in both languages, and the
//! privacy pass on an accepted batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vitals_collector::decode::decompress;
use vitals_collector::privacy::{self, Scrubber};
use vitals_i18n::Lang;
use vitals_protocol::{Limits, decode, validate};

/// Server time for validation: the `sent_at` of the example batch in
/// docs/protocol.md, so that seed is accepted and reaches the privacy pass.
const NOW_MS: i64 = 1_732_850_000_000;

fn limits() -> &'static Limits {
    static L: OnceLock<Limits> = OnceLock::new();
    L.get_or_init(|| Limits {
        // Smaller than production so one input stays fast; the checks are
        // the same code.
        max_decompressed_bytes: 256 << 10,
        ..Limits::default()
    })
}

fn scrubber() -> &'static Scrubber {
    static S: OnceLock<Scrubber> = OnceLock::new();
    S.get_or_init(|| Scrubber::new(&[]).expect("built-in patterns compile"))
}

fn intake(body: &[u8]) {
    let limits = limits();
    match decode(body) {
        Ok(mut batch) => match validate(&batch, limits, NOW_MS) {
            Ok(()) => {
                privacy::apply(&mut batch, b"fuzz-pseudonym-secret", scrubber());
                // What the spool writes.
                let _ = serde_json::to_vec(&batch);
            }
            Err(e) => {
                let _ = e.message(Lang::En);
                let _ = e.message(Lang::ZhCn);
            }
        },
        Err(e) => {
            let _ = e.message(Lang::En);
            let _ = e.is_malformed();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let limit = limits().max_decompressed_bytes;
    // The body as sent without compression …
    if let Ok(plain) = decompress(None, data, limit) {
        intake(&plain);
    }
    // … and as each supported Content-Encoding (seeds include gzip copies).
    for enc in ["gzip", "deflate", "br", "zstd"] {
        if let Ok(plain) = decompress(Some(enc), data, limit) {
            intake(&plain);
        }
    }
});
