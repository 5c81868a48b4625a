//! Hostile values for the random-input property test (issue #22): a seeded
//! generator (SplitMix64, so a failing case replays from its seed and
//! index), the encodings each transport allows (JSON with `\u` escapes,
//! lone surrogates and raw invalid UTF-8; percent-encoding for paths,
//! queries and forms), and the check every response must pass.

use serde_json::Value;

/// SplitMix64: small, fast, and the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Hostile text a store might stumble on, none of it a control character:
/// values like these pass validation and are stored.
const PRINTABLE: &[&str] = &[
    "'",
    "''",
    "\"",
    "\\",
    "\\'",
    "`",
    "' OR 1=1--",
    "'); DROP TABLE events;--",
    "\" OR \"\"=\"",
    "1' AND sleep(5)#",
    "' uNiOn aLl sElEcT 1,2,3--",
    "%' --",
    "%00",
    "%27",
    "\\x00",
    "\\0",
    "\\N",
    "NULL",
    "$1",
    "?",
    ":name",
    "{}",
    "%s%n",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "a+b",
    "/",
    "#",
    ";",
    "交易",
    "崩溃率",
    "🦀",
    "e\u{301}",
    "\u{FEFF}",
    "\u{200B}",
    "\u{FFFD}",
    "5.2.0",
    " ",
];

/// Control, bidi and separator characters, and bytes that are not UTF-8
/// (`ED A0 80` is a lone surrogate, sent as `\ud800` in JSON).
const CONTROL: &[&[u8]] = &[
    b"\0",
    b"\r\n",
    b"\n",
    b"\r",
    b"\t",
    b"\x1b[31m",
    b"\x7f",
    b"\x08",
    "\u{202E}".as_bytes(),
    "\u{2066}".as_bytes(),
    "\u{2028}".as_bytes(),
    "\u{85}".as_bytes(),
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xff",
    b"\xc0\xaf",
    b"\xe4\xba",
    b"\x80",
];

/// Lengths at and over the documented limits (`docs/protocol.md` §4: ids
/// 128, short text 256, frame text 1024, crash message 8192).
const LENGTHS: &[usize] = &[127, 128, 129, 255, 256, 257, 1024, 1025, 8192, 8193];

/// One hostile value, kind chosen by `i` so every run covers every kind:
/// empty, long, printable (stored), and with control bytes; the latter
/// sweep all 256 byte values over 16 cases (`sweep` counts where it is).
pub fn value(i: usize, rng: &mut Rng, sweep: &mut u16) -> Vec<u8> {
    match i % 6 {
        0 if i.is_multiple_of(12) => Vec::new(),
        0 | 3 => {
            let len = *rng.pick(LENGTHS);
            let unit = *rng.pick(&["a", "'", "交", "\\", "9"]);
            let mut s = unit.repeat(len / unit.len() + 1).into_bytes();
            s.truncate(len);
            // A cut multi-byte character would make it invalid UTF-8.
            while std::str::from_utf8(&s).is_err() {
                s.pop();
            }
            s
        }
        1 | 4 => {
            let mut s = String::new();
            if rng.below(2) == 0 {
                s.push_str("5.2.");
            }
            for _ in 0..1 + rng.below(3) {
                s.push_str(rng.pick::<&str>(PRINTABLE));
            }
            s.into_bytes()
        }
        _ => {
            let mut s = Vec::new();
            for _ in 0..1 + rng.below(3) {
                if rng.below(2) == 0 {
                    s.extend_from_slice(rng.pick(PRINTABLE).as_bytes());
                } else {
                    s.extend_from_slice(rng.pick::<&[u8]>(CONTROL));
                }
            }
            // The next 52 raw bytes of the 0–255 sweep: five such values
            // (16 cases) send every byte.
            let at = rng.below(s.len() + 1);
            let bytes: Vec<u8> = (0..52).map(|k| ((*sweep + k) % 256) as u8).collect();
            *sweep = (*sweep + 52) % 256;
            s.splice(at..at, bytes);
            s
        }
    }
}

