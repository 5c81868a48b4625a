//! Shared helpers of the integration tests: fixture paths and a
//! symbolicator over a temporary store.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use vitals_symbolicator::store::UploadHints;
use vitals_symbolicator::{Config, Symbolicator};

/// A path under the repository's `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/")).join(rel)
}

/// Reads a fixture.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// A started symbolicator over a fresh temporary root.
pub fn symbolicator() -> (tempfile::TempDir, Arc<Symbolicator>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::new(dir.path());
    cfg.workers = 2;
    let s = Symbolicator::start(cfg).expect("start");
    (dir, s)
}

/// Uploads fixture files for `app`.
pub fn upload(s: &Symbolicator, app: &str, files: &[&str]) {
    for f in files {
        let data = read(f);
        let name = f.rsplit('/').next().unwrap_or(f);
        s.store()
            .put(app, name, &data, &UploadHints::default())
            .unwrap_or_else(|e| panic!("upload {f}: {e}"));
    }
}
