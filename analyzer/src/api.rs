//! The analyzer's read API (viewer token) and release metadata / crash-group
//! state writes (operator token).

use crate::facts::ReleaseRef;
use crate::{Analyzer, AnalyzerError, stats::Histogram};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Deserialize;
use serde_json::json;
use vitals_i18n::{Lang, Msg};
use vitals_store::control::{AuthFailure, Role};
use vitals_store::query::{Cond, Dim, Filter, Measure, Query};
use vitals_store::releases::{GroupStatus, ReleaseMeta};

/// Errors of the analyzer API, with their one mapping to HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Auth(#[from] AuthFailure),
    #[error("{0}")]
    Analyzer(#[from] AnalyzerError),
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// An error with the language to answer in.
#[derive(Debug)]
pub struct Localized(ApiError, Lang);

impl std::fmt::Display for Localized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ApiError {
    fn parts(&self, lang: Lang) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Auth(AuthFailure::Missing) => (
                StatusCode::UNAUTHORIZED,
                Msg::AuthMissingToken.key(),
                Msg::AuthMissingToken.text(lang),
            ),
            ApiError::Auth(AuthFailure::Bad) => (
                StatusCode::UNAUTHORIZED,
                Msg::AuthBadToken.key(),
                Msg::AuthBadToken.text(lang),
            ),
            ApiError::Auth(AuthFailure::Forbidden { role, needed }) => (
                StatusCode::FORBIDDEN,
                Msg::AuthForbidden.key(),
                Msg::AuthForbidden.render(
                    lang,
                    &[("role", &role.as_str()), ("needed", &needed.as_str())],
                ),
            ),
            ApiError::Auth(AuthFailure::Store(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.key(),
                Msg::RequestStoreUnavailable.render(lang, &[("reason", &self.to_string())]),
            ),
            ApiError::Analyzer(AnalyzerError::NoRelease { app, release }) => (
                StatusCode::NOT_FOUND,
                Msg::ReleaseNotFound.key(),
                Msg::ReleaseNotFound.render(lang, &[("app", app), ("release", release)]),
            ),
            ApiError::Analyzer(AnalyzerError::Policy(p)) => (
                StatusCode::BAD_REQUEST,
                Msg::PolicyInvalid.key(),
                p.render(lang),
            ),
            ApiError::Analyzer(AnalyzerError::Store(vitals_store::StoreError::Invalid(e)))
            | ApiError::Invalid(e) => (
                StatusCode::BAD_REQUEST,
                Msg::RequestInvalid.key(),
                Msg::RequestInvalid.render(lang, &[("path", &"."), ("reason", e)]),
            ),
            ApiError::Analyzer(AnalyzerError::Store(
                vitals_store::StoreError::ShardUnavailable { shard, .. },
            )) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestShardUnavailable.key(),
                Msg::RequestShardUnavailable.render(lang, &[("shard", shard)]),
            ),
            ApiError::Analyzer(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.key(),
                Msg::RequestStoreUnavailable.render(lang, &[("reason", &e.to_string())]),
            ),
        }
    }
}

impl ResponseError for Localized {
    fn status_code(&self) -> StatusCode {
        self.0.parts(self.1).0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, message) = self.0.parts(self.1);
        if status.is_server_error() {
            tracing::error!(error = %self.0, code, "analyzer request failed");
        }
        HttpResponse::build(status)
            .insert_header(("content-language", self.1.tag()))
            .json(json!({"error": {"code": code, "message": message}}))
    }
}

/// Shared state of the routes.
pub struct ApiState {
    pub analyzer: Analyzer,
    pub lang: Lang,
}

type St = web::Data<ApiState>;

