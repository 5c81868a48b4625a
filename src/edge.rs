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
//! * **Bodies and queries that do not parse** are the documented JSON
//!   error (`request.invalid`, path `body` or `query`), in the request's
//!   language, not the framework's plain text: [`json_config`],
//!   [`query_config`], [`path_config`] (found by the random-input property test,
//!   `tests/security/random_input.rs`).
//! * **Unknown routes** answer 404 with the documented JSON error
//!   (`request.not_found`, naming the method and path), not the
//!   framework's empty body: [`not_found`].
//! * **HSTS** when vitals is served over HTTPS (`[https] enabled`):
//!   [`hsts`] is the header value for every response.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse, ResponseError, web};
use std::sync::Arc;
use vitals_collector::ApiError;
use vitals_i18n::{Lang, Msg};
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

/// `400 request.invalid` (or the extractor's own status: 413 for a body
/// over its limit, 415 for a wrong content type) as the documented JSON
/// error, naming `path` (`body`, `query`) and the parser's reason.
fn invalid<E: ResponseError + 'static>(
    err: E,
    path: &str,
    req: &HttpRequest,
    default: Lang,
) -> Error {
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        default,
    );
    let message = Msg::RequestInvalid.render(lang, &[("path", &path), ("reason", &err)]);
    let resp = HttpResponse::build(err.status_code())
        .insert_header(("content-language", lang.tag()))
        .json(serde_json::json!({"error": {
            "code": Msg::RequestInvalid.key(), "message": message, "path": path,
        }}));
    actix_web::error::InternalError::from_response(err, resp).into()
}

/// JSON bodies of the API: a body that does not parse is the documented
/// JSON error.
pub fn json_config(default: Lang) -> web::JsonConfig {
    web::JsonConfig::default().error_handler(move |e, req| invalid(e, "body", req, default))
}

/// Query strings of the API: the same for a query that does not parse.
pub fn query_config(default: Lang) -> web::QueryConfig {
    web::QueryConfig::default().error_handler(move |e, req| invalid(e, "query", req, default))
}

/// Path segments of the API (numeric ids): one that does not parse is the
/// documented JSON error too (404: no such resource can exist).
pub fn path_config(default: Lang) -> web::PathConfig {
    web::PathConfig::default().error_handler(move |e, req| invalid(e, "path", req, default))
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

/// The answer to a request no route matches: 404 with the documented JSON
/// error in the request's language.
pub async fn not_found(req: HttpRequest, default: Lang) -> HttpResponse {
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        default,
    );
    // The path as sent, bounded and without control characters.
    let path: String = req
        .path()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let what = format!("{} {path}", req.method());
    HttpResponse::NotFound()
        .insert_header(("content-language", lang.tag()))
        .json(serde_json::json!({"error": {
            "code": Msg::RequestNotFound.key(),
            "message": Msg::RequestNotFound.render(lang, &[("what", &what)]),
        }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn unknown_routes_are_the_documented_json_error() {
        use actix_web::{App, test};
        let app = test::init_service(
            App::new()
                .route("/api/v1/apps", web::get().to(HttpResponse::Ok))
                .default_service(web::to(|req| not_found(req, Lang::ZhCn))),
        )
        .await;
        for (method, path, lang, text) in [
            (Method::GET, "/api/v1/nope", None, "未找到 GET /api/v1/nope"),
            (
                Method::POST,
                "/api/v1/apps",
                Some("en"),
                "POST /api/v1/apps not found",
            ),
            (
                Method::GET,
                "/elsewhere",
                Some("en"),
                "GET /elsewhere not found",
            ),
        ] {
            let mut req = test::TestRequest::default().method(method).uri(path);
            if let Some(l) = lang {
                req = req.insert_header(("accept-language", l));
            }
            let resp = test::call_service(&app, req.to_request()).await;
            assert_eq!(resp.status(), 404, "{path}");
            let body: serde_json::Value = test::read_body_json(resp).await;
            assert_eq!(body["error"]["code"], "request.not_found", "{body}");
            assert_eq!(body["error"]["message"], text, "{body}");
        }
    }

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
