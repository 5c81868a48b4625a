//! Breakpad microdumps: the compact text crash dumps Breakpad writes to the
//! Android log (Chrome, WebView and apps embedding Breakpad's
//! `MicrodumpWriter`).
//!
//! A microdump is the block between `-----BEGIN BREAKPAD MICRODUMP-----` and
//! `-----END BREAKPAD MICRODUMP-----`, usually with a logcat prefix on every
//! line (`W/google-breakpad( 3745): `, `08-17 19:45:06.579 F/…(25655): `). Its
//! records, one a line, start with a letter:
//!
//! | record | content |
//! | --- | --- |
//! | `V product:version` | product and version of the crashing program |
//! | `O A arm 02 armv7l <os version>` | OS (`A` Android, `L` Linux), CPU arch, CPU count (hex), hardware arch, OS version |
//! | `P type` | process type |
//! | `R 0000000B SIGSEGV 00000000` | signal number, signal name, fault address (hex) |
//! | `G version\|vendor\|renderer` | GPU (`UNKNOWN` or nothing when unknown) |
//! | `H …` | heap summary (ignored) |
//! | `S 0 <sp> <stack start> <stack size>` | the crashed thread's stack: pointer, start, size (hex) |
//! | `S <addr> <hex bytes>` | a chunk of that stack from `addr` |
//! | `C <hex bytes>` | the raw CPU context struct of the crashed thread, little-endian |
//! | `M <base> <file offset> <size> <id> <name>` | a loaded module with its 33-digit Breakpad debug id |
//!
//! [`parse`] reads the text; [`process`] walks the crashed thread's stack
//! with CFI from the app's uploaded symbols (see [`walk`]) and returns the
//! crash in raw form, so it is symbolicated like any other native crash.

pub mod walk;

use crate::cache::DerivedCaches;
use crate::detect::debug_id_key;
use crate::error::{Result, SymError};
use crate::raw::RawCrash;
use crate::store::DebugFileStore;
use std::sync::Arc;

/// The line that opens a microdump.
pub const BEGIN_MARKER: &str = "-----BEGIN BREAKPAD MICRODUMP-----";
/// The line that closes a microdump.
pub const END_MARKER: &str = "-----END BREAKPAD MICRODUMP-----";

/// Largest stack a microdump may declare (Breakpad dumps at most 32 KiB).
pub const MAX_STACK_BYTES: u64 = 8 << 20;

/// Whether `text` holds a microdump.
pub fn looks_like_microdump(text: &str) -> bool {
    text.contains(BEGIN_MARKER)
}

/// CPU architectures microdumps are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MicroCpu {
    /// 32-bit ARM.
    Arm,
    /// AArch64.
    Arm64,
    /// 32-bit x86.
    X86,
    /// 32-bit MIPS.
    Mips,
    /// 64-bit MIPS.
    Mips64,
}

impl MicroCpu {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "arm" => MicroCpu::Arm,
            "arm64" => MicroCpu::Arm64,
            "x86" => MicroCpu::X86,
            "mips" => MicroCpu::Mips,
            "mips64" => MicroCpu::Mips64,
            _ => return None,
        })
    }

    /// The name as written in the dump (and in Breakpad `.sym` MODULE lines).
    pub fn as_str(self) -> &'static str {
        match self {
            MicroCpu::Arm => "arm",
            MicroCpu::Arm64 => "arm64",
            MicroCpu::X86 => "x86",
            MicroCpu::Mips => "mips",
            MicroCpu::Mips64 => "mips64",
        }
    }
}

/// The `O` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicroOs {
    /// `Android` (`A`) or `Linux` (`L`), else the letter as written.
    pub name: String,
    /// CPU architecture.
    pub cpu: MicroCpu,
    /// Number of CPUs.
    pub cpu_count: u32,
    /// Hardware architecture as the kernel names it (`armv7l`, `aarch64`).
    pub hw_arch: String,
    /// OS version / build fingerprint.
    pub version: String,
}

/// The `G` record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MicroGpu {
    /// GL version string.
    pub version: String,
    /// Vendor.
    pub vendor: String,
    /// Renderer.
    pub renderer: String,
}