pub fn configure(state: web::Data<ApiState>, cfg: &mut web::ServiceConfig) {
    cfg.app_data(state)
        .route("/api/v1/apps", web::get().to(apps))
        .route("/api/v1/apps/{app}/releases", web::get().to(releases))
        .route("/api/v1/apps/{app}/releases", web::post().to(put_release))
        .route(
            "/api/v1/apps/{app}/releases/{release}/health",
            web::get().to(health),
        )
        .route(
            "/api/v1/apps/{app}/releases/{release}/compliance",
            web::get().to(compliance),
        )
        .route(
            "/api/v1/apps/{app}/releases/{release}/crash-groups",
            web::get().to(crash_groups),
        )
        .route(
            "/api/v1/apps/{app}/releases/{release}/compatibility",
            web::get().to(compatibility),
        )
        .route(
            "/api/v1/apps/{app}/releases/{release}/performance",
            web::get().to(performance),
        )
        .route(
            "/api/v1/apps/{app}/releases/{release}/updates",
            web::get().to(updates),
        )
        .route("/api/v1/apps/{app}/timeseries", web::get().to(timeseries))
        .route(
            "/api/v1/apps/{app}/crash-groups/{fingerprint}/state",
            web::post().to(set_group_state),
        )
        .configure(gate::routes);
}

fn lang(req: &HttpRequest, st: &St) -> Lang {
    Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        st.lang,
    )
}

fn auth(req: &HttpRequest, st: &St, needed: Role) -> Result<Role, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    Ok(st.analyzer.cp.authorize(header, needed)?)
}

mod gate;
pub use gate::EXIT_CODE_HEADER;

macro_rules! handler {
    ($req:ident, $st:ident, $role:expr, $body:block) => {{
        let l = lang(&$req, &$st);
        let run = async {
            auth(&$req, &$st, $role)?;
            $body
        };
        run.await.map_err(|e: ApiError| Localized(e, l))
    }};
}

async fn apps(req: HttpRequest, st: St) -> Result<HttpResponse, Localized> {
    handler!(req, st, Role::Viewer, {
        let apps = st.analyzer.cp.apps().map_err(AnalyzerError::from)?;
        Ok(HttpResponse::Ok().json(json!({ "apps": apps })))
    })
}

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

async fn releases(
    req: HttpRequest,
    path: web::Path<String>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let app = path.into_inner();
    handler!(req, st, Role::Viewer, {
        let rows = st.analyzer.releases(&app).await?;
        let meta = st.analyzer.cp.releases(&app).map_err(AnalyzerError::from)?;
        let list: Vec<_> = rows
            .iter()
            .map(|r| {
                let m = meta
                    .iter()
                    .find(|m| m.version == r.version && m.build == r.build);
                json!({
                    "version": r.version, "build": r.build,
                    "sessions": r.sessions, "crashed_sessions": r.crashed_sessions,
                    "users": r.users, "crashed_users": r.crashed_users,
                    "fatal_crashes": r.fatal_crashes,
                    "crash_rate_per_session": rate(r.crashed_sessions, r.sessions),
                    "crash_rate_per_user": rate(r.crashed_users, r.users),
                    "first_seen": r.first_seen, "last_seen": r.last_seen,
                    "notes": m.map(|m| m.notes.clone()),
                })
            })
            .collect();
        Ok(HttpResponse::Ok().json(json!({ "app": app, "releases": list })))
    })
}

async fn put_release(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ReleaseMeta>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let app = path.into_inner();
    handler!(req, st, Role::Operator, {
        let mut meta = body.into_inner();
        meta.app_id = app.clone();
        st.analyzer
            .cp
            .ensure_app(&app, None)
            .map_err(AnalyzerError::from)?;
        st.analyzer
            .cp
            .put_release(&meta)
            .map_err(AnalyzerError::from)?;
        Ok(HttpResponse::Created()
            .json(json!({ "app": app, "version": meta.version, "build": meta.build })))
    })
}

async fn evaluation(st: &St, app: &str, release: &str) -> Result<crate::Evaluation, ApiError> {
    let r = ReleaseRef::parse(release);
    let baseline = st.analyzer.previous_release(app, &r).await?;
    Ok(st
        .analyzer
        .evaluate(app, &r, None, baseline.as_ref())
        .await?)
}

