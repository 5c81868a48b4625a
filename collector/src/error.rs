//! The collector's errors and their one mapping to HTTP status codes and
//! JSON bodies `{"error": {"code", "message", "path"?}}`, in the language
//! negotiated with the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::fmt;
use vitals_i18n::{Lang, Msg};
use vitals_protocol::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("unknown key {0}")]
    UnknownKey(String),
    #[error("revoked key {0}")]
    RevokedKey(String),
    #[error("bad signature")]
    BadSignature,
    #[error("bad timestamp {0}")]
    BadTimestamp(String),
    #[error("stale timestamp, skew {skew}s")]
    StaleTimestamp { skew: i64, max: u32 },
    #[error("replayed nonce {0}")]
    ReplayedNonce(String),
    #[error("key of app {key_app} used for app {batch_app}")]
    AppMismatch { key_app: String, batch_app: String },
    #[error("missing API token")]
    MissingToken,
    #[error("bad API token")]
    BadToken,
    #[error("role {role} may not do this, needs {needed}")]
    Forbidden {
        role: &'static str,
        needed: &'static str,
    },
    #[error("body over {0} bytes")]
    TooLarge(usize),
    #[error("decompressed body over {0} bytes")]
    DecompressedTooLarge(usize),
    #[error("unsupported encoding {0}")]
    BadEncoding(String),
    #[error("bad compression: {0}")]
    BadCompression(String),
    #[error("invalid batch: {0}")]
    Invalid(#[from] ValidationError),
    #[error("rate limited, retry in {retry}s")]
    RateLimited { app: String, retry: u64 },
    #[error("spool full")]
    SpoolFull { retry: u32 },
    #[error("spool write failed: {0}")]
    SpoolFailed(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    #[error("key {key} does not belong to project {project}")]
    ProjectMismatch { key: String, project: String },
    #[error("Sentry item {index}: {reason}")]
    SentryItem { index: usize, reason: String },
    #[error("Sentry envelope: {0}")]
    SentryEnvelope(String),
    #[error("Sentry intake is off for app {app}")]
    SentryDisabled { app: String },
    #[error("origin {origin} not allowed for app {app}")]
    OriginNotAllowed { app: String, origin: String },
    #[error("bad allowed origin: {0}")]
    SentryBadOrigin(vitals_store::sentry_intake::BadOrigin),
    #[error("no app {0}")]
    SentryAppNotFound(String),
    #[error("bad Sentry intake settings: {0}")]
    SentryBadSettings(String),
    #[error("minidump upload over {0} bytes")]
    AttachmentTooLarge(u64),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MissingHeader(_)
            | UnknownKey(_)
            | RevokedKey(_)
            | BadSignature
            | BadTimestamp(_)
            | StaleTimestamp { .. }
            | ReplayedNonce(_)
            | MissingToken
            | BadToken => StatusCode::UNAUTHORIZED,
            AppMismatch { .. }
            | Forbidden { .. }
            | ProjectMismatch { .. }
            | SentryDisabled { .. }
            | OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
            TooLarge(_) | DecompressedTooLarge(_) | AttachmentTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            BadEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BadCompression(_)
            | Invalid(_)
            | SentryItem { .. }
            | SentryEnvelope(_)
            | SentryBadOrigin(_)
            | SentryBadSettings(_) => StatusCode::BAD_REQUEST,
            RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            SpoolFull { .. } | SpoolFailed(_) | StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            NotFound(_) | SentryAppNotFound(_) => StatusCode::NOT_FOUND,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The catalogue message behind this error.
    pub fn msg(&self) -> Msg {
        use ApiError::*;
        match self {
            MissingHeader(_) => Msg::AuthMissingHeader,
            UnknownKey(_) => Msg::AuthUnknownKey,
            RevokedKey(_) => Msg::AuthRevokedKey,
            BadSignature => Msg::AuthBadSignature,
            BadTimestamp(_) => Msg::AuthBadTimestamp,
            StaleTimestamp { .. } => Msg::AuthStaleTimestamp,
            ReplayedNonce(_) => Msg::AuthReplayedNonce,
            AppMismatch { .. } => Msg::AuthAppMismatch,
            MissingToken => Msg::AuthMissingToken,
            BadToken => Msg::AuthBadToken,
            Forbidden { .. } => Msg::AuthForbidden,
            TooLarge(_) => Msg::RequestTooLarge,
            DecompressedTooLarge(_) => Msg::RequestDecompressedTooLarge,
            BadEncoding(_) => Msg::RequestBadEncoding,
            BadCompression(_) => Msg::RequestBadCompression,
            Invalid(e) if e.is_malformed() => Msg::RequestMalformed,
            Invalid(_) => Msg::RequestInvalid,
            RateLimited { .. } => Msg::RequestRateLimited,
            SpoolFull { .. } => Msg::RequestSpoolFull,
            SpoolFailed(_) => Msg::RequestSpoolFailed,
            NotFound(_) => Msg::RequestNotFound,
            StoreUnavailable(_) => Msg::RequestStoreUnavailable,
            Internal(_) => Msg::RequestInternal,
            ProjectMismatch { .. } => Msg::SentryProjectMismatch,
            SentryItem { .. } => Msg::SentryItem,
            SentryEnvelope(_) => Msg::SentryEnvelopeInvalid,
            SentryDisabled { .. } => Msg::SentryIntakeDisabled,
            OriginNotAllowed { .. } => Msg::SentryOriginRefused,
            SentryBadOrigin(_) => Msg::SentryBadOrigin,
            SentryAppNotFound(_) => Msg::SentryAppNotFound,
            SentryBadSettings(_) => Msg::SentryBadSettings,
            AttachmentTooLarge(_) => Msg::SentryAttachmentTooLarge,
        }
    }

    /// The message text in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        use ApiError::*;
        let m = self.msg();
        match self {
            MissingHeader(h) => m.render(lang, &[("header", h)]),
            UnknownKey(k) | RevokedKey(k) => m.render(lang, &[("key", k)]),
            BadTimestamp(v) => m.render(lang, &[("value", v)]),
            StaleTimestamp { skew, max } => m.render(lang, &[("skew", skew), ("max", max)]),
            ReplayedNonce(n) => m.render(lang, &[("nonce", n)]),
            AppMismatch { key_app, batch_app } => {
                m.render(lang, &[("key_app", key_app), ("batch_app", batch_app)])
            }
            Forbidden { role, needed } => m.render(lang, &[("role", role), ("needed", needed)]),
            TooLarge(l) | DecompressedTooLarge(l) => m.render(lang, &[("limit", l)]),
            BadEncoding(e) => m.render(lang, &[("encoding", e)]),
            BadCompression(r) | SpoolFailed(r) | StoreUnavailable(r) | Internal(r)
            | SentryBadSettings(r) => m.render(lang, &[("reason", r)]),
            Invalid(e) => e.message(lang),
            RateLimited { app, retry } => m.render(lang, &[("app", app), ("retry", retry)]),
            SpoolFull { retry } => m.render(lang, &[("retry", retry)]),
            NotFound(w) => m.render(lang, &[("what", w)]),
            BadSignature | MissingToken | BadToken => m.text(lang),
            ProjectMismatch { key, project } => {
                m.render(lang, &[("key", key), ("project", project)])
            }
            SentryItem { index, reason } => m.render(lang, &[("index", index), ("reason", reason)]),
            SentryEnvelope(r) => m.render(lang, &[("reason", r)]),
            SentryDisabled { app } | SentryAppNotFound(app) => m.render(lang, &[("app", app)]),
            OriginNotAllowed { app, origin } => m.render(lang, &[("app", app), ("origin", origin)]),
            SentryBadOrigin(b) => m.render(lang, &[("value", &b.value), ("reason", &b.reason)]),
            AttachmentTooLarge(l) => m.render(
                lang,
                &[
                    ("limit", l),
                    ("key", &"collector.sentry.max_attachment_bytes"),
                ],
            ),
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry, .. } => Some(*retry),
            ApiError::SpoolFull { retry } => Some(u64::from(*retry)),
            ApiError::SpoolFailed(_) | ApiError::StoreUnavailable(_) => Some(5),
            _ => None,
        }
    }

    /// Attaches the response language.
    pub fn lang(self, lang: Lang) -> Localized {
        Localized { err: self, lang }
    }
}

