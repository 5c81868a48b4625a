//! The one internal form every input is turned into before symbolication:
//! protocol `CrashEvent`s, minidumps, Apple reports and tombstones.

use crate::detect::debug_id_key;
use crate::native::parse_addr;
use vitals_protocol::CrashEvent;

/// A loaded image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawImage {
    /// Path or name as reported.
    pub name: String,
    /// Canonical debug id.
    pub debug_id: Option<String>,
    /// Code id, lower-case hex.
    pub code_id: Option<String>,
    /// Load address.
    pub base: u64,
    /// Size (0 = unknown).
    pub size: u64,
    /// Arch name.
    pub arch: String,
}

impl RawImage {
    /// Basename of the image path.
    pub fn basename(&self) -> &str {
        self.name.rsplit(['/', '\\']).next().unwrap_or(&self.name)
    }
}

/// One raw frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrame {
    /// A native instruction address.
    Native {
        /// Absolute address.
        addr: u64,
        /// Index into `RawCrash::images` when known up front (tombstones,
        /// minidumps); otherwise found by address.
        image: Option<usize>,
        /// Function name as reported (kept when no debug file resolves it).
        function: Option<String>,
        /// The address is a return address (caller frame).
        is_caller: bool,
    },
    /// A Java/Kotlin frame.
    Java {
        /// Class (possibly obfuscated).
        class: String,
        /// Method.
        method: String,
        /// File as reported.
        file: Option<String>,
        /// Line.
        line: Option<u32>,
    },
    /// A JavaScript frame.
    Js {
        /// Script URL.
        url: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// Function name as reported (minified).
        function: Option<String>,
    },
    /// Anything already readable.
    Other {
        /// Function.
        function: Option<String>,
        /// Module.
        module: Option<String>,
        /// File.
        file: Option<String>,
        /// Line.
        line: Option<u32>,
    },
}

/// One thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawThread {
    /// Id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Crashed.
    pub crashed: bool,
    /// Frames, innermost first.
    pub frames: Vec<RawFrame>,
}

/// A crash in the internal raw form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawCrash {
    /// Exception / signal type.
    pub exception_type: String,
    /// Message / reason.
    pub message: String,
    /// Threads.
    pub threads: Vec<RawThread>,
    /// Images.
    pub images: Vec<RawImage>,
    /// ProGuard mapping UUIDs named by the crash.
    pub proguard_uuids: Vec<String>,
    /// JS scripts the crash names with their debug ids.
    pub scripts: Vec<RawScript>,
}

/// A JS script named by the crash's images with its debug id (the SDK's
/// `{"debug_id", "name": URL, "arch": "js"}`, Sentry's `sourcemap` image).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawScript {
    /// The script URL, as the frames give it.
    pub url: String,
    /// Canonical JS debug id.
    pub debug_id: String,
}

impl RawCrash {
    /// The debug id of the script at `url`, when the crash names one.
    pub fn script_debug_id(&self, url: &str) -> Option<&str> {
        self.scripts
            .iter()
            .find(|s| s.url == url)
            .map(|s| s.debug_id.as_str())
    }
}

/// Whether an image entry names a JS script rather than a native image:
/// `arch` `js` / `sourcemap`, or no address and the URL of a JS frame.
fn is_script_image(img: &vitals_protocol::Image, frame_files: &[&str]) -> bool {
    let arch = img.arch.to_ascii_lowercase();
    if matches!(arch.as_str(), "js" | "javascript" | "sourcemap") {
        return true;
    }
    parse_addr(&img.base).unwrap_or(0) == 0
        && img.size == 0
        && frame_files.contains(&img.name.as_str())
}

const JS_EXT: &[&str] = &[".js", ".mjs", ".cjs", ".bundle", ".jsbundle", ".ets", ".ts"];

/// Whether an image entry is really a ProGuard mapping reference
/// (`arch` = `proguard`/`jvm`, as Sentry's `debug_meta` does).
fn is_proguard_image(arch: &str) -> bool {
    matches!(
        arch.to_ascii_lowercase().as_str(),
        "proguard" | "jvm" | "dalvik"
    )
}

