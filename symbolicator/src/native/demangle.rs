//! C++ names demangled as `c++filt`, `addr2line -C` and `llvm-symbolizer`
//! print them, on top of `symbolic-demangle` (cpp_demangle 0.4):
//!
//! - integer literals in template arguments carry a suffix, not a cast:
//!   `Ledger<long, 64ul>`, not `Ledger<long, (unsigned long)64>`;
//! - a constructor, destructor or conversion operator that is itself a
//!   template keeps its first parameter: cpp_demangle reads it as a return
//!   type and drops it (`basic_string<std::allocator<char> >(char const*,
//!   std::allocator<char> const&)` came out without `char const*`).

use regex::Regex;
use std::sync::LazyLock;
use symbolic_common::{Language, Name, NameMangling};
use symbolic_demangle::{Demangle, DemangleOptions};

/// `(type)digits` of the integer types both tools write with a suffix.
static LITERAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\((unsigned long long|unsigned long|unsigned int|long long|long)\)(-?[0-9]+)\b")
        .expect("literal regex")
});

/// A template constructor or destructor (`C1I…`, `D2I…`) or conversion
/// operator template (`cvI…`? no: `cv` takes a type, then `I…`).
static TEMPLATE_CTOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:C[1-5]|CI[12]|D[0-5])I").expect("ctor regex"));

fn suffix(ty: &str) -> &'static str {
    match ty {
        "unsigned int" => "u",
        "long" => "l",
        "unsigned long" => "ul",
        "long long" => "ll",
        _ => "ull",
    }
}

fn plain(name: &Name<'_>) -> String {
    name.try_demangle(DemangleOptions::complete()).into_owned()
}

/// The parameter list of a demangled function name: from the `(` that
/// matches the last `)`, with what follows it (`const`, clone suffixes).
fn params_start(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let end = s.rfind(')')?;
    let mut depth = 0i32;
    for i in (0..=end).rev() {
        match bytes[i] {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A template constructor's name with the parameter cpp_demangle drops:
/// a `v` (void, never a substitution candidate, so no reference shifts)
/// put before the parameters makes it skip that instead. The place is
/// where demangling still gives the same name with one parameter more.
fn template_ctor(mangled: &str, lang: Language, dropped: &str) -> Option<String> {
    let m = TEMPLATE_CTOR.find(mangled)?;
    let (head, params) = dropped.split_at(params_start(dropped)?);
    let rest = params.strip_prefix('(')?;
    for (i, _) in mangled.match_indices('E').filter(|(i, _)| *i >= m.end()) {
        let candidate = format!("{}v{}", &mangled[..=i], &mangled[i + 1..]);
        let out = plain(&Name::new(candidate.as_str(), NameMangling::Mangled, lang));
        let Some((h, p)) = params_start(&out).map(|j| out.split_at(j)) else {
            continue;
        };
        let Some(p) = p.strip_prefix('(') else {
            continue;
        };
        let more = if rest.starts_with(')') {
            p.find(')').is_some_and(|k| k > 0 && p[k..] == *rest)
        } else {
            p.ends_with(&format!(", {rest}"))
        };
        if h == head && more {
            return Some(out);
        }
    }
    None
}

/// Demangles `name` as the toolchain's tools do (see the module
/// documentation); names that are not mangled come back as they are.
pub fn demangle(name: &Name<'_>) -> String {
    let mut out = plain(name);
    let mangled = name.as_str();
    if out != mangled && mangled.starts_with("_Z") {
        if let Some(fixed) = template_ctor(mangled, name.language(), &out) {
            out = fixed;
        }
        if out.contains(')') {
            out = LITERAL
                .replace_all(&out, |c: &regex::Captures<'_>| {
                    format!("{}{}", &c[2], suffix(&c[1]))
                })
                .into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        demangle(&Name::new(s, NameMangling::Mangled, Language::Unknown))
    }

    /// Expected strings are `c++filt`'s (binutils 2.40) and
    /// `llvm-symbolizer`'s (LLVM 14) output for these symbols.
    #[test]
    fn as_cxxfilt_prints_them() {
        assert_eq!(
            d("_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEC2IS3_EEPKcRKS3_"),
            "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string<std::allocator<char> >(char const*, std::allocator<char> const&)"
        );
        assert_eq!(
            d("_ZN6vitals4risk6LedgerIlLm64EE4postEl"),
            "vitals::risk::Ledger<long, 64ul>::post(long)"
        );
        assert_eq!(d("_ZN1AILi3EE1fEv"), "A<3>::f()");
        assert_eq!(d("_ZN1AILj3EE1fEv"), "A<3u>::f()");
        assert_eq!(d("_ZN1AILln3EE1fEv"), "A<-3l>::f()");
        assert_eq!(d("_ZN1AILx3EE1fEv"), "A<3ll>::f()");
        assert_eq!(d("_ZN1AILy3EE1fEv"), "A<3ull>::f()");
        assert_eq!(d("_ZN1AILb1EE1fEv"), "A<true>::f()");
        // A template constructor without parameters, and a plain one.
        assert_eq!(d("_ZN1AC2IiEEv"), "A::A<int>()");
        assert_eq!(d("_ZN1AC2Ei"), "A::A(int)");
        assert_eq!(d("main"), "main");
        assert_eq!(d("weigh.constprop.0"), "weigh.constprop.0");
    }
}