fn results_json(e: &crate::Evaluation, lang: Lang) -> serde_json::Value {
    json!(e.results.iter().map(|r| json!({
        "id": r.id, "clause": r.clause, "title": r.title(lang), "metric": r.metric, "statistic": r.statistic,
        "value": r.value, "threshold": r.threshold, "direction": r.direction, "interval": r.interval,
        "sample": r.sample, "min_sample": r.min_sample, "severity": r.severity, "verdict": r.verdict,
        "evidence": r.evidence, "evidence_text": r.evidence.render(lang),
    })).collect::<Vec<_>>())
}

async fn health(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, release) = path.into_inner();
    let l = lang(&req, &st);
    handler!(req, st, Role::Viewer, {
        let e = evaluation(&st, &app, &release).await?;
        let f = &e.facts;
        let crash: Vec<_> = e
            .results
            .iter()
            .filter(|r| r.clause.starts_with("5.1"))
            .cloned()
            .collect();
        let partial = crate::Evaluation {
            results: crash,
            ..e.clone()
        };
        Ok(HttpResponse::Ok().json(json!({
            "app": app, "release": e.release, "decision": e.decision,
            "sessions": f.sessions, "crashed_sessions": f.crashed_sessions, "abnormal_sessions": f.abnormal_sessions,
            "users": f.users, "crashed_users": f.crashed_users, "fatal_crashes": f.fatal_crashes,
            "crash_rate_per_session": rate(f.crashed_sessions, f.sessions),
            "crash_rate_per_user": rate(f.crashed_users, f.users),
            "worst_models": f.models.iter().take(10).collect::<Vec<_>>(),
            "rules": results_json(&partial, l),
            "baseline": e.baseline.as_ref().map(|b| json!({
                "release": b.release, "sessions": b.facts.sessions, "crashed_sessions": b.facts.crashed_sessions,
                "crash_rate_per_session": rate(b.facts.crashed_sessions, b.facts.sessions),
                "crash_rate_per_user": rate(b.facts.crashed_users, b.facts.users),
            })),
        })))
    })
}

async fn compliance(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, release) = path.into_inner();
    let l = lang(&req, &st);
    handler!(req, st, Role::Viewer, {
        let e = evaluation(&st, &app, &release).await?;
        Ok(HttpResponse::Ok().json(json!({
            "app": app, "release": e.release, "decision": e.decision, "decision_text": e.decision.text(l),
            "rules": results_json(&e, l),
        })))
    })
}

#[derive(Deserialize)]
struct GroupsQuery {
    #[serde(default)]
    sort: Option<String>,
}

async fn crash_groups(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<GroupsQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, release) = path.into_inner();
    handler!(req, st, Role::Viewer, {
        let e = evaluation(&st, &app, &release).await?;
        let mut groups = e.facts.groups.clone();
        match q.sort.as_deref() {
            None | Some("urgent") | Some("users") => {}
            Some("events") => groups.sort_by_key(|g| std::cmp::Reverse(g.events)),
            Some("recent") => groups.sort_by_key(|g| std::cmp::Reverse(g.last_seen)),
            Some(other) => {
                return Err(ApiError::Invalid(format!(
                    "sort must be urgent, users, events or recent, not {other}"
                )));
            }
        }
        Ok(HttpResponse::Ok().json(json!({ "app": app, "release": e.release, "active_users": e.facts.users, "groups": groups })))
    })
}

async fn compatibility(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, release) = path.into_inner();
    handler!(req, st, Role::Viewer, {
        let e = evaluation(&st, &app, &release).await?;
        let cells = &e.facts.cells;
        let healthy = cells.iter().filter(|c| c.healthy).count();
        Ok(HttpResponse::Ok().json(json!({
            "app": app, "release": e.release, "cells": cells,
            "coverage": if cells.is_empty() { 0.0 } else { healthy as f64 / cells.len() as f64 },
            "untested": cells.iter().filter(|c| !c.observed).map(|c| &c.name).collect::<Vec<_>>(),
        })))
    })
}

