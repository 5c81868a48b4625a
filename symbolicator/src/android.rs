//! Android: ProGuard/R8 retrace (inlined and outlined frames, rewrite rules)
//! through a cached `ProguardCache` index, and tombstone parsing.

use crate::cache::{CacheKind, DerivedCaches};
use crate::error::{Result, SymError};
use crate::raw::{RawCrash, RawFrame, RawImage, RawThread};
use crate::store::DebugFileStore;
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

/// Parses an Android tombstone (`debuggerd` output) into the raw form.
/// Frame addresses are offsets inside their libraries; each library becomes
/// an image at base 0 (frames point at it by index) with its BuildId as
/// code id when the tombstone prints one.
pub fn parse_tombstone(text: &str) -> Result<RawCrash> {
    let mut crash = RawCrash::default();
    let mut arch = String::new();
    let mut thread = RawThread {
        crashed: true,
        ..Default::default()
    };
    let mut in_backtrace = false;
    let mut saw_frame = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(a) = t.strip_prefix("ABI:") {
            arch = a.trim().trim_matches('\'').to_string();
        } else if let Some(rest) = t.strip_prefix("signal ") {
            // signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0
            if let (Some(a), Some(b)) = (rest.find('('), rest.find(')'))
                && a < b
            {
                crash.exception_type = rest[a + 1..b].to_string();
            }
            crash.message = t.to_string();
        } else if let Some(m) = t.strip_prefix("Abort message:") {
            crash.message = m.trim().trim_matches('\'').to_string();
        } else if let Some(rest) = t.strip_prefix("pid:") {
            if let Some(tid) = rest.split(',').find_map(|p| p.trim().strip_prefix("tid:")) {
                thread.id = tid.trim().parse().unwrap_or(0);
            }
            if let Some(n) = rest.split("name:").nth(1) {
                thread.name = n.split(">>>").next().unwrap_or("").trim().to_string();
            }
        } else if t == "backtrace:" {
            in_backtrace = true;
        } else if in_backtrace {
            if let Some(f) = parse_backtrace_line(t, &arch, &mut crash.images) {
                thread.frames.push(f);
                saw_frame = true;
            } else if saw_frame {
                in_backtrace = false;
            }
        }
    }
    if thread.frames.is_empty() {
        return Err(SymError::BadPayload {
            kind: "tombstone",
            reason: "no backtrace".into(),
        });
    }
    crash.threads.push(thread);
    Ok(crash)
}

fn parse_backtrace_line(t: &str, arch: &str, images: &mut Vec<RawImage>) -> Option<RawFrame> {
    // #00 pc 00000000000588e0  /system/lib64/libc.so (tgkill+8) (BuildId: ab12…)
    let rest = t.strip_prefix('#')?;
    let mut parts = rest.split_whitespace();
    let idx: usize = parts.next()?.parse().ok()?;
    if parts.next()? != "pc" {
        return None;
    }
    let pc = u64::from_str_radix(parts.next()?, 16).ok()?;
    let after_pc = rest.split_once(" pc ")?.1.trim_start();
    let after_addr = after_pc
        .split_once(char::is_whitespace)
        .map(|x| x.1)
        .unwrap_or("")
        .trim();
    let (path, tail) = match after_addr.find(" (") {
        Some(i) => (&after_addr[..i], &after_addr[i..]),
        None => (after_addr, ""),
    };
    let mut function = None;
    let mut build_id = None;
    for group in tail.split(" (").map(|g| g.trim().trim_end_matches(')')) {
        if let Some(b) = group.strip_prefix("BuildId: ") {
            build_id = Some(b.trim().to_ascii_lowercase());
        } else if !group.is_empty() && !group.starts_with("offset ") {
            // strip "+8" instruction offset
            let name = match group.rfind('+') {
                Some(i) if group[i + 1..].chars().all(|c| c.is_ascii_digit()) => &group[..i],
                _ => group,
            };
            function = Some(name.to_string());
        }
    }
    let image = match images.iter().position(|i| i.name == path) {
        Some(i) => i,
        None => {
            images.push(RawImage {
                name: path.to_string(),
                debug_id: None,
                code_id: build_id,
                base: 0,
                size: 0,
                arch: arch.to_string(),
            });
            images.len() - 1
        }
    };
    Some(RawFrame::Native {
        addr: pc,
        image: Some(image),
        function,
        is_caller: idx > 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstone_line() {
        let mut images = Vec::new();
        let f = parse_backtrace_line(
            "#06 pc 0000000000018958  /system/lib64/libc.so (__pthread_start(void*)+52) (BuildId: AB12)",
            "arm64",
            &mut images,
        )
        .expect("frame");
        assert_eq!(
            f,
            RawFrame::Native {
                addr: 0x18958,
                image: Some(0),
                function: Some("__pthread_start(void*)".into()),
                is_caller: true
            }
        );
        assert_eq!(images[0].code_id.as_deref(), Some("ab12"));
        assert!(parse_backtrace_line("#01 pc zz /x", "arm", &mut images).is_none());
    }
}
