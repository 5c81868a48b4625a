//! The symbolicator's errors: one enum, one mapping to HTTP status codes and
//! to JSON bodies `{"error": {"code", "message"}}` in the language negotiated
//! with the client (`Accept-Language`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use vitals_i18n::{Lang, Msg};

/// The bounds of an upload (`[symbolicator.uploads]`, see
/// [`crate::intake::UploadLimits`]), each with the configuration key that
/// raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadLimit {
    /// The request body, all parts together.
    Request,
    /// Files in one upload (parts and archive entries).
    Entries,
    /// Expanded size of one archive entry.
    Entry,
    /// Expanded size of the upload's archives together.
    Total,
    /// Expansion ratio of one entry.
    Ratio,
    /// Expansion ratio of a whole archive.
    ArchiveRatio,
}

impl UploadLimit {
    /// The configuration key to raise it.
    pub fn key(self) -> &'static str {
        match self {
            UploadLimit::Request => "symbolicator.uploads.max_request_bytes",
            UploadLimit::Entries => "symbolicator.uploads.max_zip_entries",
            UploadLimit::Entry => "symbolicator.uploads.max_zip_entry_bytes",
            UploadLimit::Total => "symbolicator.uploads.max_zip_total_bytes",
            UploadLimit::Ratio | UploadLimit::ArchiveRatio => "symbolicator.uploads.max_zip_ratio",
        }
    }

    fn msg(self) -> Msg {
        match self {
            UploadLimit::Request => Msg::SymUploadTooLarge,
            UploadLimit::Entries => Msg::SymZipTooManyEntries,
            UploadLimit::Entry => Msg::SymZipEntryTooLarge,
            UploadLimit::Total => Msg::SymZipTooLarge,
            UploadLimit::Ratio => Msg::SymZipRatio,
            UploadLimit::ArchiveRatio => Msg::SymZipArchiveRatio,
        }
    }
}

