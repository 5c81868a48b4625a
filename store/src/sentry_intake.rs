//! Sentry-protocol intake per app (issue #22): the Sentry routes take no
//! signature, only a DSN, so they are a door of their own and stay shut
//! unless an admin opens them for an app.
//!
//! * **Off by default.** An app reports through the Sentry routes only
//!   once intake is enabled for it (`vitals sentry enable`, `PUT
//!   /api/v1/apps/{app}/sentry`); apps made for the signed SDK never do.
//! * **Unguessable project ids.** The DSN's project is a random 16-digit
//!   number drawn when intake is first configured, stored in
//!   `sentry_intake` and never derived from the app's name or the order
//!   apps were created in: the ingest key id travels in clear in every
//!   signed request, the project id does not.
//! * **Allowed origins.** A browser request (one carrying `Origin` or
//!   `Referer`) must come from one of the app's allowed origins, like
//!   Sentry's "allowed domains"; requests without either header (native
//!   and server SDKs) are not checked. Patterns: `*` (any origin),
//!   `example.com` (that host, any scheme and port), `*.example.com` (its
//!   sub-domains), `https://app.example.com` and `https://*.example.com`
//!   (that scheme), each with an optional `:port`.
//!
//! Changes are written with an audit entry (kind `sentry_intake`) in the
//! same transaction.

use crate::control::{ControlPlane, now};
use crate::cpdb::{Row, params};
use crate::{Result, StoreError};
use rand::Rng;
use serde::Serialize;
use serde_json::json;

/// Smallest project id: 16 decimal digits, so no leading zero (SDKs
/// normalise the project with `int()`, and "0123" would not round-trip).
pub const PROJECT_MIN: i64 = 1_000_000_000_000_000;
/// Largest project id: 2^53 - 1, exact as a JavaScript number.
pub const PROJECT_MAX: i64 = 9_007_199_254_740_991;
/// Most allowed-origin patterns per app.
pub const MAX_ORIGINS: usize = 100;
/// Longest allowed-origin pattern.
pub const MAX_ORIGIN_LEN: usize = 253;

/// An app's Sentry-protocol intake.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SentryIntake {
    /// Whether the Sentry routes accept this app's events.
    pub enabled: bool,
    /// The DSN's project id; `None` until intake is first configured.
    pub project: Option<i64>,
    /// Normalised allowed-origin patterns (see the module docs).
    pub allowed_origins: Vec<String>,
}

impl SentryIntake {
    /// Reads the columns `project, enabled, allowed_origins` from `first`
    /// on (NULL when the app has no row: intake off).
    pub(crate) fn from_row(r: &Row, first: usize) -> Result<SentryIntake> {
        let project: Option<i64> = r.get(first)?;
        let enabled: Option<bool> = r.get(first + 1)?;
        let origins: Option<String> = r.get(first + 2)?;
        Ok(SentryIntake {
            enabled: enabled.unwrap_or(false) && project.is_some(),
            project,
            allowed_origins: origins
                .and_then(|o| serde_json::from_str(&o).ok())
                .unwrap_or_default(),
        })
    }

    /// Whether a request with this `Origin` (already taken from `Origin`
    /// or `Referer`) may report.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let Some(o) = Origin::parse(origin) else {
            return self.allowed_origins.iter().any(|p| p == "*");
        };
        self.allowed_origins
            .iter()
            .filter_map(|p| Pattern::parse(p).ok())
            .any(|p| p.matches(&o))
    }
}

/// A request's origin: scheme, host and port (`None` = the scheme's
/// default).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// `scheme://host[:port]` with nothing after it but an optional `/`.
    fn parse(s: &str) -> Option<Origin> {
        let (scheme, rest) = s.split_once("://")?;
        let scheme = valid_scheme(scheme)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = host_port(rest).ok()?;
        let port = port.filter(|p| Some(*p) != default_port(&scheme));
        Some(Origin { scheme, host, port })
    }
}

