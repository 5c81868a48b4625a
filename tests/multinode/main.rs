//! End-to-end: two stateless `vitals serve` nodes behind a (test) load
//! balancer, as deploy/README.md ("Several nodes") lays them out — each
//! with its own data directory, port and ClickHouse node of the two-shard
//! cluster `vitals_local`, both on one PostgreSQL control plane — and what
//! such a deployment promises:
//!
//! 1. an app and key created once work on both nodes; batches sent to
//!    either are stored once, on both shards, and both nodes (API, `vitals
//!    gate`) give the same numbers, equal to what was sent (`ingest`);
//! 2. a batch re-sent to the other node is a duplicate, not stored twice;
//!    keys created or revoked later reach both nodes (`ingest`);
//! 3. the simulator's fleet sent through both nodes gives the verdicts and
//!    numbers a single node gives on the same data (`simulated`);
//! 4. the signed client config is the same document from both nodes, and
//!    a change made through one node (rollout, emergency, two-person
//!    action requested on one and approved on the other) shows on the
//!    other at once (`control`);
//! 5. each scheduled job has exactly one leader (`vitals_leader{job}`), and
//!    after `kill -9` of the leader the survivor takes over (`leader`);
//!    each cron slot of the alert scheduler sends one mail, from the
//!    leader, before and after such a takeover (`cron`);
//! 6. a debug file uploaded through one node (the nodes share the
//!    debug-file directory, `[symbolicator] dir`, as they would on NFS) is
//!    used by the other without a restart: a minidump sent there is stored
//!    symbolicated (`symbols`).
//!
//! The two-node setup is in `cluster`. Needs
//! `VITALS_TEST_CLICKHOUSE_CLUSTER_URL` (one node of the cluster; the other
//! is found in `system.clusters`) and `VITALS_TEST_POSTGRES_URL`, and for
//! `simulated` also `VITALS_TEST_CLICKHOUSE_URL` (the single-node
//! comparison), for `cron` Python's `aiosmtpd`; skipped without them unless
//! `CI=true`.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod control;
mod cron;
mod ingest;
mod leader;
mod simulated;
mod symbols;
