//! Prometheus metrics. Every accepted event has a fate visible here:
//! `vitals_events_accepted_total` = `vitals_events_stored_total` +
//! Σ `vitals_events_dropped_total{reason}` + events still in the spool.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub events_accepted: IntCounterVec,
    pub events_stored: IntCounter,
    pub events_dropped: IntCounterVec,
    pub batches_accepted: IntCounter,
    pub batches_stored: IntCounter,
    pub store_errors: IntCounter,
    pub spool_bytes: IntGauge,
    pub spool_quarantined_bytes: IntCounter,
    pub request_seconds: Histogram,
    pub sentry_items: IntCounterVec,
    pub sentry_client_discarded: IntCounterVec,
    pub attachments: IntCounter,
    pub insert_seconds: Histogram,
    pub replay_fallbacks: IntCounterVec,
    pub replay_rounds: IntCounterVec,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    // Names are static and unique, so registration cannot collide.
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        let counter = |name: &str, help: &str| IntCounter::new(name, help).expect("valid metric");
        Metrics {
            requests: reg(
                &r,
                counter_vec(
                    "vitals_ingest_requests_total",
                    "Ingest requests by HTTP status",
                    &["status"],
                ),
            ),
            events_accepted: reg(
                &r,
                counter_vec(
                    "vitals_events_accepted_total",
                    "Events acknowledged (durable in the spool) by kind",
                    &["kind"],
                ),
            ),
            events_stored: reg(
                &r,
                counter("vitals_events_stored_total", "Events written to the store"),
            ),
            events_dropped: reg(
                &r,
                counter_vec(
                    "vitals_events_dropped_total",
                    "Accepted events not stored, by reason",
                    &["reason"],
                ),
            ),
            batches_accepted: reg(
                &r,
                counter("vitals_batches_accepted_total", "Batches acknowledged"),
            ),
            batches_stored: reg(
                &r,
                counter(
                    "vitals_batches_stored_total",
                    "Batches written to the store",
                ),
            ),
            store_errors: reg(
                &r,
                counter(
                    "vitals_store_errors_total",
                    "Failed store inserts (retried)",
                ),
            ),
            spool_bytes: reg(
                &r,
                IntGauge::new("vitals_spool_bytes", "Bytes held in spool segments")
                    .expect("valid metric"),
            ),
            spool_quarantined_bytes: reg(
                &r,
                counter(
                    "vitals_spool_quarantined_bytes_total",
                    "Spool bytes quarantined after a checksum failure",
                ),
            ),
            request_seconds: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new("vitals_ingest_request_seconds", "Ingest request latency")
                        .buckets(vec![
                            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                            2.5,
                        ]),
                )
                .expect("valid metric"),
            ),
            insert_seconds: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "vitals_store_insert_seconds",
                        "Store insert latency per block",
                    )
                    .buckets(vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ]),
                )
                .expect("valid metric"),
            ),
            sentry_items: reg(
                &r,
                counter_vec(
                    "vitals_sentry_items_total",
                    "Sentry envelope items by type and outcome",
                    &["type", "outcome"],
                ),
            ),
            sentry_client_discarded: reg(
                &r,
                counter_vec(
                    "vitals_sentry_client_discarded_total",
                    "Events Sentry SDKs report having dropped (client reports), by reason and category",
                    &["reason", "category"],
                ),
            ),
            attachments: reg(
                &r,
                counter(
                    "vitals_attachments_stored_total",
                    "Crash attachments (minidumps, crash reports) stored",
                ),
            ),
            replay_fallbacks: reg(
                &r,
                counter_vec(
                    "vitals_replay_ledger_fallbacks_total",
                    "Ingest steps answered from this process's memory because the control plane's replay ledger did not answer in time (reason: timeout, busy, error, unavailable)",
                    &["op", "reason"],
                ),
            ),
            replay_rounds: reg(
                &r,
                counter_vec(
                    "vitals_replay_ledger_rounds_total",
                    "Replay-ledger transactions (group commits) by outcome",
                    &["outcome"],
                ),
            ),
            registry: r,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
