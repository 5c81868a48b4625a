//! Decoding and validation of a batch against named, configurable limits.
//! Every rejection names the JSON path of the offending value and a reason
//! from the message catalogue.

use crate::{Batch, Event, PROTOCOL_VERSION, SessionPhase};
use serde::{Deserialize, Serialize};
use vitals_i18n::{Lang, Msg};

/// Every ingest limit, each a named config value (`[limits]` in the config
/// file). Defaults follow the protocol documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body as sent (compressed), bytes.
    pub max_body_bytes: usize,
    /// Largest body after decompression, bytes.
    pub max_decompressed_bytes: usize,
    /// Most events in one batch.
    pub max_events: usize,
    /// Longest identifier (batch, install, session, crash, patch, site ids).
    pub max_id_len: usize,
    /// Longest short text (model, OS version, ABI, release, exception type…).
    pub max_short_len: usize,
    /// Longest crash message.
    pub max_message_len: usize,
    /// Longest raw crash payload.
    pub max_raw_len: usize,
    /// Most threads, frames per thread, images, spans or ABI entries.
    pub max_list_items: usize,
    /// Oldest event accepted (late data), days before server time.
    pub max_event_age_days: u32,
    /// Furthest an event may lie ahead of server time, seconds.
    pub max_future_skew_secs: u32,
    /// Longest duration or latency accepted, milliseconds.
    pub max_duration_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 20,
            max_events: 1000,
            max_id_len: 128,
            max_short_len: 256,
            max_message_len: 8 * 1024,
            max_raw_len: 256 * 1024,
            max_list_items: 512,
            max_event_age_days: 30,
            max_future_skew_secs: 600,
            max_duration_ms: 24 * 3600 * 1000,
        }
    }
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ValidationKind {
    /// The JSON does not match the schema (serde's own reason).
    Malformed(String),
    UnsupportedVersion(u32),
    TooManyEvents {
        count: usize,
        limit: usize,
    },
    NoEvents,
    StringTooLong {
        len: usize,
        limit: usize,
    },
    Empty,
    BadId,
    TooOld {
        max_days: u32,
    },
    InFuture {
        skew_secs: i64,
        max: u32,
    },
    OutOfRange {
        value: f64,
        min: f64,
        max: f64,
    },
    TooManyItems {
        count: usize,
        limit: usize,
    },
    /// A crash event both `handled` and `fatal`: a crash is a forced exit
    /// (the standard, clause 3.2), so an error the app caught is never one.
    FatalHandled,
    StatusOnStart(&'static str),
    /// A character that has no place in the field: a control character
    /// (NUL, CR, LF…) or a bidirectional override in an identifier or label,
    /// or NUL anywhere; `+` in a release version, where it would read as
    /// the start of the build. `code` is the code point, `at` its
    /// character index.
    ForbiddenChar {
        code: u32,
        at: usize,
    },
}

/// A rejected batch: where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {kind:?}")]
pub struct ValidationError {
    /// JSON path, e.g. `events[3].ts`; `.` for the whole document.
    pub path: String,
    pub kind: ValidationKind,
}

impl ValidationError {
    fn at(path: impl Into<String>, kind: ValidationKind) -> Self {
        ValidationError {
            path: path.into(),
            kind,
        }
    }

    /// Whether the body could not be decoded at all (as opposed to a value
    /// that decoded but broke a rule).
    pub fn is_malformed(&self) -> bool {
        matches!(self.kind, ValidationKind::Malformed(_))
    }

    /// The reason alone, in `lang`.
    pub fn reason(&self, lang: Lang) -> String {
        use ValidationKind::*;
        match &self.kind {
            Malformed(r) => r.clone(),
            UnsupportedVersion(v) => Msg::ValUnsupportedVersion
                .render(lang, &[("version", v), ("supported", &PROTOCOL_VERSION)]),
            TooManyEvents { count, limit } => {
                Msg::ValTooManyEvents.render(lang, &[("count", count), ("limit", limit)])
            }
            NoEvents => Msg::ValNoEvents.text(lang),
            StringTooLong { len, limit } => {
                Msg::ValStringTooLong.render(lang, &[("len", len), ("limit", limit)])
            }
            Empty => Msg::ValEmpty.text(lang),
            BadId => Msg::ValBadId.text(lang),
            TooOld { max_days } => Msg::ValTooOld.render(lang, &[("max_days", max_days)]),
            InFuture { skew_secs, max } => {
                Msg::ValInFuture.render(lang, &[("skew", skew_secs), ("max", max)])
            }
            OutOfRange { value, min, max } => {
                Msg::ValOutOfRange.render(lang, &[("value", value), ("min", min), ("max", max)])
            }
            TooManyItems { count, limit } => {
                Msg::ValTooManyItems.render(lang, &[("count", count), ("limit", limit)])
            }
            FatalHandled => Msg::ValFatalHandled.text(lang),
            StatusOnStart(s) => Msg::ValSessionStatusOnStart.render(lang, &[("status", s)]),
            ForbiddenChar { code, at } => Msg::ValForbiddenChar.render(
                lang,
                &[("code", &format!("U+{code:04X}")), ("at", &(at + 1))],
            ),
        }
    }

    /// The full message (path and reason) in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        let msg = if self.is_malformed() {
            Msg::RequestMalformed
        } else {
            Msg::RequestInvalid
        };
        msg.render(
            lang,
            &[("path", &self.path), ("reason", &self.reason(lang))],
        )
    }
}

