//! Android tombstones: the text `debuggerd` / `crash_dump` writes for a
//! native crash (`/data/tombstones/tombstone_NN`, or the same lines in
//! logcat under the `DEBUG` tag).
//!
//! Read here: the header (`Build fingerprint`, `ABI`, `pid: …, tid: …,
//! name: …  >>> process <<<`), the signal line (`signal 11 (SIGSEGV), code 1
//! (SEGV_MAPERR), fault addr 0x0`), `Abort message`, and every thread's
//! `backtrace:` (the crashed thread first; others follow `--- --- ---`
//! separators). Frames are `#NN pc <offset in the mapping> <path> [(offset
//! 0x…)] [(function+off)] [(BuildId: …)]`: the pc is already relative to its
//! library, so each library becomes an image at base 0 with its BuildId as
//! code id (uploaded `.so` files are found by it).

use crate::error::{Result, SymError};
use crate::raw::{RawCrash, RawFrame, RawImage, RawThread};

/// The signal line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneSignal {
    /// Signal number.
    pub number: i32,
    /// Signal name (`SIGSEGV`).
    pub name: String,
    /// `si_code`.
    pub code: Option<i32>,
    /// Name of the code (`SEGV_MAPERR`).
    pub code_name: Option<String>,
    /// Fault address; `None` when printed as `--------` (no address).
    pub fault_addr: Option<u64>,
    /// The line as written.
    pub line: String,
}

/// One backtrace line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneFrame {
    /// Frame number (`#NN`).
    pub index: usize,
    /// Program counter relative to the mapping.
    pub pc: u64,
    /// Library path (or `[anon:…]`, `<anonymous:…>`).
    pub path: String,
    /// Function as printed, without `+offset`.
    pub function: Option<String>,
    /// The `+offset` into the function.
    pub function_offset: Option<u64>,
    /// `(offset 0x…)`: offset of the mapping in its file (APK-embedded libraries).
    pub file_offset: Option<u64>,
    /// `(BuildId: …)`, lower-case hex.
    pub build_id: Option<String>,
}

/// One thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TombstoneThread {
    /// Thread id.
    pub tid: u64,
    /// Thread name.
    pub name: String,
    /// The crashing thread (the first one in a tombstone).
    pub crashed: bool,
    /// Frames, innermost first.
    pub frames: Vec<TombstoneFrame>,
}

/// A parsed tombstone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstone {
    /// `Build fingerprint`.
    pub build_fingerprint: Option<String>,
    /// `ABI` (`arm`, `arm64`, `x86`, `x86_64`, `riscv64`).
    pub abi: Option<String>,
    /// Process id.
    pub pid: Option<u64>,
    /// Process name (between `>>>` and `<<<`).
    pub process_name: Option<String>,
    /// The signal.
    pub signal: Option<TombstoneSignal>,
    /// `Abort message`.
    pub abort_message: Option<String>,
    /// Threads, the crashed one first.
    pub threads: Vec<TombstoneThread>,
}

fn bad(reason: &str) -> SymError {
    SymError::BadPayload {
        kind: "tombstone",
        reason: reason.into(),
    }
}

/// The text of a line without its logcat prefix (`… F DEBUG   : `,
/// `F/DEBUG   ( 1234): `), when it has one.
fn strip_logcat(line: &str) -> &str {
    let Some(i) = line.find("DEBUG") else {
        return line;
    };
    let before_ok = i == 0 || line[..i].ends_with([' ', '/']);
    let rest = line[i + 5..].trim_start();
    let rest = match rest.strip_prefix('(') {
        Some(r) => r.split_once(')').map(|x| x.1).unwrap_or(r).trim_start(),
        None => rest,
    };
    match rest.strip_prefix(':') {
        Some(r) if before_ok => r.strip_prefix(' ').unwrap_or(r),
        _ => line,
    }
}

/// Parses a tombstone.
pub fn parse(text: &str) -> Result<Tombstone> {
    let mut t = Tombstone::default();
    let mut cur = TombstoneThread {
        crashed: true,
        ..Default::default()
    };
    let mut in_backtrace = false;
    for raw in text.lines() {
        let line = strip_logcat(raw).trim();
        if let Some(v) = line.strip_prefix("Build fingerprint:") {
            t.build_fingerprint = Some(v.trim().trim_matches('\'').to_string());
        } else if let Some(v) = line.strip_prefix("ABI:") {
            t.abi = Some(v.trim().trim_matches('\'').to_string());
        } else if line.starts_with("--- --- ---") {
            in_backtrace = false;
            if !cur.frames.is_empty() || cur.tid != 0 {
                t.threads.push(std::mem::take(&mut cur));
            }
        } else if let Some(rest) = line.strip_prefix("pid:") {
            in_backtrace = false;
            parse_pid_line(rest, &mut t, &mut cur);
        } else if line.starts_with("signal ") && t.signal.is_none() {
            t.signal = Some(parse_signal(line));
        } else if let Some(m) = line.strip_prefix("Abort message:") {
            t.abort_message = Some(m.trim().trim_matches('\'').to_string());
        } else if line == "backtrace:" {
            in_backtrace = true;
        } else if in_backtrace {
            match parse_frame(line) {
                Some(f) => cur.frames.push(f),
                None if !line.is_empty() || !cur.frames.is_empty() => in_backtrace = false,
                None => {}
            }
        }
    }
    if !cur.frames.is_empty() || cur.tid != 0 {
        t.threads.push(cur);
    }
    if t.threads.iter().all(|th| th.frames.is_empty()) {
        return Err(bad("no backtrace"));
    }
    if let Some(first) = t.threads.first_mut() {
        first.crashed = true;
    }
    for th in t.threads.iter_mut().skip(1) {
        th.crashed = false;
    }
    Ok(t)
}

