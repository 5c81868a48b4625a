//! # vitals-symbolicator
//!
//! Makes crashes readable and groups them: native addresses (dSYM, ELF with
//! DWARF, PDB, Breakpad), minidumps, Breakpad microdumps, Android
//! tombstones, Apple reports, ProGuard/R8-obfuscated Java and minified
//! JavaScript.
//!
//! - [`store::DebugFileStore`]: uploaded files on disk, deduplicated by
//!   content hash, indexed by debug id, code id, mapping UUID, release + URL
//!   and JS debug id; [`intake`] expands zips with size and ratio limits.
//! - [`cache::DerivedCaches`]: SymCache / SourceMapCache / ProGuard / CFI
//!   caches built lazily, versioned, bounded in memory and on disk.
//! - [`service::Symbolicator`]: `symbolicate(app, release, &CrashEvent)` on
//!   a CPU pool of its own; the result names missing files and carries the
//!   grouping fingerprint ([`grouping`]).
//! - [`resymbolicate`]: which stored crashes an upload helps
//!   (`Symbolicator::is_affected`) and processing them again from their
//!   raw form (`Symbolicator::resymbolicate`).
//! - [`http::configure`]: upload and list routes; [`upload::upload_paths`]
//!   for `vitals upload-symbols`.

pub mod android;
pub mod apple;
pub mod cache;
pub mod detect;
pub mod error;
pub mod grouping;
pub mod http;
pub mod intake;
pub mod js;
pub mod microdump;
pub mod minidump;
pub mod model;
pub mod native;
pub mod process;
pub mod raw;
pub mod resymbolicate;
pub mod service;
pub mod store;
pub mod tombstone;
pub mod upload;

pub use error::{Result, SymError};
pub use model::{
    FrameStatus, MissingFile, MissingKind, Status, SymbolicatedCrash, SymbolicatedFrame,
    SymbolicatedThread,
};
pub use resymbolicate::Uploaded;
pub use service::{Config, Symbolicator};
pub use store::{DebugFileMeta, DebugFileStore, UploadHints};
