//! Crash attachments (minidumps, Apple crash reports) received through the
//! Sentry protocol: written durably under `<data_dir>/attachments/`, kept
//! raw for the symbolicator; plus a small multipart/form-data reader for
//! the minidump endpoint.

use crate::Inner;
use crate::error::ApiError;
use std::io::Write;

/// Writes an attachment durably and returns the reference stored with the
/// crash (`attachment:<kind>:<relative path>`).
pub fn store(
    st: &Inner,
    app: &str,
    envelope_id: &str,
    kind: &str,
    data: &[u8],
) -> Result<String, ApiError> {
    let safe = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect::<String>()
    };
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

/// One multipart/form-data part.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn param(disposition: &str, key: &str) -> Option<String> {
    disposition.split(';').map(str::trim).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Parses a multipart/form-data body.
pub fn multipart(content_type: &str, body: &[u8]) -> Result<Vec<Part>, ApiError> {
    let bad = |r: &str| ApiError::SentryItem {
        index: 0,
        reason: format!("multipart: {r}"),
    };
    let boundary = param(content_type, "boundary")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("no boundary in Content-Type"))?;
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut pos =
        find(body, delim.as_bytes(), 0).ok_or_else(|| bad("boundary not found"))? + delim.len();
    loop {
        if body[pos..].starts_with(b"--") {
            break;
        }
        let head_start = pos
            + if body[pos..].starts_with(b"\r\n") {
                2
            } else {
                0
            };
        let head_end =
            find(body, b"\r\n\r\n", head_start).ok_or_else(|| bad("part without headers"))?;
        let headers = std::str::from_utf8(&body[head_start..head_end])
            .map_err(|_| bad("headers are not UTF-8"))?;
        let disposition = headers
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
                    .map(|(_, v)| v.to_string())
            })
            .ok_or_else(|| bad("part without Content-Disposition"))?;
        let data_start = head_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), data_start)
            .ok_or_else(|| bad("unterminated part"))?;
        parts.push(Part {
            name: param(&disposition, "name").unwrap_or_default(),
            filename: param(&disposition, "filename"),
            data: body[data_start..next].to_vec(),
        });
        pos = next + 2 + delim.len();
        if pos >= body.len() {
            break;
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n{\"release\":\"a@1\"}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"c.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\nMDMP\r\n\x00\x01\r\n--XyZ--\r\n";
        let p = multipart("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].name, "sentry");
        assert_eq!(p[1].filename.as_deref(), Some("c.dmp"));
        assert_eq!(p[1].data, b"MDMP\r\n\x00\x01");
        assert!(multipart("multipart/form-data", body).is_err());
    }
}
