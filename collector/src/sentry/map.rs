//! Mapping of Sentry items into vitals batches. Each item becomes its own
//! batch (id derived from the envelope's own id and the item's position, so
//! a resent envelope is stored once; a session update's from its `sid`),
//! validated like any native batch.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use vitals_protocol::*;

/// What the mapper needs to know besides the item.
pub struct MapCtx<'a> {
    pub app_id: &'a str,
    /// Envelope id: the header's `event_id`, else one fresh per request.
    pub envelope_id: String,
    pub header: &'a Value,
    /// host (or host suffix) → service category, for HTTP spans.
    pub host_categories: &'a BTreeMap<String, String>,
    /// Most sessions one `sessions` aggregate item may expand to.
    pub max_aggregate_sessions: u64,
}

/// Why an item was dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    #[error("item lacks {0}")]
    Missing(&'static str),
}

fn id_safe(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
        .collect();
    if !clean.is_empty() && clean.len() <= max && clean.len() == s.len() {
        clean
    } else {
        // Keep it stable and unique without leaking the raw value.
        format!("h:{}", &hex::encode(Sha256::digest(s.as_bytes()))[..32])
    }
}

/// Sentry timestamps: RFC 3339 strings or Unix seconds (float).
pub fn parse_ts(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().map(|f| (f * 1000.0) as i64),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| d.timestamp_millis())
            .or_else(|| s.parse::<f64>().ok().map(|f| (f * 1000.0) as i64)),
        _ => None,
    }
}

/// `package@version+build` → (version, build).
pub fn split_release(r: &str) -> Release {
    let vb = r.split_once('@').map(|(_, v)| v).unwrap_or(r);
    match vb.split_once('+') {
        Some((v, b)) => Release {
            version: v.to_string(),
            build: b.to_string(),
        },
        None => Release {
            version: vb.to_string(),
            build: String::new(),
        },
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().filter(|s| !s.is_empty())
}

fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_u64().or_else(|| cur.as_f64().map(|f| f as u64))
}