/// The `R` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicroCrashReason {
    /// Signal number.
    pub signal: u32,
    /// Signal name (`SIGSEGV`).
    pub name: String,
    /// Fault address.
    pub address: u64,
}

/// An `M` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicroModule {
    /// Load address.
    pub base: u64,
    /// Offset of the mapping in its file.
    pub file_offset: u64,
    /// Size of the mapping.
    pub size: u64,
    /// The identifier as written (33 hex digits: GUID + age).
    pub breakpad_id: String,
    /// Canonical debug id, `None` for an all-zero or malformed identifier.
    pub debug_id: Option<String>,
    /// Module (file) name.
    pub name: String,
}

/// The crashed thread's stack (`S` records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MicroStack {
    /// Stack pointer at the crash.
    pub sp: u64,
    /// Address of `bytes[0]`.
    pub start: u64,
    /// The stack contents; chunks the dump left out read as zero.
    pub bytes: Vec<u8>,
}

/// A parsed microdump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Microdump {
    /// `V`: product and version.
    pub product_version: Option<String>,
    /// `O`: OS and CPU.
    pub os: Option<MicroOs>,
    /// `P`: process type.
    pub process_type: Option<String>,
    /// `R`: crash reason (Breakpad writes it only when it knows the signal).
    pub crash_reason: Option<MicroCrashReason>,
    /// `G`: GPU, `None` when unknown.
    pub gpu: Option<MicroGpu>,
    /// `M`: modules in dump order.
    pub modules: Vec<MicroModule>,
    /// `S`: stack of the crashed thread.
    pub stack: Option<MicroStack>,
    /// `C`: raw CPU context bytes.
    pub context: Vec<u8>,
}

fn bad(reason: impl Into<String>) -> SymError {
    SymError::BadPayload {
        kind: "microdump",
        reason: reason.into(),
    }
}

/// The record of one log line: the text after the logcat prefix, when the
/// line carries a record (`X` or `X …`).
fn record(line: &str) -> Option<&str> {
    let line = line.trim_end_matches(['\r', '\n']);
    let is_record = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty() && b[0].is_ascii_uppercase() && (b.len() == 1 || b[1] == b' ')
    };
    if is_record(line) {
        return Some(line);
    }
    // `W/google-breakpad( 3745): S …`, `… F google-breakpad: S …`: the
    // first ": " ends the prefix (timestamps hold ':' but never ": ").
    let (_, rest) = line.split_once(": ")?;
    is_record(rest).then_some(rest)
}

fn hex_u64(s: &str, what: &str) -> Result<u64> {
    u64::from_str_radix(s, 16).map_err(|_| bad(format!("bad {what} {s:?}")))
}

fn hex_bytes(s: &str, what: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err(bad(format!("{what}: odd number of hex digits")));
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| bad(format!("{what}: not hex")))
        })
        .collect()
}

/// Parses the first microdump in `text`. A missing END marker (a log cut
/// short) is tolerated; unknown records are skipped.
pub fn parse(text: &str) -> Result<Microdump> {
    let mut lines = text.lines();
    if !lines.by_ref().any(|l| l.contains(BEGIN_MARKER)) {
        return Err(bad("no BEGIN BREAKPAD MICRODUMP marker"));
    }
    let mut md = Microdump::default();
    let mut stack_decl: Option<(u64, u64, u64)> = None;
    let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
    for line in lines {
        if line.contains(END_MARKER) {
            break;
        }
        let Some(rec) = record(line) else { continue };
        let (kind, rest) = rec.split_at(1);
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        match kind {
            "V" => md.product_version = Some(rest.trim().to_string()),
            "P" => md.process_type = Some(rest.trim().to_string()),
            "O" => md.os = Some(parse_os(rest)?),
            "R" => md.crash_reason = Some(parse_reason(rest)?),
            "G" => md.gpu = parse_gpu(rest),
            "M" => md.modules.push(parse_module(rest)?),
            "C" => md.context = hex_bytes(rest, "cpu context")?,
            "S" => {
                let mut f = rest.split_whitespace();
                let first = f.next().ok_or_else(|| bad("empty S record"))?;
                if first == "0" {
                    let mut next = |what| {
                        f.next()
                            .ok_or_else(|| bad(format!("S 0 without {what}")))
                            .and_then(|v| hex_u64(v, what))
                    };
                    let sp = next("stack pointer")?;
                    let start = next("stack start")?;
                    let size = next("stack size")?;
                    if size > MAX_STACK_BYTES {
                        return Err(bad(format!("stack of {size} bytes")));
                    }
                    stack_decl = Some((sp, start, size));
                } else {
                    let addr = hex_u64(first, "stack chunk address")?;
                    let data = f.next().unwrap_or("");
                    chunks.push((addr, hex_bytes(data, "stack chunk")?));
                }
            }
            _ => {} // `H` heap summary and records of newer writers
        }
    }
    if let Some((sp, start, size)) = stack_decl {
        md.stack = Some(assemble_stack(sp, start, size, chunks)?);
    }
    Ok(md)
}

