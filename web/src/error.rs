//! Errors of the dashboard and their one mapping to HTTP status.

use crate::ctx::Prefs;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::html;
use vitals_analyzer::AnalyzerError;
use vitals_control::ControlError;
use vitals_i18n::{Lang, Msg};
use vitals_store::StoreError;
use vitals_store::control::Role;

/// Everything a dashboard request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not signed in")]
    Unauthenticated { next: String },
    #[error("role {have} may not do this (needs {needed})", have = .have.as_str(), needed = .needed.as_str())]
    Forbidden { have: Role, needed: Role },
    #[error("the form's CSRF token or origin is wrong")]
    Csrf,
    #[error("too many failed sign-ins; retry in {retry_secs} s")]
    Throttled { retry_secs: u64 },
    /// Every password check is taken (a burst of sign-ins).
    #[error("sign-in busy; retry in {retry_secs} s")]
    Busy { retry_secs: u64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("actions are unavailable: the control plane is not running")]
    NoControl,
    #[error(transparent)]
    Analyzer(#[from] AnalyzerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl WebError {
    /// Status, catalogue message and its text.
    pub fn parts(&self, lang: Lang) -> (StatusCode, String) {
        match self {
            WebError::Unauthenticated { .. } => {
                (StatusCode::SEE_OTHER, Msg::WebLoginRequired.text(lang))
            }
            WebError::Forbidden { have, needed } => (
                StatusCode::FORBIDDEN,
                Msg::AuthForbidden.render(
                    lang,
                    &[("role", &have.as_str()), ("needed", &needed.as_str())],
                ),
            ),
            WebError::Csrf => (StatusCode::FORBIDDEN, Msg::WebCsrfFailed.text(lang)),
            WebError::Throttled { retry_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                Msg::WebLoginThrottled.render(lang, &[("retry", retry_secs)]),
            ),
            WebError::Busy { retry_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                Msg::WebLoginBusy.render(lang, &[("retry", retry_secs)]),
            ),
            WebError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                Msg::RequestNotFound.render(lang, &[("what", what)]),
            ),
            WebError::Invalid(reason) => (
                StatusCode::BAD_REQUEST,
                Msg::RequestInvalid.render(lang, &[("path", &"form"), ("reason", reason)]),
            ),
            WebError::NoControl => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::WebNoControl.text(lang),
            ),
            WebError::Analyzer(AnalyzerError::NoRelease { app, release }) => (
                StatusCode::NOT_FOUND,
                Msg::ReleaseNotFound.render(lang, &[("app", app), ("release", release)]),
            ),
            WebError::Analyzer(AnalyzerError::Policy(p)) => {
                (StatusCode::BAD_REQUEST, p.render(lang))
            }
            WebError::Store(StoreError::Invalid(e))
            | WebError::Analyzer(AnalyzerError::Store(StoreError::Invalid(e))) => (
                StatusCode::BAD_REQUEST,
                Msg::RequestInvalid.render(lang, &[("path", &"form"), ("reason", e)]),
            ),
            WebError::Store(StoreError::NotFound(what)) => (
                StatusCode::NOT_FOUND,
                Msg::RequestNotFound.render(lang, &[("what", what)]),
            ),
            WebError::Control(e) => {
                let (_, text) = e.parts(lang);
                (e.status(), text)
            }
            WebError::Store(StoreError::ShardUnavailable { shard, .. })
            | WebError::Analyzer(AnalyzerError::Store(StoreError::ShardUnavailable {
                shard,
                ..
            })) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestShardUnavailable.render(lang, &[("shard", shard)]),
            ),
            WebError::Analyzer(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.render(lang, &[("reason", &e.to_string())]),
            ),
            WebError::Store(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.render(lang, &[("reason", &e.to_string())]),
            ),
            WebError::Internal(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Msg::RequestInternal.render(lang, &[("reason", e)]),
            ),
        }
    }
}

/// An error with what is needed to render it.
#[derive(Debug)]
pub struct Localized {
    pub error: WebError,
    pub lang: Lang,
    pub prefs: Prefs,
}

impl std::fmt::Display for Localized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for Localized {
    fn status_code(&self) -> StatusCode {
        self.error.parts(self.lang).0
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::Unauthenticated { next } = &self.error {
            let loc = format!("/ui/login?next={}", crate::ctx::url_encode(next));
            return HttpResponse::SeeOther()
                .insert_header(("location", loc))
                .insert_header(("cache-control", "no-store"))
                .finish();
        }
        let (status, text) = self.error.parts(self.lang);
        if status.is_server_error() {
            tracing::warn!(error = %self.error, "dashboard request failed");
        }
        let l = self.lang;
        let body = html! {
            h1 { (Msg::WebErrorTitle.text(l)) " " (status.as_u16()) }
            p role="alert" class="error" { (text) }
            p { a href="/ui/" { (Msg::WebBackToOverview.text(l)) } }
        };
        let mut resp = crate::layout::bare(l, &self.prefs, &Msg::WebErrorTitle.text(l), body);
        *resp.status_mut() = status;
        if let WebError::Throttled { retry_secs } | WebError::Busy { retry_secs } = &self.error
            && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&retry_secs.to_string())
        {
            resp.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        resp
    }
}
