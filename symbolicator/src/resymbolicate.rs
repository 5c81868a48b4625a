//! Re-symbolication: which stored crashes an upload helps, and processing a
//! stored crash again from its raw form.
//!
//! The symbolicator keeps no crashes; the store does. The wiring is meant
//! to go like this:
//!
//! 1. At ingest, keep with every crash what the symbolicator said it lacks
//!    (`SymbolicatedCrash::missing`, or at least `missing_keys()` for an
//!    index) and its raw form ([`raw_form`]), since the stored threads are
//!    replaced by symbolicated ones.
//! 2. On upload, collect what arrived: [`Uploaded::add_meta`] for each
//!    stored file (e.g. from `DebugFileStore::on_upload`), or
//!    [`Uploaded::from_keys`] from `DebugFileMeta::keys()` strings.
//! 3. Find candidate crashes of the app by key (`missing_keys()` ∩ the
//!    upload's keys, or all crashes still `partial`), confirm each with
//!    [`Symbolicator::is_affected`] (exact: what the processor will find
//!    now), and re-run it with [`Symbolicator::resymbolicate`]. The result
//!    replaces the stored threads, fingerprint, status and missing list.
//!
//! Re-symbolication can change a fingerprint only where the new frames
//! read differently; callers that keep group ids should treat the new
//! fingerprint as authoritative (or merge via `merge_groups`).

use crate::detect::debug_id_key;
use crate::error::{Result, SymError};
use crate::model::{MissingFile, MissingKind, SymbolicatedCrash};
use crate::service::Symbolicator;
use crate::store::DebugFileMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;
use vitals_protocol::{CrashEvent, Thread};

/// Prefix of the raw form of a crash that arrived as frames (no payload):
/// the threads as sent, JSON.
pub const EVENT_FRAMES_PREFIX: &str = "vitals-frames:";

/// Identifiers of files just uploaded for one app, in the spellings
/// `MissingFile` uses (canonical debug ids, lower-case code ids, mapping
/// UUIDs; JS artifacts by release and URL or debug id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// Native debug ids.
    #[serde(default)]
    pub debug_ids: BTreeSet<String>,
    /// Native code ids (ELF build ids, Mach-O UUIDs, PE ids).
    #[serde(default)]
    pub code_ids: BTreeSet<String>,
    /// ProGuard/R8 mapping UUIDs.
    #[serde(default)]
    pub mapping_uuids: BTreeSet<String>,
    /// JS debug ids (source maps and scripts carrying one).
    #[serde(default)]
    pub js_debug_ids: BTreeSet<String>,
    /// JS artifacts by (release, URL): source maps and minified scripts.
    #[serde(default)]
    pub js_artifacts: BTreeSet<(String, String)>,
}

fn uuid_key(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim()).ok().map(|u| u.to_string())
}

impl Uploaded {
    /// Nothing uploaded.
    pub fn new() -> Self {
        Self::default()
    }

    /// The identifiers of the stored files `metas`.
    pub fn from_metas<'a>(metas: impl IntoIterator<Item = &'a DebugFileMeta>) -> Self {
        let mut u = Self::default();
        for m in metas {
            u.add_meta(m);
        }
        u
    }

    /// Adds the identifiers of one stored file.
    pub fn add_meta(&mut self, meta: &DebugFileMeta) {
        for o in &meta.objects {
            if let Some(d) = debug_id_key(&o.debug_id) {
                self.debug_ids.insert(d);
            }
            if let Some(c) = &o.code_id {
                self.code_ids.insert(c.to_ascii_lowercase());
            }
        }
        if let Some(u) = meta.mapping_uuid.as_deref().and_then(uuid_key) {
            self.mapping_uuids.insert(u);
        }
        if let Some(d) = meta.js_debug_id.as_deref().and_then(debug_id_key) {
            self.js_debug_ids.insert(d);
        }
        if let Some(url) = &meta.url {
            self.js_artifacts
                .insert((meta.release.clone().unwrap_or_default(), url.clone()));
        }
    }

    /// From lookup keys as `DebugFileMeta::keys` writes them (`debug:…`,
    /// `code:…`, `proguard:…`, `jsdebug:…`, `url:{release}:{url}`). Unknown
    /// or malformed keys are skipped. A release containing `:` cannot be
    /// told from its URL in a `url:` key; prefer [`Uploaded::add_meta`].
    pub fn from_keys<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> Self {
        let mut u = Self::default();
        for k in keys {
            let k = k.as_ref();
            let Some((kind, v)) = k.split_once(':') else {
                continue;
            };
            match kind {
                "debug" => u.debug_ids.extend(debug_id_key(v)),
                "code" if !v.is_empty() => {
                    u.code_ids.insert(v.to_ascii_lowercase());
                }
                "proguard" => u.mapping_uuids.extend(uuid_key(v)),
                "jsdebug" => u.js_debug_ids.extend(debug_id_key(v)),
                "url" => {
                    if let Some((release, url)) = v.split_once(':') {
                        u.js_artifacts
                            .insert((release.to_string(), url.to_string()));
                    }
                }
                _ => {}
            }
        }
        u
    }

    /// Nothing in it.
    pub fn is_empty(&self) -> bool {
        self.debug_ids.is_empty()
            && self.code_ids.is_empty()
            && self.mapping_uuids.is_empty()
            && self.js_debug_ids.is_empty()
            && self.js_artifacts.is_empty()
    }

    /// Whether this upload may supply `m`, by identifiers alone. A source
    /// map is reached through its script, its `sourceMappingURL` or a
    /// fuzzy URL match, so any JS artifact of the missing file's release
    /// counts.
    pub fn may_supply(&self, m: &MissingFile) -> bool {
        match m.kind {
            MissingKind::Native => {
                m.debug_id
                    .as_deref()
                    .and_then(debug_id_key)
                    .is_some_and(|d| self.debug_ids.contains(&d))
                    || m.code_id
                        .as_deref()
                        .is_some_and(|c| self.code_ids.contains(&c.to_ascii_lowercase()))
            }
            MissingKind::Proguard => m
                .debug_id
                .as_deref()
                .and_then(uuid_key)
                .is_some_and(|u| self.mapping_uuids.contains(&u)),
            MissingKind::SourceMap => {
                let release = m.release.as_deref().unwrap_or("");
                m.debug_id
                    .as_deref()
                    .and_then(debug_id_key)
                    .is_some_and(|d| self.js_debug_ids.contains(&d))
                    || self.js_artifacts.iter().any(|(r, _)| r == release)
            }
        }
    }
}

