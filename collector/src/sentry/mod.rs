//! Sentry protocol ingestion: existing Sentry SDKs (iOS, Android, React
//! Native, Flutter, mini-programs, server SDKs) report to vitals unchanged
//! by pointing their DSN at it: `http://<ingest key id>@<host>/<project>`,
//! where the project is the app's random Sentry project id.
//!
//! Intake is opt-in per app (issue #22): an admin enables it and sets the
//! allowed origins (`vitals sentry enable`, [`intake_api`]); until then the
//! routes refuse the app with `403 sentry.intake_disabled`. A wrong project
//! is `403 sentry.project_mismatch`, a browser request from an origin not
//! allowed `403 sentry.origin_not_allowed`. Refusals carry the documented
//! JSON error plus Sentry's `detail`.
//!
//! Endpoints: `POST /api/{project}/envelope/`, `/store/` (legacy),
//! `/minidump/` (multipart) and `/security/` (404). Items are mapped
//! ([`map`]) into vitals batches and go through the same admission as native
//! batches (validation, rate limit, privacy, durable spool).

// Public for the fuzz targets (`fuzz/`).
pub mod envelope;
pub mod intake_api;
pub mod map;

use crate::api::{Admitted, admit, now_ms, read_body};
use crate::error::ApiError;
use crate::{Inner, decode};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use vitals_i18n::{Lang, Msg};
use vitals_store::control::App;

/// `[collector.sentry]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentryConfig {
    /// Accept the Sentry protocol at all (each app must still enable its
    /// own intake: `vitals sentry enable`).
    pub enabled: bool,
    /// Base URL SDKs reach vitals at, for the DSNs vitals shows
    /// (`https://vitals.bank.cn`); empty = the address a request came to
    /// (the API) or `listen` (the CLI).
    pub public_url: String,
    /// Largest envelope as sent (compressed), bytes.
    pub max_envelope_bytes: usize,
    /// Largest envelope after decompression, bytes.
    pub max_decompressed_bytes: usize,
    /// Largest event / session / transaction item, bytes (Sentry: 1 MiB).
    pub max_item_bytes: usize,
    /// Largest attachment (minidump, crash report) item, bytes.
    pub max_attachment_bytes: usize,
    /// Most sessions one `sessions` aggregate may expand to.
    pub max_aggregate_sessions: u64,
    /// HTTP host (or domain suffix) → service category (trade, quote, bus,
    /// other) for client HTTP spans (5.3f).
    pub host_categories: BTreeMap<String, String>,
}

impl Default for SentryConfig {
    fn default() -> Self {
        SentryConfig {
            enabled: true,
            public_url: String::new(),
            max_envelope_bytes: 20 << 20,
            max_decompressed_bytes: 100 << 20,
            max_item_bytes: 1 << 20,
            max_attachment_bytes: 50 << 20,
            max_aggregate_sessions: 100_000,
            host_categories: BTreeMap::new(),
        }
    }
}

type Shared = web::Data<Arc<Inner>>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    intake_api::configure(cfg);
    cfg.route("/api/{project}/envelope/", web::post().to(envelope_route))
        .route("/api/{project}/store/", web::post().to(store_route))
        .route("/api/{project}/minidump/", web::post().to(minidump_route))
        .route("/api/{project}/security/", web::post().to(security_route))
        .route(
            "/api/{project}/{endpoint}/",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        );
}

fn cors(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header(("access-control-allow-origin", "*"))
        .insert_header((
            "access-control-expose-headers",
            "x-sentry-error, x-sentry-rate-limits, retry-after",
        ));
    b
}

async fn preflight() -> HttpResponse {
    cors(HttpResponse::Ok())
        .insert_header(("access-control-allow-methods", "POST, OPTIONS"))
        .insert_header((
            "access-control-allow-headers",
            "content-type, content-encoding, x-sentry-auth, authorization, sentry-trace, baggage",
        ))
        .insert_header(("access-control-max-age", "3600"))
        .finish()
}

async fn security_route(req: HttpRequest, st: Shared) -> HttpResponse {
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        st.lang,
    );
    sentry_error(
        StatusCode::NOT_FOUND,
        Msg::SentryNoSecurity,
        Msg::SentryNoSecurity.text(lang),
        None,
        lang,
    )
}

