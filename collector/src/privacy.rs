//! Privacy at the edge, applied before anything is spooled:
//! user ids pseudonymised (4.3.6c), device ids dropped without consent
//! (4.3.6d), client IPs kept only on opt-in, and sensitive numbers masked in
//! crash texts (4.3.5b).

use regex::Regex;
use vitals_protocol::{Batch, Event, sign::pseudonym};

/// Masks sensitive numbers: Chinese resident ID cards (18 characters),
/// mainland mobile numbers (11 digits from 13x–19x) and bank-card / fund
/// account numbers (12–19 digits), plus any configured extra patterns.
pub struct Scrubber {
    extra: Vec<Regex>,
}

impl Scrubber {
    pub fn new(extra_patterns: &[String]) -> Result<Self, regex::Error> {
        let extra = extra_patterns
            .iter()
            .map(|p| Regex::new(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Scrubber { extra })
    }

    /// Returns the text with every sensitive number masked.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = mask_digit_runs(text);
        for re in &self.extra {
            if re.is_match(&out) {
                out = re
                    .replace_all(&out, |c: &regex::Captures<'_>| {
                        "*".repeat(c[0].chars().count())
                    })
                    .into_owned();
            }
        }
        out
    }
}

fn mask(run: &str, keep_head: usize, keep_tail: usize) -> String {
    let n = run.len();
    let mut s = String::with_capacity(n);
    s.push_str(&run[..keep_head]);
    s.push_str(&"*".repeat(n - keep_head - keep_tail));
    s.push_str(&run[n - keep_tail..]);
    s
}

fn looks_like_id_card(run: &str) -> bool {
    let b = run.as_bytes();
    if b.len() != 18 || b[0] == b'0' {
        return false;
    }
    let year: u32 = run[6..10].parse().unwrap_or(0);
    let month: u32 = run[10..12].parse().unwrap_or(0);
    let day: u32 = run[12..14].parse().unwrap_or(0);
    (1900..=2100).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Finds maximal runs of ASCII digits (an ID card may end in X) and masks
/// those that look sensitive. Works inside Chinese text, where regex word
/// boundaries do not.
fn mask_digit_runs(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        // An ID card's check character may be X.
        let mut end = i;
        if end - start == 17 && end < bytes.len() && (bytes[end] == b'X' || bytes[end] == b'x') {
            end += 1;
        }
        let run = &text[start..end];
        // Part of a hex address or an identifier (0x1000123456789, abc123…)
        // when glued to ASCII letters or '.': not a standalone number.
        let glued = (start > 0
            && (bytes[start - 1].is_ascii_alphabetic() || bytes[start - 1] == b'.'))
            || (end < bytes.len() && (bytes[end].is_ascii_alphabetic() || bytes[end] == b'.'));
        let masked = if glued {
            None
        } else {
            match run.len() {
                18 if looks_like_id_card(run) => Some(mask(run, 3, 4)),
                11 if run.starts_with('1') && (b'3'..=b'9').contains(&run.as_bytes()[1]) => {
                    Some(mask(run, 3, 4))
                }
                12..=19 => Some(mask(run, 4, 4)),
                _ => None,
            }
        };
        if let Some(m) = masked {
            out.push_str(&text[last..start]);
            out.push_str(&m);
            last = end;
        }
        i = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Applies the edge privacy rules to a batch in place.
pub fn apply(batch: &mut Batch, pseudonym_secret: &[u8], scrubber: &Scrubber) {
    if !batch.consent.analytics {
        batch.user_id = None;
        batch.device.device_id = None;
    }
    if let Some(uid) = batch.user_id.take() {
        batch.user_id = Some(pseudonym(pseudonym_secret, &uid));
    }
    if !batch.consent.device_ids {
        batch.device.device_id = None;
    }
    for ev in &mut batch.events {
        if let Event::Crash(c) = ev {
            c.message = scrubber.scrub(&c.message);
            if let Some(raw) = &c.raw {
                c.raw = Some(scrubber.scrub(raw));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_ids_phones_and_accounts_inside_chinese_text() {
        let s = Scrubber::new(&[]).unwrap();
        assert_eq!(
            s.scrub("用户身份证11010519491231002X手机13812345678卡号6222020200112233445"),
            "用户身份证110***********002X手机138****5678卡号6222***********3445"
        );
        // short numbers, versions and addresses stay
        assert_eq!(
            s.scrub("code 404 at 0x7fff5fbff8c8 v17.1.2"),
            "code 404 at 0x7fff5fbff8c8 v17.1.2"
        );
        // 11 digits that are not a mobile number stay
        assert_eq!(s.scrub("n=10000000000"), "n=10000000000");
        assert_eq!(
            s.scrub("pc 0x1000123456789 lr 0x1000123456780"),
            "pc 0x1000123456789 lr 0x1000123456780"
        );
    }

    #[test]
    fn extra_patterns_apply() {
        let s = Scrubber::new(&["acct-[A-Z]{3}\\d{4}".to_string()]).unwrap();
        assert_eq!(
            s.scrub("for acct-ABC1234 failed"),
            "for ************ failed"
        );
        assert!(Scrubber::new(&["(".to_string()]).is_err());
    }
}
