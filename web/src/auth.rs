//! Sign-in, sessions, CSRF and login throttling.
//!
//! * Session cookie: random 256-bit id (only its SHA-256 is stored),
//!   `HttpOnly; SameSite=Strict; Path=/`, plus `Secure` and the `__Host-`
//!   prefix when served over HTTPS. Logout revokes the row (6.3e).
//! * CSRF: a per-session token in a hidden field of every form, compared in
//!   constant time; `Origin` (when sent) must be this host, and
//!   `Sec-Fetch-Site` (when sent) same-origin. The login form uses a
//!   double-submit cookie, as there is no session yet.
//! * Sign-in attempts pass [`crate::login_guard`] first: throttles per
//!   (name, client IP), client IP and name with progressive delays, a
//!   bounded number of password checks at a time, trusted-device cookies,
//!   the client IP from trusted proxies only.

use crate::ctx::{Ctx, LANG_COOKIE, PREFS_COOKIE, Prefs, cookie, safe_back, see_other};
use crate::error::{Localized, WebError};
use crate::login_guard::Attempt;
use crate::{St, layout};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use vitals_i18n::{Lang, Msg};
use vitals_store::control::Role;
use vitals_store::users::WebSession;

const LOGIN_CSRF_COOKIE: &str = "vitals_login";

/// The session cookie's name: `__Host-` only with `Secure`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-vitals_session"
    } else {
        "vitals_session"
    }
}

/// The trusted-device cookie's name: `__Host-` only with `Secure`.
fn device_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-vitals_device"
    } else {
        "vitals_device"
    }
}

fn set_cookie(name: &str, value: &str, max_age: i64, http_only: bool, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Constant-time string comparison.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The live session of the request, if any.
pub fn session(req: &HttpRequest, st: &St) -> Result<Option<WebSession>, WebError> {
    let Some(id) = cookie(req, session_cookie_name(st.settings.secure_cookies)) else {
        return Ok(None);
    };
    Ok(st.analyzer.cp.web_session(&id, st.settings.session)?)
}

/// The session, required, with at least `needed`.
pub fn require(req: &HttpRequest, st: &St, needed: Role) -> Result<WebSession, WebError> {
    let here = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    let s = session(req, st)?.ok_or(WebError::Unauthenticated { next: here })?;
    if s.role < needed {
        return Err(WebError::Forbidden {
            have: s.role,
            needed,
        });
    }
    Ok(s)
}

/// Checks that a POST came from our own page.
fn check_origin(req: &HttpRequest) -> Result<(), WebError> {
    if let Some(site) = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(WebError::Csrf);
    }
    if let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        let info = req.connection_info();
        let expected = format!("{}://{}", info.scheme(), info.host());
        if origin != expected {
            return Err(WebError::Csrf);
        }
    }
    Ok(())
}

