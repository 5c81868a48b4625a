//! Fault-injection scenarios against the real binary, each printing one
//! `FAULT <scenario> acked=… stored=… duplicated=… lost=… (…)` line. The
//! defaults are the short CI forms; environment variables select the long
//! forms (`deploy/bench/faults.sh`, `docs/RELIABILITY.md`). `kill -9` and
//! ClickHouse outages have their own files (`fault_kill.rs`,
//! `fault_clickhouse.rs`).
//!
//! - `slow_store`: ClickHouse behind a throttling proxy.
//! - `spool_full`: the configured spool cap reached, and a real ENOSPC on a
//!   small tmpfs.
//! - `corrupt_spool`: bytes flipped in a spool segment while vitals is down.
//! - `clock_skew`: device clocks hours and days off.
//! - `hung_store`: ClickHouse accepts connections but never answers (frozen
//!   or half-open) while vitals starts.
//! - `replay_restart`: a captured request replayed and batches re-sent
//!   after a restart and after `kill -9` are recognised (issue #22).

mod common;

#[path = "faults/clock_skew.rs"]
mod clock_skew;
#[path = "faults/corrupt_spool.rs"]
mod corrupt_spool;
#[path = "faults/hung_store.rs"]
mod hung_store;
#[path = "faults/replay_restart.rs"]
mod replay_restart;
#[path = "faults/slow_store.rs"]
mod slow_store;
#[path = "faults/spool_full.rs"]
mod spool_full;
