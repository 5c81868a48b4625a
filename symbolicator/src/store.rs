//! The debug-file store: uploaded files on disk under a configurable root,
//! identified by content hash (SHA-256, so re-uploads are deduplicated) and
//! indexed by debug id, code id, ProGuard mapping UUID, release + URL and JS
//! debug id.
//!
//! Layout under the root:
//!
//! ```text
//! blobs/ab/abcdef…            file contents, named by SHA-256 (shared by apps)
//! apps/{app}/{sha256}.json   metadata of one file uploaded for one app
//! caches/…                   derived caches (see `cache.rs`)
//! ```
//!
//! No path is ever built from a client-supplied name: names are metadata only,
//! and app ids are checked to be one safe path component.

use crate::detect::{self, Detected, FileKind, ObjectInfo};
use crate::error::{Result, SymError};
use index::{AppIndex, AppSlot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use symbolic_common::ByteView;

mod index;

/// How often, by default, a lookup checks whether its app's directory
/// changed on disk (files stored or deleted by another process).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(2);

/// What the uploader says about a file, beyond its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadHints {
    /// Release the file belongs to (source maps, minified files).
    #[serde(default)]
    pub release: Option<String>,
    /// URL the script is served from (`https://…/app.js`, `app:///index.android.bundle`, `~/app.js`).
    #[serde(default)]
    pub url: Option<String>,
    /// Explicit ProGuard mapping UUID (overrides the computed one).
    #[serde(default)]
    pub mapping_uuid: Option<String>,
    /// Explicit JS debug id.
    #[serde(default)]
    pub js_debug_id: Option<String>,
}

/// Metadata of one stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebugFileMeta {
    /// SHA-256 of the contents, lower-case hex: the file's identity.
    pub id: String,
    /// App it was uploaded for.
    pub app: String,
    /// Kind.
    pub kind: FileKind,
    /// Sanitised base name given at upload.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Upload time, Unix milliseconds.
    pub uploaded_at_ms: i64,
    /// Native objects inside.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectInfo>,
    /// ProGuard mapping UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping_uuid: Option<String>,
    /// Release (JS artifacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// URL (JS artifacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// JS debug id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_debug_id: Option<String>,
    /// `sourceMappingURL` of a minified script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_mapping_url: Option<String>,
}

impl DebugFileMeta {
    /// Every lookup key this file answers to (`debug:…`, `code:…`,
    /// `proguard:…`, `jsdebug:…`, `url:{release}:{url}`), the same keys
    /// `MissingFile::key` uses, so callers can find crashes waiting for it.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for o in &self.objects {
            keys.push(format!("debug:{}", o.debug_id));
            if let Some(c) = &o.code_id {
                keys.push(format!("code:{c}"));
            }
        }
        if let Some(u) = &self.mapping_uuid {
            keys.push(format!("proguard:{u}"));
        }
        if let Some(d) = &self.js_debug_id {
            keys.push(format!("jsdebug:{d}"));
        }
        if let Some(u) = &self.url {
            keys.push(format!(
                "url:{}:{}",
                self.release.as_deref().unwrap_or(""),
                u
            ));
        }
        keys
    }
}

/// Result of `put`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutOutcome {
    /// The stored file.
    pub meta: DebugFileMeta,
    /// False when the same content was already stored for this app.
    pub created: bool,
}

type UploadHook = Box<dyn Fn(&DebugFileMeta) + Send + Sync>;

/// The on-disk debug-file store. Cheap to share behind an `Arc`.
///
/// The index follows the directory: files stored or deleted by another
/// process (another node on shared storage) show in lookups at most
/// `refresh` after the change (plus the NFS attribute cache); see
/// `store/index.rs`.
pub struct DebugFileStore {
    root: PathBuf,
    max_file_bytes: u64,
    index: RwLock<HashMap<String, AppSlot>>,
    hooks: RwLock<Vec<UploadHook>>,
    /// Least time between two checks of one app's directory; None: the
    /// index is read at open only (and follows this process's puts).
    refresh: Option<Duration>,
    /// Origin of the store's monotonic clock (`clock_ms`).
    epoch: Instant,
}

impl std::fmt::Debug for DebugFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugFileStore")
            .field("root", &self.root)
            .finish()
    }
}

/// Checks that `app` is one safe path component.
pub fn check_app(app: &str) -> Result<()> {
    let ok = !app.is_empty()
        && app.len() <= 128
        && !app.starts_with('.')
        && app
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SymError::BadApp(app.to_string()))
    }
}

