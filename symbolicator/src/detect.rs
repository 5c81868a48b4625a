//! What an uploaded file is, and the identifiers it is looked up by.
//!
//! Native objects are recognised with `symbolic-debuginfo` (`Archive::peek`
//! and a full parse for ids and features), ProGuard/R8 mappings with the
//! `proguard` crate (whose mapping UUID is the one Sentry's tools compute),
//! source maps by their JSON keys, minified scripts by name and trailer
//! comments.

use serde::{Deserialize, Serialize};
use symbolic_common::DebugId;
use symbolic_debuginfo::{Archive, FileFormat};

/// The kind of a stored debug file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Mach-O (dSYM companion or executable), possibly fat.
    MachO,
    /// ELF, e.g. Android NDK / HarmonyOS `.so` or a split `.debug`.
    Elf,
    /// Windows PDB.
    Pdb,
    /// Windows PE executable.
    Pe,
    /// Breakpad text symbols (`.sym`).
    Breakpad,
    /// WebAssembly module.
    Wasm,
    /// Portable PDB (.NET).
    PortablePdb,
    /// Source bundle zip (sources for native files).
    SourceBundle,
    /// ProGuard / R8 `mapping.txt`.
    Proguard,
    /// JavaScript source map (regular, indexed, Hermes/Metro).
    SourceMap,
    /// A minified / bundled script the source maps apply to.
    MinifiedSource,
}

impl FileKind {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::MachO => "macho",
            FileKind::Elf => "elf",
            FileKind::Pdb => "pdb",
            FileKind::Pe => "pe",
            FileKind::Breakpad => "breakpad",
            FileKind::Wasm => "wasm",
            FileKind::PortablePdb => "portablepdb",
            FileKind::SourceBundle => "sourcebundle",
            FileKind::Proguard => "proguard",
            FileKind::SourceMap => "sourcemap",
            FileKind::MinifiedSource => "minified_source",
        }
    }

    /// Whether this kind holds native objects (looked up by debug id).
    pub fn is_native(self) -> bool {
        !matches!(
            self,
            FileKind::Proguard | FileKind::SourceMap | FileKind::MinifiedSource
        )
    }
}

/// One object inside a native file (a fat Mach-O holds several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Debug id, `DebugId`'s canonical string (`uuid` or `uuid-appendix`).
    pub debug_id: String,
    /// Code id (ELF build id, Mach-O UUID, PE timestamp+size), lower-case hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    /// CPU architecture name (`arm64`, `x86_64`, …).
    pub arch: String,
    /// `debug`, `executable`, `library`, `dump`, `relocatable`, `sources`, `other`.
    pub object_kind: String,
    /// Has DWARF / PDB line information.
    pub has_debug_info: bool,
    /// Has call-frame information for stack walking.
    pub has_unwind_info: bool,
    /// Has a symbol table.
    pub has_symbols: bool,
    /// Embeds sources.
    pub has_sources: bool,
}

/// What detection found out about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The kind.
    pub kind: FileKind,
    /// Objects (native kinds only).
    pub objects: Vec<ObjectInfo>,
    /// ProGuard mapping UUID (v5, computed the way Sentry's tools do).
    pub mapping_uuid: Option<String>,
    /// JS debug id (`debugId` in a map, `//# debugId=` in a script).
    pub js_debug_id: Option<String>,
    /// `//# sourceMappingURL=` of a minified script.
    pub source_mapping_url: Option<String>,
}

/// Parses a debug id in any of the common spellings: UUID (with or without
/// hyphens, any case), `uuid-appendix`, or Breakpad's 33/40 hex digits.
pub fn parse_debug_id(s: &str) -> Option<DebugId> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<DebugId>()
        .ok()
        .or_else(|| DebugId::from_breakpad(s).ok())
        .filter(|id| !id.is_nil())
}

/// Canonical key of a debug id string, or `None` when it does not parse.
pub fn debug_id_key(s: &str) -> Option<String> {
    parse_debug_id(s).map(|id| id.to_string())
}

const SCRIPT_EXTENSIONS: &[&str] = &[".js", ".mjs", ".cjs", ".bundle", ".jsbundle", ".ets.js"];

/// Detects the kind of `data`, named `name` (only used for scripts, which
/// have no magic).
pub fn detect(data: &[u8], name: &str) -> Option<Detected> {
    match Archive::peek(data) {
        FileFormat::Unknown => {}
        format => return detect_native(data, format),
    }
    if let Some(d) = detect_sourcemap(data) {
        return Some(d);
    }
    if let Some(d) = detect_proguard(data) {
        return Some(d);
    }
    detect_script(data, name)
}

fn detect_native(data: &[u8], format: FileFormat) -> Option<Detected> {
    let kind = match format {
        FileFormat::Breakpad => FileKind::Breakpad,
        FileFormat::Elf => FileKind::Elf,
        FileFormat::MachO => FileKind::MachO,
        FileFormat::Pdb => FileKind::Pdb,
        FileFormat::Pe => FileKind::Pe,
        FileFormat::SourceBundle => FileKind::SourceBundle,
        FileFormat::Wasm => FileKind::Wasm,
        FileFormat::PortablePdb => FileKind::PortablePdb,
        FileFormat::Unknown => return None,
    };
    let archive = match Archive::parse(data) {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!(error = %e, format = format.name(), "object peeked but does not parse");
            return None;
        }
    };
    let mut objects = Vec::new();
    for object in archive.objects() {
        let object = match object {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!(error = %e, "skipping unparsable object in archive");
                continue;
            }
        };
        let debug_id = object.debug_id();
        if debug_id.is_nil() {
            continue;
        }
        objects.push(ObjectInfo {
            debug_id: debug_id.to_string(),
            code_id: object.code_id().map(|c| c.as_str().to_ascii_lowercase()),
            arch: object.arch().name().to_string(),
            object_kind: object.kind().name().to_string(),
            has_debug_info: object.has_debug_info(),
            has_unwind_info: object.has_unwind_info(),
            has_symbols: object.has_symbols(),
            has_sources: object.has_sources(),
        });
    }
    if objects.is_empty() {
        return None;
    }
    Some(Detected {
        kind,
        objects,
        mapping_uuid: None,
        js_debug_id: None,
        source_mapping_url: None,
    })
}

