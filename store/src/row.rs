//! The stored shape of an event: one wide row per event in the `events`
//! table of either backend. Columns that do not apply to an event kind hold
//! their type's default ('' / 0 / NULL); ClickHouse stores such runs almost
//! for free and reads only the columns a query names.

use serde::Serialize;
use std::borrow::Cow;
use std::collections::HashSet;
use vitals_protocol::{AcceptedBatch, Event};

/// One `events` row. Field order is the column order of the table.
#[derive(Debug, Clone, PartialEq, Serialize, clickhouse::Row)]
pub struct EventRow<'a> {
    pub app_id: &'a str,
    pub batch_id: &'a str,
    pub seq: u32,
    pub kind: &'static str,
    /// Event time, Unix seconds.
    pub ts: u32,
    pub ts_ms: u16,
    pub received_at: u32,
    pub platform: &'static str,
    pub version: &'a str,
    pub build: &'a str,
    pub device_model: &'a str,
    pub device_class: &'static str,
    pub os_version: &'a str,
    pub os_major: u16,
    pub screen_w: u16,
    pub screen_h: u16,
    pub density: f32,
    pub abi: &'a str,
    pub rooted: u8,
    pub emulator: u8,
    pub net_family: &'static str,
    pub carrier: &'a str,
    pub install_id: &'a str,
    /// Pseudonymised user id ('' when none).
    pub user_id: &'a str,
    /// The unit of "a user" for per-user rates: the pseudonym when the app
    /// sends user ids, else `i:` + install id.
    pub user_key: Cow<'a, str>,
    pub device_id: &'a str,
    pub client_ip: &'a str,
    pub session_id: &'a str,
    pub session_phase: &'static str,
    pub session_status: &'static str,
    pub duration_ms: u64,
    pub foreground_ms: u64,
    pub crash_id: &'a str,
    pub exception_type: &'a str,
    pub message: &'a str,
    pub fatal: u8,
    pub handled: u8,
    /// JSON detail: crash threads/images/raw, cold-start spans, ABI split.
    pub payload: Cow<'a, str>,
    pub cpu_pct: Option<f64>,
    pub memory_mb: Option<f64>,
    pub package_bytes: u64,
    pub category: &'static str,
    pub site: &'a str,
    pub status_code: u16,
    pub req_family: &'static str,
    pub patch_id: &'a str,
    pub stage: &'static str,
    pub error_code: &'a str,
    pub name: &'a str,
    pub value: f64,
    /// Crash group key (preliminary, from the raw stack; the symbolicator
    /// refines it).
    pub fingerprint: Cow<'a, str>,
    /// Screen size class by logical short side: xs/s/m/l/tablet/unknown.
    pub screen_class: &'static str,
    /// Log-histogram bucket of the kind's primary value (see [`bucket`]).
    pub bucket_a: i16,
    /// Log-histogram bucket of the secondary value (perf: memory).
    pub bucket_b: i16,
    /// Deployment environment, '' when not given.
    pub environment: &'a str,
    /// Session identity flags (see [`crate::sessions`]): this row counts
    /// its session, its session's crash, its session's abnormal end.
    pub s_new: u8,
    pub s_crash: u8,
    pub s_abn: u8,
}

/// Column names in table order (shared by both backends' DDL and inserts).
pub const COLUMNS: &[&str] = &[
    "app_id",
    "batch_id",
    "seq",
    "kind",
    "ts",
    "ts_ms",
    "received_at",
    "platform",
    "version",
    "build",
    "device_model",
    "device_class",
    "os_version",
    "os_major",
    "screen_w",
    "screen_h",
    "density",
    "abi",
    "rooted",
    "emulator",
    "net_family",
    "carrier",
    "install_id",
    "user_id",
    "user_key",
    "device_id",
    "client_ip",
    "session_id",
    "session_phase",
    "session_status",
    "duration_ms",
    "foreground_ms",
    "crash_id",
    "exception_type",
    "message",
    "fatal",
    "handled",
    "payload",
    "cpu_pct",
    "memory_mb",
    "package_bytes",
    "category",
    "site",
    "status_code",
    "req_family",
    "patch_id",
    "stage",
    "error_code",
    "name",
    "value",
    "fingerprint",
    "screen_class",
    "bucket_a",
    "bucket_b",
    "environment",
    "s_new",
    "s_crash",
    "s_abn",
];

/// `name` of a cold-start row that reported a breakdown (spans).
pub const COLD_START_WITH_SPANS: &str = "spans";
/// Prefix of the cold-start spans that initialise a third-party SDK (5.7c).
pub const SDK_SPAN_PREFIX: &str = "sdk:";