/// Decodes a batch from JSON bytes, naming the JSON path of the first error.
pub fn decode(body: &[u8]) -> Result<Batch, ValidationError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ValidationError::at(path, ValidationKind::Malformed(inner.to_string()))
    })
}

/// Checks a decoded batch against `limits`; `now_ms` is server time.
pub fn validate(batch: &Batch, limits: &Limits, now_ms: i64) -> Result<(), ValidationError> {
    let v = Checker { limits, now_ms };
    if batch.v != PROTOCOL_VERSION {
        return Err(ValidationError::at(
            "v",
            ValidationKind::UnsupportedVersion(batch.v),
        ));
    }
    v.id("batch_id", &batch.batch_id)?;
    v.id("app_id", &batch.app_id)?;
    v.id("install_id", &batch.install_id)?;
    v.short("release.version", &batch.release.version, false)?;
    // `+` joins version and build in a release's label (`5.2.0+520013`, as
    // the API, the dashboard and `vitals gate` take it), so a version
    // holding one could be stored but never addressed (issue #22).
    if let Some(at) = batch.release.version.chars().position(|c| c == '+') {
        return Err(ValidationError::at(
            "release.version",
            ValidationKind::ForbiddenChar {
                code: '+' as u32,
                at,
            },
        ));
    }
    v.short("release.build", &batch.release.build, true)?;
    v.short("device.model", &batch.device.model, false)?;
    v.short("device.os_version", &batch.device.os_version, false)?;
    v.short("device.abi", &batch.device.abi, true)?;
    v.short("network.carrier", &batch.network.carrier, true)?;
    if let Some(env) = &batch.environment {
        v.short("environment", env, true)?;
    }
    if let Some(u) = &batch.user_id {
        v.short("user_id", u, false)?;
    }
    if let Some(d) = &batch.device.device_id {
        v.short("device.device_id", d, false)?;
    }
    v.range(
        "device.screen.density",
        batch.device.screen.density as f64,
        0.0,
        10.0,
    )?;
    if batch.events.is_empty() {
        return Err(ValidationError::at("events", ValidationKind::NoEvents));
    }
    if batch.events.len() > limits.max_events {
        return Err(ValidationError::at(
            "events",
            ValidationKind::TooManyEvents {
                count: batch.events.len(),
                limit: limits.max_events,
            },
        ));
    }
    for (i, ev) in batch.events.iter().enumerate() {
        v.event(&format!("events[{i}]"), ev)?;
    }
    Ok(())
}

/// Whether `c` is refused in labels and identifiers: every control character
/// (C0, DEL, C1) and the Unicode bidirectional controls and line separators.
pub fn forbidden_in_label(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

struct Checker<'a> {
    limits: &'a Limits,
    now_ms: i64,
}

