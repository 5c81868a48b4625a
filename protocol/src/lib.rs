//! The vitals wire protocol, version 1.
//!
//! One HTTP request carries one [`Batch`]: the sending client's identity
//! (app, release, platform, device, network, install id, consent) and up to
//! [`Limits::max_events`] [`Event`]s. The format is JSON, optionally gzip or
//! zstd compressed; it is documented in `docs/protocol.md` and
//! `docs/protocol.schema.json`.
//!
//! This crate is pure data: types, validation against [`Limits`], and the
//! request-signing scheme ([`sign`]). It performs no I/O.

mod batch;
mod event;
pub mod sign;
mod validate;

pub use batch::*;
pub use event::*;
pub use validate::{Limits, ValidationError, ValidationKind, decode, validate};

/// The protocol version this crate speaks (`"v"` in a batch).
pub const PROTOCOL_VERSION: u32 = 1;

/// A batch that passed authentication and validation, with what the edge
/// added to it. This is what the collector spools and the store ingests.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AcceptedBatch {
    /// The app the ingest key belongs to (authoritative, not client-claimed).
    pub app_id: String,
    /// Server receive time, Unix milliseconds.
    pub received_at_ms: i64,
    /// Client IP, only when the app opted in to storing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    pub batch: Batch,
}