/// Growth factor of histogram buckets: 1 % wide, so a percentile read from
/// the histogram is within ±0.5 % of the exact value.
pub const BUCKET_GAMMA: f64 = 1.01;
/// Bucket of zero, negative or missing values.
pub const BUCKET_NONE: i16 = i16::MIN;

/// Log-scale histogram bucket of `x` (DDSketch-style: bucket `i` holds
/// `(γ^(i-1), γ^i]`). Computed in Rust at ingest so that every backend
/// groups identically.
pub fn bucket(x: f64) -> i16 {
    if x.is_nan() || x <= 0.0 {
        return BUCKET_NONE;
    }
    let i = (x.ln() / BUCKET_GAMMA.ln()).ceil();
    i.clamp(-32_767.0, 32_767.0) as i16
}

/// The representative value of a bucket (relative error ≤ (γ-1)/(γ+1)).
pub fn bucket_value(i: i16) -> f64 {
    if i == BUCKET_NONE {
        return 0.0;
    }
    2.0 * BUCKET_GAMMA.powi(i32::from(i)) / (BUCKET_GAMMA + 1.0)
}

/// Screen class by the logical (density-independent) short side.
pub fn screen_class(w: u32, h: u32, density: f32) -> &'static str {
    if w == 0 || h == 0 || density <= 0.0 {
        return "unknown";
    }
    let short = f64::from(w.min(h)) / f64::from(density);
    match short {
        s if s < 360.0 => "xs",
        s if s < 390.0 => "s",
        s if s < 430.0 => "m",
        s if s < 600.0 => "l",
        _ => "tablet",
    }
}

/// Normalises a function name for grouping: no addresses, offsets, line
/// numbers or generated suffixes (`$1`, `lambda$3`, `_block_invoke_2`).
pub fn normalize_function(f: &str) -> String {
    let mut out = String::with_capacity(f.len());
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                chars.next();
            }
            continue;
        }
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
            }
            continue;
        }
        if c == '+' {
            // `+ 12` offsets
            break;
        }
        out.push(c);
    }
    out.trim().trim_end_matches(['$', '_', '.']).to_string()
}

/// Preliminary crash fingerprint from the exception type and the top in-app
/// frames of the crashed thread (the symbolicator refines it).
pub fn preliminary_fingerprint(c: &vitals_protocol::CrashEvent) -> String {
    use sha2::{Digest, Sha256};
    let thread = c
        .threads
        .iter()
        .find(|t| t.crashed)
        .or_else(|| c.threads.iter().find(|t| !t.frames.is_empty()));
    let mut parts: Vec<String> = vec![c.exception_type.clone()];
    if let Some(t) = thread {
        let names: Vec<String> = t
            .frames
            .iter()
            .filter(|f| f.in_app != Some(false))
            .filter_map(|f| {
                let func = f
                    .function
                    .as_deref()
                    .map(normalize_function)
                    .filter(|s| !s.is_empty());
                match (&f.module, func) {
                    (Some(m), Some(func)) => Some(format!("{m}.{func}")),
                    (None, Some(func)) => Some(func),
                    _ => None,
                }
            })
            .take(5)
            .collect();
        parts.extend(names);
    }
    if parts.len() == 1 {
        // No symbol at all: the message without numbers is the best key.
        parts.push(normalize_function(&c.message.replace(' ', "_")));
    }
    let digest = Sha256::digest(parts.join("\n").as_bytes());
    hex::encode(&digest[..8])
}

/// The `payload` column of a crash row: threads, images, raw form and the
/// server's notes (also what a re-symbolication writes back).
pub fn crash_payload(c: &vitals_protocol::CrashEvent) -> String {
    serde_json::json!({"threads": c.threads, "images": c.images, "raw": c.raw, "notes": c.notes})
        .to_string()
}

