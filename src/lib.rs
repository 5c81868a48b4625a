//! The `vitals` binary's library half: configuration, process wiring, the
//! demo and the fleet simulator. `main.rs` only parses arguments.

pub mod alloc;
pub mod at_rest;
pub mod config;
pub mod demo;
pub mod edge;
pub mod gate;
pub mod resym;
pub mod sentry_cli;
pub mod server;
pub mod simulate;
pub mod symbols;
pub mod timed_store;