fn detect_sourcemap(data: &[u8]) -> Option<Detected> {
    // A `)]}'` XSSI prefix line may precede the JSON.
    let body = match data.strip_prefix(b")]}'") {
        Some(rest) => rest.splitn(2, |b| *b == b'\n').nth(1).unwrap_or(&[]),
        None => data,
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        mappings: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        sections: Option<serde::de::IgnoredAny>,
        #[serde(default, alias = "debugId")]
        debug_id: Option<String>,
    }
    let probe: Probe = serde_json::from_slice(body).ok()?;
    if probe.mappings.is_none() && probe.sections.is_none() {
        return None;
    }
    Some(Detected {
        kind: FileKind::SourceMap,
        objects: Vec::new(),
        mapping_uuid: None,
        js_debug_id: probe.debug_id.as_deref().and_then(debug_id_key),
        source_mapping_url: None,
    })
}

fn detect_proguard(data: &[u8]) -> Option<Detected> {
    // Reject binary data early: mappings are text.
    if data.iter().take(4096).any(|b| *b == 0) {
        return None;
    }
    let mapping = proguard::ProguardMapping::new(data);
    if !mapping.is_valid() {
        return None;
    }
    // `is_valid` accepts a file of comments; require one class line.
    let has_class = mapping
        .iter()
        .take(64)
        .any(|r| matches!(r, Ok(proguard::ProguardRecord::Class { .. })));
    if !has_class {
        return None;
    }
    Some(Detected {
        kind: FileKind::Proguard,
        objects: Vec::new(),
        mapping_uuid: Some(mapping.uuid().to_string()),
        js_debug_id: None,
        source_mapping_url: None,
    })
}

fn detect_script(data: &[u8], name: &str) -> Option<Detected> {
    let text = std::str::from_utf8(data).ok()?;
    let lower = name.to_ascii_lowercase();
    let tail = &text[text.len().saturating_sub(4096)..];
    let tail = if text.is_char_boundary(text.len().saturating_sub(4096)) {
        tail
    } else {
        text
    };
    let source_mapping_url = trailer(tail, "sourceMappingURL=");
    let js_debug_id = trailer(tail, "debugId=").and_then(|s| debug_id_key(&s));
    let by_name = SCRIPT_EXTENSIONS.iter().any(|e| lower.ends_with(e));
    if !by_name && source_mapping_url.is_none() && js_debug_id.is_none() {
        return None;
    }
    Some(Detected {
        kind: FileKind::MinifiedSource,
        objects: Vec::new(),
        mapping_uuid: None,
        js_debug_id,
        source_mapping_url,
    })
}

/// The value of the last `//# key=value` (or `//@`) trailer comment.
fn trailer(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let l = line.trim();
        let rest = l.strip_prefix("//#").or_else(|| l.strip_prefix("//@"))?;
        let v = rest.trim_start().strip_prefix(key)?.trim();
        (!v.is_empty()).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_ids_in_all_spellings() {
        let a = debug_id_key("67E9247C-814E-392B-A027-DBDE6748FCBF");
        let b = debug_id_key("67e9247c814e392ba027dbde6748fcbf");
        let c = debug_id_key("67E9247C814E392BA027DBDE6748FCBF0");
        assert_eq!(a.as_deref(), Some("67e9247c-814e-392b-a027-dbde6748fcbf"));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(
            debug_id_key("3249D99D0C4049318610F4E4FB0B69361").as_deref(),
            Some("3249d99d-0c40-4931-8610-f4e4fb0b6936-1")
        );
        assert_eq!(debug_id_key("not an id"), None);
        assert_eq!(debug_id_key("00000000-0000-0000-0000-000000000000"), None);
    }

    #[test]
    fn scripts_and_maps() {
        let js = b"!function(){}();\n//# sourceMappingURL=app.js.map\n//# debugId=67e9247c-814e-392b-a027-dbde6748fcbf\n";
        let d = detect(js, "app.js").expect("script");
        assert_eq!(d.kind, FileKind::MinifiedSource);
        assert_eq!(d.source_mapping_url.as_deref(), Some("app.js.map"));
        assert!(d.js_debug_id.is_some());
        let map = br#"{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA","debugId":"67e9247c-814e-392b-a027-dbde6748fcbf"}"#;
        let d = detect(map, "x").expect("map");
        assert_eq!(d.kind, FileKind::SourceMap);
        assert_eq!(
            d.js_debug_id,
            debug_id_key("67e9247c814e392ba027dbde6748fcbf")
        );
        assert_eq!(detect(b"hello world", "readme.txt"), None);
        assert_eq!(detect(br#"{"a":1}"#, "x.json"), None);
    }

    #[test]
    fn proguard_mapping() {
        let m = b"com.example.Foo -> a.a:\n    void bar() -> a\n";
        let d = detect(m, "mapping.txt").expect("mapping");
        assert_eq!(d.kind, FileKind::Proguard);
        assert!(d.mapping_uuid.is_some());
    }
}
