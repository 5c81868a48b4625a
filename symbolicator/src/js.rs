//! JavaScript: source-map lookups (mini-programs, React Native incl. Hermes,
//! HarmonyOS ArkTS builds) with original file, line, column, function name
//! and context lines, through cached `SourceMapCache`s.

use crate::cache::{CacheKind, DerivedCaches};
use crate::detect::FileKind;
use crate::error::{Result, SymError};
use crate::store::{DebugFileMeta, DebugFileStore};
use serde::{Deserialize, Serialize};
use sourcemap::DecodedMap;
use std::sync::Arc;
use symbolic_common::ByteView;
use symbolic_sourcemapcache::{
    ScopeLookupResult, SourceMapCache, SourceMapCacheWriter, SourcePosition,
};

pub mod urls;

/// Lines of context around the looked-up line.
pub const CONTEXT_LINES: usize = 5;

/// One original location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsLocation {
    /// Original file name as in the map's `sources`.
    pub file: Option<String>,
    /// 0-based line in the original file.
    pub line: u32,
    /// 0-based column in the original file.
    pub col: u32,
    /// Enclosing original function (`None` for anonymous or unknown scope).
    pub function: Option<String>,
    /// `named`, `anonymous` or `unknown`.
    pub scope_kind: String,
    /// Original name token at the position.
    pub name: Option<String>,
    /// Lines before.
    pub pre_context: Vec<String>,
    /// The line.
    pub context_line: Option<String>,
    /// Lines after.
    pub post_context: Vec<String>,
}

/// The index of the first mapping that points before the start of its
/// source (a negative line or column delta), in `map` or its sections.
///
/// The decoder stores such a position as `u32::MAX` (its "absent" marker),
/// which no real toolchain emits: the Hermes scope lookup then overflows on
/// it (`get_src_line() + 1` in sourcemap 9.3.2: a panic with overflow checks,
/// a lookup of line 0 without) and any other lookup reports line 4294967296.
fn position_before_start(map: &DecodedMap) -> Option<usize> {
    let bad = |sm: &sourcemap::SourceMap| {
        sm.tokens().position(|t| {
            t.get_src_id() != u32::MAX
                && (t.get_src_line() == u32::MAX || t.get_src_col() == u32::MAX)
        })
    };
    match map {
        DecodedMap::Regular(sm) => bad(sm),
        DecodedMap::Hermes(hermes) => bad(hermes),
        DecodedMap::Index(index) => index
            .sections()
            .filter_map(|s| s.get_sourcemap())
            .find_map(position_before_start),
    }
}