fn parse_os(rest: &str) -> Result<MicroOs> {
    // A arm 02 armv7l OS VERSION INFO
    let mut f = rest.splitn(5, ' ');
    let mut next = |what: &str| {
        f.next()
            .ok_or_else(|| bad(format!("O record without {what}")))
    };
    let os = next("OS")?;
    let arch = next("arch")?;
    let count = next("CPU count")?;
    let hw = next("hardware arch")?;
    let version = f.next().unwrap_or("").trim().to_string();
    let cpu = MicroCpu::parse(arch).ok_or_else(|| bad(format!("unknown cpu {arch:?}")))?;
    Ok(MicroOs {
        name: match os {
            "A" => "Android".into(),
            "L" => "Linux".into(),
            o => o.to_string(),
        },
        cpu,
        cpu_count: u32::from_str_radix(count, 16).unwrap_or(0),
        hw_arch: hw.to_string(),
        version,
    })
}

fn parse_reason(rest: &str) -> Result<MicroCrashReason> {
    // 00000005 SIGTRAP 4A7CB000
    let f: Vec<&str> = rest.split_whitespace().collect();
    let [sig, name, addr] = f[..] else {
        return Err(bad(format!("bad R record {rest:?}")));
    };
    Ok(MicroCrashReason {
        signal: u32::from_str_radix(sig, 16).map_err(|_| bad(format!("bad signal {sig:?}")))?,
        name: name.to_string(),
        address: hex_u64(addr, "crash address")?,
    })
}

fn parse_gpu(rest: &str) -> Option<MicroGpu> {
    let rest = rest.trim();
    if rest.is_empty() || rest == "UNKNOWN" {
        return None;
    }
    let mut f = rest.splitn(3, '|');
    Some(MicroGpu {
        version: f.next().unwrap_or("").to_string(),
        vendor: f.next().unwrap_or("").to_string(),
        renderer: f.next().unwrap_or("").to_string(),
    })
}

fn parse_module(rest: &str) -> Result<MicroModule> {
    // AAACD000 00000000 0007C000 DA7778FB66018A4E9B4110ED06E730D00 breakpad_unittests
    let mut f = rest.splitn(5, ' ');
    let mut next = |what: &str| {
        f.next()
            .ok_or_else(|| bad(format!("M record without {what}")))
    };
    let base = hex_u64(next("base")?, "module base")?;
    let file_offset = hex_u64(next("offset")?, "module offset")?;
    let size = hex_u64(next("size")?, "module size")?;
    let id = next("identifier")?.to_string();
    let name = f.next().unwrap_or("").trim().to_string();
    Ok(MicroModule {
        base,
        file_offset,
        size,
        debug_id: debug_id_key(&id),
        breakpad_id: id,
        name,
    })
}

