//! The replay ledger (`vitals_store::replay`, issue #22) on both control
//! plane backends, as several nodes see it: a nonce claimed through one
//! node is a replay through another, of nodes claiming one nonce at once
//! exactly one wins, a batch recorded through one node is known to the
//! others, and entries past their window are pruned. PostgreSQL from
//! `VITALS_TEST_POSTGRES_URL`, as in `control_pg.rs`.

#[macro_use]
#[allow(dead_code)] // shared with control_pg.rs, which uses all of it
mod control_pg_support;

use control_pg_support::Fixture;
use std::sync::{Arc, Barrier};
use vitals_store::replay::{Digest, ReplayRound};

on_both_backends!(
    nonces_and_batches_are_shared_by_nodes,
    one_of_many_nodes_claims_a_nonce
);

fn d(i: u8) -> Digest {
    [i; 16]
}

fn round(now: i64, claims: Vec<Digest>, lookups: Vec<Digest>, records: Vec<Digest>) -> ReplayRound {
    ReplayRound {
        now,
        claims,
        nonce_cutoff: now - 600,
        lookups,
        batch_cutoff: now - 3600,
        records,
    }
}

fn nonces_and_batches_are_shared_by_nodes(f: &Fixture) {
    let (a, b) = (&f.cp, f.node());
    let r = a
        .replay_round(round(
            10_000,
            vec![d(1), d(2), d(1)],
            vec![d(7)],
            vec![d(7)],
        ))
        .unwrap();
    assert_eq!(r.fresh, vec![true, true, false]);
    assert_eq!(r.seen, vec![false]);
    // Through the other node: the nonces are replays, the batch is known.
    let r = b
        .replay_round(round(10_001, vec![d(2), d(3)], vec![d(7), d(8)], vec![]))
        .unwrap();
    assert_eq!(r.fresh, vec![false, true]);
    assert_eq!(r.seen, vec![true, false]);
    // Past the window: a nonce may be claimed again, a batch is unknown.
    let r = b
        .replay_round(round(10_600, vec![d(1)], vec![], vec![]))
        .unwrap();
    assert_eq!(r.fresh, vec![true]);
    let r = a
        .replay_round(round(13_601, vec![], vec![d(7)], vec![]))
        .unwrap();
    assert_eq!(r.seen, vec![false]);
    // Pruned: nonces at or before 10_001 (d(2), d(3)), the batch.
    assert_eq!(a.prune_replay(10_001, 13_601).unwrap(), (2, 1));
}

fn one_of_many_nodes_claims_a_nonce(f: &Fixture) {
    let n = 4;
    let start = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (node, start) = (f.node(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                node.replay_round(round(20_000, vec![d(9)], vec![], vec![]))
                    .expect("round")
                    .fresh[0]
            })
        })
        .collect();
    let won: Vec<bool> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
}
