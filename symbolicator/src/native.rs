//! Native symbolication: image debug id + address → function, file, line and
//! the full inline chain, through lazily built SymCaches.

use crate::cache::{CacheKind, DerivedCaches};
use crate::detect::{FileKind, parse_debug_id};
use crate::error::{Result, SymError};
use crate::store::{DebugFileMeta, DebugFileStore};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use symbolic_common::{Arch, ByteView, CpuFamily};
use symbolic_debuginfo::Archive;
use symbolic_symcache::{SymCache, SymCacheConverter};

pub mod demangle;
pub mod names;

/// Parses `0x…` hex (or plain decimal) addresses.
pub fn parse_addr(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// The address to look up for a frame: the crashing frame's own address,
/// or for a caller (return address) the start of the call instruction's
/// neighbourhood: one byte back on variable-length ISAs, one aligned
/// instruction back on fixed-width ones.
pub fn lookup_address(addr: u64, arch: Arch, is_caller: bool) -> u64 {
    if !is_caller || addr == 0 {
        return addr;
    }
    match arch.cpu_family().instruction_alignment() {
        Some(align) if align > 1 => (addr & !(align - 1)).saturating_sub(align),
        _ => addr - 1,
    }
}

/// One resolved location: innermost inlinee first in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Demangled function name (with parameters where the language has them).
    pub function: String,
    /// The name as stored in the debug file (mangled when it was).
    pub raw_function: String,
    /// Source file path.
    pub file: Option<String>,
    /// 1-based line, `None` when unknown.
    pub line: Option<u32>,
    /// Function entry address relative to the image.
    pub function_addr: u64,
    /// Source language name (`cpp`, `rust`, `swift`, `objc`, …).
    pub lang: String,
}

/// The answer for one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Resolved: the inline chain, innermost first (never empty).
    Found(Vec<Location>),
    /// A debug file exists but nothing covers the address.
    NotCovered,
    /// No debug file for this debug id.
    NoDebugFile,
}

/// Demangles `name` of `lang` (a hint; symbolic guesses when unknown) as
/// the toolchain's tools print it (see [`demangle`](mod@demangle)).
pub fn demangle(name: &symbolic_common::Name<'_>) -> String {
    demangle::demangle(name)
}

/// Native symbolicator over a store and its caches.
#[derive(Debug, Clone)]
pub struct NativeSymbolizer {
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
}

fn rank(meta: &DebugFileMeta, debug_id: &str) -> u8 {
    let Some(o) = meta.objects.iter().find(|o| o.debug_id == debug_id) else {
        return 0;
    };
    match (meta.kind, o.has_debug_info) {
        (FileKind::MachO | FileKind::Elf | FileKind::Pdb | FileKind::Wasm, true) => 4,
        (FileKind::Breakpad, _) => 3,
        (_, true) => 2,
        _ if o.has_symbols => 1,
        _ => 0,
    }
}

/// Builds a SymCache for the object with `debug_id` in `data`.
pub fn build_symcache(data: &[u8], debug_id: &str, file_id: &str) -> Result<Vec<u8>> {
    let corrupt = |reason: String| SymError::Corrupt {
        kind: "native",
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
        let mut conv = SymCacheConverter::new();
        names::process_object(&mut conv, &object).map_err(corrupt)?;
        let mut out = Vec::new();
        conv.serialize(&mut out)
            .map_err(|e| corrupt(e.to_string()))?;
        return Ok(out);
    }
    Err(corrupt(format!("no object with debug id {debug_id}")))
}

impl NativeSymbolizer {
    /// A symbolizer over `store` with `caches`.
    pub fn new(store: Arc<DebugFileStore>, caches: Arc<DerivedCaches>) -> Self {
        NativeSymbolizer { store, caches }
    }

    /// The store.
    pub fn store(&self) -> &Arc<DebugFileStore> {
        &self.store
    }

    /// The caches.
    pub fn caches(&self) -> &Arc<DerivedCaches> {
        &self.caches
    }

    /// The best file for `debug_id`: DWARF/PDB first, then Breakpad, then
    /// symbol tables.
    pub fn best_file(&self, app: &str, debug_id: &str) -> Option<Arc<DebugFileMeta>> {
        self.store
            .by_debug_id(app, debug_id)
            .into_iter()
            .filter(|m| rank(m, debug_id) > 0)
            .max_by_key(|m| rank(m, debug_id))
    }

    /// The SymCache bytes for `debug_id`, built on first use.
    pub fn symcache(&self, app: &str, debug_id: &str) -> Result<Option<Arc<ByteView<'static>>>> {
        let Some(meta) = self.best_file(app, debug_id) else {
            return Ok(None);
        };
        let key = format!("{}-{}", meta.id, debug_id);
        let view = self.caches.get_or_build(CacheKind::SymCache, &key, || {
            let data = self.store.open_file(&meta)?;
            build_symcache(&data, debug_id, &meta.id)
        })?;
        Ok(Some(view))
    }

    /// Looks up `rel_addr` (relative to the image load address) in the
    /// object `debug_id`. `is_caller` applies the return-address adjustment.
    pub fn lookup(
        &self,
        app: &str,
        debug_id: &str,
        rel_addr: u64,
        is_caller: bool,
    ) -> Result<Lookup> {
        let Some(view) = self.symcache(app, debug_id)? else {
            return Ok(Lookup::NoDebugFile);
        };
        lookup_in(&view, rel_addr, is_caller, debug_id)
    }
}

/// Looks up an address in SymCache bytes.
pub fn lookup_in(bytes: &[u8], rel_addr: u64, is_caller: bool, id: &str) -> Result<Lookup> {
    let cache = SymCache::parse(bytes).map_err(|e| SymError::Corrupt {
        kind: "symcache",
        id: id.to_string(),
        reason: e.to_string(),
    })?;
    let addr = lookup_address(rel_addr, cache.arch(), is_caller);
    let chain: Vec<Location> = cache
        .lookup(addr)
        .map(|loc| {
            let f = loc.function();
            let name = f.name_for_demangling();
            Location {
                function: demangle(&name),
                raw_function: f.name().to_string(),
                file: loc.file().map(|f| f.full_path()),
                line: Some(loc.line()).filter(|l| *l > 0),
                function_addr: u64::from(f.entry_pc()),
                lang: f.language().name().to_string(),
            }
        })
        .collect();
    Ok(if chain.is_empty() {
        Lookup::NotCovered
    } else {
        Lookup::Found(chain)
    })
}

/// Whether an arch string names a fixed-width ISA (used when the image's
/// arch is known but no SymCache is).
pub fn arch_from_name(s: &str) -> Arch {
    s.parse::<Arch>().unwrap_or(Arch::Unknown)
}

/// CPU family of an arch string.
pub fn cpu_family(s: &str) -> CpuFamily {
    arch_from_name(s).cpu_family()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_caller_adjustment() {
        assert_eq!(parse_addr("0x1d72"), Some(0x1d72));
        assert_eq!(parse_addr("16"), Some(16));
        assert_eq!(parse_addr("0xzz"), None);
        assert_eq!(lookup_address(0x1000, Arch::Amd64, true), 0xfff);
        assert_eq!(lookup_address(0x1000, Arch::Arm64, true), 0xffc);
        assert_eq!(lookup_address(0x1002, Arch::Arm64, true), 0xffc);
        assert_eq!(lookup_address(0x1000, Arch::Arm64, false), 0x1000);
        assert_eq!(lookup_address(0, Arch::Amd64, true), 0);
    }
}
