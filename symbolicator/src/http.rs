//! HTTP routes: debug-file upload (multipart, operator token or above) and
//! listing (viewer or above), group merge / split (operator).
//!
//! ```text
//! POST /api/v1/apps/{app}/debug-files                 multipart: file parts (zips expanded),
//!                                                     fields release, url, url_prefix,
//!                                                     mapping_uuid, js_debug_id
//! GET  /api/v1/apps/{app}/debug-files                 list, newest first
//! POST /api/v1/apps/{app}/groups/merge                {"from": [fp…], "into": fp}
//! POST /api/v1/apps/{app}/groups/{fingerprint}/split  {"by": "message" | "all_frames"}
//! ```

use crate::error::{HttpError, SymError};
use crate::grouping::SplitBy;
use crate::intake::{self, ZipLimits};
use crate::service::Symbolicator;
use crate::store::{PutOutcome, UploadHints, check_app};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vitals_i18n::Lang;
use vitals_store::ControlPlane;
use vitals_store::control::Role;

/// What the routes need.
pub struct SymbolicatorState {
    /// The service.
    pub symbolicator: Arc<Symbolicator>,
    /// Token checks.
    pub control: Arc<ControlPlane>,
    /// Zip expansion limits.
    pub zip: ZipLimits,
    /// Largest upload request body (all parts).
    pub max_upload_bytes: u64,
}

impl SymbolicatorState {
    /// State with default limits (4 GiB per request).
    pub fn new(symbolicator: Arc<Symbolicator>, control: Arc<ControlPlane>) -> Self {
        SymbolicatorState {
            symbolicator,
            control,
            zip: ZipLimits::default(),
            max_upload_bytes: 4 << 30,
        }
    }
}

type Shared = web::Data<Arc<SymbolicatorState>>;

/// Mounts the routes.
pub fn configure(cfg: &mut web::ServiceConfig, state: Arc<SymbolicatorState>) {
    cfg.app_data(web::Data::new(state))
        .route("/api/v1/apps/{app}/debug-files", web::post().to(upload))
        .route("/api/v1/apps/{app}/debug-files", web::get().to(list))
        .route("/api/v1/apps/{app}/groups/merge", web::post().to(merge))
        .route(
            "/api/v1/apps/{app}/groups/{fp}/split",
            web::post().to(split),
        );
}

fn lang(req: &HttpRequest) -> Lang {
    Lang::negotiate(
        req.headers()
            .get("accept-language")
            .and_then(|v| v.to_str().ok()),
        Lang::ZhCn,
    )
}

fn require(req: &HttpRequest, st: &SymbolicatorState, needed: Role) -> Result<Role, SymError> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(SymError::MissingToken)?;
    let role = st
        .control
        .token_role(token.trim())
        .map_err(|e| SymError::Internal(e.to_string()))?
        .ok_or(SymError::BadToken)?;
    if role < needed {
        return Err(SymError::Forbidden {
            role: role.as_str(),
            needed: needed.as_str(),
        });
    }
    Ok(role)
}

/// Response of an upload.
#[derive(Debug, Serialize, Deserialize)]
pub struct UploadResponse {
    /// Files stored (or found already stored).
    pub files: Vec<PutOutcome>,
    /// Entries skipped, with the reason.
    pub skipped: Vec<Skipped>,
}

/// A skipped entry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Skipped {
    /// Entry path.
    pub name: String,
    /// Why (localised).
    pub reason: String,
}

