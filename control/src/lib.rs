//! The vitals control plane (clauses 5.4, 5.5, 6.2b, 6.4.1e, 4.3.3e): it
//! acts on what the analyzer and alerts see, safely and on the record.
//!
//! * [`client_config`]: the signed per-client document (`GET
//!   /api/v1/client-config`): latest version and prompt, minimum version,
//!   emergency directive, sites in order with both IP families, rollouts,
//!   kill switches; ETag / `304`; Ed25519 signature ([`signing`]).
//! * [`model`]: what operators configure, with the clause checks (dual
//!   stack, 1 MB packages, minimum-version notice).
//! * [`bucket`]: sticky rollout buckets, identical to the SDK's.
//! * [`actions`]: emergency actions in automatic or two-person mode, audit
//!   and one-step revert.
//! * [`sites`]: active probes and client reports → demotion / restoration.
//! * [`api`]: the HTTP routes.
//! * [`leader`]: leader leases, so that of several nodes on one control
//!   plane only one runs each scheduled job (the prober here, the alert
//!   scheduler in `vitals-alerts`).
//!
//! State lives in the control plane (`vitals_store::ops`): SQLite, or
//! PostgreSQL shared by several nodes.

pub mod actions;
pub mod api;
pub mod bucket;
pub mod cli;
pub mod client_config;
pub mod error;
pub mod leader;
pub mod model;
pub mod redact;
pub mod signing;
pub mod sites;

pub use actions::{Action, ActionRequest, Mode, Outcome};
pub use error::ControlError;
pub use leader::{Leader, LeaseSettings};

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vitals_i18n::Lang;
use vitals_store::{ControlPlane, Store};

/// Probe settings (`[control.probe]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSettings {
    /// Seconds between probe rounds.
    pub interval_secs: u64,
    /// Timeout of one probe.
    pub timeout_ms: u64,
    /// Consecutive failed rounds before a site is demoted.
    pub fail_threshold: u32,
    /// Consecutive good rounds before it is restored.
    pub recover_threshold: u32,
    /// Window of client-reported network events.
    pub client_window_secs: u32,
    /// Error rate clients may see on a site before it counts as failing.
    pub client_max_error_rate: f64,
    /// Requests needed before client reports count.
    pub client_min_requests: u64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            interval_secs: 10,
            timeout_ms: 2000,
            fail_threshold: 3,
            recover_threshold: 2,
            client_window_secs: 300,
            client_max_error_rate: 0.5,
            client_min_requests: 50,
        }
    }
}

/// Settings of the control plane (`[control]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSettings {
    /// How long a signed config stays valid on a device.
    pub config_ttl_secs: u32,
    /// Window over which the config body (and its ETag) stays stable.
    pub config_refresh_secs: u32,
    /// Hot-update / mini-program package cap (5.4d); an admin may override
    /// it per rollout with a reason.
    pub max_package_bytes: u64,
    /// Notice a minimum version needs before enforcement (5.4c).
    pub min_version_notice_days: u32,
    /// Mode of manual actions that do not name one.
    pub default_mode: Mode,
    /// Actions that always wait for a second person's approval when a
    /// person requests them, whatever mode the request asks for: names as
    /// in the audit log (`emergency.activate`, `emergency.clear`,
    /// `rollout.pause`, `rollout.resume`, `rollout.rollback`,
    /// `rollout.delete`, `site.drain`, `site.restore`, `kill_switch.set`)
    /// or `*` for all (the default). An alert rule may act automatically
    /// on one of these only if an admin saved it.
    pub require_approval: Vec<String>,
    pub probe: ProbeSettings,
}

impl ControlSettings {
    /// Whether the policy puts `action` under two-person approval.
    pub fn needs_approval(&self, action: &str) -> bool {
        self.require_approval
            .iter()
            .any(|a| a == "*" || a == action)
    }
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            config_ttl_secs: 7 * 86_400,
            config_refresh_secs: 3600,
            max_package_bytes: 1 << 20,
            min_version_notice_days: 7,
            default_mode: Mode::Approval,
            require_approval: vec!["*".into()],
            probe: ProbeSettings::default(),
        }
    }
}

/// Prometheus counters of actions, and the prober's leader gauge.
pub struct Metrics {
    actions: IntCounterVec,
    prober_leader: IntGauge,
}

impl Metrics {
    /// Registers in `registry` (the collector's, served at `/metrics`).
    fn new(registry: &Registry) -> Metrics {
        let actions = IntCounterVec::new(
            Opts::new(
                "vitals_control_actions_total",
                "Control-plane actions by action and mode",
            ),
            &["action", "mode"],
        )
        .expect("valid metric");
        if let Err(e) = registry.register(Box::new(actions.clone())) {
            tracing::warn!(error = %e, "control metrics not registered");
        }
        Metrics {
            actions,
            prober_leader: leader::leader_gauge(registry, "prober"),
        }
    }

    pub(crate) fn count(&self, action: &str, mode: Mode) {
        let m = match mode {
            Mode::Automatic => "automatic",
            Mode::Approval => "approval",
        };
        self.actions.with_label_values(&[action, m]).inc();
    }
}

/// The control-plane service.
pub struct Control {
    pub cp: Arc<ControlPlane>,
    pub settings: ControlSettings,
    /// Telemetry for client-reported site health (absent in CLI use).
    pub store: Option<Arc<dyn Store>>,
    /// Verifies signed client requests with the collector's caches.
    pub verifier: Option<Arc<vitals_collector::Inner>>,
    pub lang: Lang,
    pub metrics: Metrics,
    /// This node's name in leader leases and their duration.
    pub lease: LeaseSettings,
}

impl Control {
    pub fn new(
        cp: Arc<ControlPlane>,
        settings: ControlSettings,
        store: Option<Arc<dyn Store>>,
        verifier: Option<Arc<vitals_collector::Inner>>,
        lang: Lang,
    ) -> Result<Control, ControlError> {
        // Generates the signing key on first start.
        signing::Keys::load(&cp)?;
        let metrics = match &verifier {
            Some(v) => Metrics::new(&v.metrics.registry),
            None => Metrics::new(&Registry::new()),
        };
        Ok(Control {
            cp,
            settings,
            store,
            verifier,
            lang,
            metrics,
            lease: LeaseSettings::default(),
        })
    }

    /// Sets this node's lease identity and duration (`[control_plane]`).
    pub fn with_lease(mut self, lease: LeaseSettings) -> Control {
        self.lease = lease;
        self
    }

    /// Runs probe rounds every `probe.interval_secs` until `stop` changes,
    /// while this node holds the prober's leader lease (renewed at least
    /// every third of the lease; released on stop).
    pub fn spawn_prober(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let leader = Leader::new(
                me.cp.clone(),
                "prober",
                me.lease.clone(),
                me.metrics.prober_leader.clone(),
            );
            let every = std::time::Duration::from_secs(me.settings.probe.interval_secs.max(1));
            let renew = leader.settings().renew_every();
            let mut next_round = tokio::time::Instant::now();
            loop {
                let held = leader.acquire().await;
                if held && tokio::time::Instant::now() >= next_round {
                    me.probe_round(now()).await;
                    next_round = tokio::time::Instant::now() + every;
                }
                let wait = if held {
                    next_round
                        .saturating_duration_since(tokio::time::Instant::now())
                        .min(renew)
                } else {
                    // On taking over, probe at once.
                    next_round = tokio::time::Instant::now();
                    renew
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {
                        leader.release().await;
                        return;
                    }
                }
            }
        })
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
