//! `vitals upload-symbols PATH…`: walks folders and zips and either POSTs
//! each debug file to a vitals server with a bearer token, or writes it
//! straight into a local store directory.

use crate::detect;
use crate::error::{Result, SymError};
use crate::intake::{self, Budget, UploadLimits};
use crate::store::{DebugFileStore, UploadHints};
use serde::Serialize;
use std::path::PathBuf;

/// Where the files go.
#[derive(Debug, Clone)]
pub enum UploadTarget {
    /// A vitals server: `POST {base_url}/api/v1/apps/{app}/debug-files`.
    Remote {
        /// Server base URL, e.g. `http://127.0.0.1:8080`.
        base_url: String,
        /// API token (operator or admin).
        token: String,
    },
    /// A local store root (same layout the server uses).
    Local {
        /// Store root directory.
        root: PathBuf,
    },
}

/// Options of an upload run.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// App id.
    pub app: String,
    /// Hints applied to every file (release, explicit mapping UUID…).
    pub hints: UploadHints,
    /// For JS artifacts: URL = prefix + path relative to the argument
    /// (e.g. `~/static/js/`).
    pub url_prefix: Option<String>,
    /// Zip limits (`[symbolicator.uploads]`, per archive here).
    pub zip: UploadLimits,
    /// Largest file read.
    pub max_file_bytes: u64,
}

/// What happened.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UploadReport {
    /// Files sent / stored.
    pub files: usize,
    /// Of which new.
    pub new: usize,
    /// Of which already present.
    pub duplicate: usize,
    /// Skipped paths and reasons.
    pub skipped: Vec<(String, String)>,
}

fn url_for(opts: &UploadOptions, rel: &str) -> Option<String> {
    let p = opts.url_prefix.as_ref()?;
    // Drop the argument's own name: `dist/js/app.js` under `dist` → `js/app.js`.
    let tail = rel.split_once('/').map(|x| x.1).unwrap_or(rel);
    Some(format!("{p}{tail}"))
}

/// Uploads every debug file under `paths`.
pub async fn upload_paths(
    paths: &[PathBuf],
    target: &UploadTarget,
    opts: &UploadOptions,
) -> Result<UploadReport> {
    let max = if opts.max_file_bytes == 0 {
        2 << 30
    } else {
        opts.max_file_bytes
    };
    let mut report = UploadReport::default();
    let local = match target {
        UploadTarget::Local { root } => Some(DebugFileStore::open(root, max)?),
        UploadTarget::Remote { .. } => None,
    };
    let client = reqwest::Client::new();
    let tmp = tempfile::tempdir().map_err(|e| SymError::io(std::env::temp_dir(), e))?;
    for (n, (path, rel)) in intake::walk(paths)?.into_iter().enumerate() {
        let zip = intake::is_zip_file(&path)?;
        if !zip && let Err(e) = intake::read_limited_len(&path, max) {
            report
                .skipped
                .push((path.display().to_string(), e.to_string()));
            continue;
        }
        // A zip is expanded to files (under the same bounds as the
        // server's), anything else is its own entry.
        let entries = intake::expand_file(
            &rel,
            &path,
            &tmp.path().join(n.to_string()),
            &opts.zip,
            &mut Budget::default(),
        )?;
        for e in entries {
            let full = if zip {
                format!("{rel}/{}", e.path)
            } else {
                e.path.clone()
            };
            let data = match intake::read_limited(&e.file, max) {
                Ok(d) => d,
                Err(err) => {
                    report.skipped.push((full, err.to_string()));
                    continue;
                }
            };
            if detect::detect(&data, &e.path).is_none() {
                report.skipped.push((full, "not a debug file".into()));
                continue;
            }
            let mut hints = opts.hints.clone();
            if let Some(u) = url_for(opts, &e.path) {
                hints.url = Some(u);
            }
            let created = match (&local, target) {
                (Some(store), _) => store.put(&opts.app, &e.path, &data, &hints)?.created,
                (None, UploadTarget::Remote { base_url, token }) => {
                    post(&client, base_url, token, &opts.app, &e.path, data, &hints).await?
                }
                (None, UploadTarget::Local { .. }) => false,
            };
            report.files += 1;
            if created {
                report.new += 1;
            } else {
                report.duplicate += 1;
            }
            tracing::info!(path = %full, created, "debug file uploaded");
        }
    }
    Ok(report)
}

/// Builds a multipart/form-data body with text fields and one file part.
pub fn multipart_body(
    boundary: &str,
    fields: &[(&str, &str)],
    filename: &str,
    data: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(data.len() + 512);
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    let safe = filename.replace(['"', '\r', '\n'], "_");
    b.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

async fn post(
    client: &reqwest::Client,
    base_url: &str,
    token: &str,
    app: &str,
    name: &str,
    data: Vec<u8>,
    hints: &UploadHints,
) -> Result<bool> {
    let url = format!(
        "{}/api/v1/apps/{app}/debug-files",
        base_url.trim_end_matches('/')
    );
    let boundary = format!("vitals-{}", uuid::Uuid::new_v4().simple());
    let mut fields = Vec::new();
    for (k, v) in [
        ("release", &hints.release),
        ("url", &hints.url),
        ("mapping_uuid", &hints.mapping_uuid),
        ("js_debug_id", &hints.js_debug_id),
    ] {
        if let Some(v) = v {
            fields.push((k, v.as_str()));
        }
    }
    let body = multipart_body(&boundary, &fields, name, &data);
    let remote = |reason: String| SymError::Remote {
        url: url.clone(),
        reason,
    };
    let resp = client
        .post(&url)
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| remote(e.to_string()))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| remote(e.to_string()))?;
    if !status.is_success() {
        return Err(remote(format!("{status}: {text}")));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| remote(e.to_string()))?;
    Ok(v["files"]
        .as_array()
        .map(|a| a.iter().any(|f| f["created"].as_bool() == Some(true)))
        .unwrap_or(false))
}
