//! The replay ledger (issue #22): request nonces and acknowledged batch
//! ids kept in the control plane, so that a replayed request is refused
//! and a re-sent batch is answered `duplicate: true` after a restart
//! (`kill -9` included) and on every node sharing a PostgreSQL control
//! plane.
//!
//! Both tables hold 16-byte digests, not strings: a nonce's digest covers
//! its signing key and the nonce (so nonces are per key), a batch's its
//! app and batch id (the collector's `recent.rs` computes them). Rows are
//! kept for a window and then pruned; nothing else ever removes one, so
//! one key holder cannot make another key's nonces be forgotten.
//!
//! The collector's ledger thread calls [`ControlPlane::replay_round`] with
//! every operation that queued up meanwhile: one transaction, one commit,
//! for many requests (group commit).

use crate::control::ControlPlane;
use crate::cpdb::{Tx, Value};
use crate::{Result, StoreError};
use std::collections::HashSet;

/// A 128-bit digest (see the module documentation).
pub type Digest = [u8; 16];

/// Rows per statement (well under both databases' parameter limits).
const CHUNK: usize = 500;

/// The operations of one round, answered in one transaction.
#[derive(Debug, Clone, Default)]
pub struct ReplayRound {
    /// Unix seconds on the caller's clock: the time recorded for claims
    /// and records.
    pub now: i64,
    /// Nonces to claim; a nonce claimed at or before `nonce_cutoff` has
    /// expired and may be claimed again.
    pub claims: Vec<Digest>,
    pub nonce_cutoff: i64,
    /// Batch ids to look up: acknowledged after `batch_cutoff`?
    pub lookups: Vec<Digest>,
    pub batch_cutoff: i64,
    /// Batch ids to record as acknowledged at `now`.
    pub records: Vec<Digest>,
}

/// The answers to a [`ReplayRound`], in the order of its operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayAnswers {
    /// Per claim: true when this round claimed the nonce (first use), false
    /// for a replay (claimed before, or earlier in the same round).
    pub fresh: Vec<bool>,
    /// Per lookup: true when the batch was acknowledged before.
    pub seen: Vec<bool>,
}

fn blobs(ds: &[Digest]) -> Vec<Value> {
    ds.iter().map(|d| Value::Blob(d.to_vec())).collect()
}

fn digests(rows: Vec<crate::cpdb::Row>) -> Result<HashSet<Digest>> {
    rows.iter()
        .map(|r| {
            let b: Vec<u8> = r.get(0)?;
            Digest::try_from(b.as_slice())
                .map_err(|_| StoreError::Decode(format!("digest of {} bytes", b.len())))
        })
        .collect()
}

/// `(?, ?), (?, ?), …` for `n` rows of (digest, time).
fn pairs(n: usize) -> String {
    vec!["(?, ?)"; n].join(", ")
}

fn claim(tx: &mut Tx<'_>, ds: &[Digest], now: i64, cutoff: i64) -> Result<HashSet<Digest>> {
    let mut params = Vec::with_capacity(ds.len() * 2 + 1);
    for d in ds {
        params.push(Value::Blob(d.to_vec()));
        params.push(Value::Int(now));
    }
    params.push(Value::Int(cutoff));
    // A row that exists is a replay unless it has expired (not yet pruned):
    // then the update takes it over and RETURNING names it, as an insert.
    let sql = format!(
        "INSERT INTO ingest_nonces (digest, seen_at) VALUES {}
         ON CONFLICT (digest) DO UPDATE SET seen_at = excluded.seen_at
         WHERE ingest_nonces.seen_at <= ?
         RETURNING digest",
        pairs(ds.len())
    );
    digests(tx.query(&sql, &params)?)
}

fn lookup(tx: &mut Tx<'_>, ds: &[Digest], cutoff: i64) -> Result<HashSet<Digest>> {
    let mut params = vec![Value::Int(cutoff)];
    params.extend(blobs(ds));
    let sql = format!(
        "SELECT digest FROM ingest_batches WHERE acked_at > ? AND digest IN ({})",
        vec!["?"; ds.len()].join(", ")
    );
    digests(tx.query(&sql, &params)?)
}

fn record(tx: &mut Tx<'_>, ds: &[Digest], now: i64) -> Result<()> {
    let mut params = Vec::with_capacity(ds.len() * 2);
    for d in ds {
        params.push(Value::Blob(d.to_vec()));
        params.push(Value::Int(now));
    }
    let sql = format!(
        "INSERT INTO ingest_batches (digest, acked_at) VALUES {}
         ON CONFLICT (digest) DO UPDATE SET acked_at = excluded.acked_at",
        pairs(ds.len())
    );
    tx.execute(&sql, &params).map(drop)
}