/// Leading integer of an OS version string: `17.1.2` → 17, `NEXT 5.0` → 5.
pub fn os_major(v: &str) -> u16 {
    let digits: String = v
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap_or(0)
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn secs(ms: i64) -> u32 {
    u32::try_from(ms.div_euclid(1000)).unwrap_or(0)
}

/// Flattens an accepted batch into rows, skipping every row of a user whose
/// data was erased (4.3.4d). Returns the rows and how many were skipped.
pub fn rows_from_batch<'a>(
    ab: &'a AcceptedBatch,
    erased: &HashSet<(String, String)>,
) -> (Vec<EventRow<'a>>, usize) {
    let b = &ab.batch;
    let user_id = b.user_id.as_deref().unwrap_or("");
    if !user_id.is_empty() && erased.contains(&(ab.app_id.clone(), user_id.to_string())) {
        return (Vec::new(), b.events.len());
    }
    let user_key: Cow<'a, str> = if user_id.is_empty() {
        Cow::Owned(format!("i:{}", b.install_id))
    } else {
        Cow::Borrowed(user_id)
    };
    let base = EventRow {
        app_id: &ab.app_id,
        batch_id: &b.batch_id,
        seq: 0,
        kind: "",
        ts: 0,
        ts_ms: 0,
        received_at: secs(ab.received_at_ms),
        platform: b.platform.as_str(),
        version: &b.release.version,
        build: &b.release.build,
        device_model: &b.device.model,
        device_class: b.device.class.as_str(),
        os_version: &b.device.os_version,
        os_major: os_major(&b.device.os_version),
        screen_w: clamp_u16(b.device.screen.width),
        screen_h: clamp_u16(b.device.screen.height),
        density: b.device.screen.density,
        abi: &b.device.abi,
        rooted: u8::from(b.device.rooted),
        emulator: u8::from(b.device.emulator),
        net_family: b.network.ip_family.as_str(),
        carrier: &b.network.carrier,
        install_id: &b.install_id,
        user_id,
        user_key,
        device_id: b.device.device_id.as_deref().unwrap_or(""),
        client_ip: ab.client_ip.as_deref().unwrap_or(""),
        session_id: "",
        session_phase: "",
        session_status: "",
        duration_ms: 0,
        foreground_ms: 0,
        crash_id: "",
        exception_type: "",
        message: "",
        fatal: 0,
        handled: 0,
        payload: Cow::Borrowed(""),
        cpu_pct: None,
        memory_mb: None,
        package_bytes: 0,
        category: "",
        site: "",
        status_code: 0,
        req_family: "",
        patch_id: "",
        stage: "",
        error_code: "",
        name: "",
        value: 0.0,
        fingerprint: Cow::Borrowed(""),
        screen_class: screen_class(
            b.device.screen.width,
            b.device.screen.height,
            b.device.screen.density,
        ),
        bucket_a: BUCKET_NONE,
        bucket_b: BUCKET_NONE,
        environment: b.environment.as_deref().unwrap_or(""),
        s_new: 0,
        s_crash: 0,
        s_abn: 0,
    };
    let rows = b
        .events
        .iter()
        .enumerate()
        .map(|(i, ev)| {
            let ts = ev.ts();
            let mut r = base.clone();
            r.seq = u32::try_from(i).unwrap_or(u32::MAX);
            r.kind = ev.kind().as_str();
            r.ts = secs(ts);
            r.ts_ms = u16::try_from(ts.rem_euclid(1000)).unwrap_or(0);
            fill(&mut r, ev);
            r
        })
        .collect();
    (rows, 0)
}

