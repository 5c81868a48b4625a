//! Crash grouping: a fingerprint from the exception type and the in-app
//! symbolicated frames of the crashed thread, with function names
//! normalised (no parameters, addresses, line numbers, hash suffixes or
//! generated lambda / closure numbers), so the same bug keeps its group
//! across releases. TOML rules can force a group key; merges and splits
//! made through the API are applied on top.

use crate::error::{Result, SymError};
use crate::model::SymbolicatedThread;
use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::OnceLock;

/// How many frames feed a fingerprint.
pub const MAX_FRAMES: usize = 8;

/// One fingerprint rule: every matcher given must match; then the crash's
/// group key is `group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Glob on any frame's normalised function (crashed thread).
    #[serde(default)]
    pub function: Option<String>,
    /// Glob on any frame's module / image / file.
    #[serde(default)]
    pub module: Option<String>,
    /// Glob on the message.
    #[serde(default)]
    pub message: Option<String>,
    /// Glob on the exception type.
    #[serde(default)]
    pub exception_type: Option<String>,
    /// The group key.
    pub group: String,
}

/// Rules file: `[[rule]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupingRules {
    /// Rules, first match wins.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

impl GroupingRules {
    /// Parses the TOML form.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| SymError::BadField {
            field: "grouping_rules".into(),
            reason: e.to_string(),
        })
    }
}

/// `*` and `?` glob, case-sensitive.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).unwrap_or_else(|_| unreachable_regex()))
}

fn unreachable_regex() -> Regex {
    // Only reached if a literal pattern above were invalid; matches nothing.
    Regex::new("[^\\s\\S]").unwrap_or_else(|_| std::process::abort())
}

/// Strips one trailing balanced `(...)` group (parameter list), plus
/// anything after it such as ` const`.
fn strip_params(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut depth = 0i32;
    for (i, b) in bytes.iter().enumerate().rev() {
        match b {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    // Keep "(anonymous namespace)" style prefixes intact.
                    let inner = &s[i + 1..];
                    if i == 0 || inner.starts_with("anonymous namespace") {
                        return s;
                    }
                    return s[..i].trim_end();
                }
            }
            _ => {}
        }
    }
    s
}

/// Normalises a function name for grouping.
pub fn normalize_function(name: &str) -> String {
    static HASH: OnceLock<Regex> = OnceLock::new();
    static LAMBDA_JAVA: OnceLock<Regex> = OnceLock::new();
    static SYNTH_CLASS: OnceLock<Regex> = OnceLock::new();
    static CPP_LAMBDA: OnceLock<Regex> = OnceLock::new();
    static RUST_CLOSURE: OnceLock<Regex> = OnceLock::new();
    static SWIFT_CLOSURE: OnceLock<Regex> = OnceLock::new();
    static CLONE_SUFFIX: OnceLock<Regex> = OnceLock::new();
    static ADDR: OnceLock<Regex> = OnceLock::new();
    let mut s = name.trim().to_string();
    // Objective-C methods keep their selector, nothing to strip.
    if !(s.starts_with("-[") || s.starts_with("+[")) {
        s = strip_params(&s).to_string();
    }
    s = re(&HASH, r"::h[0-9a-f]{16}$").replace(&s, "").into_owned();
    s = re(&LAMBDA_JAVA, r"(lambda\$[A-Za-z0-9_]+)\$\d+")
        .replace_all(&s, "$1")
        .into_owned();
    s = re(&SYNTH_CLASS, r"\$\$Lambda(\$\d+)?(/0x[0-9a-f]+)?|\$\d+\b")
        .replace_all(&s, "$$$$Lambda")
        .into_owned();
    s = re(&CPP_LAMBDA, r"\{lambda\([^)]*\)#\d+\}")
        .replace_all(&s, "{lambda}")
        .into_owned();
    s = re(&RUST_CLOSURE, r"\{closure#\d+\}")
        .replace_all(&s, "{closure}")
        .into_owned();
    s = re(&SWIFT_CLOSURE, r"closure #\d+")
        .replace_all(&s, "closure")
        .into_owned();
    s = re(
        &CLONE_SUFFIX,
        r"\.(cold|isra|constprop|part|lto_priv|llvm)(\.\d+)*",
    )
    .replace_all(&s, "")
    .into_owned();
    s = re(&ADDR, r"0x[0-9a-fA-F]+")
        .replace_all(&s, "")
        .into_owned();
    s
}