/// A refusal: the documented JSON error (`{"error": {"code", "message"}}`,
/// docs/protocol.md) plus Sentry's own `detail` and `X-Sentry-Error`, which
/// the SDKs log.
fn sentry_error(
    status: StatusCode,
    code: Msg,
    detail: String,
    retry: Option<u64>,
    lang: Lang,
) -> HttpResponse {
    let mut b = cors(HttpResponse::build(status));
    // A header value takes no control character: the detail may echo a
    // hostile project or key (a NUL there made this a 500).
    let header: String = detail
        .chars()
        .map(|c| if c.is_ascii_control() { ' ' } else { c })
        .collect();
    b.insert_header(("x-sentry-error", header));
    b.insert_header(("content-language", lang.tag()));
    if let Some(r) = retry {
        b.insert_header(("retry-after", r.to_string()));
        b.insert_header(("x-sentry-rate-limits", format!("{r}::organization")));
    }
    b.json(json!({
        "error": {"code": code.key(), "message": detail},
        "detail": detail,
    }))
}

fn failure(e: &ApiError, lang: Lang) -> HttpResponse {
    let retry = match e {
        ApiError::RateLimited { retry, .. } => Some(*retry),
        ApiError::SpoolFull { retry } => Some(u64::from(*retry)),
        _ => None,
    };
    if matches!(
        e,
        ApiError::SentryDisabled { .. } | ApiError::OriginNotAllowed { .. }
    ) {
        tracing::info!(code = e.msg().key(), error = %e, "Sentry request refused");
    }
    sentry_error(e.status(), e.msg(), e.message(lang), retry, lang)
}

/// The DSN public key from `X-Sentry-Auth`, `Authorization` or the query.
fn sentry_key(req: &HttpRequest) -> Option<String> {
    let from_header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| {
                h.trim_start_matches("Sentry ")
                    .split(',')
                    .filter_map(|kv| kv.trim().split_once('='))
                    .find(|(k, _)| *k == "sentry_key")
                    .map(|(_, v)| v.trim().to_string())
            })
    };
    from_header("x-sentry-auth")
        .or_else(|| from_header("authorization"))
        .or_else(|| {
            req.query_string()
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "sentry_key")
                .map(|(_, v)| v.to_string())
        })
}

/// Resolves key and project to the app, or a refusal: the app's Sentry
/// intake must be on, the project must be the app's (random) project id,
/// and a browser request must come from one of the app's allowed origins.
fn authenticate(req: &HttpRequest, st: &Inner) -> Result<App, ApiError> {
    if !st.cfg.sentry.enabled {
        return Err(ApiError::NotFound("Sentry protocol".into()));
    }
    let project = req.match_info().get("project").unwrap_or("");
    let key = sentry_key(req).ok_or(ApiError::MissingHeader("x-sentry-auth"))?;
    let app = st.keys.app_for_key(&key)?;
    if !app.sentry.enabled {
        return Err(ApiError::SentryDisabled { app: app.app_id });
    }
    // Compared as text: the id is drawn without leading zeros, and "0…"
    // or "+…" spellings of it are not the DSN.
    if app.sentry.project.map(|p| p.to_string()).as_deref() != Some(project) {
        return Err(ApiError::ProjectMismatch {
            key,
            project: project.chars().take(32).collect(),
        });
    }
    if let Some(origin) = browser_origin(req)
        && !app.sentry.origin_allowed(&origin)
    {
        return Err(ApiError::OriginNotAllowed {
            app: app.app_id,
            origin: origin.chars().take(256).collect(),
        });
    }
    Ok(app)
}

/// The origin a browser sent the request from: `Origin`, else the origin
/// of `Referer`; `None` for clients that send neither (native and server
/// SDKs). An unreadable header counts as a foreign origin.
fn browser_origin(req: &HttpRequest) -> Option<String> {
    let text = |v: &actix_web::http::header::HeaderValue| {
        String::from_utf8_lossy(v.as_bytes()).trim().to_string()
    };
    if let Some(o) = req.headers().get("origin") {
        return Some(text(o));
    }
    let referer = text(req.headers().get("referer")?);
    Some(vitals_store::sentry_intake::referer_origin(&referer).unwrap_or(referer))
}