/// Builds a SourceMapCache from a minified source (may be empty, e.g. for
/// Hermes bytecode) and its source map. A map with a mapping before the
/// start of its source is refused as corrupt.
pub fn build_sourcemapcache(minified: &str, map: &str) -> Result<Vec<u8>> {
    // Parse errors are left to the writer, which reports them itself.
    if let Ok(decoded) = sourcemap::decode_slice(map.as_bytes())
        && let Some(index) = position_before_start(&decoded)
    {
        return Err(SymError::Corrupt {
            kind: "sourcemap",
            id: String::new(),
            reason: format!("mapping {index} points before the start of its source"),
        });
    }
    let writer = SourceMapCacheWriter::new(minified, map).map_err(|e| SymError::Corrupt {
        kind: "sourcemap",
        id: String::new(),
        reason: e.to_string(),
    })?;
    let mut out = Vec::new();
    writer.serialize(&mut out).map_err(|e| SymError::Corrupt {
        kind: "sourcemap",
        id: String::new(),
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// Looks up a 0-based position of the minified file in SourceMapCache bytes.
pub fn lookup_in(bytes: &[u8], line: u32, col: u32) -> Result<Option<JsLocation>> {
    let cache = SourceMapCache::parse(bytes).map_err(|e| SymError::Corrupt {
        kind: "sourcemapcache",
        id: String::new(),
        reason: e.to_string(),
    })?;
    let Some(loc) = cache.lookup(SourcePosition::new(line, col)) else {
        return Ok(None);
    };
    let (function, scope_kind) = match loc.scope() {
        ScopeLookupResult::NamedScope(n) => (Some(n.to_string()), "named"),
        ScopeLookupResult::AnonymousScope => (None, "anonymous"),
        ScopeLookupResult::Unknown => (None, "unknown"),
    };
    let file = loc.file();
    let lno = loc.line() as usize;
    let ctx = |range: std::ops::Range<usize>| -> Vec<String> {
        range
            .filter_map(|i| file.and_then(|f| f.line(i)))
            .map(|l| l.trim_end_matches(['\n', '\r']).to_string())
            .collect()
    };
    Ok(Some(JsLocation {
        file: loc.file_name().map(str::to_string),
        line: loc.line(),
        col: loc.column(),
        function,
        scope_kind: scope_kind.to_string(),
        name: loc.name().map(str::to_string),
        pre_context: ctx(lno.saturating_sub(CONTEXT_LINES)..lno),
        context_line: loc
            .line_contents()
            .map(|l| l.trim_end_matches(['\n', '\r']).to_string()),
        post_context: ctx(lno + 1..lno + 1 + CONTEXT_LINES),
    }))
}

/// Source-map lookups over the store.
#[derive(Debug, Clone)]
pub struct JsSymbolizer {
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
}

impl JsSymbolizer {
    /// A JS symbolizer over `store`.
    pub fn new(store: Arc<DebugFileStore>, caches: Arc<DerivedCaches>) -> Self {
        JsSymbolizer { store, caches }
    }

    /// The newest upload of `kind` for `release` whose URL names `url`
    /// under the rules of [`urls`], the most specific match first. Nothing
    /// when no upload is proven to be that script (a shared file name is
    /// no proof).
    fn artifact(
        &self,
        app: &str,
        release: &str,
        url: &str,
        kind: FileKind,
    ) -> Option<Arc<DebugFileMeta>> {
        let exact = self
            .store
            .by_release_url(app, release, url)
            .into_iter()
            .find(|m| m.kind == kind);
        if exact.is_some() {
            return exact;
        }
        self.store
            .release_artifacts(app, release)
            .into_iter()
            .filter(|m| m.kind == kind)
            .filter_map(|m| {
                let rank = urls::match_rank(m.url.as_deref()?, url)?;
                Some((rank, m.uploaded_at_ms, m))
            })
            .max_by(|a, b| (a.0, a.1, &b.2.id).cmp(&(b.0, b.1, &a.2.id)))
            .map(|(_, _, m)| m)
    }

    /// Finds the minified file and source map for a script by URL (see
    /// [`JsSymbolizer::resolve_frame`]).
    pub fn resolve(
        &self,
        app: &str,
        release: &str,
        url: &str,
    ) -> (Option<Arc<DebugFileMeta>>, Option<Arc<DebugFileMeta>>) {
        self.resolve_frame(app, release, url, None)
    }

    /// Finds the minified file and source map for a script: by the
    /// frame's debug id when it has one and the map is stored, else by
    /// URL: the minified file uploaded for the URL, then its map by the
    /// minified file's debug id, its `sourceMappingURL` (relative to the
    /// minified file's upload URL) or `{url}.map`, each matched under the
    /// rules of [`urls`].
    pub fn resolve_frame(
        &self,
        app: &str,
        release: &str,
        url: &str,
        debug_id: Option<&str>,
    ) -> (Option<Arc<DebugFileMeta>>, Option<Arc<DebugFileMeta>>) {
        if let Some(id) = debug_id {
            let files = self.store.by_js_debug_id(app, id);
            let map = files
                .iter()
                .find(|f| f.kind == FileKind::SourceMap)
                .cloned();
            if map.is_some() {
                let minified = files
                    .iter()
                    .find(|f| f.kind == FileKind::MinifiedSource)
                    .cloned();
                return (minified, map);
            }
        }
        let minified = self.artifact(app, release, url, FileKind::MinifiedSource);
        let mut map = None;
        if let Some(m) = &minified {
            if let Some(id) = &m.js_debug_id {
                map = self
                    .store
                    .by_js_debug_id(app, id)
                    .into_iter()
                    .find(|f| f.kind == FileKind::SourceMap);
            }
            let base = m.url.as_deref().unwrap_or(url);
            if map.is_none()
                && let Some(smu) = &m.source_mapping_url
            {
                map = self.artifact(
                    app,
                    release,
                    &urls::resolve_relative(base, smu),
                    FileKind::SourceMap,
                );
            }
            if map.is_none() && base != url {
                map = self.artifact(app, release, &format!("{base}.map"), FileKind::SourceMap);
            }
        }
        if map.is_none() {
            map = self.artifact(app, release, &format!("{url}.map"), FileKind::SourceMap);
        }
        (minified, map)
    }

    /// Looks up a 1-based (line, col) of `url` in `release`. `Ok(None)`:
    /// no source map; `Ok(Some(None))`: the map does not cover it.
    pub fn lookup(
        &self,
        app: &str,
        release: &str,
        url: &str,
        line: u32,
        col: u32,
    ) -> Result<Option<Option<JsLocation>>> {
        self.lookup_frame(app, release, url, None, line, col)
    }

    /// [`JsSymbolizer::lookup`] for a frame whose script may carry a debug
    /// id (the image the SDK sends for it).
    pub fn lookup_frame(
        &self,
        app: &str,
        release: &str,
        url: &str,
        debug_id: Option<&str>,
        line: u32,
        col: u32,
    ) -> Result<Option<Option<JsLocation>>> {
        let (minified, map) = self.resolve_frame(app, release, url, debug_id);
        let Some(map) = map else {
            return Ok(None);
        };
        let key = format!(
            "{}-{}",
            map.id,
            minified.as_ref().map(|m| m.id.as_str()).unwrap_or("none")
        );
        let view: Arc<ByteView<'static>> =
            self.caches
                .get_or_build(CacheKind::SourceMapCache, &key, || {
                    let map_bytes = self.store.open_file(&map)?;
                    let min_bytes = match &minified {
                        Some(m) => Some(self.store.open_file(m)?),
                        None => None,
                    };
                    let map_text = String::from_utf8_lossy(&map_bytes);
                    let min_text = min_bytes
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default();
                    build_sourcemapcache(&min_text, &map_text)
                })?;
        Ok(Some(lookup_in(
            &view,
            line.saturating_sub(1),
            col.saturating_sub(1),
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (fuzz/regressions/sourcemap_intake/): a Hermes map
    /// whose one mapping has original line -1 panicked in sourcemap's scope
    /// lookup (`attempt to add with overflow`), killing the worker.
    #[test]
    fn mapping_before_start_of_source_is_corrupt() {
        let hermes = r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AADA","x_facebook_sources":[[{"names":["<global>"],"mappings":"AAA"}]]}"#;
        let e = build_sourcemapcache("", hermes).unwrap_err();
        assert!(
            matches!(&e, SymError::Corrupt { kind: "sourcemap", reason, .. } if reason.contains("before the start")),
            "{e}"
        );
        // Column -1, plain map, and inside an index map.
        let plain = r#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAD"}"#;
        assert!(build_sourcemapcache("x", plain).is_err());
        let index = format!(
            r#"{{"version":3,"sections":[{{"offset":{{"line":0,"column":0}},"map":{plain}}}]}}"#
        );
        assert!(build_sourcemapcache("x", &index).is_err());
        // The same maps with line and column 0 are fine.
        let ok = hermes.replace("AADA", "AAAA");
        let cache = build_sourcemapcache("", &ok).expect("valid map");
        assert!(lookup_in(&cache, 0, 0).unwrap().is_some());
    }
}