/// `v` as a JSON string literal: valid characters as themselves (control
/// characters as `\u00XX`), WTF-8 surrogates as `\udXXX` escapes, and any
/// other invalid byte raw, which makes the document invalid on purpose.
pub fn json_literal(v: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    let mut rest = v;
    while !rest.is_empty() {
        let (good, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (g, b) = rest.split_at(e.valid_up_to());
                (std::str::from_utf8(g).unwrap_or_default(), b)
            }
        };
        for c in good.chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        rest = bad;
        if let [0xED, b1 @ 0xA0..=0xBF, b2 @ 0x80..=0xBF, ..] = *rest {
            let unit = 0xD000 | (u32::from(b1 & 0x3F) << 6) | u32::from(b2 & 0x3F);
            out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
            rest = &rest[3..];
        } else if let [b, ..] = *rest {
            out.push(b);
            rest = &rest[1..];
        }
    }
    out.push(b'"');
    out
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986), so any
/// byte travels in a path segment, a query value or a form field.
pub fn pct(v: &[u8]) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for &b in v {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `application/x-www-form-urlencoded` body of raw byte values.
pub fn form(fields: &[(&str, &[u8])]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k.as_bytes()), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// JSON pointers of every string in `v` (object keys are plain words).
pub fn string_paths(v: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::String(_) => out.push(at),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, format!("{at}/{i}"), out)),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| walk(x, format!("{at}/{k}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, String::new(), &mut out);
    out
}

const HOLE: &str = "\u{1}hostile-value\u{1}";

/// `template` serialised with the string at `pointer` replaced by `v`
/// (as [`json_literal`], so it may be invalid JSON).
pub fn with_value(template: &Value, pointer: &str, v: &[u8]) -> Vec<u8> {
    let mut doc = template.clone();
    *doc.pointer_mut(pointer).expect("pointer into the template") = Value::String(HOLE.into());
    let text = serde_json::to_vec(&doc).expect("serialise");
    let hole = serde_json::to_vec(HOLE).expect("serialise");
    let at = text
        .windows(hole.len())
        .position(|w| w == hole.as_slice())
        .expect("hole in the document");
    let mut out = text[..at].to_vec();
    out.extend_from_slice(&json_literal(v));
    out.extend_from_slice(&text[at + hole.len()..]);
    out
}

/// Text a store's error would carry: statements, table names, the
/// engines' own messages. The generated values contain none of it.
const SQL_MARKERS: &[&str] = &[
    "SELECT ",
    "INSERT INTO",
    "FROM events",
    "ALTER TABLE",
    "sqlite_",
    "SQLITE_",
    "SQLite",
    "DB::Exception",
    "ClickHouse exception",
    "near \"",
    "syntax error",
    "no such table",
    "no such column",
    "unrecognized token",
    "Code: 62",
];

/// What is wrong with one response, if anything: a 5xx, SQL text, or (for
/// a JSON route) a 4xx that is not the documented `{"error": {"code",
/// "message"}}`.
pub fn problem(status: u16, content_type: &str, body: &[u8], json_route: bool) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    if status >= 500 {
        return Some(format!("status {status}"));
    }
    if let Some(m) = SQL_MARKERS.iter().find(|m| text.contains(**m)) {
        return Some(format!("status {status}, body carries {m:?}"));
    }
    if json_route && status >= 400 && status != 405 {
        let shaped = content_type.starts_with("application/json")
            && serde_json::from_slice::<Value>(body).is_ok_and(|v| {
                v.pointer("/error/code").is_some_and(Value::is_string)
                    && v.pointer("/error/message").is_some_and(Value::is_string)
            });
        if !shaped {
            return Some(format!("status {status}, not the JSON error shape"));
        }
    }
    None
}

#[test]
fn encodings_are_what_the_transports_carry() {
    assert_eq!(json_literal(b"a\"\\\0"), b"\"a\\\"\\\\\\u0000\"");
    assert_eq!(json_literal(b"x\xed\xa0\x80y"), b"\"x\\ud800y\"");
    assert_eq!(json_literal(b"\xff"), b"\"\xff\"");
    assert_eq!(pct(b"a b/\xff"), "a%20b%2F%FF");
    let mut rng = Rng::new(7);
    let mut sweep = 0;
    let a: Vec<_> = (0..12).map(|i| value(i, &mut rng, &mut sweep)).collect();
    let mut rng = Rng::new(7);
    let mut sweep = 0;
    let b: Vec<_> = (0..12).map(|i| value(i, &mut rng, &mut sweep)).collect();
    assert_eq!(a, b, "the same seed gives the same values");
    assert!(a[0].is_empty());
    for v in &a {
        let t = String::from_utf8_lossy(v);
        assert!(problem(200, "", v, false).is_none(), "{t:?} looks like SQL");
    }
}
