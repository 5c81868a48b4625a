//! An app's Sentry-protocol intake through the API (issue #22):
//!
//! ```text
//! GET /api/v1/apps/{app}/sentry   operator+   state, project id, allowed origins, DSNs
//! PUT /api/v1/apps/{app}/sentry   admin       {"enabled": bool, "allowed_origins": [...]}
//! ```
//!
//! Both fields of the `PUT` body are optional (what is left out is kept);
//! `allowed_origins` replaces the list. The answer is the new state, the
//! change is audited (kind `sentry_intake`) under the token's name, and
//! this node applies it at once (others within `key_refresh_secs`). The
//! same state is what `vitals sentry show | enable | disable | set-origins`
//! print and change.

use crate::Inner;
use crate::api::{auth_error, lang};
use crate::error::{ApiError, Localized};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vitals_store::control::{App, Role};
use vitals_store::sentry_intake::{IntakeChange, normalize_origins};
use vitals_store::{ControlPlane, StoreError};

type Shared = web::Data<Arc<Inner>>;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/apps/{app}/sentry", web::get().to(get_intake))
        .route("/api/v1/apps/{app}/sentry", web::put().to(put_intake));
}

/// A Sentry DSN: `base` (`http://host:port`, optionally with a path) with
/// the key id as its public key and the project id at the end.
pub fn dsn(base: &str, key_id: &str, project: i64) -> String {
    let base = base.trim_end_matches('/');
    match base.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{key_id}@{rest}/{project}"),
        None => format!("http://{key_id}@{base}/{project}"),
    }
}

/// One DSN per active ingest key of the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDsn {
    pub key_id: String,
    pub dsn: String,
}

/// What `GET` and `PUT` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeView {
    pub app: String,
    pub enabled: bool,
    /// The DSN's project id (none until intake is first enabled).
    pub project: Option<i64>,
    pub allowed_origins: Vec<String>,
    /// DSNs, one per active ingest key; empty while intake is off.
    pub dsns: Vec<KeyDsn>,
}

impl IntakeView {
    /// The view of `app` with DSNs built on `base`.
    pub fn of(cp: &ControlPlane, app: &App, base: &str) -> Result<IntakeView, StoreError> {
        let s = &app.sentry;
        let dsns = match (s.enabled, s.project) {
            (true, Some(p)) => cp
                .keys()?
                .into_iter()
                .filter(|k| k.active && k.app_id == app.app_id)
                .map(|k| KeyDsn {
                    dsn: dsn(base, &k.key_id, p),
                    key_id: k.key_id,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(IntakeView {
            app: app.app_id.clone(),
            enabled: s.enabled,
            project: s.project,
            allowed_origins: s.allowed_origins.clone(),
            dsns,
        })
    }
}

/// Where SDKs reach this server: `[collector.sentry] public_url`, else the
/// scheme and host the request came to.
fn base_url(req: &HttpRequest, st: &Inner) -> String {
    if !st.cfg.sentry.public_url.is_empty() {
        return st.cfg.sentry.public_url.clone();
    }
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

fn app_of(st: &Inner, app: &str) -> Result<App, ApiError> {
    st.cp
        .app(app)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| ApiError::SentryAppNotFound(app.chars().take(64).collect()))
}

fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
}

async fn get_intake(
    req: HttpRequest,
    path: web::Path<String>,
    st: Shared,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = || -> Result<HttpResponse, ApiError> {
        st.cp
            .authorize(authorization(&req), Role::Operator)
            .map_err(auth_error)?;
        let app = app_of(&st, &path)?;
        let view = IntakeView::of(&st.cp, &app, &base_url(&req, &st))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(HttpResponse::Ok().json(view))
    };
    run().map_err(|e| e.lang(lang))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    enabled: Option<bool>,
    allowed_origins: Option<Vec<String>>,
}

async fn put_intake(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    st: Shared,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = async {
        let who = st
            .cp
            .identify(authorization(&req), Role::Admin)
            .map_err(auth_error)?;
        let body: PutBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::SentryBadSettings(e.to_string()))?;
        if let Some(list) = &body.allowed_origins {
            normalize_origins(list).map_err(ApiError::SentryBadOrigin)?;
        }
        let app = app_of(&st, &path)?;
        let change = IntakeChange {
            enabled: body.enabled,
            allowed_origins: body.allowed_origins,
            add_origins: Vec::new(),
        };
        let inner = st.get_ref().clone();
        let app_id = app.app_id.clone();
        web::block(move || inner.cp.set_sentry_intake(&app_id, &change, &who.name))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| match e {
                StoreError::NotFound(_) => ApiError::SentryAppNotFound(app.app_id.clone()),
                e => ApiError::Internal(e.to_string()),
            })?;
        // This node applies it now; others at their next key refresh.
        st.refresh_control();
        let app = app_of(&st, &app.app_id)?;
        tracing::info!(app = %app.app_id, enabled = app.sentry.enabled,
            origins = app.sentry.allowed_origins.len(), "Sentry intake changed");
        let view = IntakeView::of(&st.cp, &app, &base_url(&req, &st))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(HttpResponse::Ok().json(view))
    };
    run.await.map_err(|e: ApiError| e.lang(lang))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_put_the_key_before_the_host_and_the_project_last() {
        assert_eq!(
            dsn("http://127.0.0.1:8080", "vk_1", 1234567890123456),
            "http://vk_1@127.0.0.1:8080/1234567890123456"
        );
        assert_eq!(
            dsn("https://vitals.bank.cn/ingest/", "vk_1", 42),
            "https://vk_1@vitals.bank.cn/ingest/42"
        );
        assert_eq!(dsn("10.0.0.1:80", "k", 7), "http://k@10.0.0.1:80/7");
    }
}