/// The raw form to store with a crash so that it can be re-symbolicated
/// after its threads were replaced by symbolicated ones: exactly what
/// `Symbolicator::symbolicate` read. That is the payload (`raw`) when the
/// event came with one and without threads, else the threads as sent,
/// behind [`EVENT_FRAMES_PREFIX`]. Store it in the crash's `raw` field
/// before the enricher replaces the threads; images are never rewritten
/// and are read from the stored event.
pub fn raw_form(ev: &CrashEvent) -> Option<String> {
    if ev.raw.is_some() && ev.threads.is_empty() {
        return ev.raw.clone();
    }
    if ev.threads.is_empty() {
        return None;
    }
    serde_json::to_string(&ev.threads)
        .ok()
        .map(|j| format!("{EVENT_FRAMES_PREFIX}{j}"))
}

fn not_reprocessable(reason: &str) -> SymError {
    SymError::BadPayload {
        kind: "stored crash",
        reason: reason.to_string(),
    }
}

/// The event `symbolicate` should see again for a stored crash.
fn input_of(stored: &CrashEvent) -> Result<CrashEvent> {
    let raw = stored
        .raw
        .as_deref()
        .ok_or_else(|| not_reprocessable("no raw form stored"))?;
    let mut input = stored.clone();
    input.fingerprint = None;
    input.notes.clear();
    if let Some(json) = raw.strip_prefix(EVENT_FRAMES_PREFIX) {
        input.threads = serde_json::from_str::<Vec<Thread>>(json)
            .map_err(|e| not_reprocessable(&format!("frames: {e}")))?;
        input.raw = None;
    } else if raw.starts_with("attachment:") {
        return Err(not_reprocessable(
            "attachment reference not resolved to its payload",
        ));
    } else {
        input.threads.clear();
    }
    Ok(input)
}