/// The origin of a `Referer` URL (`scheme://host[:port]`), without path,
/// query or credentials.
pub fn referer_origin(referer: &str) -> Option<String> {
    let (scheme, rest) = referer.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    Some(format!("{scheme}://{authority}"))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn valid_scheme(s: &str) -> Option<String> {
    let ok = s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    ok.then(|| s.to_ascii_lowercase())
}

/// Why a host or port is refused.
type Bad = &'static str;

/// Splits `host[:port]` (`[v6]:port` for IPv6), lower-cases the host and
/// checks both.
fn host_port(s: &str) -> std::result::Result<(String, Option<u16>), Bad> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed '['")?;
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("bad IPv6 address");
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("text after ']'")?),
        };
        (format!("[{}]", h.to_ascii_lowercase()), port)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (s.to_ascii_lowercase(), None),
        }
    };
    let host = host.strip_suffix('.').unwrap_or(&host).to_string();
    if !host.starts_with('[') {
        let labels_ok = !host.is_empty()
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            });
        if !labels_ok {
            return Err("bad host name");
        }
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0 && p.to_string().len() <= 5)
                .ok_or("bad port")?,
        ),
    };
    Ok((host, port))
}

/// One allowed-origin pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `None`: any scheme.
    scheme: Option<String>,
    /// `None`: any host (`*`).
    host: Option<String>,
    /// The host is a parent domain: only its sub-domains match.
    subdomains: bool,
    /// `None`: any port.
    port: Option<u16>,
}

impl Pattern {
    fn parse(s: &str) -> std::result::Result<Pattern, Bad> {
        if s.is_empty() {
            return Err("empty");
        }
        if s.len() > MAX_ORIGIN_LEN {
            return Err("too long");
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("white space or control character");
        }
        if s == "*" {
            return Ok(Pattern {
                scheme: None,
                host: None,
                subdomains: false,
                port: None,
            });
        }
        let (scheme, rest) = match s.split_once("://") {
            Some((sch, rest)) => (Some(valid_scheme(sch).ok_or("bad scheme")?), rest),
            None => (None, s),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("a path, query or fragment (an origin has none)");
        }
        if rest.contains('@') {
            return Err("credentials");
        }
        let (subdomains, rest) = match rest.strip_prefix("*.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        if rest.contains('*') {
            return Err("'*' other than a leading '*.'");
        }
        let (host, port) = host_port(rest)?;
        if subdomains && host.starts_with('[') {
            return Err("'*.' before an IP address");
        }
        let port = match (&scheme, port) {
            (Some(sch), Some(p)) if Some(p) == default_port(sch) => None,
            (_, p) => p,
        };
        Ok(Pattern {
            scheme,
            host: Some(host),
            subdomains,
            port,
        })
    }

