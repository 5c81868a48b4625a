//! The store writer: drains the spool into the store in large blocks,
//! retrying with back-off while the store is down, and checkpoints only
//! what the store confirmed.

use crate::Inner;
use crate::spool::{Position, SpoolReader};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vitals_protocol::AcceptedBatch;

/// Runs until `stop` turns true and the spool is drained (or the store is
/// unreachable at shutdown, in which case the spool keeps the rest).
pub async fn run(
    inner: Arc<Inner>,
    mut reader: SpoolReader,
    startup_end: Position,
    mut stop: watch::Receiver<bool>,
) {
    let cfg = inner.cfg.writer.clone();
    let mut in_doubt = false;
    // The last checkpoint written by this process.
    let mut committed = reader.position();
    loop {
        let stopping = *stop.borrow();
        // Anything the previous process left may have been partly written
        // by its last insert, whatever block boundaries it used.
        if reader.position() < startup_end {
            in_doubt = true;
        }
        let mut batches: Vec<AcceptedBatch> = Vec::new();
        let mut events = 0usize;
        let mut end: Option<Position> = None;
        let deadline = Instant::now() + Duration::from_millis(cfg.linger_ms);
        loop {
            let mut corrupt = |bytes: u64| inner.metrics.spool_quarantined_bytes.inc_by(bytes);
            match reader.next(&mut corrupt) {
                Ok(Some(rec)) => {
                    end = Some(rec.end);
                    match serde_json::from_slice::<AcceptedBatch>(&rec.payload) {
                        Ok(mut b) => {
                            if let Some(e) = &inner.enricher
                                && b.batch
                                    .events
                                    .iter()
                                    .any(|ev| matches!(ev, vitals_protocol::Event::Crash(_)))
                            {
                                e.enrich(&mut b).await;
                            }
                            events += b.batch.events.len();
                            batches.push(b);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "undecodable spool record dropped");
                            inner
                                .metrics
                                .events_dropped
                                .with_label_values(&["undecodable"])
                                .inc();
                        }
                    }
                    if events >= cfg.max_events {
                        break;
                    }
                }
                Ok(None) => {
                    if stopping || Instant::now() >= deadline || (events == 0 && *stop.borrow()) {
                        break;
                    }
                    let wait = deadline.saturating_duration_since(Instant::now());
                    tokio::select! {
                        _ = reader.wait(wait) => {}
                        _ = stop.changed() => {}
                    }
                    if events == 0 && Instant::now() >= deadline {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "spool read failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    break;
                }
            }
        }
        let Some(end) = end else {
            // The reader crossed into a later segment without a record to
            // store (a drained segment the appender left, e.g. after a full
            // disk): checkpoint there so the drained one is deleted.
            let at = reader.position();
            if at.segment > committed.segment {
                match reader.commit(at) {
                    Ok(()) => committed = at,
                    Err(e) => tracing::error!(error = %e, "spool checkpoint failed"),
                }
                inner.metrics.spool_bytes.set(inner.spool.bytes() as i64);
            }
            if *stop.borrow() {
                return;
            }
            continue;
        };
        if !batches.is_empty()
            && !insert_with_retry(&inner, &batches, &mut in_doubt, &mut stop).await
        {
            tracing::warn!(
                pending = batches.len(),
                "stopping with batches left in the spool; they are replayed on restart"
            );
            return;
        }
        match reader.commit(end) {
            Ok(()) => committed = end,
            Err(e) => {
                tracing::error!(error = %e, "spool checkpoint failed; records may be replayed (the store deduplicates)");
                in_doubt = true;
            }
        }
        inner.metrics.spool_bytes.set(inner.spool.bytes() as i64);
    }
}

/// Inserts one block, retrying until it succeeds. Returns false only when
/// asked to stop while the store is failing.
async fn insert_with_retry(
    inner: &Arc<Inner>,
    batches: &[AcceptedBatch],
    in_doubt: &mut bool,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let cfg = &inner.cfg.writer;
    let mut backoff = cfg.retry_min_ms;
    loop {
        let erased = inner.erased_snapshot();
        let t = Instant::now();
        match inner.store.insert(batches, &erased, *in_doubt).await {
            Ok(o) => {
                inner
                    .metrics
                    .insert_seconds
                    .observe(t.elapsed().as_secs_f64());
                inner.metrics.events_stored.inc_by(o.rows as u64);
                inner.metrics.batches_stored.inc_by(o.batches as u64);
                if o.duplicate_rows > 0 {
                    inner
                        .metrics
                        .events_dropped
                        .with_label_values(&["duplicate"])
                        .inc_by(o.duplicate_rows as u64);
                }
                if o.erased_rows > 0 {
                    inner
                        .metrics
                        .events_dropped
                        .with_label_values(&["erased"])
                        .inc_by(o.erased_rows as u64);
                }
                inner.store_ok.store(true, Ordering::Relaxed);
                *in_doubt = false;
                tracing::debug!(
                    batches = o.batches,
                    rows = o.rows,
                    dup = o.duplicate_batches,
                    "block stored"
                );
                return true;
            }
            Err(e) => {
                inner.metrics.store_errors.inc();
                inner.store_ok.store(false, Ordering::Relaxed);
                // The insert may have been applied before the error reached
                // us: the retry must check for partial writes.
                *in_doubt = true;
                tracing::warn!(error = %e, retry_ms = backoff, batches = batches.len(), "store insert failed; retrying");
                if *stop.borrow() {
                    return false;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(backoff)) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(cfg.retry_max_ms);
            }
        }
    }
}