fn short(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// A label (release, environment, device and OS fields) as SDKs report it,
/// fit for a native batch: trimmed, without control characters (the Node
/// SDK reports Debian's OS version as "12.11\n"), at most `n` characters;
/// `fallback` when nothing is left.
fn label(s: &str, n: usize, fallback: &str) -> String {
    let clean: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(n)
        .collect();
    if clean.is_empty() {
        fallback.to_string()
    } else {
        clean
    }
}

/// The client context of an event (or of a session's attributes).
fn batch_for(
    ctx: &MapCtx<'_>,
    doc: &Value,
    index: usize,
    distinct: Option<&str>,
    events: Vec<Event>,
) -> Batch {
    let release = str_at(doc, &["release"])
        .or_else(|| str_at(doc, &["attrs", "release"]))
        .or_else(|| str_at(ctx.header, &["trace", "release"]))
        .map(split_release)
        .unwrap_or(Release {
            version: "unknown".into(),
            build: String::new(),
        });
    let environment = str_at(doc, &["environment"])
        .or_else(|| str_at(doc, &["attrs", "environment"]))
        .or_else(|| str_at(ctx.header, &["trace", "environment"]))
        .map(|s| label(s, 64, ""))
        .filter(|s| !s.is_empty());
    let c = doc.get("contexts").cloned().unwrap_or(Value::Null);
    let os_name = str_at(&c, &["os", "name"])
        .unwrap_or("")
        .to_ascii_lowercase();
    let sdk = str_at(doc, &["sdk", "name"])
        .or_else(|| str_at(ctx.header, &["sdk", "name"]))
        .unwrap_or("");
    let tablet = str_at(&c, &["device", "device_type"])
        .is_some_and(|t| t.eq_ignore_ascii_case("tablet"))
        || str_at(&c, &["device", "family"]).is_some_and(|f| f.starts_with("iPad"));
    let platform = match os_name.as_str() {
        "ios" if tablet => Platform::Ipados,
        "ios" => Platform::Ios,
        "ipados" => Platform::Ipados,
        "android" if tablet => Platform::AndroidTablet,
        "android" => Platform::Android,
        "harmonyos" | "openharmony" => Platform::Harmonyos,
        _ if sdk.contains("miniapp") || sdk.contains("wechat") || sdk.contains("mini-program") => {
            Platform::Miniprogram
        }
        _ => Platform::Other,
    };
    let mobile = platform != Platform::Other;
    let model = str_at(&c, &["device", "model"])
        .or_else(|| str_at(&c, &["device", "family"]))
        .or_else(|| str_at(doc, &["platform"]))
        .unwrap_or("unknown");
    let os_version = str_at(&c, &["os", "version"])
        .or_else(|| str_at(&c, &["runtime", "version"]))
        .unwrap_or("unknown");
    let user = doc.get("user");
    let user_id = user.and_then(|u| str_at(u, &["id"])).or(distinct);
    let install = user_id
        .or_else(|| str_at(doc, &["server_name"]))
        .map(|s| id_safe(s, 128))
        .unwrap_or_else(|| "anonymous".into());
    Batch {
        v: PROTOCOL_VERSION,
        batch_id: format!("sentry-{}-{index}", ctx.envelope_id),
        app_id: ctx.app_id.to_string(),
        release: Release {
            version: label(&release.version, 64, "unknown"),
            build: label(&release.build, 64, ""),
        },
        platform,
        device: Device {
            model: label(model, 128, "unknown"),
            class: if tablet {
                DeviceClass::Tablet
            } else if mobile {
                DeviceClass::Phone
            } else {
                DeviceClass::Other
            },
            os_version: label(os_version, 64, "unknown"),
            screen: Screen {
                width: u64_at(&c, &["device", "screen_width_pixels"]).unwrap_or(0) as u32,
                height: u64_at(&c, &["device", "screen_height_pixels"]).unwrap_or(0) as u32,
                density: c
                    .pointer("/device/screen_density")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
                    .clamp(0.0, 10.0) as f32,
            },
            abi: label(str_at(&c, &["device", "arch"]).unwrap_or(""), 64, ""),
            rooted: c
                .pointer("/os/rooted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            emulator: c
                .pointer("/device/simulator")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            // Sentry carries no consent signal for device ids: never kept.
            device_id: None,
        },
        network: Network::default(),
        install_id: install,
        user_id: user_id.map(|u| short(u, 200)),
        consent: Consent::default(),
        environment,
        sent_at: ctx.header.get("sent_at").and_then(parse_ts),
        events,
    }
}

fn frame(f: &Value) -> Frame {
    Frame {
        addr: str_at(f, &["instruction_addr"]).map(|s| short(s, 32)),
        function: str_at(f, &["function"]).map(|s| short(s, 512)),
        module: str_at(f, &["module"])
            .or_else(|| str_at(f, &["package"]))
            .map(|s| short(s, 512)),
        file: str_at(f, &["filename"])
            .or_else(|| str_at(f, &["abs_path"]))
            .map(|s| short(s, 512)),
        line: f
            .get("lineno")
            .and_then(Value::as_u64)
            .map(|l| l.min(u64::from(u32::MAX)) as u32),
        col: f
            .get("colno")
            .and_then(Value::as_u64)
            .map(|l| l.min(u64::from(u32::MAX)) as u32),
        in_app: f.get("in_app").and_then(Value::as_bool),
        inlined: None,
    }
}

/// Whether an event's exceptions make it a crash. A crash is a forced exit
/// of the app (the standard, clause 3.2), and Sentry SDKs mark the
/// exception that ended the app with `mechanism.handled: false` (uncaught
/// exception handlers, signal handlers, minidumps). Everything else is a
/// handled error, kept but never counted as a crash: an exception the app
/// caught (`handled: true`, or no mechanism, which Sentry reads as handled)
/// and a message. The event's `level` plays no part: `capture_message(..,
/// level="fatal")` or a caught exception logged at level fatal is reported
/// by an app that goes on running.
fn is_crash(exceptions: &[Value]) -> bool {
    exceptions
        .iter()
        .any(|v| v.pointer("/mechanism/handled") == Some(&Value::Bool(false)))
}

/// An `event` (or legacy store body) → a crash or error report; see
/// [`is_crash`] for which is which.
pub fn event(ctx: &MapCtx<'_>, index: usize, doc: &Value, raw_ref: Option<String>) -> Batch {
    let ts = doc
        .get("timestamp")
        .and_then(parse_ts)
        .unwrap_or_else(|| ctx.header.get("sent_at").and_then(parse_ts).unwrap_or(0));
    let values = doc
        .pointer("/exception/values")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Chained exceptions are listed innermost first; the last is the one raised.
    let top = values.last().cloned().unwrap_or(Value::Null);
    let fatal = is_crash(&values);
    let message = str_at(&top, &["value"])
        .or_else(|| str_at(doc, &["message"]))
        .or_else(|| str_at(doc, &["logentry", "formatted"]))
        .or_else(|| str_at(doc, &["logentry", "message"]))
        .unwrap_or("");
    let exception_type = str_at(&top, &["type"]).map(|t| match str_at(&top, &["module"]) {
        Some(m) if !t.contains('.') => format!("{m}.{t}"),
        _ => t.to_string(),
    });
    let mut frames: Vec<Frame> = top
        .pointer("/stacktrace/frames")
        .or_else(|| doc.pointer("/stacktrace/frames"))
        .and_then(Value::as_array)
        .map(|fs| fs.iter().map(frame).collect())
        .unwrap_or_default();
    frames.reverse(); // vitals lists the crash site first
    frames.truncate(256);
    let images = doc
        .pointer("/debug_meta/images")
        .and_then(Value::as_array)
        .map(|imgs| {
            imgs.iter()
                .take(512)
                .map(|i| Image {
                    debug_id: short(
                        str_at(i, &["debug_id"])
                            .or_else(|| str_at(i, &["uuid"]))
                            .unwrap_or(""),
                        128,
                    ),
                    code_id: str_at(i, &["code_id"]).map(|s| short(s, 128)),
                    name: short(
                        str_at(i, &["code_file"])
                            .or_else(|| str_at(i, &["name"]))
                            .unwrap_or(""),
                        512,
                    ),
                    base: short(str_at(i, &["image_addr"]).unwrap_or(""), 32),
                    size: u64_at(i, &["image_size"]).unwrap_or(0),
                    arch: short(str_at(i, &["arch"]).unwrap_or(""), 32),
                })
                .collect()
        })
        .unwrap_or_default();
    let event_id = str_at(doc, &["event_id"])
        .map(|s| s.replace('-', ""))
        .unwrap_or_else(|| format!("{}{index}", ctx.envelope_id));
    let crash = CrashEvent {
        ts,
        crash_id: id_safe(&event_id, 128),
        session_id: None,
        exception_type: short(
            exception_type.as_deref().unwrap_or(if message.is_empty() {
                "Error"
            } else {
                "Message"
            }),
            256,
        ),
        message: short(message, 8000),
        fatal,
        handled: !fatal,
        // No frames (a minidump-only crash): no thread, so the
        // symbolicator walks the stack from the raw payload.
        threads: if frames.is_empty() {
            Vec::new()
        } else {
            vec![Thread {
                id: 0,
                name: str_at(doc, &["platform"]).unwrap_or("").to_string(),
                crashed: true,
                frames,
            }]
        },
        images,
        raw: raw_ref,
        fingerprint: None,
        notes: Vec::new(),
    };
    batch_for(ctx, doc, index, None, vec![Event::Crash(crash)])
}

fn session_status(s: &str) -> Option<SessionStatus> {
    match s {
        "exited" => Some(SessionStatus::Ok),
        "crashed" => Some(SessionStatus::Crashed),
        "abnormal" => Some(SessionStatus::Abnormal),
        _ => None, // "ok" and "errored" are updates of a running session
    }
}

/// A `session` update → its session's start and/or end, each a batch of
/// its own whose id derives from the session id (`sid`), never from the
/// envelope: a session's start and its end are each stored once however
/// many updates arrive and however often one is resent. An update with
/// `init: true` carries the start (the Python SDK marks every update of a
/// session so, others only the first); one with a terminal status
/// (`exited`, `crashed`, `abnormal`) carries the end, and the first end
/// stored is kept. Updates of a running session (`ok`, `errored`) without
/// `init` add nothing.
pub fn session(ctx: &MapCtx<'_>, index: usize, doc: &Value) -> Result<Vec<Batch>, MapError> {
    let sid = str_at(doc, &["sid"]).ok_or(MapError::Missing("sid"))?;
    // Short enough that "sentry-session-<sid>-start" fits an id (128).
    let sid = id_safe(&sid.replace('-', ""), 96);
    let started = doc
        .get("started")
        .and_then(parse_ts)
        .ok_or(MapError::Missing("started"))?;
    let ts = doc.get("timestamp").and_then(parse_ts).unwrap_or(started);
    let duration_ms = doc
        .get("duration")
        .and_then(Value::as_f64)
        .map(|d| (d * 1000.0) as u64)
        .unwrap_or_else(|| (ts - started).max(0) as u64);
    let mut out = Vec::new();
    let mut phase = |name: &str, event: SessionEvent| {
        let mut b = batch_for(
            ctx,
            doc,
            index,
            str_at(doc, &["did"]),
            vec![Event::Session(event)],
        );
        b.batch_id = format!("sentry-session-{sid}-{name}");
        out.push(b);
    };
    if doc.get("init").and_then(Value::as_bool).unwrap_or(false) {
        phase(
            "start",
            SessionEvent {
                ts: started,
                session_id: sid.clone(),
                phase: SessionPhase::Start,
                status: None,
                duration_ms: 0,
                foreground_ms: 0,
            },
        );
    }
    if let Some(status) = str_at(doc, &["status"]).and_then(session_status) {
        phase(
            "end",
            SessionEvent {
                ts,
                session_id: sid.clone(),
                phase: SessionPhase::End,
                status: Some(status),
                duration_ms,
                foreground_ms: duration_ms,
            },
        );
    }
    Ok(out)
}

/// A `sessions` aggregate → that many starts and ends, per bucket.
pub fn sessions(ctx: &MapCtx<'_>, index: usize, doc: &Value) -> Result<Vec<Batch>, MapError> {
    let aggs = doc
        .get("aggregates")
        .and_then(Value::as_array)
        .ok_or(MapError::Missing("aggregates"))?;
    let mut out = Vec::new();
    let mut budget = ctx.max_aggregate_sessions;
    for (k, a) in aggs.iter().enumerate() {
        let ts = a
            .get("started")
            .and_then(parse_ts)
            .ok_or(MapError::Missing("aggregates[].started"))?;
        let mut events = Vec::new();
        for (field, status) in [
            ("exited", SessionStatus::Ok),
            ("errored", SessionStatus::Ok),
            ("abnormal", SessionStatus::Abnormal),
            ("crashed", SessionStatus::Crashed),
        ] {
            let n = u64_at(a, &[field]).unwrap_or(0).min(budget);
            budget -= n;
            for i in 0..n {
                let sid = format!("{}-{index}-{k}-{field}-{i}", ctx.envelope_id);
                events.push(Event::Session(SessionEvent {
                    ts,
                    session_id: sid.clone(),
                    phase: SessionPhase::Start,
                    status: None,
                    duration_ms: 0,
                    foreground_ms: 0,
                }));
                events.push(Event::Session(SessionEvent {
                    ts,
                    session_id: sid,
                    phase: SessionPhase::End,
                    status: Some(status),
                    duration_ms: 0,
                    foreground_ms: 0,
                }));
            }
        }
        // One batch per aggregate bucket and per 1000 events.
        for (c, chunk) in events.chunks(1000).enumerate() {
            let mut b = batch_for(
                ctx,
                doc,
                index,
                a.get("did").and_then(Value::as_str),
                chunk.to_vec(),
            );
            b.batch_id = format!("{}-{k}-{c}", b.batch_id);
            out.push(b);
        }
    }
    Ok(out)
}

fn category_for(host: &str, map: &BTreeMap<String, String>) -> ServiceCategory {
    let cat = map
        .iter()
        .filter(|(h, _)| host == h.as_str() || host.ends_with(&format!(".{h}")))
        .max_by_key(|(h, _)| h.len())
        .map(|(_, c)| c.as_str());
    match cat {
        Some("trade") => ServiceCategory::Trade,
        Some("quote") => ServiceCategory::Quote,
        Some("bus") => ServiceCategory::Bus,
        _ => ServiceCategory::Other,
    }
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    let host = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty()).then_some(host)
}

fn http_span(ctx: &MapCtx<'_>, url: &str, start: f64, end: f64, status: u64) -> Option<Event> {
    let host = host_of(url)?;
    Some(Event::Network(NetworkEvent {
        ts: (start * 1000.0) as i64,
        category: category_for(host, ctx.host_categories),
        site: id_safe(host, 128),
        latency_ms: ((end - start) * 1000.0).max(0.0) as u64,
        status: status.min(999) as u16,
        ip_family: IpFamily::Unknown,
    }))
}

/// A `transaction` → app-start measurements and HTTP client spans.
pub fn transaction(ctx: &MapCtx<'_>, index: usize, doc: &Value) -> Option<Batch> {
    let start = doc.get("start_timestamp").and_then(parse_ts).unwrap_or(0);
    let mut events = Vec::new();
    if let Some(v) = doc
        .pointer("/measurements/app_start_cold/value")
        .and_then(Value::as_f64)
    {
        events.push(Event::ColdStart(ColdStartEvent {
            ts: start,
            duration_ms: v.max(0.0) as u64,
            spans: vec![],
        }));
    }
    if let Some(v) = doc
        .pointer("/measurements/app_start_warm/value")
        .and_then(Value::as_f64)
    {
        events.push(Event::Custom(CustomEvent {
            ts: start,
            name: "app_start_warm".into(),
            kind: CustomKind::Timer,
            value: v,
        }));
    }
    for s in doc
        .get("spans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if str_at(s, &["op"]) != Some("http.client") {
            continue;
        }
        let url = str_at(s, &["data", "url"])
            .or_else(|| str_at(s, &["description"]).and_then(|d| d.split_whitespace().last()));
        let (Some(url), Some(a), Some(b)) = (
            url,
            s.get("start_timestamp").and_then(Value::as_f64),
            s.get("timestamp").and_then(Value::as_f64),
        ) else {
            continue;
        };
        let status = u64_at(s, &["data", "http.response.status_code"])
            .or_else(|| str_at(s, &["tags", "http.status_code"]).and_then(|c| c.parse().ok()))
            .unwrap_or(0);
        events.extend(http_span(ctx, url, a, b, status));
    }
    (!events.is_empty()).then(|| batch_for(ctx, doc, index, None, events))
}

