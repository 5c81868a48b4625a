//! Apple crash inputs: KSCrash / Sentry-style JSON events (as CrashProbe
//! produces), Apple `.crash` text reports (parsed with
//! `apple-crash-report-parser`) and `.ips` JSON reports (iOS 15+).

use crate::detect::debug_id_key;
use crate::error::{Result, SymError};
use crate::native::parse_addr;
use crate::raw::{RawCrash, RawFrame, RawImage, RawThread};
use apple_crash_report_parser::AppleCrashReport;
use serde_json::Value;

/// Mach-O CPU type numbers to arch names.
pub fn arch_of_cpu_type(cpu_type: i64, cpu_subtype: i64) -> &'static str {
    match (cpu_type, cpu_subtype & 0xff) {
        (12, 9) => "armv7",
        (12, 11) => "armv7s",
        (12, _) => "arm",
        (16_777_228, 2) => "arm64e",
        (16_777_228, _) => "arm64",
        (33_554_444, _) => "arm64_32",
        (7, _) => "x86",
        (16_777_223, _) => "x86_64",
        _ => "unknown",
    }
}

fn bad(kind: &'static str, reason: impl Into<String>) -> SymError {
    SymError::BadPayload {
        kind,
        reason: reason.into(),
    }
}

fn addr_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => parse_addr(s),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn frames_from_sentry(st: &Value) -> Vec<RawFrame> {
    let frames = st.get("frames").and_then(Value::as_array);
    if frames.is_none_or(|f| f.is_empty()) {
        return frames_from_registers(st.get("registers"));
    }
    // Sentry order is outermost first; ours is innermost first.
    frames
        .into_iter()
        .flatten()
        .rev()
        .enumerate()
        .filter_map(|(i, f)| {
            let addr = f.get("instruction_addr").and_then(addr_of)?;
            Some(RawFrame::Native {
                addr,
                image: None,
                function: f
                    .get("function")
                    .and_then(Value::as_str)
                    .filter(|s| *s != "<redacted>")
                    .map(str::to_string),
                is_caller: i > 0,
            })
        })
        .collect()
}

/// A stack the reporter could not walk (NX page, smashed stack) still has
/// its registers: the program counter is frame 0, the link register (when
/// there is one and it differs) its caller.
fn frames_from_registers(regs: Option<&Value>) -> Vec<RawFrame> {
    let Some(regs) = regs else {
        return Vec::new();
    };
    let reg = |names: &[&str]| names.iter().find_map(|n| regs.get(*n).and_then(addr_of));
    let mut out = Vec::new();
    let pc = reg(&["pc", "rip", "eip"]);
    if let Some(pc) = pc {
        out.push(RawFrame::Native {
            addr: pc,
            image: None,
            function: None,
            is_caller: false,
        });
    }
    if let Some(lr) = reg(&["lr", "x30"]).filter(|lr| Some(*lr) != pc && *lr != 0) {
        out.push(RawFrame::Native {
            addr: lr,
            image: None,
            function: None,
            is_caller: true,
        });
    }
    out
}