    /// The normalised text of the pattern.
    fn text(&self) -> String {
        let Some(host) = &self.host else {
            return "*".into();
        };
        let mut s = String::new();
        if let Some(sch) = &self.scheme {
            s.push_str(sch);
            s.push_str("://");
        }
        if self.subdomains {
            s.push_str("*.");
        }
        s.push_str(host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }

    fn matches(&self, o: &Origin) -> bool {
        let Some(host) = &self.host else {
            return true;
        };
        let host_ok = if self.subdomains {
            o.host
                .strip_suffix(host.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        } else {
            &o.host == host
        };
        let scheme_ok = self.scheme.as_ref().is_none_or(|s| *s == o.scheme);
        // `https://host` is exactly that origin (default port); a bare host
        // or `*.host` takes any scheme and port.
        let port_ok = match (self.port, &self.scheme) {
            (Some(p), _) => o.port.or_else(|| default_port(&o.scheme)) == Some(p),
            (None, Some(_)) => o.port.is_none(),
            (None, None) => true,
        };
        host_ok && scheme_ok && port_ok
    }
}

/// A refused allowed-origin pattern: its index in the list, the text and
/// why (English; the caller's message explains the form).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("allowed_origins[{index}] {value:?}: {reason}")]
pub struct BadOrigin {
    pub index: usize,
    pub value: String,
    pub reason: &'static str,
}

/// Checks and normalises allowed-origin patterns (lower-case host,
/// default port dropped, duplicates removed, order kept).
pub fn normalize_origins(list: &[String]) -> std::result::Result<Vec<String>, BadOrigin> {
    let mut out: Vec<String> = Vec::new();
    for (index, raw) in list.iter().enumerate() {
        let bad = |reason| BadOrigin {
            index,
            value: raw.chars().take(MAX_ORIGIN_LEN + 1).collect(),
            reason,
        };
        if index >= MAX_ORIGINS {
            return Err(bad("more than 100 allowed origins"));
        }
        let p = Pattern::parse(raw.trim_matches(' ')).map_err(bad)?;
        let t = p.text();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// A change of an app's intake ([`ControlPlane::set_sentry_intake`]).
#[derive(Debug, Clone, Default)]
pub struct IntakeChange {
    /// Turn intake on or off; `None` keeps it as it is.
    pub enabled: Option<bool>,
    /// Replace the allowed origins; `None` keeps them.
    pub allowed_origins: Option<Vec<String>>,
    /// Add these allowed origins to the list.
    pub add_origins: Vec<String>,
}

fn random_project() -> i64 {
    rand::thread_rng().gen_range(PROJECT_MIN..=PROJECT_MAX)
}

impl ControlPlane {
    /// Changes an app's Sentry intake (drawing its project id the first
    /// time) and audits the change as `actor`; returns the new settings.
    /// Patterns are checked first ([`normalize_origins`]).
    pub fn set_sentry_intake(
        &self,
        app_id: &str,
        change: &IntakeChange,
        actor: &str,
    ) -> Result<SentryIntake> {
        let bad = |e: BadOrigin| StoreError::Invalid(e.to_string());
        let replace = change
            .allowed_origins
            .as_deref()
            .map(normalize_origins)
            .transpose()
            .map_err(bad)?;
        let add = normalize_origins(&change.add_origins).map_err(bad)?;
        if self.app(app_id)?.is_none() {
            return Err(StoreError::NotFound(format!("app {app_id}")));
        }
        // A new project id collides with another app's with odds of about
        // apps / 8·10^15; the UNIQUE constraint catches it and we draw again.
        for _ in 0..4 {
            let (app, actor, enabled) = (app_id.to_string(), actor.to_string(), change.enabled);
            let (replace, add, project) = (replace.clone(), add.clone(), random_project());
            let r = self.db.transaction(move |tx| {
                tx.lock(&format!("sentry_intake:{app}"))?;
                let before = tx
                    .query_opt(
                        "SELECT project, enabled, allowed_origins FROM sentry_intake WHERE app_id = ?",
                        &params![app],
                    )?
                    .map(|r| SentryIntake::from_row(&r, 0))
                    .transpose()?;
                let mut after = before.clone().unwrap_or_default();
                after.project = after.project.or(Some(project));
                if let Some(e) = enabled {
                    after.enabled = e;
                }
                if let Some(list) = replace {
                    after.allowed_origins = list;
                }
                for o in add {
                    if !after.allowed_origins.contains(&o) {
                        after.allowed_origins.push(o);
                    }
                }
                if after.allowed_origins.len() > MAX_ORIGINS {
                    return Err(StoreError::Invalid(format!(
                        "more than {MAX_ORIGINS} allowed origins"
                    )));
                }
                let origins = serde_json::to_string(&after.allowed_origins)
                    .map_err(|e| StoreError::Invalid(e.to_string()))?;
                let at = now();
                tx.execute(
                    "INSERT INTO sentry_intake (app_id, project, enabled, allowed_origins, updated_at, updated_by)
                     VALUES (?, ?, ?, ?, ?, ?)
                     ON CONFLICT (app_id) DO UPDATE SET enabled = excluded.enabled,
                       allowed_origins = excluded.allowed_origins,
                       updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    &params![app, after.project, after.enabled, origins, at, actor],
                )?;
                let action = match (before.as_ref().map(|b| b.enabled), after.enabled) {
                    (Some(true), true) | (None | Some(false), false) => "sentry_intake.origins",
                    (_, true) => "sentry_intake.enable",
                    (_, false) => "sentry_intake.disable",
                };
                let state = |s: &SentryIntake| {
                    json!({"enabled": s.enabled, "allowed_origins": s.allowed_origins}).to_string()
                };
                tx.execute(
                    "INSERT INTO ops_audit (at, actor, action, app_id, kind, object_id, reason, before, after)
                     VALUES (?, ?, ?, ?, 'sentry_intake', ?, '', ?, ?)",
                    &params![at, actor, action, app, app, before.as_ref().map(state), state(&after)],
                )?;
                Ok(after)
            });
            match r {
                Err(StoreError::Conflict(_)) => continue,
                r => return r,
            }
        }
        Err(StoreError::Conflict(
            "no free Sentry project id after 4 draws".into(),
        ))
    }

    /// The app whose Sentry project id is `project`, if any.
    pub fn app_for_sentry_project(&self, project: i64) -> Result<Option<String>> {
        self.db
            .query_opt(
                "SELECT app_id FROM sentry_intake WHERE project = ?",
                &params![project],
            )?
            .map(|r| r.get(0))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intake(origins: &[&str]) -> SentryIntake {
        let list: Vec<String> = origins.iter().map(|s| s.to_string()).collect();
        SentryIntake {
            enabled: true,
            project: Some(PROJECT_MIN),
            allowed_origins: normalize_origins(&list).expect("valid patterns"),
        }
    }

    #[test]
    fn patterns_are_checked_and_normalised() {
        let ok = |s: &str| normalize_origins(&[s.to_string()]).map(|v| v[0].clone());
        assert_eq!(
            ok("HTTPS://App.Example.COM/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            ok("https://app.example.com:443").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            ok("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(ok("*.Example.com").unwrap(), "*.example.com");
        assert_eq!(ok("[::1]:3000").unwrap(), "[::1]:3000");
        assert_eq!(ok(" * ").unwrap(), "*");
        for bad in [
            "",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://app.*.com",
            "https://app.example.com:99999",
            "https://app.example.com:0",
            "ftp:/x",
            "app example.com",
            "https://app.example.com\n",
            "https://-bad.example.com",
            "*.[::1]",
            "https://app..example.com",
        ] {
            let e = normalize_origins(&[bad.to_string()]).expect_err(bad);
            assert_eq!(e.index, 0);
        }
        let many: Vec<String> = (0..=MAX_ORIGINS)
            .map(|i| format!("h{i}.example.com"))
            .collect();
        assert_eq!(normalize_origins(&many).unwrap_err().index, MAX_ORIGINS);
        let dup = ["a.example.com".to_string(), "A.example.com".to_string()];
        assert_eq!(normalize_origins(&dup).unwrap(), vec!["a.example.com"]);
    }

    #[test]
    fn origins_match_like_sentry_allowed_domains() {
        let i = intake(&[
            "https://app.example.com",
            "*.bank.cn",
            "http://localhost:8080",
        ]);
        assert!(i.origin_allowed("https://app.example.com"));
        assert!(i.origin_allowed("https://app.example.com:443"));
        assert!(!i.origin_allowed("http://app.example.com"), "scheme");
        assert!(!i.origin_allowed("https://app.example.com:8443"), "port");
        assert!(!i.origin_allowed("https://evil-app.example.com"));
        assert!(!i.origin_allowed("https://app.example.com.evil.cn"));
        assert!(i.origin_allowed("https://m.bank.cn"));
        assert!(
            i.origin_allowed("http://a.b.bank.cn:81"),
            "any scheme and port"
        );
        assert!(!i.origin_allowed("https://bank.cn"), "sub-domains only");
        assert!(!i.origin_allowed("https://evilbank.cn"));
        assert!(i.origin_allowed("http://localhost:8080"));
        assert!(!i.origin_allowed("http://localhost:8081"));
        assert!(!i.origin_allowed("null"));
        assert!(
            !i.origin_allowed("https://app.example.com/x"),
            "not an origin"
        );
        assert!(!intake(&[]).origin_allowed("https://app.example.com"));
        let any = intake(&["*"]);
        assert!(any.origin_allowed("https://anything.example"));
        assert!(any.origin_allowed("null"));
    }

    #[test]
    fn referer_gives_its_origin() {
        assert_eq!(
            referer_origin("https://u:p@App.example.com:8443/a/b?c#d").as_deref(),
            Some("https://App.example.com:8443")
        );
        assert_eq!(
            referer_origin("https://app.example.com").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(referer_origin("not a url"), None);
    }
}