fn parse_pid_line(rest: &str, t: &mut Tombstone, cur: &mut TombstoneThread) {
    // pid: 1566, tid: 1568, name: crasher  >>> crasher <<<
    let (fields, process) = match rest.split_once(">>>") {
        Some((f, p)) => (f, p.split("<<<").next().map(str::trim)),
        None => (rest, None),
    };
    let mut tid = None;
    let mut name = String::new();
    for part in fields.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("tid:") {
            tid = v.trim().parse().ok();
        } else if let Some(v) = part.strip_prefix("name:") {
            name = v.trim().to_string();
        } else if let Ok(pid) = part.trim().parse::<u64>() {
            t.pid.get_or_insert(pid);
        }
    }
    if let Some(p) = process.filter(|p| !p.is_empty()) {
        t.process_name.get_or_insert_with(|| p.to_string());
    }
    // A second pid line without a separator (old logcat excerpts) still
    // names the thread the frames so far belong to.
    if !cur.frames.is_empty() && cur.tid != 0 {
        t.threads.push(std::mem::take(cur));
    }
    cur.tid = tid.unwrap_or(0);
    cur.name = name;
}

fn parse_signal(line: &str) -> TombstoneSignal {
    // signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0
    let paren = |s: &str| -> Option<String> {
        let a = s.find('(')?;
        let b = s[a..].find(')')? + a;
        Some(s[a + 1..b].to_string())
    };
    let mut sig = TombstoneSignal {
        number: 0,
        name: String::new(),
        code: None,
        code_name: None,
        fault_addr: None,
        line: line.to_string(),
    };
    for part in line.split(", ") {
        if let Some(v) = part.strip_prefix("signal ") {
            sig.number = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            sig.name = paren(v).unwrap_or_default();
        } else if let Some(v) = part.strip_prefix("code ") {
            sig.code = v.split_whitespace().next().and_then(|n| n.parse().ok());
            sig.code_name = paren(v);
        } else if let Some(v) = part.strip_prefix("fault addr ") {
            let v = v.split_whitespace().next().unwrap_or("");
            sig.fault_addr = u64::from_str_radix(v.trim_start_matches("0x"), 16).ok();
        }
    }
    sig
}

/// The parenthesised groups at the end of a frame line, outermost
/// parentheses removed; nested ones (`__pthread_start(void*)+30`) kept.
fn groups(s: &str) -> (String, Vec<String>) {
    let mut path_end = s.len();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for (i, c) in s.char_indices() {
        match c {
            '(' => {
                if depth == 0 && (i == 0 || s[..i].ends_with(' ')) {
                    start = Some(i);
                    path_end = path_end.min(i);
                }
                depth += 1;
            }
            ')' if depth > 0 => {
                depth -= 1;
                if depth == 0
                    && let Some(a) = start.take()
                {
                    out.push(s[a + 1..i].to_string());
                }
            }
            _ => {}
        }
    }
    (s[..path_end].trim().to_string(), out)
}

