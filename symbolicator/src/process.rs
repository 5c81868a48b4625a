//! Turns a raw crash into a symbolicated one: native frames through
//! SymCaches, Java frames through ProGuard indexes, JS frames through
//! source maps; then in-app flags, missing files, fingerprint and status.

use crate::android::{self, RetraceState, Retracer};
use crate::grouping::{self, GroupInput, GroupOverrides, GroupingRules};
use crate::js::JsSymbolizer;
use crate::model::{
    FrameStatus, MissingFile, MissingKind, Status, SymbolicatedCrash, SymbolicatedFrame,
    SymbolicatedThread,
};
use crate::native::{Lookup, NativeSymbolizer};
use crate::raw::{RawCrash, RawFrame, RawImage, find_image};

/// Whether an image path belongs to the app rather than the OS.
pub fn image_in_app(path: &str) -> bool {
    let p = path.replace('\\', "/");
    let lower = p.to_ascii_lowercase();
    if lower
        .rsplit('/')
        .next()
        .is_some_and(|b| b.starts_with("libswift"))
    {
        return false;
    }
    if lower.contains(".app/") || lower.contains("/data/app/") || lower.contains("/data/storage/") {
        return true;
    }
    const SYSTEM: &[&str] = &[
        "/system/",
        "/usr/",
        "/lib/",
        "/lib64/",
        "/apex/",
        "/vendor/",
        "/developer/",
        "/library/",
        "c:/windows/",
    ];
    if SYSTEM.iter().any(|s| lower.starts_with(s)) {
        return false;
    }
    // Bare names or other paths: the app's own unless clearly a runtime.
    !(lower.starts_with("lib") && (lower.contains("libc.") || lower.contains("libart")))
}

fn java_in_app(class: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "java.",
        "javax.",
        "android.",
        "androidx.",
        "kotlin.",
        "kotlinx.",
        "dalvik.",
        "com.android.",
        "sun.",
        "libcore.",
        "com.google.android.",
    ];
    !SYSTEM.iter().any(|p| class.starts_with(p))
}

fn js_in_app(file: &str) -> bool {
    !(file.contains("node_modules/") || file.contains("webpack/bootstrap"))
}

/// Label of the debug file users upload for an image.
pub fn native_label(img: &RawImage) -> &'static str {
    let l = img.name.to_ascii_lowercase();
    if l.ends_with(".dll") || l.ends_with(".exe") {
        "PDB"
    } else if l.ends_with(".so") || l.contains(".so.") {
        "ELF (.so with DWARF) or .sym"
    } else if l.contains(".app/")
        || l.contains(".framework/")
        || l.ends_with(".dylib")
        || img.arch.starts_with("arm64")
    {
        "dSYM"
    } else {
        "debug file"
    }
}

/// A JS frame as sent, with its script's debug id when the crash names one.
struct JsFrame {
    url: String,
    debug_id: Option<String>,
    line: u32,
    col: u32,
    function: Option<String>,
}

/// The per-crash processing context.
pub struct Processor<'a> {
    /// App id.
    pub app: &'a str,
    /// Release (JS artifacts).
    pub release: Option<&'a str>,
    /// Native lookups.
    pub native: &'a NativeSymbolizer,
    /// ProGuard.
    pub retracer: &'a Retracer,
    /// Source maps.
    pub js: &'a JsSymbolizer,
    /// Grouping rules.
    pub rules: &'a GroupingRules,
    /// Merges and splits.
    pub overrides: &'a GroupOverrides,
}

