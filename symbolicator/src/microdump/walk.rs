//! Stack walking for microdumps.
//!
//! A microdump is no minidump file, but what the unwinder needs is the same:
//! a CPU context, the stack memory, the module list and symbols. This module
//! builds those from the parsed text and runs `minidump-unwind`'s walkers,
//! which try, per frame, Breakpad CFI (`STACK CFI` records), then the frame
//! pointer, then stack scanning, the way Breakpad's own processor does.
//!
//! Symbols come from the app's store through the same supplier the
//! minidump path uses (an uploaded Breakpad `.sym`, or CFI converted from a
//! native debug file), looked up by the debug id the `M` record names. The
//! modules handed to the walker carry no ids of their own, so the provider
//! here maps a module to its symbols by load address.

use super::{MicroCpu, Microdump};
use crate::cache::DerivedCaches;
use crate::error::{Result, SymError};
use crate::minidump::StoreSupplier;
use crate::raw::{RawCrash, RawFrame, RawImage, RawThread};
use crate::store::DebugFileStore;
use minidump::format::{CONTEXT_ARM, CONTEXT_ARM64, CONTEXT_ARM64_OLD, CONTEXT_X86};
use minidump::system_info::{Cpu, Os};
use minidump::{
    Endian, MinidumpContext, MinidumpMemory, MinidumpModule, MinidumpModuleList,
    MinidumpRawContext, Module, UnifiedMemory,
};
use minidump_unwind::{
    CallStack, FileError, FileKind, FillSymbolError, FrameSymbolizer, FrameWalker, SymbolFile,
    SymbolProvider, SystemInfo, walk_stack,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Breakpad's `MD_CONTEXT_ARM64` flag (the current ARM64 context layout);
/// older writers use `MD_CONTEXT_ARM64_OLD` (`0x80000000`, 64-bit flags).
const MD_CONTEXT_ARM64: u32 = 0x0040_0000;

fn bad(reason: impl Into<String>) -> SymError {
    SymError::BadPayload {
        kind: "microdump",
        reason: reason.into(),
    }
}

/// Little-endian reader over the raw context bytes.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn u32(&self, off: usize) -> Result<u32> {
        self.0
            .get(off..off + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| bad("cpu context too short"))
    }

    fn u64(&self, off: usize) -> Result<u64> {
        self.0
            .get(off..off + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| bad("cpu context too short"))
    }
}

/// The crashed thread's CPU context from the `C` record: Breakpad's raw
/// context struct of the architecture (`MDRawContextARM`,
/// `MDRawContextARM64[_Old]`, `MDRawContextX86`), of which the integer
/// registers are read.
pub fn context(cpu: MicroCpu, raw: &[u8]) -> Result<MinidumpContext> {
    let r = Le(raw);
    let ctx = match cpu {
        MicroCpu::Arm => {
            // u32 flags, u32 r0..r15, u32 cpsr, then VFP state.
            let mut c = CONTEXT_ARM {
                context_flags: r.u32(0)?,
                cpsr: r.u32(68)?,
                ..Default::default()
            };
            for (i, reg) in c.iregs.iter_mut().enumerate() {
                *reg = r.u32(4 + 4 * i)?;
            }
            MinidumpRawContext::Arm(c)
        }
        MicroCpu::Arm64 if r.u32(0)? & MD_CONTEXT_ARM64 != 0 => {
            // u32 flags, u32 cpsr, u64 x0..x30, u64 sp, u64 pc, …
            let mut c = CONTEXT_ARM64 {
                context_flags: r.u32(0)?,
                cpsr: r.u32(4)?,
                sp: r.u64(256)?,
                pc: r.u64(264)?,
                ..Default::default()
            };
            for (i, reg) in c.iregs.iter_mut().enumerate() {
                *reg = r.u64(8 + 8 * i)?;
            }
            MinidumpRawContext::Arm64(c)
        }
        MicroCpu::Arm64 => {
            // u64 flags, u64 x0..x30, u64 sp, u64 pc, u32 cpsr, …
            let mut c = CONTEXT_ARM64_OLD {
                context_flags: r.u64(0)?,
                sp: r.u64(256)?,
                pc: r.u64(264)?,
                cpsr: r.u32(272)?,
                ..Default::default()
            };
            for (i, reg) in c.iregs.iter_mut().enumerate() {
                *reg = r.u64(8 + 8 * i)?;
            }
            MinidumpRawContext::OldArm64(c)
        }
        MicroCpu::X86 => {
            // flags, 6 debug registers, 112 bytes of x87 state, gs fs es ds,
            // then edi esi ebx edx ecx eax ebp eip cs eflags esp ss.
            MinidumpRawContext::X86(CONTEXT_X86 {
                context_flags: r.u32(0)?,
                edi: r.u32(156)?,
                esi: r.u32(160)?,
                ebx: r.u32(164)?,
                edx: r.u32(168)?,
                ecx: r.u32(172)?,
                eax: r.u32(176)?,
                ebp: r.u32(180)?,
                eip: r.u32(184)?,
                cs: r.u32(188)?,
                eflags: r.u32(192)?,
                esp: r.u32(196)?,
                ss: r.u32(200)?,
                ..Default::default()
            })
        }
        MicroCpu::Mips | MicroCpu::Mips64 => {
            return Err(bad(format!("cpu {} not supported", cpu.as_str())));
        }
    };
    Ok(MinidumpContext::from_raw(ctx))
}