/// Converts a KSCrash / Sentry JSON event (`exception.values`,
/// `threads.values`, `debug_meta.images`) to the raw form.
pub fn parse_sentry_event(json: &str) -> Result<RawCrash> {
    let v: Value = serde_json::from_str(json).map_err(|e| bad("apple-json", e.to_string()))?;
    let mut crash = RawCrash::default();
    for img in v
        .pointer("/debug_meta/images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let arch = arch_of_cpu_type(
            img.get("cpu_type").and_then(Value::as_i64).unwrap_or(0),
            img.get("cpu_subtype").and_then(Value::as_i64).unwrap_or(0),
        );
        let id = img
            .get("uuid")
            .or_else(|| img.get("debug_id"))
            .and_then(Value::as_str)
            .and_then(debug_id_key);
        crash.images.push(RawImage {
            name: img
                .get("name")
                .or_else(|| img.get("code_file"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            debug_id: id,
            code_id: None,
            base: img.get("image_addr").and_then(addr_of).unwrap_or(0),
            size: img.get("image_size").and_then(Value::as_u64).unwrap_or(0),
            arch: img
                .get("arch")
                .and_then(Value::as_str)
                .unwrap_or(arch)
                .to_string(),
        });
    }
    let exc = v.pointer("/exception/values/0");
    if let Some(exc) = exc {
        crash.exception_type = exc
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        crash.message = exc
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(st) = exc.get("stacktrace") {
            crash.threads.push(RawThread {
                id: exc.get("thread_id").and_then(Value::as_u64).unwrap_or(0),
                name: String::new(),
                crashed: true,
                frames: frames_from_sentry(st),
            });
        }
    }
    for t in v
        .pointer("/threads/values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = t.get("id").and_then(Value::as_u64).unwrap_or(0);
        let crashed = t.get("crashed").and_then(Value::as_bool).unwrap_or(false);
        if crashed && !crash.threads.is_empty() {
            continue; // the exception's stack is the crashed thread's
        }
        if let Some(st) = t.get("stacktrace") {
            crash.threads.push(RawThread {
                id,
                name: t
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                crashed,
                frames: frames_from_sentry(st),
            });
        }
    }
    Ok(crash)
}

/// Parses an Apple `.crash` text report.
pub fn parse_text_report(text: &str) -> Result<AppleCrashReport> {
    AppleCrashReport::from_reader(text.as_bytes()).map_err(|e| bad("apple-crash", e.to_string()))
}

/// Converts a parsed text report to the raw form.
pub fn text_report_to_raw(report: &AppleCrashReport) -> RawCrash {
    let md = &report.metadata;
    let images = report
        .binary_images
        .iter()
        .map(|b| RawImage {
            name: b.path.clone(),
            debug_id: debug_id_key(&b.uuid.to_string()),
            code_id: None,
            base: b.addr.0,
            size: b.size,
            arch: b.arch.clone(),
        })
        .collect();
    let threads = report
        .threads
        .iter()
        .map(|t| RawThread {
            id: t.id,
            name: t.name.clone().unwrap_or_default(),
            crashed: t.crashed,
            frames: t
                .frames
                .iter()
                .enumerate()
                .map(|(i, f)| RawFrame::Native {
                    addr: f.instruction_addr.0,
                    image: None,
                    function: f.symbol.clone(),
                    is_caller: i > 0,
                })
                .collect(),
        })
        .collect();
    RawCrash {
        exception_type: md.get("Exception Type").cloned().unwrap_or_default(),
        message: md
            .get("Exception Codes")
            .or_else(|| md.get("Termination Reason"))
            .cloned()
            .unwrap_or_default(),
        threads,
        images,
        proguard_uuids: Vec::new(),
        scripts: Vec::new(),
    }
}

/// Whether `text` looks like an `.ips` report (a JSON header line then a
/// JSON body).
pub fn looks_like_ips(text: &str) -> bool {
    let mut lines = text.trim_start().splitn(2, '\n');
    let head = lines.next().unwrap_or("");
    head.starts_with('{') && head.contains("bug_type") && lines.next().is_some()
}

/// Parses an `.ips` crash report (header line + JSON body with `threads`,
/// `usedImages`, `exception`).
pub fn parse_ips(text: &str) -> Result<RawCrash> {
    let text = text.trim_start();
    let (_, body) = text
        .split_once('\n')
        .ok_or_else(|| bad("ips", "missing body"))?;
    let v: Value = serde_json::from_str(body).map_err(|e| bad("ips", e.to_string()))?;
    let images: Vec<RawImage> = v
        .get("usedImages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| RawImage {
            name: i
                .get("path")
                .or_else(|| i.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            debug_id: i.get("uuid").and_then(Value::as_str).and_then(debug_id_key),
            code_id: None,
            base: i.get("base").and_then(addr_of).unwrap_or(0),
            size: i.get("size").and_then(Value::as_u64).unwrap_or(0),
            arch: i
                .get("arch")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        })
        .collect();
    let threads = v
        .get("threads")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(ti, t)| RawThread {
            id: t.get("id").and_then(Value::as_u64).unwrap_or(ti as u64),
            name: t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            crashed: t.get("triggered").and_then(Value::as_bool).unwrap_or(false),
            frames: t
                .get("frames")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, f)| {
                    let idx = f.get("imageIndex").and_then(Value::as_u64)? as usize;
                    let off = f.get("imageOffset").and_then(Value::as_u64)?;
                    let base = images.get(idx)?.base;
                    Some(RawFrame::Native {
                        addr: base.checked_add(off)?,
                        image: Some(idx),
                        function: f.get("symbol").and_then(Value::as_str).map(str::to_string),
                        is_caller: i > 0,
                    })
                })
                .collect(),
        })
        .collect();
    let exc = v.get("exception");
    let s = |k: &str| {
        exc.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(RawCrash {
        exception_type: s("type"),
        message: [s("signal"), s("subtype")]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
        threads,
        images,
        proguard_uuids: Vec::new(),
        scripts: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_report() {
        let ips = r#"{"app_name":"Bank","bug_type":"309"}
{"exception":{"type":"EXC_BAD_ACCESS","signal":"SIGSEGV","subtype":"KERN_INVALID_ADDRESS at 0x0"},
 "threads":[{"id":7,"triggered":true,"frames":[{"imageOffset":4096,"imageIndex":0,"symbol":"main"},{"imageOffset":8,"imageIndex":1}]}],
 "usedImages":[{"base":4294967296,"size":65536,"uuid":"67e9247c-814e-392b-a027-dbde6748fcbf","path":"/x/Bank.app/Bank","arch":"arm64"},
               {"base":8589934592,"size":4096,"uuid":"b8fdd34a-7f2f-3268-925b-9541332f84a2","name":"libsystem"}]}"#;
        assert!(looks_like_ips(ips));
        let raw = parse_ips(ips).expect("ips");
        assert_eq!(raw.exception_type, "EXC_BAD_ACCESS");
        assert_eq!(raw.images.len(), 2);
        assert_eq!(raw.threads[0].frames.len(), 2);
        assert!(matches!(
            raw.threads[0].frames[0],
            RawFrame::Native {
                addr: 0x1_0000_1000,
                ..
            }
        ));
        assert!(parse_ips("{\"bug_type\":1}\nnot json").is_err());
    }

    #[test]
    fn cpu_types() {
        assert_eq!(arch_of_cpu_type(16_777_228, 0), "arm64");
        assert_eq!(arch_of_cpu_type(16_777_223, 3), "x86_64");
    }
}
