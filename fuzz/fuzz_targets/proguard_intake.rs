//! ProGuard / R8 mapping uploads and Java stack traces: the input is a
//! mapping file, a NUL byte, then a stack trace. The mapping is indexed
//! (`build_proguard_cache`), the index read back (`parse_cache`), and the
//! trace retraced whole (`retrace_text`), frame by frame (`retrace_frame`,
//! as the processor does) and its exception class (`retrace_class`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitals_symbolicator::android::{self, RetraceState};

/// `at a.b.c(File.java:12)` → (class, method, file, line).
fn frame(line: &str) -> Option<(&str, &str, Option<&str>, Option<u32>)> {
    let rest = line.trim_start().strip_prefix("at ")?;
    let (qualified, loc) = rest.split_once('(')?;
    let (class, method) = qualified.rsplit_once('.')?;
    let loc = loc.trim_end().trim_end_matches(')');
    let (file, line) = match loc.split_once(':') {
        Some((f, l)) => (Some(f), l.parse().ok()),
        None => (Some(loc).filter(|f| !f.is_empty()), None),
    };
    Some((class, method, file, line))
}

fuzz_target!(|data: &[u8]| {
    let (mapping, trace) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let trace = String::from_utf8_lossy(trace);
    let Ok(index) = android::build_proguard_cache(mapping) else {
        return;
    };
    let Ok(cache) = android::parse_cache(&index) else {
        return;
    };
    let _ = android::retrace_text(&cache, &trace);
    let exception = trace
        .lines()
        .next()
        .and_then(|l| l.split(':').next())
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.contains(' '));
    let retraced_exception = exception.and_then(|c| android::retrace_class(&cache, c));
    let mut state = RetraceState::new(retraced_exception.as_deref().or(exception));
    for line in trace.lines() {
        if line.trim_start().starts_with("Caused by:") {
            let class = line.trim_start()["Caused by:".len()..]
                .split(':')
                .next()
                .map(str::trim);
            state = RetraceState::new(class);
            continue;
        }
        if let Some((class, method, file, line)) = frame(line) {
            let _ = android::retrace_frame(&cache, &mut state, class, method, file, line);
        }
    }
});
