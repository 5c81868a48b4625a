//! Minidumps (Breakpad, Crashpad): crash reason, crashed thread, modules and
//! the stack walked by rust-minidump with CFI from the uploaded symbols.
//!
//! Stack walking uses `breakpad-symbols` with a supplier backed by the
//! store: an uploaded Breakpad `.sym` is used as is; for a native debug file
//! (dSYM, ELF, PDB/PE) its CFI is converted to Breakpad `STACK` records with
//! `symbolic-cfi` (cached). Function, file, line and inline chains are then
//! resolved by the common native path (SymCache), so a minidump frame reads
//! the same as any other native frame.

use crate::cache::{CacheKind, DerivedCaches};
use crate::detect::{FileKind, parse_debug_id};
use crate::error::{Result, SymError};
use crate::raw::{RawCrash, RawFrame, RawImage, RawThread};
use crate::store::{DebugFileMeta, DebugFileStore};
use breakpad_symbols::{
    FileError, FileKind as BpFileKind, LocateSymbolsResult, SymbolError, SymbolFile,
    SymbolSupplier, Symbolizer,
};
use minidump::{Minidump, Module};
use std::path::PathBuf;
use std::sync::Arc;
use symbolic_cfi::AsciiCfiWriter;
use symbolic_debuginfo::Archive;

/// Supplies symbols for stack walking out of the debug-file store (also
/// used by the microdump walker, which looks modules up by its own ids).
pub(crate) struct StoreSupplier {
    app: String,
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
}

fn breakpad_arch(arch: &str) -> &str {
    match arch {
        "x86" => "x86",
        "x86_64" => "x86_64",
        "arm64" | "arm64e" => "arm64",
        a if a.starts_with("arm") => "arm",
        a => a,
    }
}

impl StoreSupplier {
    /// A supplier of `app`'s symbols.
    pub(crate) fn new(app: &str, store: Arc<DebugFileStore>, caches: Arc<DerivedCaches>) -> Self {
        StoreSupplier {
            app: app.to_string(),
            store,
            caches,
        }
    }

    fn pick(&self, debug_id: &str) -> Option<(Arc<DebugFileMeta>, bool)> {
        let files = self.store.by_debug_id(&self.app, debug_id);
        if let Some(bp) = files.iter().find(|m| m.kind == FileKind::Breakpad) {
            return Some((bp.clone(), true));
        }
        files
            .into_iter()
            .find(|m| {
                m.objects
                    .iter()
                    .any(|o| o.debug_id == debug_id && o.has_unwind_info)
            })
            .map(|m| (m, false))
    }

    fn locate(&self, module: &(dyn Module + Sync)) -> std::result::Result<SymbolFile, SymbolError> {
        let Some(id) = module.debug_identifier() else {
            return Err(SymbolError::NotFound);
        };
        self.load(&id.to_string())
    }

    /// The stack-walking symbols of object `key` (canonical debug id): an
    /// uploaded Breakpad `.sym` as is, else the CFI of a native debug file
    /// converted to Breakpad `STACK` records (cached).
    pub(crate) fn load(&self, key: &str) -> std::result::Result<SymbolFile, SymbolError> {
        let Some((meta, is_breakpad)) = self.pick(key) else {
            return Err(SymbolError::NotFound);
        };
        let data = self
            .store
            .open_file(&meta)
            .map_err(|_| SymbolError::NotFound)?;
        if is_breakpad {
            return SymbolFile::from_bytes(&data);
        }
        let cfi = self
            .caches
            .get_or_build(CacheKind::Cfi, &format!("{}-{}", meta.id, key), || {
                cfi_as_breakpad(&data, key, &meta.id)
            })
            .map_err(|e| {
                tracing::warn!(error = %e, debug_id = %key, "no CFI from native file");
                SymbolError::NotFound
            })?;
        SymbolFile::from_bytes(&cfi)
    }
}

