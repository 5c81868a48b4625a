//! Glue between the collector's writer and the symbolicator: every crash
//! event is symbolicated on the symbolicator's own CPU pool before it is
//! stored, so stored stacks are readable and grouped by the symbolicated
//! fingerprint. A crash that cannot be processed keeps its raw frames and
//! says why (`notes`), including the debug files it lacks: for people
//! (`missing: …`) and as JSON behind [`MISSING_FILE_NOTE`], which
//! [`crate::resym`] looks for when a debug file arrives later. The raw form
//! ([`raw_form`]) is stored in the payload's `raw`, so that re-run starts
//! from what the client sent, never from symbolicated frames.

use crate::resym::ResymError;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use vitals_i18n::Lang;
use vitals_i18n::Msg;
use vitals_protocol::{AcceptedBatch, CrashEvent, Event};
use vitals_store::Enricher;
use vitals_store::control::{AuthFailure, Role};
use vitals_store::{ControlPlane, CrashKey, MISSING_FILE_NOTE, Store};
use vitals_symbolicator::resymbolicate::raw_form;
use vitals_symbolicator::{MissingFile, Status, SymbolicatedCrash, Symbolicator};

/// Note kept on a crash whose fingerprint the client chose: re-symbolication
/// keeps that fingerprint (a forced group) instead of regrouping.
pub const CLIENT_FINGERPRINT_NOTE: &str = "fingerprint: set by the client";

/// Notes only the server may write (stripped from what a client sends).
fn server_note(n: &str) -> bool {
    n.starts_with(MISSING_FILE_NOTE) || n == CLIENT_FINGERPRINT_NOTE
}

/// The files a stored crash lacked, from its machine-readable notes.
pub fn missing_files(notes: &[String]) -> Vec<MissingFile> {
    notes
        .iter()
        .filter_map(|n| n.strip_prefix(MISSING_FILE_NOTE))
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect()
}

/// Writes the symbolicator's outcome into a crash as it is stored:
/// readable threads (unless nothing could be processed), the exception of
/// a payload that named none, status and missing-file notes (for people
/// and, as JSON behind [`MISSING_FILE_NOTE`], for re-symbolication), and
/// the fingerprint unless one is set.
fn apply_outcome(c: &mut CrashEvent, out: &SymbolicatedCrash) {
    match &out.status {
        Status::Raw { reason } => c.notes.push(format!("raw: {reason}")),
        status => {
            c.threads = out.protocol_threads();
            if !out.exception_type.is_empty()
                && (c.exception_type == "Minidump" || c.exception_type.is_empty())
            {
                c.exception_type = out.exception_type.chars().take(256).collect();
                c.message = out.message.chars().take(8000).collect();
            }
            c.notes.push(format!(
                "symbolicated: {}",
                if matches!(status, Status::Complete) {
                    "complete"
                } else {
                    "partial"
                }
            ));
        }
    }
    for m in &out.missing {
        c.notes.push(format!("missing: {}", m.message(Lang::En)));
        if let Ok(j) = serde_json::to_string(m) {
            c.notes.push(format!("{MISSING_FILE_NOTE}{j}"));
        }
    }
    if c.fingerprint.is_none() && !out.fingerprint.is_empty() {
        c.fingerprint = Some(out.fingerprint.clone());
    }
}

/// A stored crash as the event `resymbolicate` takes: the stored row's
/// columns and its payload (`threads`, `images`, `raw`, `notes`).
pub fn stored_event(
    crash_id: &str,
    ts: u32,
    exception_type: &str,
    message: &str,
    doc: &Value,
) -> Result<CrashEvent, ResymError> {
    let field = |k: &str| doc.get(k).filter(|v| !v.is_null()).cloned();
    serde_json::from_value(json!({
        "ts": i64::from(ts) * 1000, "crash_id": crash_id, "exception_type": exception_type,
        "message": message, "threads": field("threads").unwrap_or_else(|| json!([])),
        "images": field("images").unwrap_or_else(|| json!([])), "raw": field("raw"),
        "notes": field("notes").unwrap_or_else(|| json!([])),
    }))
    .map_err(|e| ResymError::Payload(e.to_string()))
}

