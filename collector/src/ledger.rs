//! The replay ledger's client (issue #22): request nonces and acknowledged
//! batch ids recorded in the control plane (`vitals_store::replay`), so a
//! replayed request is refused and a re-sent batch answered
//! `duplicate: true` after a restart (`kill -9` included) and, with a
//! PostgreSQL control plane, on every node.
//!
//! One dedicated thread (`vitals-replay-ledger`) owns the database work —
//! never an async thread, since SQLite and the PostgreSQL pool block. It
//! takes every operation queued meanwhile (at most `max_group`) and runs
//! them in one transaction (group commit): claims (insert a nonce, fresh or
//! a replay), lookups (was this batch acknowledged?) and records (this
//! batch was acknowledged). It also prunes entries past their window every
//! `prune_every_secs`.
//!
//! Requests wait for an answer at most `timeout_ms`. A timeout, a full
//! queue or a failed round falls back to the in-memory answer (the caller's
//! caches), is logged and counted in
//! `vitals_replay_ledger_fallbacks_total{op, reason}`; it never fails a
//! batch. After a timeout the ledger counts as unavailable until a round
//! succeeds: meanwhile claims and records are still queued (they are
//! written once the control plane answers) but nobody waits for them, and
//! lookups are not asked, so a hung control plane costs ingest one
//! timeout, not one per request.

use crate::config::ReplayConfig;
use crate::metrics::Metrics;
use crate::recent::Digest;
use prometheus::IntCounterVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use vitals_store::ControlPlane;
use vitals_store::replay::ReplayRound;

/// One queued operation and where its answer goes.
enum Op {
    Claim(Digest, oneshot::Sender<bool>),
    Lookup(Digest, oneshot::Sender<bool>),
    Record(Digest, oneshot::Sender<bool>),
}

struct Shared {
    timeout: Duration,
    /// False after a timeout, until a round succeeds.
    available: AtomicBool,
    fallbacks: IntCounterVec,
    /// When the last "unavailable" warning was logged (at most one a minute).
    warned: Mutex<Option<Instant>>,
}

impl Shared {
    fn fallback(&self, op: &'static str, reason: &'static str) {
        self.fallbacks.with_label_values(&[op, reason]).inc();
        if reason == "unavailable" {
            return;
        }
        let Ok(mut w) = self.warned.lock() else {
            return;
        };
        if w.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *w = Some(Instant::now());
            tracing::warn!(
                op,
                reason,
                timeout_ms = self.timeout.as_millis() as u64,
                "replay ledger: no answer from the control plane, using this process's memory"
            );
        }
    }
}

/// The ledger: a queue to its thread, or nothing when it is off.
pub struct Ledger {
    tx: Option<SyncSender<Op>>,
    shared: Arc<Shared>,
}

/// An answer to come: [`Pending::wait`] gives it, or `None` when the
/// caller must use its in-memory answer.
pub struct Pending {
    op: &'static str,
    rx: Option<oneshot::Receiver<bool>>,
    shared: Arc<Shared>,
}

impl Pending {
    fn none(op: &'static str, shared: &Arc<Shared>) -> Pending {
        Pending {
            op,
            rx: None,
            shared: shared.clone(),
        }
    }

    /// The control plane's answer, waited for at most the timeout.
    pub async fn wait(self) -> Option<bool> {
        let rx = self.rx?;
        match tokio::time::timeout(self.shared.timeout, rx).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(_)) => {
                self.shared.fallback(self.op, "error");
                None
            }
            Err(_) => {
                self.shared.available.store(false, Ordering::Relaxed);
                self.shared.fallback(self.op, "timeout");
                None
            }
        }
    }
}

impl Ledger {
    /// Starts the ledger thread (when `cfg.durable`); nonces are kept for
    /// `nonce_ttl_secs`.
    pub fn start(
        cp: Arc<ControlPlane>,
        cfg: &ReplayConfig,
        nonce_ttl_secs: i64,
        metrics: &Metrics,
    ) -> std::io::Result<Ledger> {
        let shared = Arc::new(Shared {
            timeout: Duration::from_millis(cfg.timeout_ms.max(1)),
            available: AtomicBool::new(true),
            fallbacks: metrics.replay_fallbacks.clone(),
            warned: Mutex::new(None),
        });
        if !cfg.durable {
            return Ok(Ledger { tx: None, shared });
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue.max(1));
        let worker = Worker {
            cp,
            rx,
            shared: shared.clone(),
            rounds: metrics.replay_rounds.clone(),
            max_group: cfg.max_group.max(1),
            nonce_ttl: nonce_ttl_secs,
            batch_window: i64::try_from(cfg.batch_window_secs).unwrap_or(i64::MAX / 2),
            prune_every: Duration::from_secs(cfg.prune_every_secs.max(1)),
        };
        std::thread::Builder::new()
            .name("vitals-replay-ledger".into())
            .spawn(move || worker.run())?;
        Ok(Ledger {
            tx: Some(tx),
            shared,
        })
    }