async fn upload(
    req: HttpRequest,
    path: web::Path<String>,
    mut mp: Multipart,
    st: Shared,
) -> Result<HttpResponse, HttpError> {
    let lang = lang(&req);
    let wrap = |error| HttpError { error, lang };
    let app = path.into_inner();
    require(&req, &st, Role::Operator).map_err(wrap)?;
    check_app(&app).map_err(wrap)?;
    // Refuse a declared oversize body before receiving any of it.
    if req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > st.max_upload_bytes)
    {
        return Err(wrap(SymError::TooLarge(st.max_upload_bytes)));
    }
    let mut hints = UploadHints::default();
    let mut url_prefix: Option<String> = None;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0u64;
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| {
            wrap(SymError::BadField {
                field: "multipart".into(),
                reason: e.to_string(),
            })
        })?;
        let name = field.name().unwrap_or("").to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let mut buf = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                wrap(SymError::BadField {
                    field: name.clone(),
                    reason: e.to_string(),
                })
            })?;
            total += chunk.len() as u64;
            if total > st.max_upload_bytes {
                return Err(wrap(SymError::TooLarge(st.max_upload_bytes)));
            }
            buf.extend_from_slice(&chunk);
        }
        match filename {
            Some(f) => files.push((f, buf)),
            None => {
                let v = String::from_utf8(buf).map_err(|_| {
                    wrap(SymError::BadField {
                        field: name.clone(),
                        reason: "not UTF-8".into(),
                    })
                })?;
                let v = Some(v.trim().to_string()).filter(|s| !s.is_empty());
                match name.as_str() {
                    "release" => hints.release = v,
                    "url" => hints.url = v,
                    "url_prefix" => url_prefix = v,
                    "mapping_uuid" => hints.mapping_uuid = v,
                    "js_debug_id" => hints.js_debug_id = v,
                    _ => {}
                }
            }
        }
    }
    if files.is_empty() {
        return Err(wrap(SymError::UploadEmpty));
    }
    let sym = st.symbolicator.clone();
    let zip = st.zip;
    // Detection and hashing are CPU work: off the I/O threads.
    let result = tokio::task::spawn_blocking(move || -> Result<UploadResponse, SymError> {
        let mut out = UploadResponse {
            files: Vec::new(),
            skipped: Vec::new(),
        };
        for (fname, data) in files {
            let entries = intake::expand(&fname, data, &zip)?;
            let single = entries.len() == 1 && !intake::is_zip_name(&fname);
            for e in entries {
                let mut h = hints.clone();
                if let Some(p) = &url_prefix {
                    h.url = Some(format!("{p}{}", e.path));
                } else if !single {
                    h.url = None;
                }
                match sym.store().put(&app, &e.path, &e.data, &h) {
                    Ok(o) => out.files.push(o),
                    Err(
                        err @ (SymError::UnknownFormat(_)
                        | SymError::TooLarge(_)
                        | SymError::BadFileName(_)),
                    ) => out.skipped.push(Skipped {
                        name: e.path,
                        reason: err.message(lang),
                    }),
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| wrap(SymError::Pool(e.to_string())))?
    .map_err(wrap)?;
    if result.files.is_empty()
        && let Some(s) = result.skipped.first()
    {
        return Err(wrap(SymError::UnknownFormat(s.name.clone())));
    }
    Ok(HttpResponse::Ok().json(result))
}

async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    st: Shared,
) -> Result<HttpResponse, HttpError> {
    let lang = lang(&req);
    let wrap = |error| HttpError { error, lang };
    let app = path.into_inner();
    require(&req, &st, Role::Viewer).map_err(wrap)?;
    check_app(&app).map_err(wrap)?;
    // The listing may re-read the app's directory (files stored through
    // other nodes): off the I/O threads.
    let sym = st.symbolicator.clone();
    let files = web::block(move || sym.store().list(&app))
        .await
        .map_err(|e| wrap(SymError::Pool(e.to_string())))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "files": files })))
}

#[derive(Deserialize)]
struct MergeBody {
    from: Vec<String>,
    into: String,
}

async fn merge(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<MergeBody>,
    st: Shared,
) -> Result<HttpResponse, HttpError> {
    let lang = lang(&req);
    let wrap = |error| HttpError { error, lang };
    require(&req, &st, Role::Operator).map_err(wrap)?;
    let o = st
        .symbolicator
        .merge_groups(&path.into_inner(), &body.from, &body.into)
        .map_err(wrap)?;
    Ok(HttpResponse::Ok().json(o))
}

#[derive(Deserialize)]
struct SplitBody {
    by: SplitBy,
}

async fn split(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Json<SplitBody>,
    st: Shared,
) -> Result<HttpResponse, HttpError> {
    let lang = lang(&req);
    let wrap = |error| HttpError { error, lang };
    require(&req, &st, Role::Operator).map_err(wrap)?;
    let (app, fp) = path.into_inner();
    let o = st
        .symbolicator
        .split_group(&app, &fp, body.by)
        .map_err(wrap)?;
    Ok(HttpResponse::Ok().json(o))
}