/// The release label symbolication uses (source maps are uploaded per
/// `version+build`).
pub fn release_label(version: &str, build: &str) -> String {
    vitals_protocol::Release {
        version: version.to_string(),
        build: build.to_string(),
    }
    .label()
}

pub struct SymbolEnricher {
    pub symbolicator: Arc<Symbolicator>,
    /// Where the collector keeps attachments (`attachment:` references).
    pub attachments_dir: PathBuf,
}

impl SymbolEnricher {
    /// Resolves an `attachment:<kind>:<path>` reference to the payload form
    /// the symbolicator reads (`minidump:<base64>`, or the report text).
    fn load_attachment(&self, raw: &str) -> Option<String> {
        let rest = raw.strip_prefix("attachment:")?;
        let (kind, rel) = rest.split_once(':')?;
        if rel.contains("..") {
            return None;
        }
        let bytes = std::fs::read(self.attachments_dir.join(rel)).ok()?;
        if kind.contains("minidump") {
            Some(format!(
                "minidump:{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ))
        } else {
            String::from_utf8(bytes).ok()
        }
    }

    /// Symbolicates a stored crash again from its raw form (an attachment
    /// reference resolved here) and returns it as it should now be stored,
    /// with the symbolicator's outcome. A fingerprint the client chose is
    /// kept; otherwise the new one replaces the old (regrouping).
    pub async fn resymbolicate(
        &self,
        app: &str,
        release: &str,
        stored: &CrashEvent,
    ) -> Result<(CrashEvent, SymbolicatedCrash), ResymError> {
        let mut input = stored.clone();
        if let Some(r) = stored
            .raw
            .as_deref()
            .filter(|r| r.starts_with("attachment:"))
        {
            input.raw = Some(
                self.load_attachment(r)
                    .ok_or_else(|| ResymError::Attachment(r.to_string()))?,
            );
        }
        let out = self
            .symbolicator
            .resymbolicate(app, Some(release), &input)
            .await?;
        let client_fp = stored.notes.iter().any(|n| n == CLIENT_FINGERPRINT_NOTE);
        let mut c = stored.clone();
        c.notes = Vec::new();
        if client_fp {
            c.notes.push(CLIENT_FINGERPRINT_NOTE.to_string());
        } else {
            c.fingerprint = None;
        }
        apply_outcome(&mut c, &out);
        Ok((c, out))
    }
}

#[async_trait::async_trait]
impl Enricher for SymbolEnricher {
    async fn enrich(&self, b: &mut AcceptedBatch) {
        // Source maps are uploaded per release as `version+build`.
        let release = b.batch.release.label();
        for ev in b.batch.events.iter_mut() {
            let Event::Crash(c) = ev else { continue };
            // What the symbolicator reads, kept so that the crash can be
            // processed again from what the client sent (the threads are
            // replaced below); an attachment stays a reference.
            let raw = raw_form(c);
            c.notes.retain(|n| !server_note(n));
            if c.fingerprint.as_deref().is_some_and(|f| !f.is_empty()) {
                c.notes.push(CLIENT_FINGERPRINT_NOTE.to_string());
            }
            let mut input = c.clone();
            if let Some(r) = c.raw.as_deref().filter(|r| r.starts_with("attachment:")) {
                input.raw = self.load_attachment(r);
                if input.raw.is_none() {
                    c.notes.push(format!("raw: attachment {r} unreadable"));
                    continue;
                }
            }
            let out = self
                .symbolicator
                .symbolicate(&b.app_id, Some(&release), &input)
                .await;
            apply_outcome(c, &out);
            c.raw = raw;
        }
    }
}

/// What the crash read route needs.
pub struct CrashRoutes {
    pub store: Arc<dyn Store>,
    pub cp: Arc<ControlPlane>,
    pub enricher: Arc<SymbolEnricher>,
    pub lang: Lang,
}

/// `GET /api/v1/apps/{app}/crashes/{crash_id}` (viewer): one crash report
/// with its stack. A crash stored before its debug files arrived is
/// symbolicated again on read, so an upload shows at once.
pub fn configure(cfg: &mut web::ServiceConfig, state: web::Data<CrashRoutes>) {
    cfg.app_data(state).route(
        "/api/v1/apps/{app}/crashes/{crash_id}",
        web::get().to(read_crash),
    );
}

fn error(status: actix_web::http::StatusCode, code: &str, message: String) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

async fn read_crash(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: web::Data<CrashRoutes>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    let lang = Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        st.lang,
    );
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    match st.cp.authorize(header, Role::Viewer) {
        Ok(_) => {}
        Err(AuthFailure::Missing) => {
            return error(
                StatusCode::UNAUTHORIZED,
                Msg::AuthMissingToken.key(),
                Msg::AuthMissingToken.text(lang),
            );
        }
        Err(AuthFailure::Bad) => {
            return error(
                StatusCode::UNAUTHORIZED,
                Msg::AuthBadToken.key(),
                Msg::AuthBadToken.text(lang),
            );
        }
        Err(AuthFailure::Forbidden { role, needed }) => {
            return error(
                StatusCode::FORBIDDEN,
                Msg::AuthForbidden.key(),
                Msg::AuthForbidden.render(
                    lang,
                    &[("role", &role.as_str()), ("needed", &needed.as_str())],
                ),
            );
        }
        Err(AuthFailure::Store(e)) => {
            tracing::error!(error = %e, "crash lookup failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.key(),
                Msg::RequestStoreUnavailable.text(lang),
            );
        }
    }
    let (app, crash_id) = path.into_inner();
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            Msg::RequestNotFound.key(),
            Msg::RequestNotFound.render(lang, &[("what", &format!("crash {crash_id}"))]),
        )
    };
    let sample = match st.store.crash(&app, CrashKey::Id(&crash_id)).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "crash lookup failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.key(),
                Msg::RequestStoreUnavailable.text(lang),
            );
        }
    };
    let mut doc: Value = serde_json::from_str(&sample.payload).unwrap_or_else(|_| json!({}));
    let (mut exception_type, mut message) = (sample.exception_type.clone(), sample.message.clone());
    let complete = doc["notes"].as_array().is_some_and(|n| {
        n.iter()
            .any(|x| x.as_str() == Some("symbolicated: complete"))
    });
    if !complete {
        // Give it another pass from its raw form, so an upload shows at
        // once (the background job persists the same result).
        match stored_event(&crash_id, sample.ts, &exception_type, &message, &doc) {
            Ok(mut stored) => {
                if stored.raw.is_none() {
                    // Stored before raw forms were kept: the stored frames
                    // are all there is.
                    stored.raw = raw_form(&stored);
                }
                let release = release_label(&sample.version, &sample.build);
                match st.enricher.resymbolicate(&app, &release, &stored).await {
                    // A pass that kept the raw form (a timeout) shows the
                    // crash as stored.
                    Ok((_, out)) if matches!(out.status, Status::Raw { .. }) => {}
                    Ok((c, _)) => {
                        doc["threads"] = json!(c.threads);
                        doc["notes"] = json!(c.notes);
                        (exception_type, message) = (c.exception_type, c.message);
                    }
                    Err(e) => {
                        tracing::debug!(app = %app, crash_id = %crash_id, error = %e, "crash not re-symbolicated on read")
                    }
                }
            }
            Err(e) => {
                tracing::debug!(app = %app, crash_id = %crash_id, error = %e, "stored crash unreadable")
            }
        }
    }
    let notes: Vec<String> = doc["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let missing = missing_files(&notes);
    let notes: Vec<&String> = notes.iter().filter(|n| !server_note(n)).collect();
    HttpResponse::Ok().json(json!({
        "crash_id": crash_id,
        "release": sample.version, "build": sample.build, "platform": sample.platform,
        "device_model": sample.device_model, "os_version": sample.os_version,
        "exception_type": exception_type, "message": message, "ts": sample.ts,
        "threads": doc["threads"], "images": doc["images"], "notes": notes, "missing": missing,
    }))
}
