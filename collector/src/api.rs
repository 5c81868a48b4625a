//! HTTP routes of the collector.

use crate::error::{ApiError, Localized};
use crate::{Inner, auth, decode, privacy};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;
use vitals_i18n::Lang;
use vitals_protocol::{AcceptedBatch, sign};
use vitals_store::control::{App, Role};

type Shared = web::Data<Arc<Inner>>;

pub fn configure(inner: Arc<Inner>, cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::Data::new(inner))
        .route("/api/v1/batch", web::post().to(post_batch))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/api/v1/users/{pseudonym}", web::delete().to(erase_user))
        .configure(crate::sentry::configure);
}

/// The response language: `Accept-Language`, else the configured default.
pub fn lang(req: &HttpRequest, default: Lang) -> Lang {
    Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        default,
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn header<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, ApiError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::MissingHeader(name))
}

pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    if let Some(len) = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadCompression(format!("body read failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn post_batch(
    req: HttpRequest,
    payload: web::Payload,
    st: Shared,
) -> Result<HttpResponse, Localized> {
    let started = Instant::now();
    let lang = lang(&req, st.lang);
    let result = ingest(&req, payload, &st).await;
    let status = match &result {
        Ok(r) => r.status(),
        Err(e) => e.status(),
    };
    st.metrics
        .requests
        .with_label_values(&[status.as_str()])
        .inc();
    st.metrics
        .request_seconds
        .observe(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        tracing::info!(status = status.as_u16(), code = e.msg().key(), error = %e, "ingest refused");
    }
    result.map_err(|e| e.lang(lang))
}

async fn ingest(
    req: &HttpRequest,
    payload: web::Payload,
    st: &Arc<Inner>,
) -> Result<HttpResponse, ApiError> {
    let limits = &st.cfg.limits;
    // Authenticate before reading more than the header fields.
    let signed = auth::SignedHeaders {
        method: req.method().as_str(),
        path: req.path(),
        key_id: header(req, sign::HEADER_KEY)?,
        timestamp: header(req, sign::HEADER_TIMESTAMP)?,
        nonce: header(req, sign::HEADER_NONCE)?,
        signature: header(req, sign::HEADER_SIGNATURE)?,
    };
    let body = read_body(req, payload, limits.max_body_bytes).await?;
    let now = now_ms();
    let app = auth::verify(
        &st.keys,
        &st.nonces,
        st.cfg.auth.max_skew_secs,
        &signed,
        &body,
        now / 1000,
    )?;
    // The in-memory cache accepted the nonce; the control plane, which
    // remembers nonces across restarts and nodes, answers while the body
    // is decoded, and its answer comes first (a replay is a replay even
    // when its body is bad).
    let claim = st.claim_nonce(signed.key_id, signed.nonce);
    let decoded = decode_batch(req, &body, limits);
    if claim.wait().await == Some(false) {
        return Err(ApiError::ReplayedNonce(signed.nonce.to_string()));
    }
    let batch = decoded?;
    let client_ip = req.peer_addr().map(|a| a.ip().to_string());
    let batch_id = batch.batch_id.clone();
    let admitted = admit(st, &app, batch, now, client_ip).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "batch_id": batch_id, "accepted": admitted.events, "duplicate": admitted.duplicate
    })))
}

/// Decompresses and decodes a signed batch body.
fn decode_batch(
    req: &HttpRequest,
    body: &[u8],
    limits: &vitals_protocol::Limits,
) -> Result<vitals_protocol::Batch, ApiError> {
    let encoding = req
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok());
    // Batches come as documented (docs/protocol.md): identity, gzip or
    // zstd; anything else is 415 (the decoder also knows deflate and br,
    // which Sentry SDKs use on their own routes).
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    if !matches!(
        enc.as_deref(),
        None | Some("" | "identity" | "gzip" | "zstd")
    ) {
        return Err(ApiError::BadEncoding(
            enc.unwrap_or_default().chars().take(40).collect(),
        ));
    }
    let json = decode::decompress(encoding, body, limits.max_decompressed_bytes)?;
    Ok(vitals_protocol::decode(&json)?)
}

/// What [`admit`] did with a batch.
pub struct Admitted {
    pub events: usize,
    pub duplicate: bool,
}