/// Converts a protocol crash event. Frames are taken innermost first.
pub fn from_event(ev: &CrashEvent) -> RawCrash {
    let mut images = Vec::new();
    let mut proguard_uuids = Vec::new();
    let mut scripts = Vec::new();
    let frame_files: Vec<&str> = ev
        .threads
        .iter()
        .flat_map(|t| &t.frames)
        .filter(|f| f.addr.is_none())
        .filter_map(|f| f.file.as_deref())
        .collect();
    for img in &ev.images {
        if is_proguard_image(&img.arch) {
            if let Ok(u) = uuid::Uuid::parse_str(img.debug_id.trim()) {
                proguard_uuids.push(u.to_string());
            }
            continue;
        }
        if is_script_image(img, &frame_files) {
            if let Some(debug_id) = debug_id_key(&img.debug_id) {
                scripts.push(RawScript {
                    url: img.name.clone(),
                    debug_id,
                });
            }
            continue;
        }
        images.push(RawImage {
            name: img.name.clone(),
            debug_id: debug_id_key(&img.debug_id),
            code_id: img.code_id.as_ref().map(|c| c.to_ascii_lowercase()),
            base: parse_addr(&img.base).unwrap_or(0),
            size: img.size,
            arch: img.arch.clone(),
        });
    }
    let threads = ev
        .threads
        .iter()
        .map(|t| RawThread {
            id: t.id,
            name: t.name.clone(),
            crashed: t.crashed,
            frames: t
                .frames
                .iter()
                .enumerate()
                .map(|(i, f)| frame_from_protocol(f, i > 0))
                .collect(),
        })
        .collect();
    RawCrash {
        exception_type: ev.exception_type.clone(),
        message: ev.message.clone(),
        threads,
        images,
        proguard_uuids,
        scripts,
    }
}

fn frame_from_protocol(f: &vitals_protocol::Frame, is_caller: bool) -> RawFrame {
    if let Some(addr) = f.addr.as_deref().and_then(parse_addr) {
        return RawFrame::Native {
            addr,
            image: None,
            function: f.function.clone(),
            is_caller,
        };
    }
    let file_is_js = f.file.as_deref().is_some_and(|file| {
        let l = file.to_ascii_lowercase();
        JS_EXT.iter().any(|e| l.ends_with(e)) || l.contains("://")
    });
    if let (Some(url), Some(line), true) = (&f.file, f.line, f.col.is_some() || file_is_js)
        && (f.module.is_none() || file_is_js)
    {
        return RawFrame::Js {
            url: url.clone(),
            line,
            col: f.col.unwrap_or(0),
            function: f.function.clone(),
        };
    }
    if let (Some(class), Some(method)) = (&f.module, &f.function) {
        return RawFrame::Java {
            class: class.clone(),
            method: method.clone(),
            file: f.file.clone(),
            line: f.line,
        };
    }
    RawFrame::Other {
        function: f.function.clone(),
        module: f.module.clone(),
        file: f.file.clone(),
        line: f.line,
    }
}

/// Finds the image containing `addr`: the one with the highest base not
/// above it, within its size when the size is known.
pub fn find_image(images: &[RawImage], addr: u64) -> Option<usize> {
    images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.base <= addr && (i.size == 0 || addr < i.base.saturating_add(i.size)))
        .max_by_key(|(_, i)| i.base)
        .map(|(idx, _)| idx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_protocol::{Frame, Image, Thread};

    #[test]
    fn classifies_frames() {
        let ev = CrashEvent {
            ts: 0,
            crash_id: "c".into(),
            session_id: None,
            exception_type: "SIGSEGV".into(),
            message: String::new(),
            fatal: true,
            handled: false,
            threads: vec![Thread {
                id: 1,
                name: String::new(),
                crashed: true,
                frames: vec![
                    Frame {
                        addr: Some("0x1010".into()),
                        ..Default::default()
                    },
                    Frame {
                        module: Some("a.b".into()),
                        function: Some("c".into()),
                        file: Some("SourceFile".into()),
                        line: Some(3),
                        ..Default::default()
                    },
                    Frame {
                        file: Some("app:///index.android.bundle".into()),
                        line: Some(1),
                        col: Some(12),
                        ..Default::default()
                    },
                ],
            }],
            images: vec![
                Image {
                    debug_id: "67e9247c-814e-392b-a027-dbde6748fcbf".into(),
                    name: "/x/libapp.so".into(),
                    base: "0x1000".into(),
                    size: 0x100,
                    ..Default::default()
                },
                Image {
                    debug_id: "c96fb926-797c-53de-90ee-df2aeaf28340".into(),
                    arch: "proguard".into(),
                    ..Default::default()
                },
            ],
            raw: None,
            fingerprint: None,
            notes: Vec::new(),
        };
        let raw = from_event(&ev);
        assert_eq!(raw.images.len(), 1);
        assert_eq!(
            raw.proguard_uuids,
            vec!["c96fb926-797c-53de-90ee-df2aeaf28340"]
        );
        let f = &raw.threads[0].frames;
        assert!(matches!(
            f[0],
            RawFrame::Native {
                addr: 0x1010,
                is_caller: false,
                ..
            }
        ));
        assert!(matches!(f[1], RawFrame::Java { .. }));
        assert!(matches!(f[2], RawFrame::Js { col: 12, .. }));
        assert_eq!(find_image(&raw.images, 0x1010), Some(0));
        assert_eq!(find_image(&raw.images, 0x2000), None);
    }
}
