//! The gate and the compliance report as the command line gives them, for
//! `vitals gate --url … --token …` and `vitals report --url …` in a CI
//! pipeline: the same evaluation, rendered by the same functions, so a
//! remote gate's output and exit code are the server's own.
//!
//! `GET  /api/v1/apps/{app}/releases/{release}/gate?format=json|text|junit&baseline=…`
//! `POST` the same, with a policy (TOML, as `vitals gate --policy`) as the body.
//! `GET  /api/v1/apps/{app}/report?release=…&format=md|html|json`
//!
//! The body is the rendered output; `X-Vitals-Exit-Code` carries the
//! gate's exit code (0 go, 1 no-go, 2 insufficient data) and
//! `X-Vitals-Decision` the decision. Viewer token.

use super::{ApiError, Localized, St, auth, lang};
use crate::facts::ReleaseRef;
use crate::policy::Policy;
use crate::{AnalyzerError, render};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use vitals_store::control::Role;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/v1/apps/{app}/releases/{release}/gate",
        web::get().to(gate_get),
    )
    .route(
        "/api/v1/apps/{app}/releases/{release}/gate",
        web::post().to(gate_post),
    )
    .route("/api/v1/apps/{app}/report", web::get().to(report));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GateQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    baseline: Option<String>,
}

/// The header carrying the gate's exit code.
pub const EXIT_CODE_HEADER: &str = "x-vitals-exit-code";

async fn gate_get(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<GateQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    gate(req, path.into_inner(), q.into_inner(), None, st).await
}

async fn gate_post(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<GateQuery>,
    body: web::Bytes,
    st: St,
) -> Result<HttpResponse, Localized> {
    gate(req, path.into_inner(), q.into_inner(), Some(body), st).await
}

async fn gate(
    req: HttpRequest,
    (app, release): (String, String),
    q: GateQuery,
    policy: Option<web::Bytes>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let l = lang(&req, &st);
    let run = async {
        auth(&req, &st, Role::Viewer)?;
        let format = q.format.as_deref().unwrap_or("json");
        if !matches!(format, "json" | "text" | "junit") {
            return Err(ApiError::Invalid(format!(
                "format must be json, text or junit, not {format}"
            )));
        }
        let policy = match policy {
            Some(b) => {
                let text = std::str::from_utf8(&b)
                    .map_err(|_| ApiError::Invalid("the policy must be UTF-8 TOML".into()))?;
                Some(Policy::parse(text).map_err(AnalyzerError::from)?)
            }
            None => None,
        };
        let r = ReleaseRef::parse(&release);
        let base = match q.baseline.as_deref() {
            Some(b) => Some(ReleaseRef::parse(b)),
            None => st.analyzer.previous_release(&app, &r).await?,
        };
        let e = st
            .analyzer
            .evaluate(&app, &r, policy.as_ref(), base.as_ref())
            .await?;
        let (body, mime) = match format {
            "text" => (render::text(&e, l), "text/plain; charset=utf-8"),
            "junit" => (render::junit(&e, l), "application/xml; charset=utf-8"),
            _ => (
                serde_json::to_string_pretty(&e).unwrap_or_default() + "\n",
                "application/json",
            ),
        };
        Ok(HttpResponse::Ok()
            .content_type(mime)
            .insert_header((EXIT_CODE_HEADER, e.decision.exit_code().to_string()))
            .insert_header(("x-vitals-decision", e.decision.text(l)))
            .body(body))
    };
    run.await.map_err(|e| Localized(e, l))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

async fn report(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let l = lang(&req, &st);
    let app = path.into_inner();
    let run = async {
        auth(&req, &st, Role::Viewer)?;
        let format = q.format.as_deref().unwrap_or("md");
        if !matches!(format, "md" | "html" | "json") {
            return Err(ApiError::Invalid(format!(
                "format must be md, html or json, not {format}"
            )));
        }
        let a = &st.analyzer;
        let r = match q.release.as_deref() {
            Some(r) => ReleaseRef::parse(r),
            None => a
                .latest_release(&app)
                .await?
                .ok_or_else(|| AnalyzerError::NoRelease {
                    app: app.clone(),
                    release: "-".into(),
                })?,
        };
        let base = a.previous_release(&app, &r).await?;
        let e = a.evaluate(&app, &r, None, base.as_ref()).await?;
        let (body, mime) = match format {
            "html" => (render::html(&e, l, &a.timezone), "text/html; charset=utf-8"),
            "json" => (
                serde_json::to_string_pretty(&e).unwrap_or_default() + "\n",
                "application/json",
            ),
            _ => (
                render::markdown(&e, l, &a.timezone),
                "text/markdown; charset=utf-8",
            ),
        };
        Ok(HttpResponse::Ok()
            .content_type(mime)
            .insert_header((EXIT_CODE_HEADER, e.decision.exit_code().to_string()))
            .body(body))
    };
    run.await.map_err(|e| Localized(e, l))
}
