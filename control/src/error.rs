//! The control plane's errors and their one mapping to HTTP status and the
//! JSON body `{"error": {"code", "message"}}`, localised by
//! `Accept-Language`. Signed client requests fail with the collector's own
//! errors (same codes as ingest, so SDKs handle both alike).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use vitals_i18n::{Lang, Msg};
use vitals_store::StoreError;
use vitals_store::control::AuthFailure;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{0}")]
    Auth(#[from] AuthFailure),
    #[error("signed request refused: {0}")]
    Signed(#[from] vitals_collector::ApiError),
    #[error("field {field} is invalid: {reason}")]
    Invalid { field: String, reason: String },
    #[error("site {0} must have IPv4 and IPv6 addresses")]
    DualStack(String),
    #[error("package of {size} bytes over the limit of {limit}")]
    PackageTooLarge { size: u64, limit: u64 },
    #[error("only an admin may override the package size limit")]
    OverrideNeedsAdmin,
    #[error("minimum version needs {days} days of notice, {given_days} given")]
    NoticeTooShort { days: u32, given_days: i64 },
    #[error("the requester may not approve their own action")]
    SameApprover,
    /// An alert rule acting automatically on an action the policy puts
    /// under approval, saved by a non-admin.
    #[error("only an admin may save a rule that carries out {action} automatically")]
    AutomaticNeedsAdmin { action: String },
    #[error("action {0} is not pending")]
    NotPending(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl ControlError {
    pub fn invalid(field: &str, reason: &str) -> ControlError {
        ControlError::Invalid {
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn status(&self) -> StatusCode {
        use ControlError::*;
        match self {
            Auth(AuthFailure::Missing | AuthFailure::Bad) => StatusCode::UNAUTHORIZED,
            Auth(AuthFailure::Forbidden { .. })
            | OverrideNeedsAdmin
            | SameApprover
            | AutomaticNeedsAdmin { .. } => StatusCode::FORBIDDEN,
            Auth(AuthFailure::Store(_)) | Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            Signed(e) => e.status(),
            Invalid { .. } | DualStack(_) | NoticeTooShort { .. } => StatusCode::BAD_REQUEST,
            PackageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            NotPending(_) => StatusCode::CONFLICT,
            NotFound(_) => StatusCode::NOT_FOUND,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Catalogue key and message in `lang`.
    pub fn parts(&self, lang: Lang) -> (&'static str, String) {
        use ControlError::*;
        let m =
            |msg: Msg, args: &[(&str, &dyn std::fmt::Display)]| (msg.key(), msg.render(lang, args));
        match self {
            Auth(AuthFailure::Missing) => m(Msg::AuthMissingToken, &[]),
            Auth(AuthFailure::Bad) => m(Msg::AuthBadToken, &[]),
            Auth(AuthFailure::Forbidden { role, needed }) => m(
                Msg::AuthForbidden,
                &[("role", &role.as_str()), ("needed", &needed.as_str())],
            ),
            Auth(AuthFailure::Store(e)) => m(Msg::RequestStoreUnavailable, &[("reason", e)]),
            Signed(e) => (e.msg().key(), e.message(lang)),
            Invalid { field, reason } => {
                m(Msg::RequestInvalid, &[("path", field), ("reason", reason)])
            }
            DualStack(site) => m(Msg::ControlDualStack, &[("site", site)]),
            PackageTooLarge { size, limit } => m(
                Msg::ControlPackageTooLarge,
                &[("size", size), ("limit", limit)],
            ),
            OverrideNeedsAdmin => m(Msg::ControlOverrideNeedsAdmin, &[]),
            NoticeTooShort { days, given_days } => m(
                Msg::ControlNoticeTooShort,
                &[("days", days), ("given", given_days)],
            ),
            SameApprover => m(Msg::ControlSameApprover, &[]),
            AutomaticNeedsAdmin { action } => {
                m(Msg::ControlAutomaticNeedsAdmin, &[("action", action)])
            }
            NotPending(id) => m(Msg::ControlNotPending, &[("id", id)]),
            NotFound(w) => m(Msg::RequestNotFound, &[("what", w)]),
            Store(e) => m(Msg::RequestStoreUnavailable, &[("reason", e)]),
            Internal(e) => m(Msg::RequestInternal, &[("reason", e)]),
        }
    }

    pub fn lang(self, lang: Lang) -> Localized {
        Localized(self, lang)
    }
}

/// An error with the language to answer in.
#[derive(Debug)]
pub struct Localized(pub ControlError, pub Lang);

impl std::fmt::Display for Localized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for Localized {
    fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let ControlError::Signed(e) = &self.0 {
            // Exactly the collector's answer (codes, Retry-After).
            let localized = vitals_collector::error::Localized {
                err: clone_signed(e),
                lang: self.1,
            };
            return localized.error_response();
        }
        let (code, message) = self.0.parts(self.1);
        if self.status_code().is_server_error() {
            tracing::error!(error = %self.0, code, "control request failed");
        }
        HttpResponse::build(self.status_code())
            .insert_header(("content-language", self.1.tag()))
            .json(json!({"error": {"code": code, "message": message}}))
    }
}

/// The collector's auth errors carry plain data; rebuild one to render it.
fn clone_signed(e: &vitals_collector::ApiError) -> vitals_collector::ApiError {
    use vitals_collector::ApiError as A;
    match e {
        A::MissingHeader(h) => A::MissingHeader(h),
        A::UnknownKey(k) => A::UnknownKey(k.clone()),
        A::RevokedKey(k) => A::RevokedKey(k.clone()),
        A::BadSignature => A::BadSignature,
        A::BadTimestamp(t) => A::BadTimestamp(t.clone()),
        A::StaleTimestamp { skew, max } => A::StaleTimestamp {
            skew: *skew,
            max: *max,
        },
        A::ReplayedNonce(n) => A::ReplayedNonce(n.clone()),
        A::AppMismatch { key_app, batch_app } => A::AppMismatch {
            key_app: key_app.clone(),
            batch_app: batch_app.clone(),
        },
        other => A::Internal(other.to_string()),
    }
}

/// Any value as JSON.
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, ControlError> {
    serde_json::to_value(v).map_err(|e| ControlError::Internal(e.to_string()))
}
