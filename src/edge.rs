//! What every request meets before any handler (issue #22: protocol true
//! to the docs).
//!
//! * **Authentication before the body.** The API's write routes read JSON
//!   bodies with extractors, which run before the handler checks the
//!   bearer token: an anonymous client could make the server parse its
//!   body and learn from the 400 what the route expects. [`auth_first`]
//!   refuses a write to `/api/v1/…` without a valid API token (any role;
//!   each handler still checks the role it needs) before the body is read.
//!   Signed ingest (`/api/v1/batch`) authenticates itself before it
//!   decompresses or decodes anything, and the Sentry routes (outside
//!   `/api/v1/`) by their DSN key.
//! * **HSTS** when vitals is served over HTTPS (`[https] enabled`):
//!   [`hsts`] is the header value for every response.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use std::sync::Arc;
use vitals_collector::ApiError;
use vitals_i18n::Lang;
use vitals_store::ControlPlane;
use vitals_store::control::{AuthFailure, Role};

/// Routes under `/api/v1/` that do not take a bearer token.
const SIGNED: &[&str] = &["/api/v1/batch"];

/// Whether a request must show a valid API token before its body is read.
fn needs_token(method: &Method, path: &str) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) && path.starts_with("/api/v1/")
        && !SIGNED.contains(&path)
}

/// Refuses a write to the API without a valid bearer token (401, the
/// same JSON error as the handlers give), before any extractor reads the
/// body.
pub async fn auth_first(
    cp: Arc<ControlPlane>,
    default_lang: Lang,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if needs_token(req.method(), req.path()) {
        let header = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let refused = match cp.authorize(header.as_deref(), Role::Viewer) {
            Ok(_) => None,
            Err(AuthFailure::Missing) => Some(ApiError::MissingToken),
            Err(AuthFailure::Bad) => Some(ApiError::BadToken),
            // A viewer token passes here; the handler refuses it with 403.
            Err(AuthFailure::Forbidden { .. }) => None,
            Err(AuthFailure::Store(e)) => Some(ApiError::StoreUnavailable(e)),
        };
        if let Some(e) = refused {
            let lang = Lang::negotiate(
                req.headers()
                    .get("accept-language")
                    .and_then(|v| v.to_str().ok()),
                default_lang,
            );
            tracing::info!(method = %req.method(), path = req.path(), code = e.msg().key(), "API write refused before reading its body");
            let resp = e.lang(lang).error_response();
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The `Strict-Transport-Security` value for `max_age` seconds, or `None`
/// when it is 0 (off).
pub fn hsts(max_age: u64, include_subdomains: bool) -> Option<String> {
    (max_age > 0).then(|| {
        let mut v = format!("max-age={max_age}");
        if include_subdomains {
            v.push_str("; includeSubDomains");
        }
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_to_the_api_need_a_token_first() {
        assert!(needs_token(&Method::POST, "/api/v1/actions"));
        assert!(needs_token(&Method::PUT, "/api/v1/alerts/rules/x"));
        assert!(needs_token(&Method::DELETE, "/api/v1/users/p"));
        assert!(!needs_token(&Method::GET, "/api/v1/actions"));
        assert!(!needs_token(&Method::POST, "/api/v1/batch"), "signed");
        assert!(
            !needs_token(&Method::POST, "/api/42/envelope/"),
            "Sentry DSN"
        );
        assert!(!needs_token(&Method::POST, "/ui/login"));
        assert_eq!(hsts(0, false), None);
        assert_eq!(
            hsts(31_536_000, true).as_deref(),
            Some("max-age=31536000; includeSubDomains")
        );
    }
}
