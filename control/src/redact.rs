//! Secrets in URLs, masked for everyone but admins (issue #22).
//!
//! Webhook URLs carry their credential in the URL itself: WeCom robots
//! `…/webhook/send?key=…`, DingTalk `…/robot/send?access_token=…`, Feishu
//! and Slack-style hooks a token as the last path segments, basic-auth
//! user info. Such URLs reach viewers through alert rules, the audit log
//! (rule changes keep their before / after) and delivery records. Every
//! place that shows them to a non-admin passes them through [`mask_url`] or
//! [`redact_json`]; delivery records store the masked form only.

use serde_json::Value;
use vitals_store::control::Role;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Path segments at least this long that mix letters and digits are taken
/// for tokens (Feishu `hook/<uuid>`, Slack `services/T…/B…/<token>`).
const TOKEN_SEGMENT: usize = 16;

/// Whether `role` sees secrets in URLs unmasked.
pub fn sees_secrets(role: Role) -> bool {
    role >= Role::Admin
}

fn looks_like_token(seg: &str) -> bool {
    seg.len() >= TOKEN_SEGMENT
        && seg.bytes().any(|b| b.is_ascii_digit())
        && seg.bytes().any(|b| b.is_ascii_alphabetic())
        && seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'%'))
}

/// `url` with every query value, user info and token-like path segment
/// replaced by `***`; scheme, host, port, the other path segments and the
/// query's parameter names stay, so people can still tell targets apart.
/// Text that is not an `http(s)://` URL is returned unchanged.
pub fn mask_url(url: &str) -> String {
    let lower = url.to_ascii_lowercase();
    let Some(scheme_end) = ["http://", "https://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.len())
    else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let host = match authority.rfind('@') {
        Some(i) => format!("{MASK}@{}", &authority[i + 1..]),
        None => authority.to_string(),
    };
    let (before_frag, frag) = match tail.split_once('#') {
        Some((a, _)) => (a, true),
        None => (tail, false),
    };
    let (path, query) = match before_frag.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_frag, None),
    };
    let path: Vec<String> = path
        .split('/')
        .map(|seg| {
            if looks_like_token(seg) {
                MASK.to_string()
            } else {
                seg.to_string()
            }
        })
        .collect();
    let mut out = format!("{}{host}{}", &url[..scheme_end], path.join("/"));
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, _)) => format!("{k}={MASK}"),
                None => MASK.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if frag {
        out.push('#');
        out.push_str(MASK);
    }
    out
}

/// Masks every URL found in `text` (free text such as an error message
/// that may quote one), and any `key=` / `access_token=` / `token=` /
/// `secret=` / `sign=` value outside URLs.
pub fn mask_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let lower = rest.to_ascii_lowercase();
        let next = ["http://", "https://"]
            .iter()
            .filter_map(|p| lower.find(p))
            .min();
        let Some(i) = next else {
            out.push_str(&mask_params(rest));
            return out;
        };
        out.push_str(&mask_params(&rest[..i]));
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .map(|j| i + j)
            .unwrap_or(rest.len());
        out.push_str(&mask_url(&rest[i..end]));
        rest = &rest[end..];
    }
}

/// `key=VALUE` style secrets in free text.
fn mask_params(text: &str) -> String {
    const NAMES: [&str; 6] = [
        "access_token=",
        "token=",
        "key=",
        "secret=",
        "sign=",
        "password=",
    ];
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let lower = text.to_ascii_lowercase();
    while i < text.len() {
        let hit = NAMES.iter().find(|n| {
            lower[i..].starts_with(**n)
                && (i == 0 || !lower.as_bytes()[i - 1].is_ascii_alphanumeric())
        });
        match hit {
            Some(n) => {
                out.push_str(&text[i..i + n.len()]);
                i += n.len();
                let end = text[i..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '&' | '"' | '\'' | ',' | ';'))
                    .map(|j| i + j)
                    .unwrap_or(text.len());
                if end > i {
                    out.push_str(MASK);
                }
                i = end;
            }
            None => {
                let c = text[i..].chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// Masks every URL-valued string in a JSON document (rule bodies, audit
/// before / after).
pub fn redact_json(v: &mut Value) {
    match v {
        Value::String(s) => {
            let lower = s.to_ascii_lowercase();
            if lower.contains("http://") || lower.contains("https://") {
                *s = mask_text(s);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_json),
        Value::Object(o) => o.values_mut().for_each(redact_json),
        _ => {}
    }
}

/// [`redact_json`] unless `role` sees secrets.
pub fn for_role(mut v: Value, role: Role) -> Value {
    if !sees_secrets(role) {
        redact_json(&mut v);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_credentials_are_masked() {
        assert_eq!(
            mask_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
        );
        assert_eq!(
            mask_url("https://oapi.dingtalk.com/robot/send?access_token=abc123&timestamp=1&sign=x"),
            "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=***&sign=***"
        );
        assert_eq!(
            mask_url(
                "https://open.feishu.cn/open-apis/bot/v2/hook/0f3c1b2a-9d4e-4c55-8f00-123456789abc"
            ),
            "https://open.feishu.cn/open-apis/bot/v2/hook/***"
        );
        assert_eq!(
            mask_url("http://user:pa55@hooks.bank.internal:8443/alert#frag"),
            "http://***@hooks.bank.internal:8443/alert#***"
        );
        assert_eq!(mask_url("ops@example.cn"), "ops@example.cn");
    }

    #[test]
    fn free_text_and_json_are_masked() {
        let t = mask_text(
            "error sending request for url (https://x.example/send?key=SECRET1): key=SECRET2, ok",
        );
        assert!(!t.contains("SECRET"), "{t}");
        assert!(t.contains("https://x.example/send?key=***"), "{t}");
        let mut v = serde_json::json!({
            "webhooks": [{"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=S3"}],
            "email": ["ops@example.cn"], "threshold": 0.5
        });
        let admin = for_role(v.clone(), Role::Admin);
        assert!(admin.to_string().contains("key=S3"));
        redact_json(&mut v);
        assert!(!v.to_string().contains("S3"), "{v}");
        assert!(v.to_string().contains("ops@example.cn"));
        assert!(!sees_secrets(Role::Operator) && sees_secrets(Role::Admin));
    }
}