/// Everything that can go wrong in the symbolicator.
#[derive(Debug, thiserror::Error)]
pub enum SymError {
    /// The app id is not a safe path component.
    #[error("invalid app id {0:?}")]
    BadApp(String),
    /// A file name would escape the store root or contains control bytes.
    #[error("unsafe file name {0:?}")]
    BadFileName(String),
    /// The bytes are no debug file, mapping, source map or script we know.
    #[error("unrecognised file {0:?}")]
    UnknownFormat(String),
    /// A zip archive broke a limit (size, entries, compression ratio) or is corrupt.
    #[error("archive {name:?} rejected: {reason}")]
    ArchiveRejected {
        /// Archive name.
        name: String,
        /// What limit was broken.
        reason: String,
    },
    /// A file is larger than the configured limit.
    #[error("file over {0} bytes")]
    TooLarge(u64),
    /// An upload broke one of its bounds (`[symbolicator.uploads]`).
    #[error("upload over {limit:?} limit {value} ({archive} {entry})")]
    OverLimit {
        /// Which bound.
        limit: UploadLimit,
        /// Its configured value.
        value: u64,
        /// The archive (or upload) concerned.
        archive: String,
        /// The entry concerned, if one.
        entry: String,
    },
    /// An upload without any file part.
    #[error("upload without files")]
    UploadEmpty,
    /// A form field is malformed.
    #[error("bad field {field}: {reason}")]
    BadField {
        /// Field name.
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// No `Authorization: Bearer` header.
    #[error("missing API token")]
    MissingToken,
    /// Unknown or revoked token.
    #[error("bad API token")]
    BadToken,
    /// The token's role is below what the route needs.
    #[error("role {role} may not do this, needs {needed}")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// The role required.
        needed: &'static str,
    },
    /// A debug file could be read but not parsed.
    #[error("corrupt {kind} file {id}: {reason}")]
    Corrupt {
        /// File kind.
        kind: &'static str,
        /// Content hash of the file.
        id: String,
        /// Parser message.
        reason: String,
    },
    /// A raw payload (minidump, Apple report, tombstone) could not be parsed.
    #[error("unparsable {kind} payload: {reason}")]
    BadPayload {
        /// Payload kind.
        kind: &'static str,
        /// Parser message.
        reason: String,
    },
    /// Disk I/O failure.
    #[error("i/o on {path}: {source}")]
    Io {
        /// The path involved.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The worker pool is gone or a task panicked.
    #[error("worker pool: {0}")]
    Pool(String),
    /// Talking to a remote vitals server failed (CLI upload).
    #[error("upload to {url} failed: {reason}")]
    Remote {
        /// Target URL.
        url: String,
        /// Transport or HTTP error.
        reason: String,
    },
    /// Control-plane failure while checking a token.
    #[error("internal: {0}")]
    Internal(String),
}

impl SymError {
    /// An upload over `limit` (configured as `value`), in `archive` at
    /// `entry`.
    pub fn over(limit: UploadLimit, value: u64, archive: &str, entry: &str) -> Self {
        SymError::OverLimit {
            limit,
            value,
            archive: archive.chars().take(256).collect(),
            entry: entry.chars().take(256).collect(),
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        SymError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        use SymError::*;
        match self {
            BadApp(_) | BadFileName(_) | UploadEmpty | BadField { .. } | BadPayload { .. } => {
                StatusCode::BAD_REQUEST
            }
            UnknownFormat(_) | ArchiveRejected { .. } | Corrupt { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            TooLarge(_) | OverLimit { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            MissingToken | BadToken => StatusCode::UNAUTHORIZED,
            Forbidden { .. } => StatusCode::FORBIDDEN,
            Remote { .. } => StatusCode::BAD_GATEWAY,
            Io { .. } | Pool(_) | Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The catalogue message behind this error.
    pub fn msg(&self) -> Msg {
        use SymError::*;
        match self {
            BadApp(_) => Msg::SymBadApp,
            BadFileName(_) => Msg::SymBadFileName,
            UnknownFormat(_) => Msg::SymUnknownFormat,
            ArchiveRejected { .. } => Msg::SymArchiveRejected,
            TooLarge(_) => Msg::RequestTooLarge,
            OverLimit { limit, .. } => limit.msg(),
            UploadEmpty => Msg::SymUploadEmpty,
            BadField { .. } => Msg::SymBadField,
            MissingToken => Msg::AuthMissingToken,
            BadToken => Msg::AuthBadToken,
            Forbidden { .. } => Msg::AuthForbidden,
            Corrupt { .. } | BadPayload { .. } | Io { .. } | Pool(_) | Remote { .. } => {
                Msg::RequestInternal
            }
            Internal(_) => Msg::RequestInternal,
        }
    }

    /// The message text in `lang`.
    pub fn message(&self, lang: Lang) -> String {
        use SymError::*;
        let m = self.msg();
        match self {
            BadApp(app) => m.render(lang, &[("app", app)]),
            BadFileName(n) | UnknownFormat(n) => m.render(lang, &[("name", n)]),
            ArchiveRejected { name, reason } => {
                m.render(lang, &[("name", name), ("reason", reason)])
            }
            TooLarge(l) => m.render(lang, &[("limit", l)]),
            OverLimit {
                limit,
                value,
                archive,
                entry,
            } => m.render(
                lang,
                &[
                    ("limit", value),
                    ("key", &limit.key()),
                    ("name", archive),
                    ("entry", entry),
                ],
            ),
            BadField { field, reason } => m.render(lang, &[("field", field), ("reason", reason)]),
            Forbidden { role, needed } => m.render(lang, &[("role", role), ("needed", needed)]),
            UploadEmpty | MissingToken | BadToken => m.text(lang),
            Corrupt { .. }
            | BadPayload { .. }
            | Io { .. }
            | Pool(_)
            | Remote { .. }
            | Internal(_) => m.render(lang, &[("reason", &self.to_string())]),
        }
    }

    /// The JSON error body in `lang`; an upload over a bound also names
    /// the bound's value (`limit`) and its key (`config_key`).
    pub fn body(&self, lang: Lang) -> serde_json::Value {
        let mut e = json!({"code": self.msg().key(), "message": self.message(lang)});
        if let SymError::OverLimit { limit, value, .. } = self {
            e["limit"] = json!(value);
            e["config_key"] = json!(limit.key());
        }
        json!({ "error": e })
    }
}

/// An error bound to the language of the request that caused it, so that
/// actix can render it.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct HttpError {
    /// The error.
    pub error: SymError,
    /// The negotiated language.
    pub lang: Lang,
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        self.error.status()
    }

    fn error_response(&self) -> HttpResponse {
        if self.error.status().is_server_error() {
            tracing::error!(error = %self.error, "symbolicator request failed");
        }
        HttpResponse::build(self.status_code()).json(self.error.body(self.lang))
    }
}

/// Result alias of the crate.
pub type Result<T, E = SymError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_renders_in_both_languages_without_placeholders() {
        let errs = [
            SymError::BadApp("../x".into()),
            SymError::UnknownFormat("a.bin".into()),
            SymError::ArchiveRejected {
                name: "a.zip".into(),
                reason: "ratio".into(),
            },
            SymError::TooLarge(10),
            SymError::over(UploadLimit::Request, 7, "", ""),
            SymError::over(UploadLimit::Entries, 7, "a.zip", ""),
            SymError::over(UploadLimit::Entry, 7, "a.zip", "b.so"),
            SymError::over(UploadLimit::Total, 7, "a.zip", "b.so"),
            SymError::over(UploadLimit::Ratio, 7, "a.zip", "b.so"),
            SymError::over(UploadLimit::ArchiveRatio, 7, "a.zip", ""),
            SymError::UploadEmpty,
            SymError::Forbidden {
                role: "viewer",
                needed: "operator",
            },
            SymError::Internal("boom".into()),
        ];
        for e in errs {
            for lang in [Lang::ZhCn, Lang::En] {
                let m = e.message(lang);
                assert!(!m.contains('{'), "{m}");
                assert_eq!(e.body(lang)["error"]["code"], e.msg().key());
            }
        }
        assert_eq!(SymError::UploadEmpty.status(), StatusCode::BAD_REQUEST);
        let e = SymError::over(UploadLimit::Total, 4096, "a.zip", "b.so");
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let b = e.body(Lang::En);
        assert_eq!(
            b["error"]["config_key"],
            "symbolicator.uploads.max_zip_total_bytes"
        );
        assert_eq!(b["error"]["limit"], 4096);
        let m = b["error"]["message"].as_str().unwrap_or_default();
        assert!(
            m.contains("4096") && m.contains("symbolicator.uploads.max_zip_total_bytes"),
            "{m}"
        );
        assert_eq!(SymError::BadToken.status(), StatusCode::UNAUTHORIZED);
    }
}