/// Reduces a client-supplied path to a safe base name for display.
/// Rejects names with control characters or that are nothing but `.`/`..`.
pub fn sanitize_name(name: &str) -> Result<String> {
    if name.chars().any(|c| c.is_control()) {
        return Err(SymError::BadFileName(name.escape_debug().to_string()));
    }
    let base = name
        .rsplit(['/', '\\'])
        .find(|s| !s.is_empty())
        .unwrap_or("");
    if base.is_empty() || base == "." || base == ".." || base.len() > 255 {
        return Err(SymError::BadFileName(name.to_string()));
    }
    Ok(base.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes `data` to `path` through a temporary file and a rename.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| SymError::Internal(format!("no parent for {}", path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| SymError::io(dir, e))?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(data).map_err(|e| SymError::io(&tmp.0, e))?;
    tmp.1.sync_all().map_err(|e| SymError::io(&tmp.0, e))?;
    std::fs::rename(&tmp.0, path).map_err(|e| SymError::io(path, e))?;
    Ok(())
}

fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File)> {
    let name = format!(".tmp-{}", uuid::Uuid::new_v4().simple());
    let path = dir.join(name);
    let f = std::fs::File::create(&path).map_err(|e| SymError::io(&path, e))?;
    Ok((path, f))
}

impl DebugFileStore {
    /// Opens (creating if needed) a store under `root` and loads its index,
    /// which then follows the disk every [`DEFAULT_REFRESH`] (see
    /// [`DebugFileStore::with_refresh`]).
    pub fn open(root: impl Into<PathBuf>, max_file_bytes: u64) -> Result<Self> {
        let root = root.into();
        for d in ["blobs", "apps", "caches"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(|e| SymError::io(&p, e))?;
        }
        let store = DebugFileStore {
            root,
            max_file_bytes,
            index: RwLock::new(HashMap::new()),
            hooks: RwLock::new(Vec::new()),
            refresh: Some(DEFAULT_REFRESH),
            epoch: Instant::now(),
        };
        store.load_index()?;
        Ok(store)
    }

    /// Sets how often a lookup checks its app's directory for files stored
    /// or deleted by other processes: `Some(Duration::ZERO)` at every
    /// lookup, `None` never (the index then holds what was on disk at open
    /// plus this process's own puts).
    pub fn with_refresh(mut self, refresh: Option<Duration>) -> Self {
        self.refresh = refresh;
        if let Ok(index) = self.index.get_mut() {
            // Checks planned with the old interval: due at the next lookup.
            for slot in index.values_mut() {
                *slot.next_check_ms.get_mut() = 0;
            }
        }
        self
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Registers a callback run after every file newly stored through this
    /// process (used to trigger re-symbolication of crashes that were
    /// missing it). Files another process stored, which the index picks up
    /// from disk, run no callback: their uploader's process ran its own.
    pub fn on_upload(&self, hook: impl Fn(&DebugFileMeta) + Send + Sync + 'static) {
        if let Ok(mut h) = self.hooks.write() {
            h.push(Box::new(hook));
        }
    }

    fn load_index(&self) -> Result<()> {
        let apps_dir = self.root.join("apps");
        let rd = std::fs::read_dir(&apps_dir).map_err(|e| SymError::io(&apps_dir, e))?;
        let now = self.clock_ms();
        let mut count = 0usize;
        for app_entry in rd.flatten() {
            let app = app_entry.file_name().to_string_lossy().to_string();
            if check_app(&app).is_err() || !app_entry.path().is_dir() {
                continue;
            }
            count += self.rescan(&app, now);
        }
        tracing::info!(root = %self.root.display(), files = count, "debug-file store opened");
        Ok(())
    }

    fn blob_path(&self, sha: &str) -> PathBuf {
        let prefix = sha.get(..2).unwrap_or("00");
        self.root.join("blobs").join(prefix).join(sha)
    }

    fn meta_path(&self, app: &str, sha: &str) -> PathBuf {
        self.root.join("apps").join(app).join(format!("{sha}.json"))
    }

    /// The directory derived caches live under.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("caches")
    }

    /// Stores one file (not an archive: see `intake::expand` for zips).
    /// Detects its kind and ids; an identical file already stored for the
    /// app is not stored again.
    pub fn put(
        &self,
        app: &str,
        name: &str,
        data: &[u8],
        hints: &UploadHints,
    ) -> Result<PutOutcome> {
        check_app(app)?;
        let name = sanitize_name(name)?;
        if data.len() as u64 > self.max_file_bytes {
            return Err(SymError::TooLarge(self.max_file_bytes));
        }
        let detected =
            detect::detect(data, &name).ok_or_else(|| SymError::UnknownFormat(name.clone()))?;
        let sha = hex::encode(Sha256::digest(data));
        if let Some(existing) = self.get(app, &sha) {
            tracing::debug!(app, id = %sha, name = %name, "duplicate upload");
            return Ok(PutOutcome {
                meta: (*existing).clone(),
                created: false,
            });
        }
        // Stored by another process since this one last looked: a
        // duplicate too (its uploader ran the upload hooks).
        if let Some(existing) = index::read_meta(&self.meta_path(app, &sha)) {
            tracing::debug!(app, id = %sha, name = %name, "duplicate upload (stored elsewhere)");
            self.index_write()?
                .entry(app.to_string())
                .or_insert_with(AppSlot::unknown)
                .index
                .add(Arc::new(existing.clone()));
            return Ok(PutOutcome {
                meta: existing,
                created: false,
            });
        }
        let meta = self.make_meta(app, &name, &sha, data.len() as u64, detected, hints);
        let blob = self.blob_path(&sha);
        if !blob.exists() {
            write_atomic(&blob, data)?;
        }
        let json =
            serde_json::to_vec_pretty(&meta).map_err(|e| SymError::Internal(e.to_string()))?;
        write_atomic(&self.meta_path(app, &sha), &json)?;
        self.index_write()?
            .entry(app.to_string())
            .or_insert_with(AppSlot::unknown)
            .index
            .add(Arc::new(meta.clone()));
        tracing::info!(app, id = %sha, kind = meta.kind.as_str(), name = %meta.name, size = meta.size,
            debug_ids = ?meta.objects.iter().map(|o| o.debug_id.as_str()).collect::<Vec<_>>(), "debug file stored");
        if let Ok(hooks) = self.hooks.read() {
            for h in hooks.iter() {
                h(&meta);
            }
        }
        Ok(PutOutcome {
            meta,
            created: true,
        })
    }

    fn make_meta(
        &self,
        app: &str,
        name: &str,
        sha: &str,
        size: u64,
        d: Detected,
        hints: &UploadHints,
    ) -> DebugFileMeta {
        let is_js = matches!(d.kind, FileKind::SourceMap | FileKind::MinifiedSource);
        DebugFileMeta {
            id: sha.to_string(),
            app: app.to_string(),
            kind: d.kind,
            name: name.to_string(),
            size,
            uploaded_at_ms: now_ms(),
            objects: d.objects,
            mapping_uuid: if d.kind == FileKind::Proguard {
                hints
                    .mapping_uuid
                    .as_deref()
                    .and_then(|u| uuid::Uuid::parse_str(u.trim()).ok())
                    .map(|u| u.to_string())
                    .or(d.mapping_uuid)
            } else {
                None
            },
            release: hints.release.clone().filter(|_| is_js),
            url: hints.url.clone().filter(|_| is_js),
            js_debug_id: hints
                .js_debug_id
                .as_deref()
                .and_then(detect::debug_id_key)
                .or(d.js_debug_id)
                .filter(|_| is_js),
            source_mapping_url: d.source_mapping_url,
        }
    }

    fn index_write(&self) -> Result<std::sync::RwLockWriteGuard<'_, HashMap<String, AppSlot>>> {
        self.index
            .write()
            .map_err(|_| SymError::Internal("index lock poisoned".into()))
    }

    /// Runs `f` on `app`'s index, after checking the disk when due.
    fn with_app<T>(&self, app: &str, f: impl FnOnce(&AppIndex) -> T) -> Option<T> {
        self.refresh_if_due(app);
        let index = self.index.read().ok()?;
        index.get(app).map(|slot| f(&slot.index))
    }

    /// A file by content hash.
    pub fn get(&self, app: &str, sha: &str) -> Option<Arc<DebugFileMeta>> {
        self.with_app(app, |a| a.files.get(sha).cloned()).flatten()
    }

    /// All files of an app, newest first.
    pub fn list(&self, app: &str) -> Vec<DebugFileMeta> {
        let mut v: Vec<DebugFileMeta> = self
            .with_app(app, |a| a.files.values().map(|m| (**m).clone()).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| {
            b.uploaded_at_ms
                .cmp(&a.uploaded_at_ms)
                .then(a.id.cmp(&b.id))
        });
        v
    }

    /// Native files holding `debug_id` (canonical key), newest first.
    pub fn by_debug_id(&self, app: &str, debug_id: &str) -> Vec<Arc<DebugFileMeta>> {
        self.with_app(app, |a| a.resolve(a.by_debug_id.get(debug_id)))
            .unwrap_or_default()
    }

    /// Native files with `code_id` (lower-case hex), newest first.
    pub fn by_code_id(&self, app: &str, code_id: &str) -> Vec<Arc<DebugFileMeta>> {
        let key = code_id.to_ascii_lowercase();
        self.with_app(app, |a| a.resolve(a.by_code_id.get(&key)))
            .unwrap_or_default()
    }

    /// ProGuard mappings with this UUID.
    pub fn by_mapping_uuid(&self, app: &str, uuid: &str) -> Vec<Arc<DebugFileMeta>> {
        let key = uuid::Uuid::parse_str(uuid.trim())
            .map(|u| u.to_string())
            .unwrap_or_else(|_| uuid.to_string());
        self.with_app(app, |a| a.resolve(a.by_mapping.get(&key)))
            .unwrap_or_default()
    }

    /// All ProGuard mappings of the app (when a crash names none).
    pub fn proguard_mappings(&self, app: &str) -> Vec<Arc<DebugFileMeta>> {
        self.with_app(app, |a| {
            let mut v: Vec<_> = a
                .files
                .values()
                .filter(|m| m.kind == FileKind::Proguard)
                .cloned()
                .collect();
            v.sort_by_key(|m| std::cmp::Reverse(m.uploaded_at_ms));
            v
        })
        .unwrap_or_default()
    }

    /// JS artifacts (maps, scripts) with this debug id.
    pub fn by_js_debug_id(&self, app: &str, id: &str) -> Vec<Arc<DebugFileMeta>> {
        self.with_app(app, |a| a.resolve(a.by_js_debug_id.get(id)))
            .unwrap_or_default()
    }

    /// JS artifacts uploaded for `release` at `url`.
    pub fn by_release_url(&self, app: &str, release: &str, url: &str) -> Vec<Arc<DebugFileMeta>> {
        self.with_app(app, |a| {
            a.resolve(
                a.by_release_url
                    .get(&(release.to_string(), url.to_string())),
            )
        })
        .unwrap_or_default()
    }

    /// JS artifacts of `release`, for fuzzy URL matching.
    pub fn release_artifacts(&self, app: &str, release: &str) -> Vec<Arc<DebugFileMeta>> {
        self.with_app(app, |a| {
            a.files
                .values()
                .filter(|m| m.url.is_some() && m.release.as_deref().unwrap_or("") == release)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    /// The contents of a stored file, memory-mapped.
    pub fn open_file(&self, meta: &DebugFileMeta) -> Result<ByteView<'static>> {
        let path = self.blob_path(&meta.id);
        ByteView::open(&path).map_err(|e| SymError::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_apps_are_checked() {
        assert!(check_app("bank-app_1.0").is_ok());
        for bad in ["", "..", "../etc", "a/b", ".hidden", "a\0b"] {
            assert!(check_app(bad).is_err(), "{bad}");
        }
        assert_eq!(
            sanitize_name("../../etc/passwd").ok().as_deref(),
            Some("passwd")
        );
        assert_eq!(
            sanitize_name("C:\\x\\crash.pdb").ok().as_deref(),
            Some("crash.pdb")
        );
        assert!(sanitize_name("..").is_err());
        assert!(sanitize_name("a\nb").is_err());
        assert!(sanitize_name("/").is_err());
    }

    #[test]
    fn put_dedupes_and_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DebugFileStore::open(dir.path(), 1 << 20).expect("open");
        let m = b"com.example.Foo -> a.a:\n    void bar() -> a\n";
        let a = store
            .put("app", "mapping.txt", m, &UploadHints::default())
            .expect("put");
        assert!(a.created);
        let b = store
            .put("app", "other.txt", m, &UploadHints::default())
            .expect("put");
        assert!(!b.created);
        assert_eq!(a.meta.id, b.meta.id);
        let uuid = a.meta.mapping_uuid.clone().expect("uuid");
        assert_eq!(store.by_mapping_uuid("app", &uuid).len(), 1);
        assert!(store.by_mapping_uuid("other", &uuid).is_empty());
        // Reopen: the index is rebuilt from disk.
        let store = DebugFileStore::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(store.list("app").len(), 1);
        assert!(matches!(
            store.put("app", "x.bin", b"\x00\x01junk", &UploadHints::default()),
            Err(SymError::UnknownFormat(_))
        ));
        assert!(matches!(
            store.put(
                "app",
                "big.txt",
                &vec![b'a'; 2 << 20],
                &UploadHints::default()
            ),
            Err(SymError::TooLarge(_))
        ));
    }
}
