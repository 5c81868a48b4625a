//! Derived caches (SymCache, SourceMapCache, ProGuard index, Breakpad CFI),
//! built lazily from stored files, written to a versioned directory on disk
//! and kept in a byte-bounded LRU in memory. Both tiers have a size budget.
//!
//! A cache entry is keyed by its kind (with the format version of the crate
//! that writes it, so an upgrade never reads a stale format) and by the
//! content hash of its inputs.

use crate::error::{Result, SymError};
use crate::store::write_atomic;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use symbolic_common::ByteView;

/// The kinds of derived caches and their format versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// `symbolic-symcache` for native lookups.
    SymCache,
    /// `symbolic-sourcemapcache` for JS lookups.
    SourceMapCache,
    /// `proguard::ProguardCache` for retracing.
    Proguard,
    /// Breakpad STACK CFI text derived from native files for stack walking.
    Cfi,
}

/// Format version of `symbolic-sourcemapcache` 13.9 (its `raw` module,
/// which holds the constant, is private). A mismatch after an upgrade is
/// caught by `SourceMapCache::parse`; bump this with the crate.
const SOURCEMAPCACHE_FORMAT: u32 = 2;

/// Bumped when our own use of a cache changes (e.g. new transformers).
/// 2: SymCaches name functions as the toolchain does (`native/names.rs`).
const LOCAL_VERSION: u32 = 2;

impl CacheKind {
    /// All kinds.
    pub const ALL: [CacheKind; 4] = [
        CacheKind::SymCache,
        CacheKind::SourceMapCache,
        CacheKind::Proguard,
        CacheKind::Cfi,
    ];

    /// Directory name including the format versions.
    pub fn dir_name(self) -> String {
        match self {
            CacheKind::SymCache => {
                format!(
                    "symcache-v{}.{LOCAL_VERSION}",
                    symbolic_symcache::SYMCACHE_VERSION
                )
            }
            CacheKind::SourceMapCache => {
                format!("sourcemapcache-v{SOURCEMAPCACHE_FORMAT}.{LOCAL_VERSION}")
            }
            CacheKind::Proguard => {
                format!("proguard-v{}.{LOCAL_VERSION}", proguard::PRGCACHE_VERSION)
            }
            CacheKind::Cfi => format!(
                "cfi-v{}.{LOCAL_VERSION}",
                symbolic_cfi::CFICACHE_LATEST_VERSION
            ),
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            CacheKind::SymCache => "symcache-",
            CacheKind::SourceMapCache => "sourcemapcache-",
            CacheKind::Proguard => "proguard-",
            CacheKind::Cfi => "cfi-",
        }
    }
}

/// Size budgets of the two tiers.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// Bytes of cache files held in memory.
    pub memory_bytes: u64,
    /// Bytes of cache files kept on disk.
    pub disk_bytes: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            memory_bytes: 256 << 20,
            disk_bytes: 4 << 30,
        }
    }
}

struct Lru {
    map: HashMap<String, (Arc<ByteView<'static>>, u64, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
}

impl Lru {
    fn get(&mut self, key: &str) -> Option<Arc<ByteView<'static>>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.map.get_mut(key)?;
        self.order.remove(&entry.2);
        entry.2 = tick;
        self.order.insert(tick, key.to_string());
        Some(entry.0.clone())
    }

    fn insert(&mut self, key: String, value: Arc<ByteView<'static>>, budget: u64) {
        let size = value.len() as u64;
        if let Some(old) = self.map.remove(&key) {
            self.order.remove(&old.2);
            self.bytes -= old.1;
        }
        while self.bytes + size > budget {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some(v) = self.map.remove(&victim) {
                self.bytes -= v.1;
            }
        }
        if size > budget {
            return; // never holds an entry larger than the whole budget
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.map.insert(key, (value, size, self.tick));
        self.bytes += size;
    }
}

/// The two-tier derived-cache manager.
pub struct DerivedCaches {
    dir: PathBuf,
    limits: CacheLimits,
    mem: Mutex<Lru>,
    disk_used: AtomicU64,
    building: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    builds: AtomicU64,
}

impl std::fmt::Debug for DerivedCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivedCaches")
            .field("dir", &self.dir)
            .finish()
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl DerivedCaches {
    /// Opens the cache directory, removing caches of other format versions.
    pub fn open(dir: impl Into<PathBuf>, limits: CacheLimits) -> Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| SymError::io(&dir, e))?;
        let current: Vec<String> = CacheKind::ALL.iter().map(|k| k.dir_name()).collect();
        let mut used = 0;
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if current.contains(&name) {
                    used += dir_size(&e.path());
                } else if CacheKind::ALL.iter().any(|k| name.starts_with(k.prefix())) {
                    tracing::info!(dir = %name, "removing cache of an old format version");
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(DerivedCaches {
            dir,
            limits,
            mem: Mutex::new(Lru {
                map: HashMap::new(),
                order: BTreeMap::new(),
                tick: 0,
                bytes: 0,
            }),
            disk_used: AtomicU64::new(used),
            building: Mutex::new(HashMap::new()),
            builds: AtomicU64::new(0),
        })
    }

