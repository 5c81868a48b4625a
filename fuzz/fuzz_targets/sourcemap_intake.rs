//! Source-map uploads: the input is a minified source, a NUL byte, a source
//! map, and optionally a NUL byte and positions to look up (4 bytes each:
//! line and column as little-endian u16). The SourceMapCache is built
//! (`build_sourcemapcache`) and looked up (`lookup_in`, with context lines)
//! at a few fixed positions and at the given ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitals_symbolicator::js;

const FIXED: [(u32, u32); 6] = [
    (0, 0),
    (0, 1),
    (0, 40),
    (1, 0),
    (3, 17),
    (u32::MAX, u32::MAX),
];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let minified = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let Some(map) = parts.next() else {
        return;
    };
    let map = String::from_utf8_lossy(map);
    let positions = parts.next().unwrap_or_default();
    let Ok(cache) = js::build_sourcemapcache(&minified, &map) else {
        return;
    };
    for (line, col) in FIXED {
        let _ = js::lookup_in(&cache, line, col);
    }
    for p in positions.chunks_exact(4).take(64) {
        let line = u32::from(u16::from_le_bytes([p[0], p[1]]));
        let col = u32::from(u16::from_le_bytes([p[2], p[3]]));
        let _ = js::lookup_in(&cache, line, col);
    }
});