/// An [`ApiError`] with the language to answer in.
#[derive(Debug)]
pub struct Localized {
    pub err: ApiError,
    pub lang: Lang,
}

impl fmt::Display for Localized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.err)
    }
}

impl ResponseError for Localized {
    fn status_code(&self) -> StatusCode {
        self.err.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({
            "code": match &self.err {
                // The specific reason key lets SDKs tell "too old, drop it"
                // from other invalid values.
                ApiError::Invalid(e) if !e.is_malformed() => validation_code(e),
                other => other.msg().key(),
            },
            "message": self.err.message(self.lang),
        });
        match &self.err {
            ApiError::Invalid(e) => body["path"] = json!(e.path),
            ApiError::SentryBadOrigin(b) => {
                body["path"] = json!(format!("allowed_origins[{}]", b.index));
            }
            _ => {}
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header(("content-language", self.lang.tag()));
        if let Some(secs) = self.err.retry_after() {
            resp.insert_header(("retry-after", secs.to_string()));
        }
        resp.json(json!({ "error": body }))
    }
}

fn validation_code(e: &ValidationError) -> &'static str {
    use vitals_protocol::ValidationKind::*;
    match e.kind {
        Malformed(_) => Msg::RequestMalformed.key(),
        UnsupportedVersion(_) => Msg::ValUnsupportedVersion.key(),
        TooManyEvents { .. } => Msg::ValTooManyEvents.key(),
        NoEvents => Msg::ValNoEvents.key(),
        StringTooLong { .. } => Msg::ValStringTooLong.key(),
        Empty => Msg::ValEmpty.key(),
        BadId => Msg::ValBadId.key(),
        TooOld { .. } => Msg::ValTooOld.key(),
        InFuture { .. } => Msg::ValInFuture.key(),
        OutOfRange { .. } => Msg::ValOutOfRange.key(),
        TooManyItems { .. } => Msg::ValTooManyItems.key(),
        FatalHandled => Msg::ValFatalHandled.key(),
        StatusOnStart(_) => Msg::ValSessionStatusOnStart.key(),
        ForbiddenChar { .. } => Msg::ValForbiddenChar.key(),
    }
}
