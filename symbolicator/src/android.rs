//! Android: ProGuard/R8 retrace (inlined and outlined frames, rewrite rules)
//! through a cached `ProguardCache` index; tombstones are parsed in
//! [`crate::tombstone`].

use crate::cache::{CacheKind, DerivedCaches};
use crate::error::{Result, SymError};
use crate::raw::RawCrash;
use crate::store::DebugFileStore;
use crate::tombstone;
use proguard::{ProguardCache, ProguardMapping, StackFrame};
use std::sync::Arc;
use symbolic_common::ByteView;

/// Builds the ProGuard index (cache) of a mapping file.
pub fn build_proguard_cache(mapping: &[u8]) -> Result<Vec<u8>> {
    let mapping = ProguardMapping::new(mapping);
    let mut out = Vec::new();
    ProguardCache::write(&mapping, &mut out).map_err(|e| SymError::Corrupt {
        kind: "proguard",
        id: String::new(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// Parses an index built by `build_proguard_cache`.
pub fn parse_cache(bytes: &[u8]) -> Result<ProguardCache<'_>> {
    ProguardCache::parse(bytes).map_err(|e| SymError::Corrupt {
        kind: "proguard-cache",
        id: String::new(),
        reason: e.to_string(),
    })
}

/// Retraces a whole Java stack trace text (exception line, `at …` frames,
/// `Caused by:` sections) with a mapping index.
pub fn retrace_text(cache: &ProguardCache<'_>, input: &str) -> Result<String> {
    cache
        .remap_stacktrace(input)
        .map_err(|e| SymError::Internal(format!("retrace: {e}")))
}

/// One retraced frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraced {
    /// Original class.
    pub class: String,
    /// Original method.
    pub method: String,
    /// Source file.
    pub file: Option<String>,
    /// Line (0 = unknown).
    pub line: u32,
}

/// State carried across the frames of one thread (outline positions,
/// rewrite rules that apply only right after the exception).
#[derive(Debug, Default)]
pub struct RetraceState {
    outline_pos: Option<usize>,
    first: bool,
    descriptor: Option<String>,
}

impl RetraceState {
    /// State for a thread whose exception class (already retraced) is `exception`.
    pub fn new(exception: Option<&str>) -> Self {
        RetraceState {
            outline_pos: None,
            first: exception.is_some(),
            descriptor: exception.map(|c| format!("L{};", c.replace('.', "/"))),
        }
    }
}

/// Retraces one frame. `None`: an outline frame (drop it; its position is
/// carried to the next frame). `Some(vec![])`: no mapping for the class.
/// Several entries: an inline chain, innermost first.
pub fn retrace_frame(
    cache: &ProguardCache<'_>,
    state: &mut RetraceState,
    class: &str,
    method: &str,
    file: Option<&str>,
    line: Option<u32>,
) -> Option<Vec<Retraced>> {
    let line = line.unwrap_or(0) as usize;
    let frame = match file {
        Some(f) => StackFrame::with_file(class, method, line, f),
        None => StackFrame::new(class, method, line),
    };
    let iter = cache.remap_frame_with_context(
        &frame,
        state.descriptor.as_deref(),
        state.first,
        &mut state.outline_pos,
    )?;
    state.first = false;
    Some(
        iter.map(|f| Retraced {
            class: f.class().to_string(),
            method: f.method().to_string(),
            file: f.file().map(str::to_string),
            line: f.line().unwrap_or(0) as u32,
        })
        .collect(),
    )
}

/// Retraces an exception class name (`a.b` → `com.example.MyException`).
pub fn retrace_class(cache: &ProguardCache<'_>, class: &str) -> Option<String> {
    cache.remap_class(class).map(str::to_string)
}

/// The ProGuard indexes of an app.
#[derive(Debug, Clone)]
pub struct Retracer {
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
}

impl Retracer {
    /// A retracer over `store`.
    pub fn new(store: Arc<DebugFileStore>, caches: Arc<DerivedCaches>) -> Self {
        Retracer { store, caches }
    }

    /// The index bytes of mapping `uuid`, built on first use.
    pub fn index(&self, app: &str, uuid: &str) -> Result<Option<Arc<ByteView<'static>>>> {
        let Some(meta) = self.store.by_mapping_uuid(app, uuid).into_iter().next() else {
            return Ok(None);
        };
        let view = self
            .caches
            .get_or_build(CacheKind::Proguard, &meta.id, || {
                let data = self.store.open_file(&meta)?;
                build_proguard_cache(&data).map_err(|e| match e {
                    SymError::Corrupt { kind, reason, .. } => SymError::Corrupt {
                        kind,
                        id: meta.id.clone(),
                        reason,
                    },
                    e => e,
                })
            })?;
        Ok(Some(view))
    }
}

/// Parses an Android tombstone (`debuggerd` output) into the raw form (see
/// [`crate::tombstone`] for the parsed details: signal, fault address,
/// abort message, every thread).
pub fn parse_tombstone(text: &str) -> Result<RawCrash> {
    Ok(tombstone::parse(text)?.to_raw())
}
