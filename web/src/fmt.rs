//! Formatting of numbers, rates, durations and times for display, and the
//! masking of sensitive values (4.3.5b).

use chrono::TimeZone;
use chrono_tz::Tz;

/// `YYYY-MM-DD HH:MM` in the configured time zone (never the server's).
pub fn ts(secs: i64, tz: Tz) -> String {
    if secs <= 0 {
        return "—".into();
    }
    tz.timestamp_opt(secs, 0)
        .single()
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "—".into())
}

/// A rate as a percentage with enough digits to compare against 0.05 %.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            let p = v * 100.0;
            if p == 0.0 {
                "0%".into()
            } else if p.abs() < 1.0 {
                format!("{p:.3}%")
            } else {
                format!("{p:.1}%")
            }
        }
        _ => "—".into(),
    }
}

/// An integer with thousands separators.
pub fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float with a unit, or a dash.
pub fn unit(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if v.abs() >= 100.0 {
                format!("{} {unit}", num(v.round() as u64))
            } else {
                format!("{v:.1} {unit}")
            }
        }
        _ => "—".into(),
    }
}

/// Milliseconds.
pub fn ms(v: Option<f64>) -> String {
    unit(v, "ms")
}

/// Bytes as KB / MB.
pub fn bytes(b: u64) -> String {
    let b = b as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.0} KB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// Masks what could be an account, card, ID-card or phone number: runs of
/// 7 or more digits keep only their last 4 (4.3.5b). Applied to every free
/// text that came from devices.
pub fn mask(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let n = run.chars().count();
        if n >= 7 {
            out.extend(std::iter::repeat_n('*', n - 4));
            out.extend(run.chars().skip(n - 4));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Masks the string values of a JSON document (numbers such as times and
/// sizes stay as they are).
pub fn mask_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(mask(s)),
        Value::Array(a) => Value::Array(a.iter().map(mask_json).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), mask_json(v))).collect())
        }
        other => other.clone(),
    }
}

/// The first 12 characters of a fingerprint, for display.
pub fn short(fp: &str) -> &str {
    fp.get(..12).unwrap_or(fp)
}

/// Truncates to `n` characters with an ellipsis.
pub fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_digit_runs_only() {
        assert_eq!(
            mask("acct 6222021234567890 bad"),
            "acct ************7890 bad"
        );
        assert_eq!(mask("index 12 beyond 4"), "index 12 beyond 4");
        assert_eq!(mask("13812345678"), "*******5678");
    }

    #[test]
    fn formats_rates_numbers_and_times() {
        assert_eq!(pct(Some(0.0005)), "0.050%");
        assert_eq!(pct(Some(0.25)), "25.0%");
        assert_eq!(pct(None), "—");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(num(12), "12");
        // 2024-01-01 00:00 UTC is 08:00 in Shanghai.
        assert_eq!(
            ts(1_704_067_200, chrono_tz::Asia::Shanghai),
            "2024-01-01 08:00"
        );
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MB");
    }
}