/// Converts the CFI of object `debug_id` in `data` to a Breakpad symbol file
/// holding only a MODULE line and STACK records.
pub fn cfi_as_breakpad(data: &[u8], debug_id: &str, file_id: &str) -> Result<Vec<u8>> {
    let corrupt = |reason: String| SymError::Corrupt {
        kind: "cfi",
        id: file_id.to_string(),
        reason,
    };
    let archive = Archive::parse(data).map_err(|e| corrupt(e.to_string()))?;
    let wanted = parse_debug_id(debug_id);
    for object in archive.objects() {
        let object = object.map_err(|e| corrupt(e.to_string()))?;
        if Some(object.debug_id()) != wanted {
            continue;
        }
        let mut out = format!(
            "MODULE unknown {} {} module\n",
            breakpad_arch(object.arch().name()),
            object.debug_id().breakpad()
        )
        .into_bytes();
        let cfi: Vec<u8> =
            AsciiCfiWriter::transform(&object).map_err(|e| corrupt(e.to_string()))?;
        out.extend_from_slice(&cfi);
        return Ok(out);
    }
    Err(corrupt(format!("no object with debug id {debug_id}")))
}

#[async_trait::async_trait]
impl SymbolSupplier for StoreSupplier {
    async fn locate_symbols(
        &self,
        module: &(dyn Module + Sync),
    ) -> std::result::Result<LocateSymbolsResult, SymbolError> {
        self.locate(module).map(|symbols| LocateSymbolsResult {
            symbols,
            extra_debug_info: None,
        })
    }

    async fn locate_file(
        &self,
        _module: &(dyn Module + Sync),
        _file_kind: BpFileKind,
    ) -> std::result::Result<PathBuf, FileError> {
        Err(FileError::NotFound)
    }
}

/// Walks the stacks of a minidump with the app's symbols and returns the
/// crash in raw form (frames point at their module by index).
pub fn process(
    app: &str,
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
    bytes: &[u8],
) -> Result<RawCrash> {
    let bad = |reason: String| SymError::BadPayload {
        kind: "minidump",
        reason,
    };
    let dump = Minidump::read(bytes).map_err(|e| bad(e.to_string()))?;
    let supplier = StoreSupplier::new(app, store, caches);
    let symbolizer = Symbolizer::new(supplier);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SymError::Internal(e.to_string()))?;
    let state = rt
        .block_on(minidump_processor::process_minidump(&dump, &symbolizer))
        .map_err(|e| bad(e.to_string()))?;

    let arch = state.system_info.cpu.to_string();
    let mut images = Vec::new();
    for m in state.modules.iter() {
        images.push(RawImage {
            name: m.code_file().to_string(),
            debug_id: m.debug_identifier().map(|d| d.to_string()),
            code_id: m.code_identifier().map(|c| c.as_str().to_ascii_lowercase()),
            base: m.base_address(),
            size: m.size(),
            arch: arch.clone(),
        });
    }
    let image_of = |m: &minidump::MinidumpModule| -> Option<usize> {
        images.iter().position(|i| i.base == m.base_address())
    };
    let requesting = state.requesting_thread;
    let threads = state
        .threads
        .iter()
        .enumerate()
        .map(|(ti, cs)| RawThread {
            id: u64::from(cs.thread_id),
            name: cs.thread_name.clone().unwrap_or_default(),
            crashed: Some(ti) == requesting,
            frames: cs
                .frames
                .iter()
                .map(|f| RawFrame::Native {
                    addr: f.instruction,
                    image: f.module.as_ref().and_then(image_of),
                    function: f.function_name.clone(),
                    // rust-minidump already moved caller addresses into the call.
                    is_caller: false,
                })
                .collect(),
        })
        .collect();
    let (exception_type, message) = match &state.exception_info {
        Some(e) => (
            e.reason.to_string(),
            format!("{} at {:#x}", e.reason, e.address.0),
        ),
        None => (String::new(), state.assertion.clone().unwrap_or_default()),
    };
    tracing::debug!(
        app,
        modules = images.len(),
        threads = state.threads.len(),
        "minidump walked"
    );
    Ok(RawCrash {
        exception_type,
        message,
        threads,
        images,
        proguard_uuids: Vec::new(),
        scripts: Vec::new(),
    })
}