/// The common tail of every ingest path (native and Sentry): validate,
/// check the app, the recent-duplicate cache and the rate limit, apply the
/// privacy rules, and spool durably. Returns once the batch is on disk.
pub async fn admit(
    st: &Inner,
    app: &App,
    mut batch: vitals_protocol::Batch,
    now: i64,
    peer_ip: Option<String>,
) -> Result<Admitted, ApiError> {
    vitals_protocol::validate(&batch, &st.cfg.limits, now)?;
    if batch.app_id != app.app_id {
        return Err(ApiError::AppMismatch {
            key_app: app.app_id.clone(),
            batch_app: batch.app_id,
        });
    }
    let n_events = batch.events.len();
    // Decided before the append: a batch acknowledged before (by this
    // process, another node or before a restart) is not spooled again.
    if st
        .seen_before(&app.app_id, &batch.batch_id, now / 1000)
        .await
    {
        return Ok(Admitted {
            events: 0,
            duplicate: true,
        });
    }
    st.limiter
        .take(&app.app_id, n_events as u64, Instant::now())
        .map_err(|retry| ApiError::RateLimited {
            app: app.app_id.clone(),
            retry,
        })?;
    privacy::apply(&mut batch, &app.pseudonym_secret, &st.scrubber);
    let client_ip = if app.store_ip { peer_ip } else { None };
    let kinds: Vec<&'static str> = batch.events.iter().map(|e| e.kind().as_str()).collect();
    let accepted = AcceptedBatch {
        app_id: app.app_id.clone(),
        received_at_ms: now,
        client_ip,
        batch,
    };
    let record = serde_json::to_vec(&accepted).map_err(|e| ApiError::Internal(e.to_string()))?;
    match st.spool.append(record).await {
        Ok(_) => {}
        Err(crate::spool::SpoolError::Full { .. }) => {
            return Err(ApiError::SpoolFull {
                retry: st.cfg.spool.retry_after_secs,
            });
        }
        Err(e) => return Err(ApiError::SpoolFailed(e.to_string())),
    }
    // Recorded only now that the append succeeded: a batch recorded
    // before a failed append (503) would be called a duplicate on retry,
    // and lost. A crash between the two only leaves a later answer
    // `duplicate: false` for a batch the store keeps once anyway.
    st.acknowledged(&accepted.app_id, &accepted.batch.batch_id, now / 1000)
        .await;
    st.metrics.batches_accepted.inc();
    for k in kinds {
        st.metrics.events_accepted.with_label_values(&[k]).inc();
    }
    st.metrics.spool_bytes.set(st.spool.bytes() as i64);
    Ok(Admitted {
        events: n_events,
        duplicate: false,
    })
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(st: Shared) -> HttpResponse {
    // Read before the ping, so the status describes this moment whatever
    // the store does meanwhile.
    let (spool_ok, spool_bytes) = (st.spool.has_room(), st.spool.bytes());
    // The store's ping is bounded by its own timeout ([store]
    // ping_timeout_ms), so a hung store cannot hang readiness.
    let store_ok = st.store.ping().await.is_ok();
    let body = json!({
        "store": if store_ok { "ok" } else { "unreachable" },
        "spool_bytes": spool_bytes,
        "spool_cap": st.spool.cap(),
        "backend": st.store.backend(),
    });
    // Ingest stays available while the store is down (the spool absorbs
    // it), so readiness fails only when the spool cannot take more: by
    // the very test `admit` applies (`Spool::has_room`).
    if spool_ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(st: Shared) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(st.metrics.render())
}

/// Checks the bearer token and its role.
pub fn require(req: &HttpRequest, st: &Inner, needed: Role) -> Result<Role, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    st.cp.authorize(header, needed).map_err(auth_error)
}

/// An authorisation failure as the API's error.
pub fn auth_error(e: vitals_store::control::AuthFailure) -> ApiError {
    use vitals_store::control::AuthFailure;
    match e {
        AuthFailure::Missing => ApiError::MissingToken,
        AuthFailure::Bad => ApiError::BadToken,
        AuthFailure::Forbidden { role, needed } => ApiError::Forbidden {
            role: role.as_str(),
            needed: needed.as_str(),
        },
        AuthFailure::Store(e) => ApiError::Internal(e),
    }
}

#[derive(Deserialize)]
struct AppQuery {
    app: String,
}

async fn erase_user(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<AppQuery>,
    st: Shared,
) -> Result<HttpResponse, Localized> {
    let lang = lang(&req, st.lang);
    let run = async {
        require(&req, &st, Role::Admin)?;
        let pseudonym = path.into_inner();
        if st.keys.app(&q.app).is_none() && st.cp.app(&q.app).ok().flatten().is_none() {
            return Err(ApiError::NotFound(format!("app {}", q.app)));
        }
        // Record first: rows still in the spool are dropped by the writer.
        st.cp
            .request_erasure(&q.app, &pseudonym)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        st.refresh_control();
        st.store
            .erase_user(&q.app, &pseudonym)
            .await
            .map_err(|e| ApiError::StoreUnavailable(e.to_string()))?;
        st.cp
            .complete_erasure(&q.app, &pseudonym)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tracing::info!(app = %q.app, "user data erased");
        Ok(HttpResponse::Ok().json(json!({
            "app": q.app, "pseudonym": pseudonym, "erased": true,
            "message": vitals_i18n::Msg::CliUserErased.render(lang, &[("pseudonym", &pseudonym), ("app", &q.app)]),
        })))
    };
    run.await.map_err(|e: ApiError| e.lang(lang))
}