async fn read(req: &HttpRequest, payload: web::Payload, st: &Inner) -> Result<Vec<u8>, ApiError> {
    let cfg = &st.cfg.sentry;
    let body = read_body(req, payload, cfg.max_envelope_bytes).await?;
    let encoding = req
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok());
    decode::decompress(encoding, &body, cfg.max_decompressed_bytes)
}

/// The envelope's own id, its header's `event_id`: a resent envelope is
/// stored once. An envelope without one (session updates, `sessions`
/// aggregates, client reports, a minidump upload without an event id) is
/// new on every request, with a fresh id: two `sessions` aggregates with
/// the same counts in the same minute are two sets of sessions, never one
/// resent, so the id is never a digest of the body. Session updates are
/// idempotent by their own `sid` instead ([`map::session`]).
fn envelope_id(header: &Value) -> String {
    header
        .get("event_id")
        .and_then(Value::as_str)
        .map(|s| s.replace('-', ""))
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Outcome counters of one request.
#[derive(Default)]
struct Tally {
    accepted_events: usize,
    first_error: Option<ApiError>,
}

impl Tally {
    fn fail(&mut self, st: &Inner, ty: &str, e: ApiError) {
        st.metrics
            .sentry_items
            .with_label_values(&[ty, "dropped"])
            .inc();
        tracing::info!(item = ty, error = %e, "sentry item dropped");
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

async fn admit_all(
    st: &Inner,
    app: &App,
    ty: &str,
    batches: Vec<vitals_protocol::Batch>,
    tally: &mut Tally,
) -> Result<(), ApiError> {
    let now = now_ms();
    for b in batches {
        match admit(st, app, b, now, None).await {
            Ok(Admitted { events, .. }) => {
                tally.accepted_events += events;
                st.metrics
                    .sentry_items
                    .with_label_values(&[ty, "accepted"])
                    .inc();
            }
            // Capacity problems stop the request: the SDK retries later.
            Err(
                e @ (ApiError::RateLimited { .. }
                | ApiError::SpoolFull { .. }
                | ApiError::SpoolFailed(_)),
            ) => return Err(e),
            Err(e) => tally.fail(st, ty, e),
        }
    }
    Ok(())
}

async fn process(
    st: &Inner,
    app: &App,
    env: envelope::Envelope,
) -> Result<(String, Tally), ApiError> {
    process_with(st, app, env, None).await
}

/// [`process`], with an attachment already stored (a streamed minidump).
async fn process_with(
    st: &Inner,
    app: &App,
    env: envelope::Envelope,
    stored: Option<String>,
) -> Result<(String, Tally), ApiError> {
    let cfg = &st.cfg.sentry;
    let id = envelope_id(&env.header);
    let ctx = map::MapCtx {
        app_id: &app.app_id,
        envelope_id: id.clone(),
        header: &env.header,
        host_categories: &cfg.host_categories,
        max_aggregate_sessions: cfg.max_aggregate_sessions,
    };
    let mut tally = Tally::default();
    // Attachments first, so an event in the same envelope can point at them.
    let mut attachment_note: Option<String> = stored;
    for it in env.items.iter().filter(|i| i.ty == "attachment") {
        let kind = it
            .header
            .get("attachment_type")
            .and_then(Value::as_str)
            .unwrap_or("event.attachment");
        let name = it
            .header
            .get("filename")
            .and_then(Value::as_str)
            .unwrap_or("attachment");
        if matches!(kind, "event.minidump" | "event.applecrashreport") || name.ends_with(".dmp") {
            let note = crate::attachments::store(st, &app.app_id, &id, kind, &it.payload)?;
            attachment_note = Some(note);
        }
        st.metrics
            .sentry_items
            .with_label_values(&["attachment", "accepted"])
            .inc();
    }
    let has_event = env.items.iter().any(|i| i.ty == "event");
    for (index, it) in env.items.iter().enumerate() {
        let ty = it.ty.as_str();
        let doc = || {
            serde_json::from_slice::<Value>(&it.payload).map_err(|e| ApiError::SentryItem {
                index,
                reason: e.to_string(),
            })
        };
        let batches: Vec<vitals_protocol::Batch> = match ty {
            "attachment" => continue,
            "event" => match doc() {
                Ok(d) => vec![map::event(&ctx, index, &d, attachment_note.clone())],
                Err(e) => {
                    tally.fail(st, ty, e);
                    continue;
                }
            },
            "session" => match doc().and_then(|d| {
                map::session(&ctx, index, &d).map_err(|e| ApiError::SentryItem {
                    index,
                    reason: e.to_string(),
                })
            }) {
                Ok(b) if b.is_empty() => {
                    st.metrics
                        .sentry_items
                        .with_label_values(&[ty, "accepted"])
                        .inc();
                    continue;
                }
                Ok(b) => b,
                Err(e) => {
                    tally.fail(st, ty, e);
                    continue;
                }
            },
            "sessions" => match doc().and_then(|d| {
                map::sessions(&ctx, index, &d).map_err(|e| ApiError::SentryItem {
                    index,
                    reason: e.to_string(),
                })
            }) {
                Ok(b) => b,
                Err(e) => {
                    tally.fail(st, ty, e);
                    continue;
                }
            },
            "transaction" | "span" => match doc() {
                Ok(d) => {
                    let b = if ty == "span" {
                        map::spans(&ctx, index, &d)
                    } else {
                        map::transaction(&ctx, index, &d)
                    };
                    match b {
                        Some(b) => vec![b],
                        None => {
                            st.metrics
                                .sentry_items
                                .with_label_values(&[ty, "nothing_to_store"])
                                .inc();
                            continue;
                        }
                    }
                }
                Err(e) => {
                    tally.fail(st, ty, e);
                    continue;
                }
            },
            "client_report" => {
                match doc() {
                    Ok(d) => {
                        for (reason, category, n) in map::client_report(&d) {
                            st.metrics
                                .sentry_client_discarded
                                .with_label_values(&[&reason, &category])
                                .inc_by(n);
                        }
                        st.metrics
                            .sentry_items
                            .with_label_values(&[ty, "accepted"])
                            .inc();
                    }
                    Err(e) => tally.fail(st, ty, e),
                }
                continue;
            }
            other => {
                // Unknown item types are accepted and counted, never a failure.
                let label = if other.len() <= 32
                    && other
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    other
                } else {
                    "invalid"
                };
                st.metrics
                    .sentry_items
                    .with_label_values(&[label, "ignored"])
                    .inc();
                continue;
            }
        };
        admit_all(st, app, ty, batches, &mut tally).await?;
    }
    // An attachment without an event (e.g. a minidump on its own) becomes a
    // crash of its own, kept raw for the symbolicator.
    if !has_event && let Some(note) = attachment_note {
        let doc = json!({"level": "fatal", "exception": {"values": [{"type": "Minidump", "value": "native crash (unsymbolicated)", "mechanism": {"handled": false}}]}});
        let b = map::event(
            &ctx,
            env.items.len(),
            &doc_with_ts(doc, &env.header),
            Some(note),
        );
        admit_all(st, app, "attachment", vec![b], &mut tally).await?;
    }
    Ok((id, tally))
}

fn doc_with_ts(mut doc: Value, header: &Value) -> Value {
    let ts = header
        .get("sent_at")
        .cloned()
        .unwrap_or_else(|| json!(now_ms() as f64 / 1000.0));
    doc["timestamp"] = ts;
    doc
}

fn respond(
    id: String,
    tally: Tally,
    env_error: Option<envelope::EnvelopeError>,
    oversized: usize,
    lang: Lang,
) -> HttpResponse {
    // Structural problems are answered as such (the SDK must not resend the
    // same bytes), but everything good in the envelope is already stored.
    if let Some(e) = env_error {
        return sentry_error(
            StatusCode::BAD_REQUEST,
            Msg::SentryEnvelope,
            Msg::SentryEnvelope.render(
                lang,
                &[("reason", &e), ("accepted", &tally.accepted_events)],
            ),
            None,
            lang,
        );
    }
    if oversized > 0 {
        return sentry_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Msg::SentryOversized,
            Msg::SentryOversized.render(
                lang,
                &[("count", &oversized), ("accepted", &tally.accepted_events)],
            ),
            None,
            lang,
        );
    }
    if let Some(e) = tally.first_error
        && tally.accepted_events == 0
    {
        return failure(&e, lang);
    }
    cors(HttpResponse::Ok()).json(json!({ "id": id }))
}

async fn envelope_route(req: HttpRequest, payload: web::Payload, st: Shared) -> HttpResponse {
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        st.lang,
    );
    let run = async {
        let app = authenticate(&req, &st)?;
        let body = read(&req, payload, &st).await?;
        let cfg = &st.cfg.sentry;
        let env = envelope::parse(&body, cfg.max_item_bytes, cfg.max_attachment_bytes)
            .map_err(|e| ApiError::SentryEnvelope(e.to_string()))?;
        let env_error = env.error.clone();
        let oversized = env.oversized.len();
        let (id, tally) = process(&st, &app, env).await?;
        Ok(respond(id, tally, env_error, oversized, lang))
    };
    run.await.unwrap_or_else(|e: ApiError| failure(&e, lang))
}

