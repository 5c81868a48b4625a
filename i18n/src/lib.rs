//! The message catalogue: every user-facing text of vitals (API errors, CLI
//! output, later the dashboard, e-mails and reports) lives here, once, in
//! Simplified Chinese and English.
//!
//! Messages are compile-time checked: each is a [`Msg`] variant with a stable
//! dotted key (used as the machine-readable `code` in API errors) and one
//! template per language. Templates name their arguments as `{name}`;
//! [`Msg::render`] substitutes them.

mod catalogue;

pub use catalogue::Msg;

use std::fmt;

/// A language the catalogue speaks. `zh-CN` is the default everywhere unless
/// configured otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    /// Parses a BCP 47 tag loosely: `zh`, `zh-CN`, `zh-Hans` → Chinese,
    /// `en`, `en-US` … → English. Anything else is `None`.
    pub fn parse(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        match primary {
            "zh" => Some(Lang::ZhCn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// Picks the best language from an HTTP `Accept-Language` header value,
    /// honouring q-values; falls back to `default`.
    pub fn negotiate(accept_language: Option<&str>, default: Lang) -> Lang {
        let Some(header) = accept_language else {
            return default;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("");
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(default)
    }

    /// The canonical tag: `zh-CN` or `en`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::parse(s).ok_or_else(|| format!("unknown language '{s}' (use zh-CN or en)"))
    }
}

/// Substitutes `{name}` placeholders in `template` with `args`. Unknown
/// placeholders are left as they are, so a missing argument is visible
/// rather than silently dropped.
pub fn fill(template: &str, args: &[(&str, &dyn fmt::Display)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                match args.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(&v.to_string()),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_by_quality() {
        assert_eq!(
            Lang::negotiate(Some("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::ZhCn),
            Lang::En
        );
        assert_eq!(
            Lang::negotiate(Some("fr, zh;q=0.5, en;q=0.4"), Lang::En),
            Lang::ZhCn
        );
        assert_eq!(Lang::negotiate(Some("fr"), Lang::En), Lang::En);
        assert_eq!(Lang::negotiate(None, Lang::ZhCn), Lang::ZhCn);
    }

    #[test]
    fn fills_placeholders_and_keeps_unknown_ones() {
        let s = fill("limit {limit} exceeded by {who}", &[("limit", &5)]);
        assert_eq!(s, "limit 5 exceeded by {who}");
    }

    #[test]
    fn every_message_has_both_languages_and_same_placeholders() {
        for m in Msg::ALL {
            let zh = m.template(Lang::ZhCn);
            let en = m.template(Lang::En);
            assert!(!zh.is_empty() && !en.is_empty(), "{} empty", m.key());
            let names = |t: &str| {
                let mut v: Vec<String> = t
                    .split('{')
                    .skip(1)
                    .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_string()))
                    .collect();
                v.sort();
                v
            };
            assert_eq!(names(zh), names(en), "placeholders differ in {}", m.key());
            assert!(
                zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{} has no Chinese text",
                m.key()
            );
        }
    }

    #[test]
    fn keys_are_unique() {
        let mut keys: Vec<_> = Msg::ALL.iter().map(|m| m.key()).collect();
        keys.sort();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len());
    }
}
