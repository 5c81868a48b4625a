//! Output types: a symbolicated crash, its threads and frames, and the files
//! it is missing.

use serde::{Deserialize, Serialize};
use vitals_i18n::{Lang, Msg};

/// How far symbolication got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Every in-app frame resolved.
    Complete,
    /// Some in-app frames could not be resolved (see `missing`).
    Partial,
    /// Nothing could be processed; the crash keeps its raw form.
    Raw {
        /// Machine-readable reason (`no_frames`, `bad_minidump: …`, `timeout`, …).
        reason: String,
    },
}

/// Per-frame outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameStatus {
    /// Resolved from a debug file, mapping or source map.
    Symbolicated,
    /// Already readable as sent (no lookup needed or possible).
    Unchanged,
    /// The debug file / mapping / source map is missing.
    Missing,
    /// No image contains the address.
    UnknownImage,
    /// The debug file does not cover the address.
    NotCovered,
    /// A lookup failed (corrupt file); see logs.
    Failed,
}

/// One output frame. Inline chains are flattened: the inlinees of one raw
/// frame come first (innermost first, `inlined = true`), then the function
/// they were inlined into; all share `raw_index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SymbolicatedFrame {
    /// Index of the raw frame this came from.
    pub raw_index: usize,
    /// Absolute instruction address as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Image (module) name, basename.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Address relative to the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Readable (demangled / retraced / original) function name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Function name as found (mangled, obfuscated, minified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_function: Option<String>,
    /// Java class / JS module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Source file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column (JS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
    /// Part of an inline chain, inlined into the next frame.
    #[serde(default)]
    pub inlined: bool,
    /// Belongs to the app (not the OS or a third-party runtime).
    pub in_app: bool,
    /// Outcome.
    pub status: Option<FrameStatus>,
    /// Source lines before `line` (JS with sources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    /// The source line itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    /// Source lines after `line`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
}

/// One thread, frames innermost (crashing) first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SymbolicatedThread {
    /// Thread id.
    pub id: u64,
    /// Thread name.
    #[serde(default)]
    pub name: String,
    /// The thread that crashed.
    pub crashed: bool,
    /// Frames, innermost first, inline chains flattened.
    pub frames: Vec<SymbolicatedFrame>,
}

/// What kind of file is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingKind {
    /// A native debug file (dSYM, ELF with DWARF, PDB or Breakpad .sym).
    Native,
    /// A ProGuard/R8 mapping.
    Proguard,
    /// A JS source map (and/or its minified file).
    SourceMap,
}

/// A file the crash needs and the store lacks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MissingFile {
    /// Kind.
    pub kind: MissingKind,
    /// What to upload, as users call it: `dSYM`, `ELF (.so with DWARF)`,
    /// `PDB`, `debug file`, `mapping.txt`, `source map`.
    pub label: String,
    /// Debug id (native), mapping UUID (ProGuard) or JS debug id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_id: Option<String>,
    /// Code id (native).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    /// Image name (native) or script URL (JS).
    pub name: String,
    /// Release (JS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Whether in-app frames are affected.
    pub in_app: bool,
}

impl MissingFile {
    /// The key an upload of this file will carry (see `DebugFileMeta::keys`).
    /// A native file known only by its code id (a tombstone's BuildId) is
    /// keyed by that.
    pub fn key(&self) -> String {
        match (self.kind, &self.debug_id) {
            (MissingKind::Native, Some(d)) => format!("debug:{d}"),
            (MissingKind::Native, None) if self.code_id.is_some() => {
                format!("code:{}", self.code_id.as_deref().unwrap_or_default())
            }
            (MissingKind::Proguard, Some(u)) => format!("proguard:{u}"),
            (MissingKind::SourceMap, Some(d)) => format!("jsdebug:{d}"),
            (MissingKind::SourceMap, None) => format!(
                "url:{}:{}",
                self.release.as_deref().unwrap_or(""),
                self.name
            ),
            (_, None) => format!("name:{}", self.name),
        }
    }

    /// Every key an upload that supplies this file may carry: the debug id
    /// and the code id of a native file, else [`MissingFile::key`]. An index
    /// of stored crashes by these keys finds the crashes an upload concerns
    /// (see `Symbolicator::resolved_by` for the exact check).
    pub fn keys(&self) -> Vec<String> {
        let mut keys = vec![self.key()];
        if let (MissingKind::Native, Some(_), Some(c)) = (self.kind, &self.debug_id, &self.code_id)
        {
            keys.push(format!("code:{c}"));
        }
        keys
    }

    /// The user-facing instruction ("upload dSYM 67e9247c-… for CrashProbeiOS").
    pub fn message(&self, lang: Lang) -> String {
        let id = self.debug_id.as_deref().unwrap_or("?");
        match self.kind {
            MissingKind::Native => Msg::SymMissingDebugFile.render(
                lang,
                &[
                    ("kind", &self.label),
                    ("debug_id", &id),
                    ("image", &self.name),
                ],
            ),
            MissingKind::Proguard => Msg::SymMissingProguard.render(lang, &[("uuid", &id)]),
            MissingKind::SourceMap => Msg::SymMissingSourceMap.render(
                lang,
                &[
                    ("url", &self.name),
                    ("release", &self.release.as_deref().unwrap_or("-")),
                ],
            ),
        }
    }
}

/// The symbolicated form of a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolicatedCrash {
    /// The crash id as sent.
    pub crash_id: String,
    /// Exception type (from the event or the parsed payload).
    pub exception_type: String,
    /// Exception message / crash reason.
    pub message: String,
    /// Threads, the crashed one flagged.
    pub threads: Vec<SymbolicatedThread>,
    /// Grouping fingerprint (hex), stable across releases.
    pub fingerprint: String,
    /// What the fingerprint was computed from (for display and debugging).
    pub fingerprint_basis: Vec<String>,
    /// Files to upload to improve this crash.
    pub missing: Vec<MissingFile>,
    /// Outcome.
    #[serde(flatten)]
    pub status: Status,
}

impl SymbolicatedCrash {
    /// The threads as the wire protocol stores them: symbolicated names
    /// where found, the sent ones otherwise.
    pub fn protocol_threads(&self) -> Vec<vitals_protocol::Thread> {
        self.threads
            .iter()
            .map(|t| vitals_protocol::Thread {
                id: t.id,
                name: t.name.clone(),
                crashed: t.crashed,
                frames: t
                    .frames
                    .iter()
                    .map(|f| vitals_protocol::Frame {
                        addr: f.addr.clone(),
                        function: f.function.clone().or_else(|| f.raw_function.clone()),
                        module: f.module.clone().or_else(|| f.image.clone()),
                        file: f.file.clone(),
                        line: f.line,
                        col: f.col,
                        in_app: Some(f.in_app),
                        inlined: f.inlined.then_some(true),
                    })
                    .collect(),
            })
            .collect()
    }

    /// The crashed thread, or the first one.
    pub fn crashed_thread(&self) -> Option<&SymbolicatedThread> {
        self.threads
            .iter()
            .find(|t| t.crashed)
            .or_else(|| self.threads.first())
    }

    /// Keys of the missing files (to find this crash when one arrives):
    /// every key of every missing file, see [`MissingFile::keys`].
    pub fn missing_keys(&self) -> Vec<String> {
        self.missing.iter().flat_map(MissingFile::keys).collect()
    }
}
