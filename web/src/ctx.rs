//! Per-request context: language, time zone, display preferences, the
//! signed-in user; and the wrapper every page handler runs in.

use crate::error::{Localized, WebError};
use crate::{St, auth};
use actix_web::{HttpRequest, HttpResponse};
use chrono_tz::Tz;
use std::future::Future;
use vitals_i18n::{Lang, Msg};
use vitals_store::control::Role;
use vitals_store::users::WebSession;

/// Cookie holding the display preferences (not a secret).
pub const PREFS_COOKIE: &str = "vitals_prefs";
/// Cookie holding the chosen language.
pub const LANG_COOKIE: &str = "vitals_lang";

/// Display theme: both are high-contrast (WCAG AAA text contrast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Light,
    Dark,
}

/// Display preferences: theme and font size (percent of the browser's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefs {
    pub theme: Theme,
    pub font: u16,
}

impl Default for Prefs {
    fn default() -> Self {
        Prefs {
            theme: Theme::Light,
            font: 100,
        }
    }
}

/// Font sizes offered.
pub const FONT_SIZES: [u16; 4] = [87, 100, 125, 150];

impl Prefs {
    /// Parses `light-100` / `dark-125`; anything else → defaults.
    pub fn parse(s: &str) -> Prefs {
        let (t, f) = s.split_once('-').unwrap_or((s, "100"));
        Prefs {
            theme: if t == "dark" {
                Theme::Dark
            } else {
                Theme::Light
            },
            font: f
                .parse()
                .ok()
                .filter(|f| FONT_SIZES.contains(f))
                .unwrap_or(100),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}-{}", self.theme_name(), self.font)
    }

    pub fn theme_name(&self) -> &'static str {
        match self.theme {
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
}

/// Reads one cookie from the request.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A same-site path to go back to after login or a preference change:
/// only `/ui/…`, never `//host` or a scheme.
pub fn safe_back(p: Option<&str>) -> String {
    match p {
        Some(p) if p.starts_with("/ui/") && !p.contains("//") && !p.contains('\\') => p.to_string(),
        _ => "/ui/".to_string(),
    }
}

fn query_param(req: &HttpRequest, key: &str) -> Option<String> {
    req.query_string()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// What a page needs to know about the request.
pub struct Ctx {
    pub lang: Lang,
    pub tz: Tz,
    pub prefs: Prefs,
    pub user: Option<WebSession>,
    /// Path and query of this request (for "back" links).
    pub here: String,
}

impl Ctx {
    /// Language: `?lang=`, then the cookie, then `Accept-Language`, then
    /// the configured default.
    pub fn new(req: &HttpRequest, st: &St) -> Ctx {
        let lang = query_param(req, "lang")
            .or_else(|| cookie(req, LANG_COOKIE))
            .and_then(|l| Lang::parse(&l))
            .unwrap_or_else(|| {
                Lang::negotiate(
                    req.headers()
                        .get("accept-language")
                        .and_then(|v| v.to_str().ok()),
                    st.lang,
                )
            });
        let here = match req.query_string() {
            "" => req.path().to_string(),
            q => format!("{}?{q}", req.path()),
        };
        Ctx {
            lang,
            tz: st.tz,
            prefs: cookie(req, PREFS_COOKIE)
                .map(|p| Prefs::parse(&p))
                .unwrap_or_default(),
            user: None,
            here,
        }
    }

    pub fn t(&self, m: Msg) -> String {
        m.text(self.lang)
    }

    pub fn r(&self, m: Msg, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        m.render(self.lang, args)
    }

    /// Whether the signed-in user has at least `role`.
    pub fn can(&self, role: Role) -> bool {
        self.user.as_ref().is_some_and(|u| u.role >= role)
    }

    pub fn csrf(&self) -> &str {
        self.user.as_ref().map(|u| u.csrf.as_str()).unwrap_or("")
    }

    pub fn user_name(&self) -> &str {
        self.user.as_ref().map(|u| u.user.as_str()).unwrap_or("")
    }

    pub fn ts(&self, secs: i64) -> String {
        crate::fmt::ts(secs, self.tz)
    }

    fn fail(&self, error: WebError) -> Localized {
        Localized {
            error,
            lang: self.lang,
            prefs: self.prefs,
        }
    }
}

/// Runs a page handler for a signed-in user with at least `needed`.
pub async fn guarded<F, Fut>(
    req: &HttpRequest,
    st: &St,
    needed: Role,
    f: F,
) -> Result<HttpResponse, Localized>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<HttpResponse, WebError>>,
{
    let mut cx = Ctx::new(req, st);
    match auth::require(req, st, needed) {
        Ok(s) => cx.user = Some(s),
        Err(e) => return Err(cx.fail(e)),
    }
    let (lang, prefs) = (cx.lang, cx.prefs);
    f(cx)
        .await
        .map_err(|error| Localized { error, lang, prefs })
}

/// Runs a form handler: signed in, role checked, CSRF token and origin
/// checked before anything else.
pub async fn posted<F, Fut>(
    req: &HttpRequest,
    st: &St,
    needed: Role,
    csrf: &str,
    f: F,
) -> Result<HttpResponse, Localized>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<HttpResponse, WebError>>,
{
    let mut cx = Ctx::new(req, st);
    // The token first: a forged request learns nothing about roles.
    let checked = auth::session(req, st).and_then(|s| match s {
        None => Err(WebError::Unauthenticated {
            next: "/ui/".into(),
        }),
        Some(s) => {
            auth::check_csrf(req, &s, csrf)?;
            if s.role < needed {
                return Err(WebError::Forbidden {
                    have: s.role,
                    needed,
                });
            }
            Ok(s)
        }
    });
    match checked {
        Ok(s) => cx.user = Some(s),
        Err(e) => return Err(cx.fail(e)),
    }
    let (lang, prefs) = (cx.lang, cx.prefs);
    f(cx)
        .await
        .map_err(|error| Localized { error, lang, prefs })
}

/// A 303 redirect.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", to.to_string()))
        .finish()
}