/// Checks a form's CSRF token against the session's, and the origin.
pub fn check_csrf(req: &HttpRequest, s: &WebSession, token: &str) -> Result<(), WebError> {
    check_origin(req)?;
    if token.is_empty() || !ct_eq(token, &s.csrf) {
        return Err(WebError::Csrf);
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

fn login_page(
    cx: &Ctx,
    token: &str,
    next: &str,
    name: &str,
    error: Option<String>,
) -> maud::Markup {
    html! {
        div class="login" {
            h1 { (cx.t(Msg::WebLoginTitle)) }
            @if let Some(e) = error {
                p class="error" role="alert" id="login-error" { (e) }
            }
            form method="post" action="/ui/login" {
                input type="hidden" name="_csrf" value=(token);
                input type="hidden" name="next" value=(next);
                p {
                    label for="name" { (cx.t(Msg::WebUserName)) }
                    input id="name" name="name" type="text" autocomplete="username" required value=(name) autofocus;
                }
                p {
                    label for="password" { (cx.t(Msg::WebPassword)) }
                    input id="password" name="password" type="password" autocomplete="current-password" required;
                }
                p { button type="submit" class="primary" { (cx.t(Msg::WebLoginButton)) } }
            }
        }
    }
}

fn login_response(
    st: &St,
    cx: &Ctx,
    next: &str,
    name: &str,
    error: Option<String>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let token = random_hex();
    let body = login_page(cx, &token, next, name, error);
    let mut resp = layout::bare(cx.lang, &cx.prefs, &cx.t(Msg::WebLoginTitle), body);
    *resp.status_mut() = status;
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&set_cookie(
        LOGIN_CSRF_COOKIE,
        &token,
        1800,
        true,
        st.settings.secure_cookies,
    )) {
        resp.headers_mut()
            .append(actix_web::http::header::SET_COOKIE, v);
    }
    resp
}

/// `GET /ui/login`
pub async fn login_form(req: HttpRequest, q: web::Query<NextQuery>, st: St) -> HttpResponse {
    let cx = Ctx::new(&req, &st);
    let next = safe_back(q.next.as_deref());
    if let Ok(Some(_)) = session(&req, &st) {
        return see_other(&next);
    }
    login_response(&st, &cx, &next, "", None, actix_web::http::StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// The client's address: the peer, or what a trusted proxy says it is.
fn client_ip(req: &HttpRequest, st: &St) -> String {
    let header = req
        .headers()
        .get(st.guard.settings.client_ip_header.as_str())
        .and_then(|v| v.to_str().ok());
    st.guard.client_ip(req.peer_addr().map(|a| a.ip()), header)
}

/// `POST /ui/login`
pub async fn login(
    req: HttpRequest,
    form: web::Form<LoginForm>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let cx = Ctx::new(&req, &st);
    let fail = |error| Localized {
        error,
        lang: cx.lang,
        prefs: cx.prefs,
    };
    let f = form.into_inner();
    let next = safe_back(f.next.as_deref());
    let expected = cookie(&req, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if check_origin(&req).is_err() || f.csrf.is_empty() || !ct_eq(&f.csrf, &expected) {
        return Err(fail(WebError::Csrf));
    }
    let ip = client_ip(&req, &st);
    let secure = st.settings.secure_cookies;
    let now = vitals_control::now();
    let device = cookie(&req, device_cookie_name(secure));
    let trusted = st.guard.trusts(device.as_deref(), &f.name, now);
    let attempt = Attempt::new(&f.name, &ip, trusted);
    if let Err(retry_secs) = st.guard.throttles.begin(&attempt) {
        tracing::info!(user = %f.name, ip = %ip, retry_secs, "dashboard sign-in throttled");
        return Err(fail(WebError::Throttled { retry_secs }));
    }
    // At most a few password checks at a time (each holds 19 MiB); a
    // trusted device has a lane of its own.
    let gate = if trusted {
        &st.guard.trusted
    } else {
        &st.guard.general
    };
    let Ok(permit) = gate.enter().await else {
        st.guard.throttles.not_checked(&attempt);
        tracing::warn!(user = %f.name, ip = %ip, "dashboard sign-in refused: every password check is busy");
        return Err(fail(WebError::Busy { retry_secs: 1 }));
    };
    let cp = st.analyzer.cp.clone();
    let (name, password) = (f.name.clone(), f.password);
    // The slot is held until the check ends, even if the client goes away.
    let user = web::block(move || {
        let _slot = permit;
        cp.verify_user(&name, &password)
    })
    .await
    .map_err(|e| fail(WebError::Internal(e.to_string())))?
    .map_err(|e| fail(e.into()))?;
    let Some(user) = user else {
        st.guard.throttles.failed(&attempt);
        tracing::info!(user = %f.name, ip = %ip, trusted_device = trusted, "dashboard sign-in failed");
        return Ok(login_response(
            &st,
            &cx,
            &next,
            &f.name,
            Some(cx.t(Msg::WebLoginFailed)),
            actix_web::http::StatusCode::UNAUTHORIZED,
        ));
    };
    st.guard.throttles.succeeded(&attempt);
    let (id, _) = st
        .analyzer
        .cp
        .create_web_session(&user, st.settings.session)
        .map_err(|e| fail(e.into()))?;
    tracing::info!(user = %user.name, role = user.role.as_str(), ip = %ip, "dashboard sign-in");
    let device_days = i64::from(st.guard.settings.device_days);
    Ok(HttpResponse::SeeOther()
        .insert_header(("location", next))
        .insert_header(("cache-control", "no-store"))
        .append_header((
            "set-cookie",
            set_cookie(
                session_cookie_name(secure),
                &id,
                st.settings.session.max_secs,
                true,
                secure,
            ),
        ))
        .append_header((
            "set-cookie",
            set_cookie(LOGIN_CSRF_COOKIE, "", 0, true, secure),
        ))
        .append_header((
            "set-cookie",
            set_cookie(
                device_cookie_name(secure),
                &st.guard.device_cookie(&user.name, now),
                device_days * 86_400,
                true,
                secure,
            ),
        ))
        .finish())
}

/// Dashboard form posts are read only for a live session (issue #22):
/// without one, the answer is the sign-in redirect every page gives,
/// before the form body is parsed. `/ui/login` has its own checks.
pub async fn session_first(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::ResponseError;
    let guarded = req.method() == actix_web::http::Method::POST
        && req.path().starts_with("/ui/")
        && req.path() != "/ui/login";
    if guarded && let Some(st) = req.app_data::<St>().cloned() {
        let live = matches!(session(req.request(), &st), Ok(Some(_)));
        if !live {
            let cx = Ctx::new(req.request(), &st);
            let error = Localized {
                error: WebError::Unauthenticated {
                    next: "/ui/".into(),
                },
                lang: cx.lang,
                prefs: cx.prefs,
            };
            let resp = error.error_response();
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}

/// `POST /ui/logout`: ends the session server-side (6.3e).
pub async fn logout(
    req: HttpRequest,
    form: web::Form<CsrfForm>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let secure = st.settings.secure_cookies;
    let sid = cookie(&req, session_cookie_name(secure));
    crate::ctx::posted(
        &req,
        &st.clone(),
        Role::Viewer,
        &form.csrf,
        |cx| async move {
            if let Some(id) = sid {
                st.analyzer.cp.end_web_session(&id)?;
            }
            tracing::info!(user = %cx.user_name(), "dashboard sign-out");
            Ok(HttpResponse::SeeOther()
                .insert_header(("location", "/ui/login"))
                .append_header((
                    "set-cookie",
                    set_cookie(session_cookie_name(secure), "", 0, true, secure),
                ))
                .finish())
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct PrefsQuery {
    #[serde(default)]
    theme: Option<String>,
    #[serde(default)]
    font: Option<u16>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    back: Option<String>,
}

/// `GET /ui/prefs?theme=&font=&lang=&back=`: display preferences only
/// (cookies, no state change on the server), so a plain link works.
pub async fn prefs(req: HttpRequest, q: web::Query<PrefsQuery>, st: St) -> HttpResponse {
    let cx = Ctx::new(&req, &st);
    let mut p = cx.prefs;
    if let Some(t) = &q.theme {
        p = Prefs::parse(&format!("{t}-{}", p.font));
    }
    if let Some(f) = q.font {
        p = Prefs::parse(&format!("{}-{f}", p.theme_name()));
    }
    let secure = st.settings.secure_cookies;
    let year = 365 * 86_400;
    let mut resp = HttpResponse::SeeOther();
    resp.insert_header(("location", safe_back(q.back.as_deref())))
        .append_header((
            "set-cookie",
            set_cookie(PREFS_COOKIE, &p.encode(), year, false, secure),
        ));
    if let Some(l) = q.lang.as_deref().and_then(Lang::parse) {
        resp.append_header((
            "set-cookie",
            set_cookie(LANG_COOKIE, l.tag(), year, false, secure),
        ));
    }
    resp.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_and_back_links() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
        assert_eq!(safe_back(Some("//evil.example/")), "/ui/");
        assert_eq!(safe_back(Some("https://evil")), "/ui/");
        assert_eq!(safe_back(Some("/ui/apps/demo")), "/ui/apps/demo");
    }
}
