//! HTTP routes: debug-file upload (multipart, operator token or above) and
//! listing (viewer or above), group merge / split (operator).
//!
//! ```text
//! POST /api/v1/apps/{app}/debug-files                 multipart: file parts (zips expanded),
//!                                                     streamed to disk under [symbolicator.uploads],
//!                                                     fields release, url, url_prefix,
//!                                                     mapping_uuid, js_debug_id
//! GET  /api/v1/apps/{app}/debug-files                 list, newest first
//! POST /api/v1/apps/{app}/groups/merge                {"from": [fp…], "into": fp}
//! POST /api/v1/apps/{app}/groups/{fingerprint}/split  {"by": "message" | "all_frames"}
//! ```

use crate::error::{HttpError, SymError, UploadLimit};
use crate::grouping::SplitBy;
use crate::intake::{self, Budget, DiskEntry, UploadLimits};
use crate::service::Symbolicator;
use crate::store::{PutOutcome, UploadHints, check_app};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use symbolic_common::ByteView;
use tokio::io::AsyncWriteExt;
use vitals_i18n::Lang;
use vitals_store::ControlPlane;
use vitals_store::control::Role;

/// Longest text field of an upload form (release, URL, UUIDs).
const MAX_FIELD_BYTES: usize = 64 << 10;

/// What the routes need.
pub struct SymbolicatorState {
    /// The service.
    pub symbolicator: Arc<Symbolicator>,
    /// Token checks.
    pub control: Arc<ControlPlane>,
    /// Bounds of one upload.
    pub limits: UploadLimits,
    /// Where uploads are streamed to while they are checked (a folder per
    /// request, removed when it ends); under the data directory.
    pub tmp_dir: PathBuf,
}

impl SymbolicatorState {
    /// State with default limits, uploads streamed under the system's
    /// temporary folder (the server passes its own: [`Self::with_uploads`]).
    pub fn new(symbolicator: Arc<Symbolicator>, control: Arc<ControlPlane>) -> Self {
        SymbolicatorState {
            symbolicator,
            control,
            limits: UploadLimits::default(),
            tmp_dir: std::env::temp_dir().join("vitals-uploads"),
        }
    }

    /// The same with these upload bounds and temporary folder.
    pub fn with_uploads(mut self, limits: UploadLimits, tmp_dir: PathBuf) -> Self {
        self.limits = limits;
        self.tmp_dir = tmp_dir;
        self
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

/// One file part of the form, streamed to disk.
struct FilePart {
    name: String,
    path: PathBuf,
}

/// The text fields of the form.
#[derive(Default)]
struct Form {
    hints: UploadHints,
    url_prefix: Option<String>,
}

/// Reads the form: file parts into files under `dir` (the request's own
/// folder), text fields into `form`, all under the request bound.
async fn receive(
    mp: &mut Multipart,
    dir: &std::path::Path,
    limits: &UploadLimits,
    form: &mut Form,
) -> Result<Vec<FilePart>, SymError> {
    let hints = &mut form.hints;
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut budget = Budget::default();
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| SymError::BadField {
            field: "multipart".into(),
            reason: e.to_string(),
        })?;
        let name = field.name().unwrap_or("").to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let bad = |reason: String| SymError::BadField {
            field: name.clone(),
            reason,
        };
        let mut count = |n: usize| {
            total += n as u64;
            if total > limits.max_request_bytes {
                return Err(SymError::over(
                    UploadLimit::Request,
                    limits.max_request_bytes,
                    "",
                    "",
                ));
            }
            Ok(())
        };
        match filename {
            Some(f) => {
                budget.add_file(&f, limits)?;
                let path = dir.join(format!("part-{}", files.len()));
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| SymError::io(&path, e))?;
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| bad(e.to_string()))?;
                    count(chunk.len())?;
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| SymError::io(&path, e))?;
                }
                out.flush().await.map_err(|e| SymError::io(&path, e))?;
                files.push(FilePart { name: f, path });
            }
            None => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.next().await {
                    let chunk = chunk.map_err(|e| bad(e.to_string()))?;
                    count(chunk.len())?;
                    if buf.len() + chunk.len() > MAX_FIELD_BYTES {
                        return Err(bad(format!("longer than {MAX_FIELD_BYTES} bytes")));
                    }
                    buf.extend_from_slice(&chunk);
                }
                let v = String::from_utf8(buf).map_err(|_| bad("not UTF-8".into()))?;
                let v = Some(v.trim().to_string()).filter(|s| !s.is_empty());
                match name.as_str() {
                    "release" => hints.release = v,
                    "url" => hints.url = v,
                    "url_prefix" => form.url_prefix = v,
                    "mapping_uuid" => hints.mapping_uuid = v,
                    "js_debug_id" => hints.js_debug_id = v,
                    _ => {}
                }
            }
        }
    }
    Ok(files)
}

/// Expands every part (all of them first, so that a part over a bound or
/// with a bad name stores nothing), then stores each file, read through a
/// memory map rather than into the heap.
fn store_parts(
    sym: &Symbolicator,
    app: &str,
    files: Vec<FilePart>,
    dir: &std::path::Path,
    limits: &UploadLimits,
    form: &Form,
    lang: Lang,
) -> Result<UploadResponse, SymError> {
    let mut budget = Budget::default();
    let mut expanded: Vec<(Vec<DiskEntry>, bool)> = Vec::new();
    for (i, part) in files.iter().enumerate() {
        let dest = dir.join(format!("x-{i}"));
        let entries = intake::expand_file(&part.name, &part.path, &dest, limits, &mut budget)?;
        let single = entries.len() == 1 && !intake::is_zip_name(&part.name);
        expanded.push((entries, single));
    }
    let mut out = UploadResponse {
        files: Vec::new(),
        skipped: Vec::new(),
    };
    for (entries, single) in expanded {
        for e in entries {
            let mut h = form.hints.clone();
            if let Some(p) = &form.url_prefix {
                h.url = Some(format!("{p}{}", e.path));
            } else if !single {
                h.url = None;
            }
            let data = if e.size == 0 {
                ByteView::from_slice(&[])
            } else {
                ByteView::open(&e.file).map_err(|err| SymError::io(&e.file, err))?
            };
            match sym.store().put(app, &e.path, &data, &h) {
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
    let limits = st.limits;
    // Refuse a declared oversize body before receiving any of it.
    if req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limits.max_request_bytes)
    {
        return Err(wrap(SymError::over(
            UploadLimit::Request,
            limits.max_request_bytes,
            "",
            "",
        )));
    }
    // The request's own folder, removed when it is dropped (error or not).
    std::fs::create_dir_all(&st.tmp_dir).map_err(|e| wrap(SymError::io(&st.tmp_dir, e)))?;
    let dir = tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(&st.tmp_dir)
        .map_err(|e| wrap(SymError::io(&st.tmp_dir, e)))?;
    let mut form = Form::default();
    let files = receive(&mut mp, dir.path(), &limits, &mut form)
        .await
        .map_err(wrap)?;
    if files.is_empty() {
        return Err(wrap(SymError::UploadEmpty));
    }
    let sym = st.symbolicator.clone();
    // Expansion, detection and hashing are disk and CPU work: off the I/O
    // threads. The folder goes with the task and is removed at its end.
    let result = tokio::task::spawn_blocking(move || {
        let r = store_parts(&sym, &app, files, dir.path(), &limits, &form, lang);
        drop(dir);
        r
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
