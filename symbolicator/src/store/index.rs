//! The store's in-memory index, per app, and how it follows
//! `apps/{app}/` on disk when other processes add or delete files there:
//! other vitals nodes sharing the directory (NFS), `vitals upload-symbols
//! --data-dir`, an operator deleting a metadata file.
//!
//! Each app's slot remembers the directory's modification time at its last
//! scan. A lookup for an app whose last check is at least `refresh` old
//! stats the directory (one GETATTR on NFS, made by one caller while the
//! others go on with the index as it is); only when the time moved is the
//! directory listed, and only the metadata files not indexed yet are read.
//! Lookups in between cost one atomic load. The new index is built outside
//! the lock and swapped in. A lookup for an app the index does not know
//! checks the disk the same way (the first file of an app uploaded through
//! another node), and the slot it leaves behind throttles the next checks.
//!
//! Coarse timestamps (1–2 s on some file systems and NFS servers) can give
//! a change right after a scan the time the scan saw. Such a change can only
//! come within that granularity of the first sighting of the time, so for
//! [`RACY_MS`] after a directory time is first seen, checks list the
//! directory even when the time has not moved, comparing the names with
//! the index (which also catches a delete and an add that keep the count).
//!
//! On NFS, `stat` answers from the client's attribute cache: a change shows
//! after `refresh` plus up to `acdirmax` (deploy/README.md).

use super::{DebugFileMeta, DebugFileStore, check_app};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// How long after a directory time is first seen checks also list the
/// directory (see the module documentation).
pub(super) const RACY_MS: u64 = 3_000;

/// The lookup tables of one app.
#[derive(Default)]
pub(super) struct AppIndex {
    pub(super) files: HashMap<String, Arc<DebugFileMeta>>,
    pub(super) by_debug_id: HashMap<String, Vec<String>>,
    pub(super) by_code_id: HashMap<String, Vec<String>>,
    pub(super) by_mapping: HashMap<String, Vec<String>>,
    pub(super) by_js_debug_id: HashMap<String, Vec<String>>,
    pub(super) by_release_url: HashMap<(String, String), Vec<String>>,
}

impl AppIndex {
    pub(super) fn add(&mut self, meta: Arc<DebugFileMeta>) {
        let id = meta.id.clone();
        let push = |map: &mut HashMap<String, Vec<String>>, k: &str| {
            let v = map.entry(k.to_string()).or_default();
            if !v.contains(&id) {
                v.push(id.clone());
            }
        };
        for o in &meta.objects {
            push(&mut self.by_debug_id, &o.debug_id);
            if let Some(c) = &o.code_id {
                push(&mut self.by_code_id, c);
            }
        }
        if let Some(u) = &meta.mapping_uuid {
            push(&mut self.by_mapping, u);
        }
        if let Some(d) = &meta.js_debug_id {
            push(&mut self.by_js_debug_id, d);
        }
        if let Some(u) = &meta.url {
            let key = (meta.release.clone().unwrap_or_default(), u.clone());
            let v = self.by_release_url.entry(key).or_default();
            if !v.contains(&id) {
                v.push(id.clone());
            }
        }
        self.files.insert(meta.id.clone(), meta);
    }

    pub(super) fn resolve(&self, ids: Option<&Vec<String>>) -> Vec<Arc<DebugFileMeta>> {
        let mut out: Vec<_> = ids
            .into_iter()
            .flatten()
            .filter_map(|id| self.files.get(id).cloned())
            .collect();
        // Newest upload first.
        out.sort_by_key(|m| std::cmp::Reverse(m.uploaded_at_ms));
        out
    }
}

/// What the last check saw of `apps/{app}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DirState {
    /// Not looked at yet (the slot holds only files put by this process).
    Unknown,
    /// No directory.
    Missing,
    /// The directory's modification time.
    Modified(SystemTime),
}

/// One app: its index and the state of its directory at the last scan.
pub(super) struct AppSlot {
    pub(super) index: AppIndex,
    state: DirState,
    /// Store clock (ms) until which an unchanged `state` does not prove an
    /// unchanged directory.
    racy_until_ms: u64,
    /// Store clock (ms) of the next check; claimed by compare-and-swap.
    pub(super) next_check_ms: AtomicU64,
}