fn assemble_stack(
    sp: u64,
    start: u64,
    size: u64,
    chunks: Vec<(u64, Vec<u8>)>,
) -> Result<MicroStack> {
    let len = usize::try_from(size).map_err(|_| bad("stack size"))?;
    let mut bytes = vec![0u8; len];
    for (addr, data) in chunks {
        let off = addr
            .checked_sub(start)
            .and_then(|o| usize::try_from(o).ok())
            .ok_or_else(|| bad(format!("stack chunk at {addr:#x} below the stack")))?;
        let end = off
            .checked_add(data.len())
            .filter(|e| *e <= len)
            .ok_or_else(|| bad(format!("stack chunk at {addr:#x} past the stack")))?;
        bytes[off..end].copy_from_slice(&data);
    }
    Ok(MicroStack { sp, start, bytes })
}

/// Parses the microdump in `text`, walks the crashed thread's stack with
/// the app's symbols and returns the crash in raw form (one crashed thread;
/// frames point at their module by index).
pub fn process(
    app: &str,
    store: Arc<DebugFileStore>,
    caches: Arc<DerivedCaches>,
    text: &str,
) -> Result<RawCrash> {
    let md = parse(text)?;
    walk::to_raw(app, store, caches, &md)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
junk before
I/x( 1): -----BEGIN BREAKPAD MICRODUMP-----
I/x( 1): V App:1.2.3
I/x( 1): O A arm 04 armv7l 7.1.1/NMF26F
I/x( 1): P renderer
I/x( 1): R 0000000B SIGSEGV 00000045
I/x( 1): G
I/x( 1): H 12C00000 FFF73000 00D9
I/x( 1): S 0 1008 1000 00000010
I/x( 1): S 1004 AABBCCDD
I/x( 1): M 00400000 00000000 00010000 DA7778FB66018A4E9B4110ED06E730D00 libapp.so
I/x( 1): M 00500000 00001000 00002000 000000000000000000000000000000000 dalvik-jit-code-cache (deleted)
I/x( 1): -----END BREAKPAD MICRODUMP-----
I/x( 1): S 0 0 0 0
";

    #[test]
    fn parses_every_record() {
        let md = parse(SAMPLE).expect("parse");
        assert_eq!(md.product_version.as_deref(), Some("App:1.2.3"));
        let os = md.os.expect("os");
        assert_eq!(
            (os.name.as_str(), os.cpu, os.cpu_count, os.hw_arch.as_str()),
            ("Android", MicroCpu::Arm, 4, "armv7l")
        );
        assert_eq!(os.version, "7.1.1/NMF26F");
        assert_eq!(md.process_type.as_deref(), Some("renderer"));
        assert_eq!(
            md.crash_reason,
            Some(MicroCrashReason {
                signal: 11,
                name: "SIGSEGV".into(),
                address: 0x45
            })
        );
        assert_eq!(md.gpu, None);
        let st = md.stack.expect("stack");
        assert_eq!((st.sp, st.start, st.bytes.len()), (0x1008, 0x1000, 16));
        assert_eq!(&st.bytes[4..8], &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(md.modules.len(), 2);
        assert_eq!(
            md.modules[0].debug_id.as_deref(),
            Some("da7778fb-6601-8a4e-9b41-10ed06e730d0")
        );
        assert_eq!(md.modules[1].debug_id, None);
        assert_eq!(md.modules[1].name, "dalvik-jit-code-cache (deleted)");
        assert_eq!(md.modules[1].file_offset, 0x1000);
    }

    #[test]
    fn rejects_malformed_input_without_panicking() {
        assert!(parse("no marker").is_err());
        let cases = [
            "S 0 1000 1000 FFFFFFFFFF",       // stack too large
            "S 0 1000 1000 10\nS 0FFF AA",    // chunk below the stack
            "S 0 1000 1000 2\nS 1000 AABBCC", // chunk past the stack
            "S 0 1000 1000 2\nS 1000 ABC",    // odd hex
            "C 0G",
            "O A sparc 01 x y",
            "R 0B SIGSEGV",
            "M 0 0 zz id name",
        ];
        for c in cases {
            let text = format!("{BEGIN_MARKER}\n{c}\n{END_MARKER}\n");
            assert!(parse(&text).is_err(), "{c}");
        }
        // Records without a logcat prefix parse too.
        let md = parse(&format!("{BEGIN_MARKER}\nG a|b|c\n")).expect("no END");
        assert_eq!(md.gpu.map(|g| g.renderer), Some("c".to_string()));
    }
}