/// A `span` item (span v2 container): HTTP client spans and app starts.
pub fn spans(ctx: &MapCtx<'_>, index: usize, doc: &Value) -> Option<Batch> {
    let attr = |s: &Value, k: &str| {
        s.get("attributes")
            .and_then(|a| a.get(k))
            .and_then(|v| v.get("value").cloned())
    };
    let mut events = Vec::new();
    let items = doc
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in &items {
        let op = attr(s, "sentry.op")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let (Some(a), Some(b)) = (
            s.get("start_timestamp").and_then(Value::as_f64),
            s.get("end_timestamp").and_then(Value::as_f64),
        ) else {
            continue;
        };
        if op == "http.client" {
            let url = attr(s, "url.full")
                .or_else(|| attr(s, "http.url"))
                .or_else(|| attr(s, "server.address"));
            let status = attr(s, "http.response.status_code")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            if let Some(url) = url.as_ref().and_then(Value::as_str) {
                events.extend(http_span(ctx, url, a, b, status));
            }
        } else if op == "app.start.cold" {
            events.push(Event::ColdStart(ColdStartEvent {
                ts: (a * 1000.0) as i64,
                duration_ms: ((b - a) * 1000.0).max(0.0) as u64,
                spans: vec![],
            }));
        }
    }
    (!events.is_empty()).then(|| batch_for(ctx, doc, index, None, events))
}

