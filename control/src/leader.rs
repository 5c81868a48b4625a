//! One node at a time per scheduled job: with several vitals nodes on one
//! control-plane database (PostgreSQL), the site prober and the alert
//! scheduler run only on the node holding the job's lease
//! ([`vitals_store::ControlPlane::try_lease`]); the others skip their
//! rounds and take over when the holder stops renewing (or releases the
//! lease on a clean stop). With the embedded SQLite control plane there is
//! one node, which always holds every lease.
//!
//! `vitals_leader{job="…"}` (0 or 1) tells which node runs what.

use prometheus::{IntGauge, Opts, Registry};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vitals_store::ControlPlane;

/// This node's identity in leases and how long a lease lasts
/// (`[control_plane] node_id`, `lease_secs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    pub holder: String,
    pub ttl_secs: u64,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            holder: vitals_store::default_node_id(),
            ttl_secs: 30,
        }
    }
}

impl LeaseSettings {
    /// How often a holder renews: a third of the lease, so two renewals may
    /// fail before another node can take over.
    pub fn renew_every(&self) -> Duration {
        Duration::from_secs((self.ttl_secs / 3).max(1))
    }
}

/// The gauge `vitals_leader{job}` in `registry` (one per job).
pub fn leader_gauge(registry: &Registry, job: &str) -> IntGauge {
    let g = IntGauge::with_opts(
        Opts::new(
            "vitals_leader",
            "1 while this node holds the job's leader lease and runs it",
        )
        .const_label("job", job),
    )
    .expect("valid metric");
    if let Err(e) = registry.register(Box::new(g.clone())) {
        tracing::warn!(job, error = %e, "vitals_leader gauge not registered");
    }
    g
}

/// The lease of one job, as seen by this node.
pub struct Leader {
    cp: Arc<ControlPlane>,
    job: String,
    settings: LeaseSettings,
    gauge: IntGauge,
    held: AtomicBool,
}

impl Leader {
    pub fn new(
        cp: Arc<ControlPlane>,
        job: &str,
        settings: LeaseSettings,
        gauge: IntGauge,
    ) -> Leader {
        Leader {
            cp,
            job: job.to_string(),
            settings,
            gauge,
            held: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Takes or renews the lease; whether this node should run the job
    /// now. A control plane that cannot be reached means "no" (another
    /// node may hold the lease without this one being able to tell).
    pub async fn acquire(&self) -> bool {
        let (cp, job, s) = (self.cp.clone(), self.job.clone(), self.settings.clone());
        let r = tokio::task::spawn_blocking(move || cp.try_lease(&job, &s.holder, s.ttl_secs))
            .await
            .map_err(vitals_store::StoreError::from)
            .and_then(|r| r);
        let held = match r {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(job = %self.job, error = %e, "leader lease not renewed");
                false
            }
        };
        let was = self.held.swap(held, Ordering::Relaxed);
        if held != was {
            tracing::info!(job = %self.job, node = %self.settings.holder, leader = held, "leader lease changed");
        } else if !held {
            tracing::debug!(job = %self.job, node = %self.settings.holder, "not the leader: round skipped");
        }
        self.gauge.set(i64::from(held));
        held
    }

    /// Gives the lease up (clean stop) so another node takes over at once.
    pub async fn release(&self) {
        self.gauge.set(0);
        if !self.held.swap(false, Ordering::Relaxed) {
            return;
        }
        let (cp, job, holder) = (
            self.cp.clone(),
            self.job.clone(),
            self.settings.holder.clone(),
        );
        match tokio::task::spawn_blocking(move || cp.release_lease(&job, &holder)).await {
            Ok(Ok(())) => tracing::info!(job = %self.job, "leader lease released"),
            Ok(Err(e)) => tracing::warn!(job = %self.job, error = %e, "leader lease not released"),
            Err(e) => tracing::warn!(job = %self.job, error = %e, "leader lease not released"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_of_two_nodes_leads_and_a_release_hands_over() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Arc::new(ControlPlane::open(dir.path().join("c.sqlite")).unwrap());
        let registry = Registry::new();
        let node = |name: &str, job: &str| {
            Leader::new(
                cp.clone(),
                job,
                LeaseSettings {
                    holder: name.into(),
                    ttl_secs: 30,
                },
                leader_gauge(&Registry::new(), job),
            )
        };
        let a = Leader::new(
            cp.clone(),
            "prober",
            LeaseSettings {
                holder: "a".into(),
                ttl_secs: 30,
            },
            leader_gauge(&registry, "prober"),
        );
        let b = node("b", "prober");
        assert!(a.acquire().await);
        assert!(!b.acquire().await);
        assert!(a.acquire().await, "renewed");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(text.contains("vitals_leader{job=\"prober\"} 1"), "{text}");
        // A second job's gauge goes to the same registry.
        let _alerts = leader_gauge(&registry, "alerts");
        assert_eq!(registry.gather().len(), 1, "one metric family");
        a.release().await;
        assert!(b.acquire().await, "handed over");
        assert!(!a.acquire().await);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(text.contains("vitals_leader{job=\"prober\"} 0"), "{text}");
        assert!(node("c", "alerts").acquire().await, "leases are per job");
    }
}