impl Checker<'_> {
    fn len(
        &self,
        path: &str,
        s: &str,
        limit: usize,
        allow_empty: bool,
    ) -> Result<(), ValidationError> {
        if s.is_empty() && !allow_empty {
            return Err(ValidationError::at(path, ValidationKind::Empty));
        }
        if s.len() > limit {
            return Err(ValidationError::at(
                path,
                ValidationKind::StringTooLong {
                    len: s.len(),
                    limit,
                },
            ));
        }
        if let Some(at) = s.chars().position(|c| c == '\0') {
            return Err(ValidationError::at(
                path,
                ValidationKind::ForbiddenChar { code: 0, at },
            ));
        }
        Ok(())
    }

    /// A short label or identifier (version, build, model, fingerprint…):
    /// no control characters and no bidirectional controls, which could
    /// break a query, a log line or an e-mail subject, or make a page show
    /// another value than the one stored.
    fn short(&self, path: &str, s: &str, allow_empty: bool) -> Result<(), ValidationError> {
        self.len(path, s, self.limits.max_short_len, allow_empty)?;
        if let Some((at, c)) = s.chars().enumerate().find(|(_, c)| forbidden_in_label(*c)) {
            return Err(ValidationError::at(
                path,
                ValidationKind::ForbiddenChar { code: c as u32, at },
            ));
        }
        Ok(())
    }

    fn id(&self, path: &str, s: &str) -> Result<(), ValidationError> {
        self.len(path, s, self.limits.max_id_len, false)?;
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
        {
            return Err(ValidationError::at(path, ValidationKind::BadId));
        }
        Ok(())
    }

    fn opt_id(&self, path: &str, s: &str) -> Result<(), ValidationError> {
        if s.is_empty() {
            Ok(())
        } else {
            self.id(path, s)
        }
    }

    fn range(&self, path: &str, value: f64, min: f64, max: f64) -> Result<(), ValidationError> {
        if !(min..=max).contains(&value) {
            return Err(ValidationError::at(
                path,
                ValidationKind::OutOfRange { value, min, max },
            ));
        }
        Ok(())
    }

    fn duration(&self, path: &str, ms: u64) -> Result<(), ValidationError> {
        self.range(path, ms as f64, 0.0, self.limits.max_duration_ms as f64)
    }

    fn items(&self, path: &str, count: usize) -> Result<(), ValidationError> {
        if count > self.limits.max_list_items {
            return Err(ValidationError::at(
                path,
                ValidationKind::TooManyItems {
                    count,
                    limit: self.limits.max_list_items,
                },
            ));
        }
        Ok(())
    }

    fn ts(&self, path: &str, ts: i64) -> Result<(), ValidationError> {
        let oldest = self.now_ms - i64::from(self.limits.max_event_age_days) * 86_400_000;
        if ts < oldest {
            return Err(ValidationError::at(
                path,
                ValidationKind::TooOld {
                    max_days: self.limits.max_event_age_days,
                },
            ));
        }
        let skew_secs = (ts - self.now_ms) / 1000;
        if skew_secs > i64::from(self.limits.max_future_skew_secs) {
            return Err(ValidationError::at(
                path,
                ValidationKind::InFuture {
                    skew_secs,
                    max: self.limits.max_future_skew_secs,
                },
            ));
        }
        Ok(())
    }

    fn event(&self, p: &str, ev: &Event) -> Result<(), ValidationError> {
        self.ts(&format!("{p}.ts"), ev.ts())?;
        match ev {
            Event::Session(s) => {
                self.id(&format!("{p}.session_id"), &s.session_id)?;
                if s.phase == SessionPhase::Start
                    && let Some(st) = s.status
                {
                    return Err(ValidationError::at(
                        format!("{p}.status"),
                        ValidationKind::StatusOnStart(st.as_str()),
                    ));
                }
                self.duration(&format!("{p}.duration_ms"), s.duration_ms)?;
                self.duration(&format!("{p}.foreground_ms"), s.foreground_ms)
            }
            Event::Crash(c) => {
                self.id(&format!("{p}.crash_id"), &c.crash_id)?;
                if c.fatal && c.handled {
                    return Err(ValidationError::at(
                        format!("{p}.fatal"),
                        ValidationKind::FatalHandled,
                    ));
                }
                if let Some(s) = &c.session_id {
                    self.id(&format!("{p}.session_id"), s)?;
                }
                self.short(&format!("{p}.exception_type"), &c.exception_type, false)?;
                self.len(
                    &format!("{p}.message"),
                    &c.message,
                    self.limits.max_message_len,
                    true,
                )?;
                if let Some(raw) = &c.raw {
                    self.len(&format!("{p}.raw"), raw, self.limits.max_raw_len, true)?;
                }
                if let Some(f) = &c.fingerprint {
                    self.short(&format!("{p}.fingerprint"), f, true)?;
                }
                self.items(&format!("{p}.notes"), c.notes.len())?;
                self.items(&format!("{p}.threads"), c.threads.len())?;
                self.items(&format!("{p}.images"), c.images.len())?;
                for (t, th) in c.threads.iter().enumerate() {
                    self.items(&format!("{p}.threads[{t}].frames"), th.frames.len())?;
                    for (f, fr) in th.frames.iter().enumerate() {
                        let fp = format!("{p}.threads[{t}].frames[{f}]");
                        for (name, val) in [
                            ("addr", &fr.addr),
                            ("function", &fr.function),
                            ("module", &fr.module),
                            ("file", &fr.file),
                        ] {
                            if let Some(val) = val {
                                self.len(
                                    &format!("{fp}.{name}"),
                                    val,
                                    self.limits.max_short_len * 4,
                                    true,
                                )?;
                            }
                        }
                    }
                }
                for (i, im) in c.images.iter().enumerate() {
                    let ip = format!("{p}.images[{i}]");
                    self.short(&format!("{ip}.debug_id"), &im.debug_id, true)?;
                    self.len(
                        &format!("{ip}.name"),
                        &im.name,
                        self.limits.max_short_len * 4,
                        true,
                    )?;
                }
                Ok(())
            }
            Event::ColdStart(c) => {
                self.duration(&format!("{p}.duration_ms"), c.duration_ms)?;
                self.items(&format!("{p}.spans"), c.spans.len())?;
                for (i, s) in c.spans.iter().enumerate() {
                    self.short(&format!("{p}.spans[{i}].name"), &s.name, false)?;
                    self.duration(&format!("{p}.spans[{i}].duration_ms"), s.duration_ms)?;
                }
                Ok(())
            }
            Event::Perf(s) => {
                if let Some(c) = s.cpu_pct {
                    self.range(&format!("{p}.cpu_pct"), c, 0.0, 6400.0)?;
                }
                if let Some(m) = s.memory_mb {
                    self.range(&format!("{p}.memory_mb"), m, 0.0, 1_048_576.0)?;
                }
                Ok(())
            }
            Event::Install(i) => {
                self.duration(&format!("{p}.duration_ms"), i.duration_ms)?;
                self.items(&format!("{p}.abi_split"), i.abi_split.len())?;
                for (k, a) in i.abi_split.iter().enumerate() {
                    self.short(&format!("{p}.abi_split[{k}].abi"), &a.abi, false)?;
                }
                Ok(())
            }
            Event::Network(n) => {
                self.opt_id(&format!("{p}.site"), &n.site)?;
                self.duration(&format!("{p}.latency_ms"), n.latency_ms)
            }
            Event::HotUpdate(h) => {
                self.id(&format!("{p}.patch_id"), &h.patch_id)?;
                self.short(&format!("{p}.error_code"), &h.error_code, true)
            }
            Event::UpgradePrompt(u) => {
                self.short(&format!("{p}.target_version"), &u.target_version, false)?;
                self.short(&format!("{p}.placement"), &u.placement, true)
            }
            Event::Custom(c) => {
                self.short(&format!("{p}.name"), &c.name, false)?;
                if !c.value.is_finite() {
                    return Err(ValidationError::at(
                        format!("{p}.value"),
                        ValidationKind::OutOfRange {
                            value: c.value,
                            min: f64::MIN,
                            max: f64::MAX,
                        },
                    ));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests;