/// Normalises a message for fallback grouping: numbers and addresses out.
pub fn normalize_message(msg: &str) -> String {
    static NUM: OnceLock<Regex> = OnceLock::new();
    let first = msg.lines().next().unwrap_or("");
    re(&NUM, r"0x[0-9a-fA-F]+|\d+")
        .replace_all(first, "<n>")
        .into_owned()
}

/// Inputs of a fingerprint.
#[derive(Debug, Clone, Copy)]
pub struct GroupInput<'a> {
    /// Exception type.
    pub exception_type: &'a str,
    /// Message.
    pub message: &'a str,
    /// The crashed thread.
    pub thread: Option<&'a SymbolicatedThread>,
}

/// Computes `(fingerprint, basis)`.
pub fn fingerprint(input: GroupInput<'_>, rules: &GroupingRules) -> (String, Vec<String>) {
    let frames: Vec<_> = input
        .thread
        .map(|t| t.frames.iter().collect())
        .unwrap_or_default();
    for rule in &rules.rules {
        let f_ok = rule.function.as_deref().is_none_or(|p| {
            frames
                .iter()
                .filter_map(|f| f.function.as_deref())
                .any(|f| glob_match(p, &normalize_function(f)))
        });
        let m_ok = rule.module.as_deref().is_none_or(|p| {
            frames.iter().any(|f| {
                [&f.module, &f.image, &f.file]
                    .into_iter()
                    .flatten()
                    .any(|m| glob_match(p, m))
            })
        });
        let msg_ok = rule
            .message
            .as_deref()
            .is_none_or(|p| glob_match(p, input.message));
        let ty_ok = rule
            .exception_type
            .as_deref()
            .is_none_or(|p| glob_match(p, input.exception_type));
        if f_ok && m_ok && msg_ok && ty_ok {
            let basis = vec![format!("rule:{}", rule.group)];
            return (hash(&basis), basis);
        }
    }
    let mut basis = vec![format!("type:{}", input.exception_type)];
    let named = |in_app_only: bool| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in &frames {
            if in_app_only && !f.in_app {
                continue;
            }
            let Some(func) = f.function.as_deref() else {
                continue;
            };
            let n = normalize_function(func);
            // Recursion: collapse repeats.
            if out.last() != Some(&n) && !n.is_empty() {
                out.push(n);
            }
            if out.len() == MAX_FRAMES {
                break;
            }
        }
        out
    };
    let mut fs = named(true);
    if fs.is_empty() {
        fs = named(false);
    }
    if fs.is_empty() {
        basis.push(format!("message:{}", normalize_message(input.message)));
        for f in frames.iter().take(MAX_FRAMES) {
            if let Some(img) = &f.image {
                basis.push(format!("image:{img}"));
            }
        }
    } else {
        basis.extend(fs.into_iter().map(|f| format!("fn:{f}")));
    }
    (hash(&basis), basis)
}

fn hash(basis: &[String]) -> String {
    let mut h = Sha256::new();
    for b in basis {
        h.update(b.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..16])
}

/// How a split refines a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitBy {
    /// Add the normalised message to the basis.
    Message,
    /// Use all frames (not only in-app) for the basis.
    AllFrames,
}

/// Merges and splits made by people, per app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOverrides {
    /// fingerprint → fingerprint it was merged into.
    #[serde(default)]
    pub merged: HashMap<String, String>,
    /// fingerprint → how it is split.
    #[serde(default)]
    pub split: HashMap<String, SplitBy>,
}

impl GroupOverrides {
    /// Merges `from` groups into `into`.
    pub fn merge(&mut self, from: &[String], into: &str) {
        let target = self.resolve(into);
        for f in from {
            if f != &target {
                self.merged.insert(f.clone(), target.clone());
            }
        }
    }

    /// Splits a group (undoing any merge of it).
    pub fn split(&mut self, fingerprint: &str, by: SplitBy) {
        self.merged.remove(fingerprint);
        self.split.insert(fingerprint.to_string(), by);
    }

    /// Follows merges (bounded, cycles stop).
    pub fn resolve(&self, fp: &str) -> String {
        let mut cur = fp.to_string();
        for _ in 0..16 {
            match self.merged.get(&cur) {
                Some(next) if next != &cur => cur = next.clone(),
                _ => break,
            }
        }
        cur
    }