/// Parses `#00 pc 00000000000588e0  /system/lib64/libc.so (tgkill+8) (BuildId: …)`.
pub fn parse_frame(line: &str) -> Option<TombstoneFrame> {
    let rest = line.strip_prefix('#')?;
    let (idx, rest) = rest.split_once(char::is_whitespace)?;
    let index = idx.parse().ok()?;
    let rest = rest.trim_start().strip_prefix("pc")?.trim_start();
    let (pc, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let pc = u64::from_str_radix(pc, 16).ok()?;
    let (path, groups) = groups(rest.trim());
    let mut f = TombstoneFrame {
        index,
        pc,
        path,
        function: None,
        function_offset: None,
        file_offset: None,
        build_id: None,
    };
    for g in groups {
        if let Some(b) = g.strip_prefix("BuildId: ") {
            f.build_id = Some(b.trim().to_ascii_lowercase());
        } else if let Some(o) = g.strip_prefix("offset ") {
            f.file_offset = u64::from_str_radix(o.trim().trim_start_matches("0x"), 16).ok();
        } else if !g.is_empty() {
            match g.rfind('+') {
                Some(i) if g[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < g.len() => {
                    f.function = Some(g[..i].to_string());
                    f.function_offset = g[i + 1..].parse().ok();
                }
                _ => f.function = Some(g),
            }
        }
    }
    Some(f)
}

impl Tombstone {
    /// The crash in raw form: one image per library path (base 0, BuildId
    /// as code id), the crashed thread first.
    pub fn to_raw(&self) -> RawCrash {
        let arch = self.abi.clone().unwrap_or_default();
        let mut images: Vec<RawImage> = Vec::new();
        let mut threads = Vec::new();
        for th in &self.threads {
            let mut frames = Vec::new();
            for f in &th.frames {
                let image = match images.iter().position(|i| i.name == f.path) {
                    Some(i) => {
                        if images[i].code_id.is_none() {
                            images[i].code_id = f.build_id.clone();
                        }
                        i
                    }
                    None => {
                        images.push(RawImage {
                            name: f.path.clone(),
                            debug_id: None,
                            code_id: f.build_id.clone(),
                            base: 0,
                            size: 0,
                            arch: arch.clone(),
                        });
                        images.len() - 1
                    }
                };
                frames.push(RawFrame::Native {
                    addr: f.pc,
                    image: Some(image),
                    function: f.function.clone(),
                    is_caller: f.index > 0,
                });
            }
            threads.push(RawThread {
                id: th.tid,
                name: th.name.clone(),
                crashed: th.crashed,
                frames,
            });
        }
        let (exception_type, signal_line) = match &self.signal {
            Some(s) => (s.name.clone(), s.line.clone()),
            None => (String::new(), String::new()),
        };
        RawCrash {
            exception_type,
            message: self.abort_message.clone().unwrap_or(signal_line),
            threads,
            images,
            proguard_uuids: Vec::new(),
            scripts: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lines() {
        let f = parse_frame(
            "#06 pc 0000000000018958  /system/lib64/libc.so (__pthread_start(void*)+52) (BuildId: AB12)",
        )
        .expect("frame");
        assert_eq!((f.index, f.pc), (6, 0x18958));
        assert_eq!(f.path, "/system/lib64/libc.so");
        assert_eq!(f.function.as_deref(), Some("__pthread_start(void*)"));
        assert_eq!(f.function_offset, Some(52));
        assert_eq!(f.build_id.as_deref(), Some("ab12"));
        let f = parse_frame(
            "#01 pc 00000000000a1b2c  /data/app/~~x==/com.bank-1/base.apk!libpay.so (offset 0x2a000) (Pay::run(int, char const*)+12)",
        )
        .expect("apk frame");
        assert_eq!(f.path, "/data/app/~~x==/com.bank-1/base.apk!libpay.so");
        assert_eq!(f.file_offset, Some(0x2a000));
        assert_eq!(f.function.as_deref(), Some("Pay::run(int, char const*)"));
        let f = parse_frame("#05 pc 00000c6f  /system/xbin/crasher").expect("bare");
        assert_eq!(
            (f.path.as_str(), f.function),
            ("/system/xbin/crasher", None)
        );
        assert!(parse_frame("#01 pc zz /x").is_none());
        assert!(parse_frame("pc 0000 /x").is_none());
    }

    #[test]
    fn logcat_prefixes_and_threads() {
        let text = "\
04-20 11:22:33.444  1234  1234 F DEBUG   : pid: 10, tid: 11, name: main  >>> com.bank <<<
04-20 11:22:33.444  1234  1234 F DEBUG   : signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x45
04-20 11:22:33.444  1234  1234 F DEBUG   : Abort message: 'boom'
04-20 11:22:33.444  1234  1234 F DEBUG   : backtrace:
04-20 11:22:33.444  1234  1234 F DEBUG   :     #00 pc 0000000000001000  /data/app/libpay.so (BuildId: 0a)
F/DEBUG   ( 1234): --- --- --- --- --- --- --- --- --- --- --- --- --- --- --- ---
F/DEBUG   ( 1234): pid: 10, tid: 12, name: worker  >>> com.bank <<<
F/DEBUG   ( 1234): backtrace:
F/DEBUG   ( 1234):     #00 pc 0000000000002000  /system/lib64/libc.so (read+4)
";
        let t = parse(text).expect("parse");
        assert_eq!(t.pid, Some(10));
        assert_eq!(t.process_name.as_deref(), Some("com.bank"));
        let s = t.signal.as_ref().expect("signal");
        assert_eq!(
            (s.number, s.name.as_str(), s.code),
            (11, "SIGSEGV", Some(1))
        );
        assert_eq!(s.fault_addr, Some(0x45));
        assert_eq!(t.abort_message.as_deref(), Some("boom"));
        assert_eq!(t.threads.len(), 2);
        assert!(t.threads[0].crashed && !t.threads[1].crashed);
        assert_eq!((t.threads[0].tid, t.threads[1].tid), (11, 12));
        assert_eq!(t.threads[1].name, "worker");
        let raw = t.to_raw();
        assert_eq!(raw.message, "boom");
        assert_eq!(raw.images.len(), 2);
        assert_eq!(raw.images[0].code_id.as_deref(), Some("0a"));
        assert!(parse("nothing here").is_err());
    }
}