/// `ds` without repeats, first occurrence kept (one statement may not
/// touch a row twice on PostgreSQL).
fn distinct(ds: &[Digest]) -> Vec<Digest> {
    let mut seen = HashSet::new();
    ds.iter().filter(|d| seen.insert(**d)).copied().collect()
}

impl ControlPlane {
    /// Runs a round of ledger operations in one transaction: claims first
    /// (in order; a nonce twice in the round is fresh once), then lookups,
    /// then records.
    pub fn replay_round(&self, round: ReplayRound) -> Result<ReplayAnswers> {
        if round.claims.is_empty() && round.lookups.is_empty() && round.records.is_empty() {
            return Ok(ReplayAnswers::default());
        }
        self.db.transaction(move |tx| {
            let mut claimed = HashSet::new();
            for chunk in distinct(&round.claims).chunks(CHUNK) {
                claimed.extend(claim(tx, chunk, round.now, round.nonce_cutoff)?);
            }
            // Fresh once: the first claim of a digest in this round takes it.
            let fresh = round
                .claims
                .iter()
                .map(|d| claimed.remove(d))
                .collect::<Vec<_>>();
            let mut seen = HashSet::new();
            for chunk in distinct(&round.lookups).chunks(CHUNK) {
                seen.extend(lookup(tx, chunk, round.batch_cutoff)?);
            }
            for chunk in distinct(&round.records).chunks(CHUNK) {
                record(tx, chunk, round.now)?;
            }
            Ok(ReplayAnswers {
                fresh,
                seen: round.lookups.iter().map(|d| seen.contains(d)).collect(),
            })
        })
    }

    /// Deletes nonces claimed at or before `nonce_cutoff` and batch ids
    /// acknowledged at or before `batch_cutoff`; returns how many of each.
    pub fn prune_replay(&self, nonce_cutoff: i64, batch_cutoff: i64) -> Result<(usize, usize)> {
        let n = self.db.execute(
            "DELETE FROM ingest_nonces WHERE seen_at <= ?",
            &[Value::Int(nonce_cutoff)],
        )?;
        let b = self.db.execute(
            "DELETE FROM ingest_batches WHERE acked_at <= ?",
            &[Value::Int(batch_cutoff)],
        )?;
        Ok((n, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u8) -> Digest {
        [i; 16]
    }

    #[test]
    fn nonces_are_claimed_once_batches_remembered_and_both_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).expect("open");
        let round = |now: i64, claims: Vec<Digest>, lookups: Vec<Digest>, records: Vec<Digest>| {
            cp.replay_round(ReplayRound {
                now,
                claims,
                nonce_cutoff: now - 600,
                lookups,
                batch_cutoff: now - 3600,
                records,
            })
            .expect("round")
        };
        let a = round(1000, vec![d(1), d(2), d(1)], vec![d(9)], vec![d(9)]);
        assert_eq!(a.fresh, vec![true, true, false], "fresh once per round");
        assert_eq!(a.seen, vec![false], "lookups run before records");
        let a = round(1001, vec![d(1), d(3)], vec![d(9), d(8)], vec![]);
        assert_eq!(a.fresh, vec![false, true]);
        assert_eq!(a.seen, vec![true, false]);
        // An expired nonce may be claimed again; an expired batch is unknown.
        let a = round(1600, vec![d(1)], vec![d(9)], vec![]);
        assert_eq!(a.fresh, vec![true], "expired after the window");
        assert_eq!(round(4601, vec![], vec![d(9)], vec![]).seen, vec![false]);

        // Reopened (a restart): still known.
        drop(cp);
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).expect("reopen");
        let a = cp
            .replay_round(ReplayRound {
                now: 1602,
                claims: vec![d(3)],
                nonce_cutoff: 1000,
                lookups: vec![d(9)],
                batch_cutoff: 0,
                records: vec![],
            })
            .expect("round");
        assert_eq!((a.fresh, a.seen), (vec![false], vec![true]));
        assert_eq!(cp.prune_replay(1001, 1000).expect("prune"), (2, 1));
        assert_eq!(cp.prune_replay(2000, 2000).expect("prune"), (1, 0));
    }

    #[test]
    fn rounds_larger_than_one_statement() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).expect("open");
        let many: Vec<Digest> = (0..1200u32)
            .map(|i| {
                let mut x = [0u8; 16];
                x[..4].copy_from_slice(&i.to_le_bytes());
                x
            })
            .collect();
        let r = ReplayRound {
            now: 10,
            claims: many.clone(),
            lookups: many.clone(),
            records: many.clone(),
            ..Default::default()
        };
        let a = cp.replay_round(r.clone()).expect("round");
        assert!(a.fresh.iter().all(|f| *f) && a.seen.iter().all(|s| !*s));
        let a = cp.replay_round(r).expect("round");
        assert!(a.fresh.iter().all(|f| !*f) && a.seen.iter().all(|s| *s));
    }
}