    fn send(&self, op: &'static str, make: impl FnOnce(oneshot::Sender<bool>) -> Op) -> Pending {
        let Some(tx) = &self.tx else {
            return Pending::none(op, &self.shared);
        };
        let (reply, rx) = oneshot::channel();
        match tx.try_send(make(reply)) {
            Ok(()) => Pending {
                op,
                rx: Some(rx),
                shared: self.shared.clone(),
            },
            Err(TrySendError::Full(_)) => {
                self.shared.fallback(op, "busy");
                Pending::none(op, &self.shared)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.fallback(op, "error");
                Pending::none(op, &self.shared)
            }
        }
    }

    fn available(&self, op: &'static str) -> bool {
        let up = self.shared.available.load(Ordering::Relaxed);
        if !up && self.tx.is_some() {
            self.shared.fallback(op, "unavailable");
        }
        up
    }

    /// Claims a nonce digest: `Some(false)` when it was used before.
    pub fn claim(&self, d: Digest) -> Pending {
        let p = self.send("claim_nonce", |r| Op::Claim(d, r));
        if self.available("claim_nonce") {
            p
        } else {
            Pending::none("claim_nonce", &self.shared)
        }
    }

    /// Whether a batch digest was acknowledged within the window.
    pub fn lookup(&self, d: Digest) -> Pending {
        if !self.available("lookup_batch") {
            return Pending::none("lookup_batch", &self.shared);
        }
        self.send("lookup_batch", |r| Op::Lookup(d, r))
    }

    /// Records a batch digest as acknowledged; `Some(true)` once durable.
    pub fn record(&self, d: Digest) -> Pending {
        let p = self.send("record_batch", |r| Op::Record(d, r));
        if self.available("record_batch") {
            p
        } else {
            Pending::none("record_batch", &self.shared)
        }
    }
}

struct Worker {
    cp: Arc<ControlPlane>,
    rx: Receiver<Op>,
    shared: Arc<Shared>,
    rounds: IntCounterVec,
    max_group: usize,
    nonce_ttl: i64,
    batch_window: i64,
    prune_every: Duration,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Worker {
    fn run(self) {
        let mut next_prune = Instant::now();
        loop {
            let wait = next_prune.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(wait) {
                Ok(op) => {
                    let mut ops = vec![op];
                    while ops.len() < self.max_group {
                        match self.rx.try_recv() {
                            Ok(op) => ops.push(op),
                            Err(_) => break,
                        }
                    }
                    self.round(ops);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if Instant::now() >= next_prune {
                self.prune();
                next_prune = Instant::now() + self.prune_every;
            }
        }
    }

    fn round(&self, ops: Vec<Op>) {
        let now = unix_now();
        let mut round = ReplayRound {
            now,
            nonce_cutoff: now - self.nonce_ttl,
            batch_cutoff: now.saturating_sub(self.batch_window),
            ..Default::default()
        };
        let (mut claims, mut lookups, mut records) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            match op {
                Op::Claim(d, r) => {
                    round.claims.push(d);
                    claims.push(r);
                }
                Op::Lookup(d, r) => {
                    round.lookups.push(d);
                    lookups.push(r);
                }
                Op::Record(d, r) => {
                    round.records.push(d);
                    records.push(r);
                }
            }
        }
        match self.cp.replay_round(round) {
            Ok(a) => {
                self.rounds.with_label_values(&["ok"]).inc();
                self.shared.available.store(true, Ordering::Relaxed);
                for (r, v) in claims.into_iter().zip(a.fresh) {
                    let _ = r.send(v);
                }
                for (r, v) in lookups.into_iter().zip(a.seen) {
                    let _ = r.send(v);
                }
                for r in records {
                    let _ = r.send(true);
                }
            }
            Err(e) => {
                // Dropping the reply senders makes every waiter fall back.
                self.rounds.with_label_values(&["error"]).inc();
                tracing::warn!(error = %e, "replay ledger: control-plane round failed");
            }
        }
    }

    fn prune(&self) {
        let now = unix_now();
        match self
            .cp
            .prune_replay(now - self.nonce_ttl, now.saturating_sub(self.batch_window))
        {
            Ok((nonces, batches)) if nonces + batches > 0 => {
                tracing::debug!(nonces, batches, "replay ledger: expired entries pruned");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "replay ledger: prune failed"),
        }
    }
}