impl Processor<'_> {
    /// Symbolicates `raw`.
    pub fn run(&self, crash_id: &str, mut raw: RawCrash) -> SymbolicatedCrash {
        let mut missing: Vec<MissingFile> = Vec::new();
        let mut exception_type = raw.exception_type.clone();
        let mut proguard_idx = None;
        for uuid in &raw.proguard_uuids {
            match self.retracer.index(self.app, uuid) {
                Ok(Some(v)) => {
                    proguard_idx = Some(v);
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(app = self.app, uuid = %uuid, error = %e, "proguard index failed")
                }
            }
        }
        let has_java = raw
            .threads
            .iter()
            .any(|t| t.frames.iter().any(|f| matches!(f, RawFrame::Java { .. })));
        let pg = proguard_idx
            .as_deref()
            .and_then(|b| android::parse_cache(b).ok());
        if has_java && pg.is_none() {
            missing.push(MissingFile {
                kind: MissingKind::Proguard,
                label: "mapping.txt".into(),
                debug_id: raw.proguard_uuids.first().cloned(),
                code_id: None,
                name: raw.proguard_uuids.first().cloned().unwrap_or_default(),
                release: self.release.map(str::to_string),
                in_app: true,
            });
        }
        if let Some(pg) = &pg
            && let Some(c) = android::retrace_class(pg, &exception_type)
        {
            exception_type = c;
        }
        let threads = std::mem::take(&mut raw.threads);
        let mut out_threads = Vec::with_capacity(threads.len());
        let mut in_app_unresolved = 0usize;
        for t in threads {
            let mut frames = Vec::new();
            let mut state = RetraceState::new(Some(exception_type.as_str()).filter(|_| t.crashed));
            for (i, f) in t.frames.into_iter().enumerate() {
                let before = frames.len();
                match f {
                    RawFrame::Native {
                        addr,
                        image,
                        function,
                        is_caller,
                    } => {
                        self.native_frame(
                            &raw.images,
                            i,
                            addr,
                            image,
                            function,
                            is_caller,
                            &mut frames,
                            &mut missing,
                        );
                    }
                    RawFrame::Java {
                        class,
                        method,
                        file,
                        line,
                    } => {
                        self.java_frame(
                            pg.as_ref(),
                            &mut state,
                            i,
                            class,
                            method,
                            file,
                            line,
                            &mut frames,
                        );
                    }
                    RawFrame::Js {
                        url,
                        line,
                        col,
                        function,
                    } => {
                        let debug_id = raw.script_debug_id(&url).map(str::to_string);
                        let frame = JsFrame {
                            url,
                            debug_id,
                            line,
                            col,
                            function,
                        };
                        self.js_frame(i, frame, &mut frames, &mut missing);
                    }
                    RawFrame::Other {
                        function,
                        module,
                        file,
                        line,
                    } => frames.push(SymbolicatedFrame {
                        raw_index: i,
                        in_app: module.as_deref().map(java_in_app).unwrap_or(true),
                        function,
                        module,
                        file,
                        line,
                        status: Some(FrameStatus::Unchanged),
                        ..Default::default()
                    }),
                }
                in_app_unresolved += frames[before..]
                    .iter()
                    .filter(|f| {
                        f.in_app
                            && matches!(f.status, Some(FrameStatus::Missing | FrameStatus::Failed))
                    })
                    .count();
            }
            out_threads.push(SymbolicatedThread {
                id: t.id,
                name: t.name,
                crashed: t.crashed,
                frames,
            });
        }
        let mut seen = std::collections::HashSet::new();
        missing.retain(|m| seen.insert(m.key()));
        let crashed = out_threads
            .iter()
            .find(|t| t.crashed)
            .or(out_threads.first());
        let input = GroupInput {
            exception_type: &exception_type,
            message: &raw.message,
            thread: crashed,
        };
        let (fp, basis) = grouping::fingerprint(input, self.rules);
        let (fingerprint, fingerprint_basis) = self.overrides.apply(input, fp, basis);
        let total: usize = out_threads.iter().map(|t| t.frames.len()).sum();
        let status = if total == 0 {
            Status::Raw {
                reason: "no_frames".into(),
            }
        } else if in_app_unresolved > 0 || missing.iter().any(|m| m.in_app) {
            Status::Partial
        } else {
            Status::Complete
        };
        SymbolicatedCrash {
            crash_id: crash_id.to_string(),
            exception_type,
            message: raw.message,
            threads: out_threads,
            fingerprint,
            fingerprint_basis,
            missing,
            status,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn native_frame(
        &self,
        images: &[RawImage],
        i: usize,
        addr: u64,
        image: Option<usize>,
        function: Option<String>,
        is_caller: bool,
        out: &mut Vec<SymbolicatedFrame>,
        missing: &mut Vec<MissingFile>,
    ) {
        let idx = image.or_else(|| find_image(images, addr));
        let base = SymbolicatedFrame {
            raw_index: i,
            addr: Some(format!("{addr:#x}")),
            function: function.clone(),
            raw_function: function,
            ..Default::default()
        };
        let Some(img) = idx.and_then(|x| images.get(x)) else {
            out.push(SymbolicatedFrame {
                status: Some(FrameStatus::UnknownImage),
                ..base
            });
            return;
        };
        let rel = addr.saturating_sub(img.base);
        let in_app = image_in_app(&img.name);
        let base = SymbolicatedFrame {
            image: Some(img.basename().to_string()),
            offset: Some(rel),
            in_app,
            ..base
        };
        let debug_id = img.debug_id.clone().or_else(|| {
            let c = img.code_id.as_deref()?;
            let m = self
                .native
                .store()
                .by_code_id(self.app, c)
                .into_iter()
                .next()?;
            m.objects
                .iter()
                .find(|o| o.code_id.as_deref() == Some(c))
                .map(|o| o.debug_id.clone())
        });
        let lookup = match &debug_id {
            Some(id) => self.native.lookup(self.app, id, rel, is_caller),
            None => Ok(Lookup::NoDebugFile),
        };
        match lookup {
            Ok(Lookup::Found(chain)) => {
                let n = chain.len();
                for (k, loc) in chain.into_iter().enumerate() {
                    out.push(SymbolicatedFrame {
                        function: Some(loc.function),
                        raw_function: Some(loc.raw_function),
                        file: loc.file,
                        line: loc.line,
                        inlined: k + 1 < n,
                        status: Some(FrameStatus::Symbolicated),
                        ..base.clone()
                    });
                }
            }
            Ok(Lookup::NotCovered) => out.push(SymbolicatedFrame {
                status: Some(FrameStatus::NotCovered),
                ..base
            }),
            Ok(Lookup::NoDebugFile) => {
                missing.push(MissingFile {
                    kind: MissingKind::Native,
                    label: native_label(img).to_string(),
                    debug_id,
                    code_id: img.code_id.clone(),
                    name: img.basename().to_string(),
                    release: None,
                    in_app,
                });
                out.push(SymbolicatedFrame {
                    status: Some(FrameStatus::Missing),
                    ..base
                });
            }
            Err(e) => {
                tracing::warn!(app = self.app, image = %img.name, error = %e, "native lookup failed");
                out.push(SymbolicatedFrame {
                    status: Some(FrameStatus::Failed),
                    ..base
                });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn java_frame(
        &self,
        pg: Option<&proguard::ProguardCache<'_>>,
        state: &mut RetraceState,
        i: usize,
        class: String,
        method: String,
        file: Option<String>,
        line: Option<u32>,
        out: &mut Vec<SymbolicatedFrame>,
    ) {
        let raw = SymbolicatedFrame {
            raw_index: i,
            module: Some(class.clone()),
            function: Some(method.clone()),
            raw_function: Some(format!("{class}.{method}")),
            file: file.clone(),
            line,
            in_app: java_in_app(&class),
            status: Some(FrameStatus::Unchanged),
            ..Default::default()
        };
        let Some(pg) = pg else {
            out.push(SymbolicatedFrame {
                status: Some(if raw.in_app {
                    FrameStatus::Missing
                } else {
                    FrameStatus::Unchanged
                }),
                ..raw
            });
            return;
        };
        match android::retrace_frame(pg, state, &class, &method, file.as_deref(), line) {
            None => {} // outline frame: folded into the next one
            Some(v) if v.is_empty() => out.push(raw),
            Some(v) => {
                let n = v.len();
                for (k, r) in v.into_iter().enumerate() {
                    out.push(SymbolicatedFrame {
                        in_app: java_in_app(&r.class),
                        module: Some(r.class),
                        function: Some(r.method),
                        file: r.file,
                        line: Some(r.line).filter(|l| *l > 0),
                        inlined: k + 1 < n,
                        status: Some(FrameStatus::Symbolicated),
                        ..raw.clone()
                    });
                }
            }
        }
    }

    /// A JS frame is resolved only against a source map proven to be its
    /// script's: by the script's debug id, or by its URL under the rules
    /// of [`crate::js::urls`]; otherwise it is `Missing` ("missing source
    /// map") and the crash is not complete.
    fn js_frame(
        &self,
        i: usize,
        frame: JsFrame,
        out: &mut Vec<SymbolicatedFrame>,
        missing: &mut Vec<MissingFile>,
    ) {
        let JsFrame {
            url,
            debug_id,
            line,
            col,
            function,
        } = frame;
        let raw = SymbolicatedFrame {
            raw_index: i,
            file: Some(url.clone()),
            line: Some(line),
            col: Some(col),
            function: function.clone(),
            raw_function: function,
            in_app: js_in_app(&url),
            ..Default::default()
        };
        let release = self.release.unwrap_or("");
        match self
            .js
            .lookup_frame(self.app, release, &url, debug_id.as_deref(), line, col)
        {
            Ok(Some(Some(loc))) => {
                let file = loc.file.clone();
                out.push(SymbolicatedFrame {
                    function: loc.function.or(loc.name).or(raw.function.clone()),
                    in_app: file.as_deref().map(js_in_app).unwrap_or(raw.in_app),
                    file,
                    line: Some(loc.line + 1),
                    col: Some(loc.col + 1),
                    status: Some(FrameStatus::Symbolicated),
                    pre_context: loc.pre_context,
                    context_line: loc.context_line,
                    post_context: loc.post_context,
                    ..raw
                });
            }
            Ok(Some(None)) => out.push(SymbolicatedFrame {
                status: Some(FrameStatus::NotCovered),
                ..raw
            }),
            Ok(None) => {
                missing.push(MissingFile {
                    kind: MissingKind::SourceMap,
                    label: "source map".into(),
                    debug_id,
                    code_id: None,
                    name: url,
                    release: self.release.map(str::to_string),
                    in_app: raw.in_app,
                });
                out.push(SymbolicatedFrame {
                    status: Some(FrameStatus::Missing),
                    ..raw
                });
            }
            Err(e) => {
                tracing::warn!(app = self.app, error = %e, "source map lookup failed");
                out.push(SymbolicatedFrame {
                    status: Some(FrameStatus::Failed),
                    ..raw
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_app_heuristics() {
        assert!(image_in_app(
            "/var/containers/Bundle/Application/X/CrashProbeiOS.app/CrashProbeiOS"
        ));
        assert!(image_in_app(
            "/private/var/containers/Bundle/Application/X/CrashProbeiOS.app/Frameworks/CrashLibiOS.framework/CrashLibiOS"
        ));
        assert!(!image_in_app(
            "/System/Library/Frameworks/UIKit.framework/UIKit"
        ));
        assert!(!image_in_app("/usr/lib/system/libsystem_kernel.dylib"));
        assert!(!image_in_app("/system/lib64/libc.so"));
        assert!(image_in_app("/data/app/com.bank-1/lib/arm64/libpay.so"));
        assert!(!image_in_app("C:\\Windows\\System32\\kernel32.dll"));
        assert!(!java_in_app("android.view.View"));
        assert!(java_in_app("com.bank.Main"));
    }
}