async fn store_route(req: HttpRequest, payload: web::Payload, st: Shared) -> HttpResponse {
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        st.lang,
    );
    let run = async {
        let app = authenticate(&req, &st)?;
        let body = read(&req, payload, &st).await?;
        if body.len() > st.cfg.sentry.max_item_bytes {
            return Err(ApiError::DecompressedTooLarge(st.cfg.sentry.max_item_bytes));
        }
        // The legacy endpoint carries one event as the whole body.
        let doc: Value = serde_json::from_slice(&body).map_err(|e| ApiError::SentryItem {
            index: 0,
            reason: e.to_string(),
        })?;
        let header = json!({ "event_id": doc.get("event_id").cloned().unwrap_or(Value::Null) });
        let env = envelope::Envelope {
            header,
            items: vec![envelope::Item {
                ty: "event".into(),
                header: json!({"type": "event"}),
                payload: body.clone(),
            }],
            error: None,
            oversized: Vec::new(),
        };
        let (id, tally) = process(&st, &app, env).await?;
        Ok(respond(id, tally, None, 0, lang))
    };
    run.await.unwrap_or_else(|e: ApiError| failure(&e, lang))
}

async fn minidump_route(req: HttpRequest, payload: web::Payload, st: Shared) -> HttpResponse {
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        st.lang,
    );
    let run = async {
        let app = authenticate(&req, &st)?;
        // Streamed: the dump into a file under the app's attachments.
        let form = crate::attachments::receive_minidump(&st, &app.app_id, &req, payload).await?;
        let (dump, filename) = form.dump.ok_or_else(|| ApiError::SentryItem {
            index: 0,
            reason: "no upload_file_minidump part".into(),
        })?;
        // Event fields come as a `sentry` JSON part or as form fields.
        let mut doc = form
            .fields
            .iter()
            .find(|(name, _)| name == "sentry")
            .and_then(|(_, data)| serde_json::from_slice::<Value>(data).ok())
            .unwrap_or_else(|| json!({}));
        for (name, data) in form.fields.iter().filter(|(name, _)| name != "sentry") {
            if let Ok(v) = std::str::from_utf8(data) {
                doc[name.as_str()] = json!(v);
            }
        }
        let mut header = json!({});
        header["event_id"] = doc.get("event_id").cloned().unwrap_or(Value::Null);
        if doc.get("exception").is_none() {
            doc["level"] = json!("fatal");
            doc["exception"] = json!({"values": [{"type": "Minidump", "value": "native crash (unsymbolicated)", "mechanism": {"handled": false}}]});
            if doc.get("timestamp").is_none() {
                doc["timestamp"] = json!(now_ms() as f64 / 1000.0);
            }
        }
        let payload = serde_json::to_vec(&doc).map_err(|e| ApiError::Internal(e.to_string()))?;
        let id = envelope_id(&header);
        let note =
            crate::attachments::keep_incoming(&st, &app.app_id, &id, "event.minidump", dump)?;
        tracing::debug!(app = %app.app_id, file = ?filename, "minidump received");
        let env = envelope::Envelope {
            header: json!({ "event_id": id }),
            items: vec![envelope::Item {
                ty: "event".into(),
                header: json!({"type": "event"}),
                payload,
            }],
            error: None,
            oversized: Vec::new(),
        };
        let (id, tally) = process_with(&st, &app, env, Some(note)).await?;
        Ok(respond(id, tally, None, 0, lang))
    };
    run.await.unwrap_or_else(|e: ApiError| failure(&e, lang))
}