fn dist_json(d: &crate::facts::Dist) -> serde_json::Value {
    json!({ "n": d.n, "mean": d.mean, "p50": d.p50, "p90": d.p90, "p99": d.p99,
            "histogram": d.hist.bins().iter().map(|(lo, hi, c)| json!([lo, hi, c])).collect::<Vec<_>>() })
}

async fn performance(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, release) = path.into_inner();
    handler!(req, st, Role::Viewer, {
        let e = evaluation(&st, &app, &release).await?;
        let f = &e.facts;
        Ok(HttpResponse::Ok().json(json!({
            "app": app, "release": e.release,
            "cold_start": dist_json(&f.cold_start),
            "cold_start_by_model": f.cold_start_by_model.iter().map(|(m, d)| json!({"model": m, "n": d.n, "mean": d.mean, "p50": d.p50, "p90": d.p90})).collect::<Vec<_>>(),
            "cpu": dist_json(&f.cpu),
            "memory": dist_json(&f.memory),
            "install_by_model": f.install_by_model,
            "install_time_mean_of_model_means": (!f.install_by_model.is_empty()).then(|| f.install_by_model.iter().map(|m| m.mean).sum::<f64>() / f.install_by_model.len() as f64),
            "packages": f.packages,
            "latency": f.latency.iter().map(|(k, d)| (k.clone(), dist_json(d))).collect::<serde_json::Map<_, _>>(),
            "latency_by_site": f.latency_cells.iter().map(|c| json!({"category": c.category, "site": c.site, "ip_family": c.ip_family, "n": c.dist.n, "p90": c.dist.p90, "mean": c.dist.mean})).collect::<Vec<_>>(),
            "request_errors": f.request_errors,
        })))
    })
}

async fn updates(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, release) = path.into_inner();
    handler!(req, st, Role::Viewer, {
        let e = evaluation(&st, &app, &release).await?;
        let patches: Vec<_> = e.facts.patches.iter().map(|p| json!({
            "patch_id": p.patch_id, "offered": p.offered, "downloaded": p.downloaded, "applied": p.applied,
            "failed": p.failed, "rolled_back": p.rolled_back, "max_bytes": p.max_bytes,
            "delivery_rate": rate(p.downloaded.min(p.offered), p.offered),
            "success_rate": rate(p.applied.min(p.downloaded), p.downloaded),
        })).collect();
        Ok(HttpResponse::Ok().json(json!({
            "app": app, "release": e.release, "patches": patches,
            "notes": e.facts.notes, "min_version": e.facts.min_version,
            "upgrade_prompts": e.facts.upgrade,
        })))
    })
}

#[derive(Deserialize)]
struct SeriesQuery {
    metric: String,
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    since: Option<u32>,
    #[serde(default)]
    until: Option<u32>,
}