impl Symbolicator {
    /// The entries of `missing` (a stored crash's missing list) that the
    /// files in `uploaded` supply for `app` and that the store can now
    /// serve: the same lookups the processor makes (a native file with
    /// usable debug info or symbols by debug id or code id, a mapping by
    /// UUID, a source map matched to the script by debug id or URL).
    pub fn resolved_by<'c>(
        &self,
        app: &str,
        uploaded: &Uploaded,
        missing: &'c [MissingFile],
    ) -> Vec<&'c MissingFile> {
        missing
            .iter()
            .filter(|m| uploaded.may_supply(m) && self.can_serve(app, m))
            .collect()
    }

    /// Whether a crash stored for `app` with this outcome gets better from
    /// the upload `uploaded`: one of its missing files is now available.
    /// Cheap (index lookups only); call it per candidate crash.
    pub fn is_affected(&self, app: &str, uploaded: &Uploaded, crash: &SymbolicatedCrash) -> bool {
        !self.resolved_by(app, uploaded, &crash.missing).is_empty()
    }

    fn can_serve(&self, app: &str, m: &MissingFile) -> bool {
        match m.kind {
            MissingKind::Native => {
                let by_debug = m
                    .debug_id
                    .as_deref()
                    .and_then(debug_id_key)
                    .is_some_and(|d| self.native().best_file(app, &d).is_some());
                by_debug
                    || m.code_id.as_deref().is_some_and(|c| {
                        let c = c.to_ascii_lowercase();
                        self.store().by_code_id(app, &c).iter().any(|f| {
                            f.objects.iter().any(|o| {
                                o.code_id.as_deref() == Some(c.as_str())
                                    && self.native().best_file(app, &o.debug_id).is_some()
                            })
                        })
                    })
            }
            MissingKind::Proguard => m
                .debug_id
                .as_deref()
                .and_then(uuid_key)
                .is_some_and(|u| !self.store().by_mapping_uuid(app, &u).is_empty()),
            MissingKind::SourceMap => {
                let release = m.release.as_deref().unwrap_or("");
                let (_, map) =
                    self.js()
                        .resolve_frame(app, release, &m.name, m.debug_id.as_deref());
                map.is_some()
            }
        }
    }

    /// Symbolicates a stored crash again, on the calling thread, from its
    /// raw form: `stored.raw` as [`raw_form`] returned it at ingest, with
    /// an `attachment:` reference already resolved to its payload by the
    /// caller (`minidump:<base64>` or the report text). The stored threads
    /// (already symbolicated) are ignored; images are read from `stored`.
    ///
    /// Errors when there is nothing raw to start from (no `raw`, or an
    /// unresolved attachment reference); processing itself never fails, a
    /// crash that cannot be processed comes back `Status::Raw`.
    pub fn resymbolicate_blocking(
        &self,
        app: &str,
        release: Option<&str>,
        stored: &CrashEvent,
    ) -> Result<SymbolicatedCrash> {
        let input = input_of(stored)?;
        Ok(self.symbolicate_blocking(app, release, &input))
    }

    /// [`Symbolicator::resymbolicate_blocking`] on the symbolicator's pool,
    /// for async callers (same queueing and time budget as `symbolicate`).
    pub async fn resymbolicate(
        self: &Arc<Self>,
        app: &str,
        release: Option<&str>,
        stored: &CrashEvent,
    ) -> Result<SymbolicatedCrash> {
        let input = input_of(stored)?;
        Ok(self.symbolicate(app, release, &input).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(kind: MissingKind, id: Option<&str>, code: Option<&str>) -> MissingFile {
        MissingFile {
            kind,
            label: String::new(),
            debug_id: id.map(str::to_string),
            code_id: code.map(str::to_string),
            name: "x".into(),
            release: Some("1.0".into()),
            in_app: true,
        }
    }

    #[test]
    fn keys_round_trip_and_match() {
        let u = Uploaded::from_keys([
            "debug:67E9247C-814E-392B-A027-DBDE6748FCBF",
            "code:ABCDEF",
            "proguard:3828bd45-950f-5e77-9737-b6b3a1d80299",
            "url:1.0:https://cdn.example/app.js.map",
            "nonsense",
            "debug:not-an-id",
        ]);
        assert_eq!(u.debug_ids.len(), 1);
        assert!(u.may_supply(&missing(
            MissingKind::Native,
            Some("67e9247c814e392ba027dbde6748fcbf"),
            None
        )));
        assert!(u.may_supply(&missing(MissingKind::Native, None, Some("abcdef"))));
        assert!(!u.may_supply(&missing(MissingKind::Native, None, Some("abcde0"))));
        assert!(u.may_supply(&missing(
            MissingKind::Proguard,
            Some("3828BD45-950F-5E77-9737-B6B3A1D80299"),
            None
        )));
        assert!(u.may_supply(&missing(MissingKind::SourceMap, None, None)));
        let mut other = missing(MissingKind::SourceMap, None, None);
        other.release = Some("2.0".into());
        assert!(!u.may_supply(&other));
        assert!(Uploaded::new().is_empty() && !u.is_empty());
    }

    #[test]
    fn raw_forms() {
        let mut ev: CrashEvent = serde_json::from_value(serde_json::json!({
            "ts": 0, "crash_id": "c", "exception_type": "SIGSEGV",
            "threads": [{"id": 1, "crashed": true, "frames": [{"addr": "0x10"}]}]
        }))
        .expect("event");
        let form = raw_form(&ev).expect("frames form");
        assert!(form.starts_with(EVENT_FRAMES_PREFIX));
        // After enrichment the threads read differently; the raw form wins.
        ev.raw = Some(form);
        ev.threads[0].frames[0].function = Some("main".into());
        ev.threads[0].frames.push(Default::default());
        let input = input_of(&ev).expect("input");
        assert_eq!(input.threads[0].frames.len(), 1);
        assert_eq!(input.threads[0].frames[0].function, None);
        assert_eq!(input.raw, None);
        ev.raw = Some("attachment:minidump:a/b".into());
        assert!(input_of(&ev).is_err());
        ev.raw = None;
        assert!(input_of(&ev).is_err());
        ev.raw = Some("minidump:AAAA".into());
        assert!(input_of(&ev).expect("payload").threads.is_empty());
        // A payload read as such is its own raw form; with threads sent
        // alongside, the threads were read, so they are the raw form.
        assert!(raw_form(&ev).is_some_and(|f| f.starts_with(EVENT_FRAMES_PREFIX)));
        ev.threads.clear();
        assert_eq!(raw_form(&ev).as_deref(), Some("minidump:AAAA"));
    }
}