    /// Number of caches built (not found in memory or on disk) so far.
    pub fn builds(&self) -> u64 {
        self.builds.load(Ordering::Relaxed)
    }

    /// Bytes currently held in memory.
    pub fn memory_bytes(&self) -> u64 {
        self.mem.lock().map(|m| m.bytes).unwrap_or(0)
    }

    /// The cache `kind`/`key`, from memory, else from disk, else built with
    /// `build` (once, even when several threads ask at the same time).
    pub fn get_or_build(
        &self,
        kind: CacheKind,
        key: &str,
        build: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Arc<ByteView<'static>>> {
        let mem_key = format!("{}/{key}", kind.dir_name());
        if let Some(v) = self.mem.lock().ok().and_then(|mut m| m.get(&mem_key)) {
            return Ok(v);
        }
        let gate = {
            let mut b = self
                .building
                .lock()
                .map_err(|_| SymError::Internal("cache lock poisoned".into()))?;
            b.entry(mem_key.clone()).or_default().clone()
        };
        let _guard = gate
            .lock()
            .map_err(|_| SymError::Internal("cache lock poisoned".into()))?;
        if let Some(v) = self.mem.lock().ok().and_then(|mut m| m.get(&mem_key)) {
            return Ok(v);
        }
        let path = self.dir.join(kind.dir_name()).join(key);
        let view = match ByteView::open(&path) {
            Ok(v) if !v.is_empty() => v,
            _ => {
                let started = std::time::Instant::now();
                let bytes = build()?;
                self.builds.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(kind = ?kind, key, bytes = bytes.len(),
                    ms = started.elapsed().as_millis() as u64, "derived cache built");
                write_atomic(&path, &bytes)?;
                self.disk_used
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                self.enforce_disk_budget();
                ByteView::from_vec(bytes)
            }
        };
        let view = Arc::new(view);
        if let Ok(mut m) = self.mem.lock() {
            m.insert(mem_key.clone(), view.clone(), self.limits.memory_bytes);
        }
        if let Ok(mut b) = self.building.lock() {
            b.remove(&mem_key);
        }
        Ok(view)
    }

    /// Deletes the least recently modified cache files until the disk tier
    /// is within budget.
    fn enforce_disk_budget(&self) {
        if self.disk_used.load(Ordering::Relaxed) <= self.limits.disk_bytes {
            return;
        }
        let mut files = Vec::new();
        for k in CacheKind::ALL {
            if let Ok(rd) = std::fs::read_dir(self.dir.join(k.dir_name())) {
                for e in rd.flatten() {
                    if let Ok(m) = e.metadata() {
                        let t = m.modified().unwrap_or(std::time::UNIX_EPOCH);
                        files.push((t, m.len(), e.path()));
                    }
                }
            }
        }
        files.sort();
        let mut used: u64 = files.iter().map(|f| f.1).sum();
        for (_, len, path) in files {
            if used <= self.limits.disk_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                used = used.saturating_sub(len);
                tracing::debug!(path = %path.display(), "evicted cache file");
            }
        }
        self.disk_used.store(used, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_is_bounded_and_disk_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = CacheLimits {
            memory_bytes: 100,
            disk_bytes: 150,
        };
        let c = DerivedCaches::open(dir.path(), limits).expect("open");
        for i in 0..5 {
            let v = c
                .get_or_build(CacheKind::Cfi, &format!("k{i}"), || Ok(vec![i as u8; 40]))
                .expect("build");
            assert_eq!(v.len(), 40);
            assert!(c.memory_bytes() <= 100);
        }
        assert_eq!(c.builds(), 5);
        // k4 is in memory; not rebuilt.
        c.get_or_build(CacheKind::Cfi, "k4", || {
            Err(SymError::Internal("no".into()))
        })
        .expect("cached");
        // Disk budget 150: at most 3 files of 40 remain.
        let n = std::fs::read_dir(dir.path().join(CacheKind::Cfi.dir_name()))
            .expect("dir")
            .count();
        assert!(n <= 3, "{n}");
        // A new manager reads from disk instead of building.
        let c2 = DerivedCaches::open(dir.path(), limits).expect("open");
        c2.get_or_build(CacheKind::Cfi, "k4", || {
            Err(SymError::Internal("no".into()))
        })
        .expect("from disk");
        assert_eq!(c2.builds(), 0);
    }
}