/// A `client_report` → (reason, category, quantity) outcomes.
pub fn client_report(doc: &Value) -> Vec<(String, String, u64)> {
    doc.get("discarded_events")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|e| {
                    (
                        short(str_at(e, &["reason"]).unwrap_or("unknown"), 64),
                        short(str_at(e, &["category"]).unwrap_or("unknown"), 64),
                        u64_at(e, &["quantity"]).unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_split_and_timestamps_parse() {
        assert_eq!(
            split_release("com.broker.app@5.3.0+530"),
            Release {
                version: "5.3.0".into(),
                build: "530".into()
            }
        );
        assert_eq!(
            split_release("demo@1.0.0"),
            Release {
                version: "1.0.0".into(),
                build: String::new()
            }
        );
        assert_eq!(
            split_release("2.0"),
            Release {
                version: "2.0".into(),
                build: String::new()
            }
        );
        assert_eq!(
            parse_ts(&serde_json::json!("2026-11-29T01:51:35.281867Z")),
            Some(1_795_917_095_281)
        );
        assert_eq!(
            parse_ts(&serde_json::json!(1795917188.225)),
            Some(1_795_917_188_225)
        );
    }

    #[test]
    fn hosts_map_to_categories_by_longest_suffix() {
        let m: BTreeMap<String, String> = [
            ("broker.cn".into(), "bus".into()),
            ("trade.broker.cn".into(), "trade".into()),
        ]
        .into();
        assert_eq!(
            category_for("api.trade.broker.cn", &m),
            ServiceCategory::Trade
        );
        assert_eq!(category_for("q.broker.cn", &m), ServiceCategory::Bus);
        assert_eq!(category_for("example.com", &m), ServiceCategory::Other);
        assert_eq!(host_of("https://u:p@[::1]:8443/x"), Some("::1"));
        assert_eq!(host_of("GET"), Some("GET"));
    }
}
