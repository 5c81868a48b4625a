//! Crash attachments (minidumps, Apple crash reports) received through the
//! Sentry protocol: written durably under `<data_dir>/attachments/`, kept
//! raw for the symbolicator; and the minidump endpoint's multipart body,
//! streamed to a file there as it arrives (issue #22), never whole in
//! memory.

use crate::Inner;
use crate::error::ApiError;
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// A path component made of letters, digits, `-`, `_` and `.` only.
fn safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// Writes an attachment durably and returns the reference stored with the
/// crash (`attachment:<kind>:<relative path>`).
pub fn store(
    st: &Inner,
    app: &str,
    envelope_id: &str,
    kind: &str,
    data: &[u8],
) -> Result<String, ApiError> {
    let (app, id, kind) = (safe(app), safe(envelope_id), safe(kind));
    let dir = st.attachments_dir.join(&app);
    let io = |e: std::io::Error| ApiError::SpoolFailed(format!("attachment: {e}"));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let name = format!("{id}-{kind}.bin");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(data).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, dir.join(&name)).map_err(io)?;
    st.metrics.attachments.inc();
    Ok(format!("attachment:{kind}:{app}/{name}"))
}

/// A minidump being received: a file under the app's attachments folder,
/// removed when dropped unless it was kept ([`keep_incoming`]).
pub struct Incoming {
    path: PathBuf,
    kept: bool,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A minidump upload (`/api/{project}/minidump/`), read as it streams: the
/// `upload_file_minidump` part straight into a file, other file parts
/// drained, text parts (event fields, the `sentry` JSON) in memory.
pub struct MinidumpForm {
    /// The dump and its file name.
    pub dump: Option<(Incoming, Option<String>)>,
    /// Text parts: (name, bytes).
    pub fields: Vec<(String, Vec<u8>)>,
}

/// Receives a minidump upload under the request bound
/// `[collector.sentry] max_attachment_bytes` (all parts together, `413
/// sentry.attachment_too_large` beyond it, checked on `Content-Length`
/// first and then as the bytes arrive) with text parts under
/// `max_item_bytes`; never holds the dump in memory.
pub async fn receive_minidump(
    st: &Inner,
    app: &str,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<MinidumpForm, ApiError> {
    let cfg = &st.cfg.sentry;
    let max = cfg.max_attachment_bytes as u64;
    if req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > max)
    {
        return Err(ApiError::AttachmentTooLarge(max));
    }
    let bad = |r: String| ApiError::SentryItem {
        index: 0,
        reason: format!("multipart: {r}"),
    };
    let io = |e: std::io::Error| ApiError::SpoolFailed(format!("attachment: {e}"));
    let dir = st.attachments_dir.join(safe(app));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut mp = actix_multipart::Multipart::new(req.headers(), payload);
    let mut form = MinidumpForm {
        dump: None,
        fields: Vec::new(),
    };
    let (mut total, mut text) = (0u64, 0usize);
    while let Some(field) = mp.next().await {
        let mut field = field.map_err(|e| bad(e.to_string()))?;
        let name = field.name().unwrap_or("").to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let is_dump = name == "upload_file_minidump" && form.dump.is_none();
        let mut file = None;
        if is_dump {
            let path = dir.join(format!(".incoming-{}.tmp", uuid::Uuid::new_v4().simple()));
            let f = tokio::fs::File::create(&path).await.map_err(io)?;
            form.dump = Some((Incoming { path, kept: false }, filename.clone()));
            file = Some(f);
        }
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| bad(e.to_string()))?;
            total += chunk.len() as u64;
            if total > max {
                return Err(ApiError::AttachmentTooLarge(max));
            }
            if let Some(f) = file.as_mut() {
                f.write_all(&chunk).await.map_err(io)?;
            } else if filename.is_none() {
                text += chunk.len();
                if text > cfg.max_item_bytes {
                    return Err(bad(format!(
                        "form fields over {} bytes",
                        cfg.max_item_bytes
                    )));
                }
                data.extend_from_slice(&chunk);
            }
            // Other file parts (logs and the like) are read and dropped.
        }
        if let Some(mut f) = file {
            f.flush().await.map_err(io)?;
        } else if filename.is_none() {
            form.fields.push((name, data));
        }
    }
    Ok(form)
}

/// Keeps a received minidump as the attachment of `envelope_id` (fsynced,
/// renamed into place); returns the reference stored with the crash.
pub fn keep_incoming(
    st: &Inner,
    app: &str,
    envelope_id: &str,
    kind: &str,
    mut incoming: Incoming,
) -> Result<String, ApiError> {
    let (app, id, kind) = (safe(app), safe(envelope_id), safe(kind));
    let io = |e: std::io::Error| ApiError::SpoolFailed(format!("attachment: {e}"));
    std::fs::File::open(&incoming.path)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    let name = format!("{id}-{kind}.bin");
    std::fs::rename(&incoming.path, st.attachments_dir.join(&app).join(&name)).map_err(io)?;
    incoming.kept = true;
    st.metrics.attachments.inc();
    Ok(format!("attachment:{kind}:{app}/{name}"))
}