fn fill<'a>(r: &mut EventRow<'a>, ev: &'a Event) {
    match ev {
        Event::Session(s) => {
            r.session_id = &s.session_id;
            r.session_phase = s.phase.as_str();
            r.session_status = s.status.map(|s| s.as_str()).unwrap_or("");
            r.duration_ms = s.duration_ms;
            r.foreground_ms = s.foreground_ms;
            r.bucket_a = bucket(s.duration_ms as f64);
        }
        Event::Crash(c) => {
            r.crash_id = &c.crash_id;
            r.session_id = c.session_id.as_deref().unwrap_or("");
            r.exception_type = &c.exception_type;
            r.message = &c.message;
            r.fatal = u8::from(c.fatal);
            r.handled = u8::from(c.handled);
            r.payload = Cow::Owned(crash_payload(c));
            r.fingerprint = match &c.fingerprint {
                Some(f) if !f.is_empty() => Cow::Borrowed(f.as_str()),
                _ => Cow::Owned(preliminary_fingerprint(c)),
            };
        }
        Event::ColdStart(c) => {
            r.duration_ms = c.duration_ms;
            r.bucket_a = bucket(c.duration_ms as f64);
            if !c.spans.is_empty() {
                r.payload = Cow::Owned(serde_json::json!({"spans": c.spans}).to_string());
                // 5.7c: a cold start with a breakdown is marked, and the
                // time its third-party SDKs (spans named `sdk:…`) took to
                // initialise is its value.
                r.name = COLD_START_WITH_SPANS;
                r.value = c
                    .spans
                    .iter()
                    .filter(|s| s.name.starts_with(SDK_SPAN_PREFIX))
                    .map(|s| s.duration_ms as f64)
                    .sum();
            }
        }
        Event::Perf(p) => {
            r.cpu_pct = p.cpu_pct;
            r.memory_mb = p.memory_mb;
            r.bucket_a = p.cpu_pct.map(bucket).unwrap_or(BUCKET_NONE);
            r.bucket_b = p.memory_mb.map(bucket).unwrap_or(BUCKET_NONE);
        }
        Event::Install(i) => {
            r.duration_ms = i.duration_ms;
            r.package_bytes = i.package_bytes;
            r.bucket_a = bucket(i.duration_ms as f64);
            r.bucket_b = bucket(i.package_bytes as f64);
            if !i.abi_split.is_empty() {
                r.payload = Cow::Owned(serde_json::json!({"abi_split": i.abi_split}).to_string());
            }
        }
        Event::Network(n) => {
            r.category = n.category.as_str();
            r.site = &n.site;
            r.duration_ms = n.latency_ms;
            r.status_code = n.status;
            r.bucket_a = bucket(n.latency_ms as f64);
            r.req_family = n.ip_family.as_str();
        }
        Event::HotUpdate(h) => {
            r.patch_id = &h.patch_id;
            r.stage = h.stage.as_str();
            r.package_bytes = h.package_bytes;
            r.error_code = &h.error_code;
            r.bucket_a = bucket(h.package_bytes as f64);
        }
        // 5.4b: the offered version goes where a hot update keeps the
        // package it offers, the outcome where it keeps its stage, the
        // placement where custom events keep their name.
        Event::UpgradePrompt(u) => {
            r.patch_id = &u.target_version;
            r.stage = u.outcome.as_str();
            r.name = &u.placement;
        }
        Event::Custom(c) => {
            r.name = &c.name;
            r.stage = c.kind.as_str();
            r.value = c.value;
            r.bucket_a = bucket(c.value);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A row with every column empty (for unit tests of row logic).
    pub(crate) fn blank() -> EventRow<'static> {
        EventRow {
            app_id: "app",
            batch_id: "b",
            seq: 0,
            kind: "",
            ts: 0,
            ts_ms: 0,
            received_at: 0,
            platform: "android",
            version: "1.0",
            build: "1",
            device_model: "",
            device_class: "phone",
            os_version: "",
            os_major: 0,
            screen_w: 0,
            screen_h: 0,
            density: 0.0,
            abi: "",
            rooted: 0,
            emulator: 0,
            net_family: "",
            carrier: "",
            install_id: "i1",
            user_id: "",
            user_key: Cow::Borrowed("i:i1"),
            device_id: "",
            client_ip: "",
            session_id: "",
            session_phase: "",
            session_status: "",
            duration_ms: 0,
            foreground_ms: 0,
            crash_id: "",
            exception_type: "",
            message: "",
            fatal: 0,
            handled: 0,
            payload: Cow::Borrowed(""),
            cpu_pct: None,
            memory_mb: None,
            package_bytes: 0,
            category: "",
            site: "",
            status_code: 0,
            req_family: "",
            patch_id: "",
            stage: "",
            error_code: "",
            name: "",
            value: 0.0,
            fingerprint: Cow::Borrowed(""),
            screen_class: "unknown",
            bucket_a: BUCKET_NONE,
            bucket_b: BUCKET_NONE,
            environment: "",
            s_new: 0,
            s_crash: 0,
            s_abn: 0,
        }
    }

    #[test]
    fn os_major_parses_leading_number() {
        assert_eq!(os_major("17.1.2"), 17);
        assert_eq!(os_major("NEXT 5.0"), 5);
        assert_eq!(os_major("Android"), 0);
    }

    #[test]
    fn buckets_are_within_half_a_percent() {
        for x in [1.0, 2.5, 99.0, 1999.0, 2000.0, 2001.0, 86_400_000.0, 0.013] {
            let v = bucket_value(bucket(x));
            assert!((v - x).abs() / x <= 0.005 + 1e-12, "{x} -> {v}");
        }
        assert_eq!(bucket(0.0), BUCKET_NONE);
        assert!(bucket(1999.0) <= bucket(2000.0) && bucket(2000.0) < bucket(2021.0));
    }

    #[test]
    fn fingerprints_ignore_addresses_lines_and_lambda_suffixes() {
        assert_eq!(
            normalize_function("-[CRLCrashNULL crash]_block_invoke_2"),
            "-[CRLCrashNULL crash]_block_invoke"
        );
        assert_eq!(
            normalize_function("com.a.B.lambda$onClick$3"),
            "com.a.B.lambda$onClick"
        );
        assert_eq!(normalize_function("crash + 12"), "crash");
        assert_eq!(screen_class(1179, 2556, 3.0), "m");
        assert_eq!(screen_class(2048, 2732, 2.0), "tablet");
        assert_eq!(screen_class(0, 0, 0.0), "unknown");
    }

    #[test]
    fn column_list_matches_row_fields() {
        let names: Vec<&str> = <EventRow<'_> as clickhouse::Row>::COLUMN_NAMES.to_vec();
        assert_eq!(names, COLUMNS);
    }
}