    /// Applies splits and merges to a computed fingerprint.
    pub fn apply(
        &self,
        input: GroupInput<'_>,
        fp: String,
        mut basis: Vec<String>,
    ) -> (String, Vec<String>) {
        let (fp, basis) = match self.split.get(&fp) {
            Some(SplitBy::Message) => {
                basis.push(format!("message:{}", normalize_message(input.message)));
                (hash(&basis), basis)
            }
            Some(SplitBy::AllFrames) => {
                let mut b = vec![format!("type:{}", input.exception_type)];
                if let Some(t) = input.thread {
                    b.extend(
                        t.frames
                            .iter()
                            .filter_map(|f| f.function.as_deref())
                            .take(MAX_FRAMES)
                            .map(|f| format!("fn:{}", normalize_function(f))),
                    );
                }
                b.push("split:all_frames".into());
                (hash(&b), b)
            }
            None => (fp, basis),
        };
        (self.resolve(&fp), basis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SymbolicatedFrame;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_function("main(int, char**)"), "main");
        assert_eq!(
            normalize_function("(anonymous namespace)::crash()"),
            "(anonymous namespace)::crash"
        );
        assert_eq!(
            normalize_function("foo::bar::h0123456789abcdef"),
            "foo::bar"
        );
        assert_eq!(
            normalize_function("crash_client::real_main::{closure#1}"),
            "crash_client::real_main::{closure}"
        );
        assert_eq!(
            normalize_function("com.a.B.lambda$onCreate$3"),
            "com.a.B.lambda$onCreate"
        );
        assert_eq!(normalize_function("com.a.B$1.run"), "com.a.B$$Lambda.run");
        assert_eq!(normalize_function("foo.cold.1"), "foo");
        assert_eq!(
            normalize_function("-[CRLCrashNULL crash]"),
            "-[CRLCrashNULL crash]"
        );
        assert_eq!(
            normalize_message("bad ptr 0x45 at 12"),
            "bad ptr <n> at <n>"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("*objc_msgSend*", "x objc_msgSend y"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a*d", "abc"));
        assert!(glob_match("*", ""));
    }

    fn thread(fns: &[(&str, bool)]) -> SymbolicatedThread {
        SymbolicatedThread {
            crashed: true,
            frames: fns
                .iter()
                .map(|(f, in_app)| SymbolicatedFrame {
                    function: Some(f.to_string()),
                    in_app: *in_app,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn fingerprints_rules_merges_splits() {
        let t1 = thread(&[("libc_abort", false), ("crash(int)", true), ("main", true)]);
        let t2 = thread(&[("crash(long)", true), ("main", true)]);
        let i1 = GroupInput {
            exception_type: "SIGSEGV",
            message: "a 1",
            thread: Some(&t1),
        };
        let i2 = GroupInput {
            exception_type: "SIGSEGV",
            message: "a 2",
            thread: Some(&t2),
        };
        let rules = GroupingRules::default();
        let (f1, b1) = fingerprint(i1, &rules);
        let (f2, _) = fingerprint(i2, &rules);
        assert_eq!(f1, f2, "{b1:?}");
        let rules = GroupingRules::from_toml(
            "[[rule]]\nfunction = \"crash\"\nexception_type = \"SIG*\"\ngroup = \"crashes\"\n",
        )
        .expect("rules");
        let (f3, b3) = fingerprint(i1, &rules);
        assert_eq!(b3, vec!["rule:crashes".to_string()]);
        assert_ne!(f3, f1);
        assert!(GroupingRules::from_toml("[[rule]]\nbogus = 1\n").is_err());

        let mut o = GroupOverrides::default();
        o.split(&f1, SplitBy::Message);
        let (s1, _) = o.apply(i1, f1.clone(), b1.clone());
        let (s2, _) = o.apply(i2, f2.clone(), b1.clone());
        assert_eq!(s1, s2, "numbers are normalised out of messages");
        o.merge(std::slice::from_ref(&s1), "target");
        assert_eq!(o.apply(i1, f1.clone(), b1.clone()).0, "target");
        o.merge(&["target".to_string()], "final");
        assert_eq!(o.resolve(&s1), "final");
    }
}