/// Symbols by module load address, loaded on first use.
struct MicroSymbols {
    supplier: StoreSupplier,
    ids: HashMap<u64, String>,
    loaded: Mutex<HashMap<u64, Option<Arc<SymbolFile>>>>,
}

impl MicroSymbols {
    fn symbols(&self, module: &dyn Module) -> Option<Arc<SymbolFile>> {
        let base = module.base_address();
        let id = self.ids.get(&base)?;
        let mut loaded = self.loaded.lock().ok()?;
        loaded
            .entry(base)
            .or_insert_with(|| match self.supplier.load(id) {
                Ok(f) => Some(Arc::new(f)),
                Err(e) => {
                    tracing::debug!(debug_id = %id, error = %e, "no symbols for microdump module");
                    None
                }
            })
            .clone()
    }
}

#[async_trait::async_trait]
impl SymbolProvider for MicroSymbols {
    async fn fill_symbol(
        &self,
        module: &(dyn Module + Sync),
        frame: &mut (dyn FrameSymbolizer + Send),
    ) -> std::result::Result<(), FillSymbolError> {
        let file = self.symbols(module).ok_or(FillSymbolError {})?;
        file.fill_symbol(module, frame);
        Ok(())
    }

    async fn walk_frame(
        &self,
        module: &(dyn Module + Sync),
        walker: &mut (dyn FrameWalker + Send),
    ) -> Option<()> {
        self.symbols(module)?.walk_frame(module, walker)
    }

    async fn get_file_path(
        &self,
        _module: &(dyn Module + Sync),
        _file_kind: FileKind,
    ) -> std::result::Result<PathBuf, FileError> {
        Err(FileError::NotFound)
    }
}

/// Walks the crashed thread of `md` with `app`'s symbols and returns the
/// crash in raw form.
pub fn to_raw(
    app: &str,
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
    md: &Microdump,
) -> Result<RawCrash> {
    let os = md.os.as_ref().ok_or_else(|| bad("no O record"))?;
    if md.context.is_empty() {
        return Err(bad("no C record (cpu context)"));
    }
    let ctx = context(os.cpu, &md.context)?;
    let (cpu, arch) = match os.cpu {
        MicroCpu::Arm => (Cpu::Arm, "arm"),
        MicroCpu::Arm64 => (Cpu::Arm64, "arm64"),
        MicroCpu::X86 => (Cpu::X86, "x86"),
        MicroCpu::Mips => (Cpu::Mips, "mips"),
        MicroCpu::Mips64 => (Cpu::Mips64, "mips64"),
    };
    let system = SystemInfo {
        os: if os.name == "Android" {
            Os::Android
        } else {
            Os::Linux
        },
        os_version: Some(os.version.clone()),
        os_build: None,
        cpu,
        cpu_info: Some(os.hw_arch.clone()),
        cpu_microcode_version: None,
        cpu_count: os.cpu_count as usize,
    };
    let modules = MinidumpModuleList::from_modules(
        md.modules
            .iter()
            .map(|m| {
                MinidumpModule::new(m.base, u32::try_from(m.size).unwrap_or(u32::MAX), &m.name)
            })
            .collect(),
    );
    let mut ids = HashMap::new();
    for m in &md.modules {
        if let Some(id) = &m.debug_id {
            ids.entry(m.base).or_insert_with(|| id.clone());
        }
    }
    let provider = MicroSymbols {
        supplier: StoreSupplier::new(app, store, caches),
        ids,
        loaded: Mutex::new(HashMap::new()),
    };
    let memory = md.stack.as_ref().map(|s| MinidumpMemory {
        desc: Default::default(),
        base_address: s.start,
        size: s.bytes.len() as u64,
        bytes: &s.bytes,
        endian: Endian::Little,
    });
    let mut stack = CallStack::with_context(ctx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SymError::Internal(e.to_string()))?;
    rt.block_on(walk_stack(
        0,
        (),
        &mut stack,
        memory.as_ref().map(UnifiedMemory::Memory),
        &modules,
        &system,
        &provider,
    ));

    let images: Vec<RawImage> = md
        .modules
        .iter()
        .map(|m| RawImage {
            name: m.name.clone(),
            debug_id: m.debug_id.clone(),
            code_id: None,
            base: m.base,
            size: m.size,
            arch: arch.to_string(),
        })
        .collect();
    let frames = stack
        .frames
        .iter()
        .map(|f| RawFrame::Native {
            addr: f.instruction,
            image: f
                .module
                .as_ref()
                .and_then(|m| images.iter().position(|i| i.base == m.base_address())),
            function: f.function_name.clone(),
            // The walker already moved caller addresses into the call.
            is_caller: false,
        })
        .collect();
    let (exception_type, message) = match &md.crash_reason {
        Some(r) => (r.name.clone(), format!("{} at {:#x}", r.name, r.address)),
        None => (String::new(), String::new()),
    };
    tracing::debug!(
        app,
        modules = images.len(),
        frames = stack.frames.len(),
        "microdump walked"
    );
    Ok(RawCrash {
        exception_type,
        message,
        threads: vec![RawThread {
            id: 0,
            name: md.process_type.clone().unwrap_or_default(),
            crashed: true,
            frames,
        }],
        images,
        proguard_uuids: Vec::new(),
        scripts: Vec::new(),
    })
}