async fn timeseries(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<SeriesQuery>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let app = path.into_inner();
    handler!(req, st, Role::Viewer, {
        let tz = st.analyzer.timezone.clone();
        let time = match q.interval.as_deref().unwrap_or("day") {
            "day" => Dim::Day(tz.clone()),
            "hour" => Dim::Hour(tz.clone()),
            other => {
                return Err(ApiError::Invalid(format!(
                    "interval must be day or hour, not {other}"
                )));
            }
        };
        let r = q.release.as_deref().map(ReleaseRef::parse);
        let filter = Filter {
            app_id: app.clone(),
            version: r.as_ref().map(|r| r.version.clone()),
            build: r.and_then(|r| r.build),
            since: q.since,
            until: q.until,
            ..Default::default()
        };
        let with = |kinds: &[&str]| Filter {
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            ..filter.clone()
        };
        let (query, kind) = match q.metric.as_str() {
            "sessions" | "crash_rate_per_session" => (
                Query {
                    filter: with(&["session"]),
                    group_by: vec![time],
                    measures: vec![
                        Measure::Count(Some(Cond::SessionStart)),
                        Measure::Count(Some(Cond::SessionCrashed)),
                    ],
                    ..Default::default()
                },
                0,
            ),
            "users" | "crash_rate_per_user" => (
                Query {
                    filter: filter.clone(),
                    group_by: vec![time],
                    // Time series are charts: day sketches, not exact sets.
                    measures: vec![
                        Measure::UsersApprox(None),
                        Measure::UsersApprox(Some(Cond::CrashedUser)),
                    ],
                    ..Default::default()
                },
                1,
            ),
            "adoption" => (
                Query {
                    filter: filter.clone(),
                    group_by: vec![time, Dim::Version],
                    measures: vec![Measure::UsersApprox(None)],
                    ..Default::default()
                },
                2,
            ),
            "cold_start_p90" | "cold_start_p50" => (
                Query {
                    filter: with(&["cold_start"]),
                    group_by: vec![time, Dim::BucketA],
                    measures: vec![Measure::Count(None)],
                    ..Default::default()
                },
                3,
            ),
            other => {
                return Err(ApiError::Invalid(format!(
                    "metric must be sessions, crash_rate_per_session, users, crash_rate_per_user, adoption, cold_start_p50 or cold_start_p90, not {other}"
                )));
            }
        };
        let rows = st
            .analyzer
            .store
            .aggregate(&query)
            .await
            .map_err(AnalyzerError::from)?;
        let points: Vec<serde_json::Value> = match kind {
            0 | 1 => rows
                .iter()
                .map(|r| {
                    let v = match q.metric.as_str() {
                        "sessions" | "users" => Some(r.count(0) as f64),
                        _ => rate(r.count(1), r.count(0)),
                    };
                    json!({"t": r.dim(0), "value": v, "n": r.count(0), "k": r.count(1)})
                })
                .collect(),
            2 => rows
                .iter()
                .map(|r| json!({"t": r.dim(0), "version": r.dim(1), "value": r.count(0)}))
                .collect(),
            _ => {
                let qv = if q.metric == "cold_start_p50" {
                    0.5
                } else {
                    0.9
                };
                let mut by_t: std::collections::BTreeMap<String, Vec<(i16, u64)>> =
                    Default::default();
                for r in &rows {
                    if let Ok(b) = r.dim(1).parse::<i16>() {
                        by_t.entry(r.dim(0).to_string())
                            .or_default()
                            .push((b, r.count(0)));
                    }
                }
                by_t.into_iter()
                    .map(|(t, b)| {
                        let h = Histogram::new(b);
                        json!({"t": t, "value": h.quantile(qv), "n": h.count()})
                    })
                    .collect()
            }
        };
        Ok(HttpResponse::Ok()
            .json(json!({ "app": app, "metric": q.metric, "timezone": tz, "points": points })))
    })
}

#[derive(Deserialize)]
struct StateBody {
    status: GroupStatus,
    #[serde(default)]
    resolved_in: Option<String>,
    #[serde(default)]
    merged_into: Option<String>,
}

async fn set_group_state(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<StateBody>,
    st: St,
) -> Result<HttpResponse, Localized> {
    let (app, fp) = path.into_inner();
    handler!(req, st, Role::Operator, {
        let b = body.into_inner();
        if b.status == GroupStatus::Resolved && b.resolved_in.is_none() {
            return Err(ApiError::Invalid(
                "resolved_in (the fixing release) is required to resolve a group".into(),
            ));
        }
        if b.status == GroupStatus::Merged && b.merged_into.is_none() {
            return Err(ApiError::Invalid(
                "merged_into is required to merge a group".into(),
            ));
        }
        st.analyzer
            .cp
            .set_group_state(
                &app,
                &fp,
                b.status,
                b.resolved_in.as_deref(),
                b.merged_into.as_deref(),
                "api",
            )
            .map_err(AnalyzerError::from)?;
        Ok(HttpResponse::Ok().json(json!({ "app": app, "fingerprint": fp, "status": b.status })))
    })
}
