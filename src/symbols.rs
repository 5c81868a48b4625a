//! Glue between the collector's writer and the symbolicator: every crash
//! event is symbolicated on the symbolicator's own CPU pool before it is
//! stored, so stored stacks are readable and grouped by the symbolicated
//! fingerprint. A crash that cannot be processed keeps its raw frames and
//! says why (`notes`), including the debug files it lacks.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use vitals_i18n::Lang;
use vitals_i18n::Msg;
use vitals_protocol::{AcceptedBatch, Event, Frame, Thread};
use vitals_store::Enricher;
use vitals_store::control::{AuthFailure, Role};
use vitals_store::{ControlPlane, CrashKey, Store};
use vitals_symbolicator::{Status, Symbolicator};

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
}

#[async_trait::async_trait]
impl Enricher for SymbolEnricher {
    async fn enrich(&self, b: &mut AcceptedBatch) {
        // Source maps are uploaded per release as `version+build`.
        let release = b.batch.release.label();
        for ev in b.batch.events.iter_mut() {
            let Event::Crash(c) = ev else { continue };
            let stored_raw = c.raw.clone();
            let mut input = c.clone();
            if let Some(r) = stored_raw
                .as_deref()
                .filter(|r| r.starts_with("attachment:"))
            {
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
            match &out.status {
                Status::Raw { reason } => c.notes.push(format!("raw: {reason}")),
                status => {
                    c.threads = out
                        .threads
                        .iter()
                        .map(|t| Thread {
                            id: t.id,
                            name: t.name.clone(),
                            crashed: t.crashed,
                            frames: t
                                .frames
                                .iter()
                                .map(|f| Frame {
                                    addr: f.addr.clone(),
                                    function: f.function.clone().or_else(|| f.raw_function.clone()),
                                    module: f.module.clone().or_else(|| f.image.clone()),
                                    file: f.file.clone(),
                                    line: f.line,
                                    col: f.col,
                                    in_app: Some(f.in_app),
                                    inlined: f.inlined.then_some(true),
                                })
                                .collect(),
                        })
                        .collect();
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
            }
            if c.fingerprint.is_none() && !out.fingerprint.is_empty() {
                c.fingerprint = Some(out.fingerprint.clone());
            }
            c.raw = stored_raw;
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
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.key(),
                Msg::RequestStoreUnavailable.render(lang, &[("reason", &e)]),
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
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                Msg::RequestStoreUnavailable.key(),
                Msg::RequestStoreUnavailable.render(lang, &[("reason", &e)]),
            );
        }
    };
    let mut doc: serde_json::Value =
        serde_json::from_str(&sample.payload).unwrap_or_else(|_| json!({}));
    let complete = doc["notes"].as_array().is_some_and(|n| {
        n.iter()
            .any(|x| x.as_str() == Some("symbolicated: complete"))
    });
    if !complete {
        // Rebuild the event as stored and give it another pass.
        let event = json!({
            "ts": i64::from(sample.ts) * 1000, "crash_id": crash_id, "exception_type": sample.exception_type,
            "message": sample.message, "threads": doc["threads"], "images": doc["images"], "raw": doc["raw"],
        });
        if let Ok(c) = serde_json::from_value::<vitals_protocol::CrashEvent>(event) {
            let release = if sample.build.is_empty() {
                sample.version.clone()
            } else {
                format!("{}+{}", sample.version, sample.build)
            };
            let mut b = AcceptedBatch {
                app_id: app.clone(),
                received_at_ms: 0,
                client_ip: None,
                batch: vitals_protocol::Batch {
                    v: 1,
                    batch_id: "read".into(),
                    app_id: app.clone(),
                    release: vitals_protocol::Release {
                        version: sample.version.clone(),
                        build: sample.build.clone(),
                    },
                    platform: vitals_protocol::Platform::parse(&sample.platform)
                        .unwrap_or(vitals_protocol::Platform::Other),
                    device: vitals_protocol::Device {
                        model: sample.device_model.clone(),
                        class: Default::default(),
                        os_version: sample.os_version.clone(),
                        screen: Default::default(),
                        abi: String::new(),
                        rooted: false,
                        emulator: false,
                        device_id: None,
                    },
                    network: Default::default(),
                    install_id: "read".into(),
                    user_id: None,
                    consent: Default::default(),
                    environment: None,
                    sent_at: None,
                    events: vec![Event::Crash(c)],
                },
            };
            let _ = release;
            st.enricher.enrich(&mut b).await;
            if let Some(Event::Crash(c)) = b.batch.events.first() {
                doc["threads"] = json!(c.threads);
                doc["notes"] = json!(c.notes);
            }
        }
    }
    HttpResponse::Ok().json(json!({
        "crash_id": crash_id,
        "release": sample.version, "build": sample.build, "platform": sample.platform,
        "device_model": sample.device_model, "os_version": sample.os_version,
        "exception_type": sample.exception_type, "message": sample.message, "ts": sample.ts,
        "threads": doc["threads"], "images": doc["images"], "notes": doc["notes"],
    }))
}