impl AppSlot {
    /// A slot whose directory was never looked at: the next lookup checks.
    pub(super) fn unknown() -> AppSlot {
        AppSlot {
            index: AppIndex::default(),
            state: DirState::Unknown,
            racy_until_ms: 0,
            next_check_ms: AtomicU64::new(0),
        }
    }
}

/// What a scan of one app's directory found, applied under the write lock.
struct Scan {
    state: DirState,
    /// The index as listed, when the listing differs from the index.
    fresh: Option<AppIndex>,
    /// Indexed files found deleted.
    gone: HashSet<String>,
}

/// Reads one metadata file; None (with a warning) when unreadable.
pub(super) fn read_meta(path: &std::path::Path) -> Option<DebugFileMeta> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "debug-file metadata unreadable");
            return None;
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "unreadable debug-file metadata skipped");
            None
        }
    }
}

/// The content hashes named by the `*.json` files of `dir`.
fn list_names(dir: &std::path::Path) -> std::io::Result<HashSet<String>> {
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name.strip_suffix(".json")
            && !stem.is_empty()
            && !stem.starts_with('.')
        {
            names.insert(stem.to_string());
        }
    }
    Ok(names)
}

impl DebugFileStore {
    /// Milliseconds of the store's monotonic clock.
    pub(super) fn clock_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Brings `app`'s index up to date with the disk when a check is due
    /// (never with `refresh` None). Errors are logged: the index stays.
    pub(super) fn refresh_if_due(&self, app: &str) {
        let Some(every) = self.refresh else {
            return;
        };
        let now = self.clock_ms();
        {
            let Ok(index) = self.index.read() else {
                return;
            };
            match index.get(app) {
                Some(slot) => {
                    let due = slot.next_check_ms.load(Ordering::Acquire);
                    if now < due {
                        return;
                    }
                    let next = now + every.as_millis() as u64;
                    if slot
                        .next_check_ms
                        .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Another caller checks now.
                        return;
                    }
                }
                None if check_app(app).is_err() => return,
                None => {}
            }
        }
        self.rescan(app, now);
    }

    /// Stats `apps/{app}/` and, when it changed since the last scan (or the
    /// last scan's time is too recent to trust), lists it and swaps in a new
    /// index. Returns the app's file count after the scan.
    pub(super) fn rescan(&self, app: &str, now: u64) -> usize {
        match self.scan(app, now, false) {
            Some(scan) => self.apply(app, scan, now),
            None => self.file_count(app),
        }
    }

    /// The read half of a rescan, under no lock but a short read lock for
    /// the snapshot: None when nothing changed (unless `force`) or the
    /// directory could not be read (the index stays).
    fn scan(&self, app: &str, now: u64, force: bool) -> Option<Scan> {
        let dir = self.root.join("apps").join(app);
        // The time is read before the listing, so a change made while
        // listing shows as a new time at the next check.
        let state = match std::fs::metadata(&dir) {
            Ok(m) => DirState::Modified(m.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DirState::Missing,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "debug-file directory not checked");
                return None;
            }
        };
        let (snapshot, known) = {
            let index = self.index.read().ok()?;
            match index.get(app) {
                Some(slot) if slot.state == state && now >= slot.racy_until_ms && !force => {
                    return None;
                }
                Some(slot) => (slot.index.files.clone(), true),
                None => (HashMap::new(), false),
            }
        };
        let names = match state {
            DirState::Modified(_) => match list_names(&dir) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "debug-file directory not listed");
                    return None;
                }
            },
            _ => HashSet::new(),
        };
        let unchanged = known
            && names.len() == snapshot.len()
            && names.iter().all(|n| snapshot.contains_key(n));
        if unchanged {
            return Some(Scan {
                state,
                fresh: None,
                gone: HashSet::new(),
            });
        }
        let mut next = AppIndex::default();
        let mut added = 0usize;
        for name in &names {
            match snapshot.get(name) {
                Some(m) => next.add(m.clone()),
                None => {
                    if let Some(m) = read_meta(&dir.join(format!("{name}.json"))) {
                        next.add(Arc::new(m));
                        added += 1;
                    }
                }
            }
        }
        // Indexed but not listed: deleted, unless the file is there after
        // all (put by this process while the directory was read).
        let gone: HashSet<String> = snapshot
            .keys()
            .filter(|id| !names.contains(*id) && !self.meta_path(app, id).exists())
            .cloned()
            .collect();
        if known && (added > 0 || !gone.is_empty()) {
            tracing::info!(
                app,
                files = next.files.len(),
                added,
                removed = gone.len(),
                "debug-file index reloaded from disk"
            );
        }
        Some(Scan {
            state,
            fresh: Some(next),
            gone,
        })
    }

    /// The write half: swaps the scanned index in, keeping the files the
    /// slot gained meanwhile. Returns the app's file count.
    fn apply(&self, app: &str, scan: Scan, now: u64) -> usize {
        let next_check = now + self.refresh.map(|d| d.as_millis() as u64).unwrap_or(0);
        let Ok(mut index) = self.index.write() else {
            return 0;
        };
        let slot = index
            .entry(app.to_string())
            .or_insert_with(AppSlot::unknown);
        if let Some(mut next) = scan.fresh {
            // Files the slot gained since the snapshot (puts of this process)
            // stay; so do those listed as gone but still on disk.
            for m in slot.index.files.values() {
                if !next.files.contains_key(&m.id) && !scan.gone.contains(&m.id) {
                    next.add(m.clone());
                }
            }
            slot.index = next;
        }
        if slot.state != scan.state {
            slot.state = scan.state;
            slot.racy_until_ms = now + RACY_MS;
        }
        let due = slot.next_check_ms.get_mut();
        *due = (*due).max(next_check);
        slot.index.files.len()
    }

    fn file_count(&self, app: &str) -> usize {
        self.index
            .read()
            .ok()
            .and_then(|i| i.get(app).map(|s| s.index.files.len()))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UploadHints;

    fn mapping(n: u32) -> Vec<u8> {
        format!("com.example.C{n} -> a.b{n}:\n    void run() -> a\n").into_bytes()
    }

    #[test]
    fn a_put_between_listing_and_swap_is_kept_and_a_delete_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let h = UploadHints::default();
        let other = DebugFileStore::open(dir.path(), 1 << 20).unwrap();
        let first = other.put("maps", "m.txt", &mapping(1), &h).unwrap().meta;
        // No refresh: only the scans made here change the index.
        let s = DebugFileStore::open(dir.path(), 1 << 20)
            .unwrap()
            .with_refresh(None);
        assert_eq!(s.list("maps").len(), 1, "loaded at open");
        let second = other.put("maps", "m.txt", &mapping(2), &h).unwrap().meta;
        std::fs::remove_file(s.meta_path("maps", &first.id)).unwrap();
        // The directory is read (first deleted, second added), then this
        // process stores a third file, then the scan is swapped in.
        let scan = s.scan("maps", s.clock_ms(), true).expect("scanned");
        let third = s.put("maps", "m.txt", &mapping(3), &h).unwrap().meta;
        assert_eq!(s.apply("maps", scan, s.clock_ms()), 2);
        assert!(s.get("maps", &second.id).is_some(), "found on disk");
        assert!(s.get("maps", &third.id).is_some(), "own put kept");
        assert!(s.get("maps", &first.id).is_none(), "deleted");
        // Unchanged since: a forced scan swaps nothing.
        let scan = s.scan("maps", s.clock_ms(), true).expect("scanned");
        assert!(scan.fresh.is_none());
    }

    #[test]
    fn a_change_that_keeps_the_directory_time_is_seen_while_the_time_is_young() {
        let dir = tempfile::tempdir().unwrap();
        let h = UploadHints::default();
        let other = DebugFileStore::open(dir.path(), 1 << 20).unwrap();
        other.put("maps", "m.txt", &mapping(1), &h).unwrap();
        let s = DebugFileStore::open(dir.path(), 1 << 20)
            .unwrap()
            .with_refresh(Some(std::time::Duration::ZERO));
        let app_dir = dir.path().join("apps/maps");
        let seen = std::fs::metadata(&app_dir).unwrap().modified().unwrap();
        let loaded = s.clock_ms();
        // Another file, with the directory time put back to what the load
        // saw (a file system with coarse times gives that by itself).
        let second = other.put("maps", "m.txt", &mapping(2), &h).unwrap().meta;
        std::fs::File::open(&app_dir)
            .unwrap()
            .set_modified(seen)
            .unwrap();
        // Past the racy window an unchanged time is trusted (nothing read)…
        assert!(s.scan("maps", loaded + RACY_MS + 1, false).is_none());
        // …within it the directory is listed anyway.
        let scan = s.scan("maps", loaded, false).expect("listed");
        s.apply("maps", scan, loaded);
        assert!(s.get("maps", &second.id).is_some());
    }
}
