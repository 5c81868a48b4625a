//! vitals alerts: rules on the analyzer's statistics by clause id, cron
//! schedules in the configured time zone, e-mail and webhook delivery with
//! retries, stored history, and rule-triggered emergency actions through
//! the control plane (`vitals-control`).
//!
//! * [`rule`]: rules (TOML `[[alert]]` or API), checked with the analyzer's
//!   policy validation.
//! * [`engine`]: evaluation (the analyzer's facts over a time window and its
//!   verdicts), per-series state (for-duration, dedup, re-notify, recovery),
//!   actions, digests and the weekly compliance report.
//! * [`schedule`]: cron and the injectable clock.
//! * [`notify`], [`chart`], [`delivery`]: what is sent and how.
//! * [`api`]: rules and history over HTTP.

pub mod api;
pub mod chart;
pub mod delivery;
pub mod engine;
pub mod notify;
pub mod outbound;
pub mod rule;
pub mod schedule;

use chrono::{DateTime, Utc};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use vitals_control::{Control, Leader};
use vitals_i18n::Lang;
use vitals_store::{ControlPlane, Store};

/// Errors of the alerts service.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert rule {rule} is invalid: {reason}")]
    Rule { rule: String, reason: String },
    /// A webhook or e-mail target outside what `[alerts.webhooks]` allows,
    /// or not an address.
    #[error("alert rule {rule}: {refusal}")]
    Refused {
        rule: String,
        refusal: outbound::Refusal,
    },
    #[error("storage: {0}")]
    Store(#[from] vitals_store::StoreError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A scheduled report (`[alerts.digest]`, `[alerts.weekly]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSchedule {
    /// Cron with seconds, in the configured time zone; empty = off.
    pub schedule: String,
    pub recipients: Vec<String>,
}

/// Settings (`[alerts]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// TOML file of `[[alert]]` rules (rules can also be added by API).
    pub rules: Option<PathBuf>,
    pub smtp: delivery::SmtpSettings,
    /// Daily digest, e.g. `0 0 9 * * *`.
    pub digest: ReportSchedule,
    /// Weekly compliance report, e.g. `0 0 9 * * Mon`.
    pub weekly: ReportSchedule,
    /// Delivery attempts per channel and the first backoff.
    pub attempts: u32,
    pub backoff_ms: u64,
    pub webhook_timeout_secs: u64,
    /// Which hosts webhooks may reach (`[alerts.webhooks]`).
    pub webhooks: outbound::WebhookSettings,
    /// Longest sleep of the scheduler between checks.
    pub tick_secs: u64,
    /// Rules every app has without configuring any (`[alerts.defaults]`).
    pub defaults: DefaultAlerts,
}

/// The alert rules a fresh install has: for every app, one per blocker and
/// urgent rule of its policy (crash rate per session and per user, an urgent
/// crash group, cold start, CPU, memory), with the policy's threshold and
/// reading, delivered to these recipients. A rule of the same id in the
/// rules file or the API replaces a default one (`default/<app>/<rule id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultAlerts {
    pub enabled: bool,
    /// The administrators' addresses.
    pub email: Vec<String>,
    pub webhooks: Vec<rule::Webhook>,
    /// Evaluation window and cadence.
    pub window_secs: u32,
    pub schedule: String,
}

impl Default for DefaultAlerts {
    fn default() -> Self {
        DefaultAlerts {
            enabled: true,
            email: Vec::new(),
            webhooks: Vec::new(),
            window_secs: 3600,
            schedule: "0 */5 * * * *".into(),
        }
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            rules: None,
            smtp: delivery::SmtpSettings::default(),
            digest: ReportSchedule {
                schedule: "0 0 9 * * *".into(),
                recipients: Vec::new(),
            },
            weekly: ReportSchedule {
                schedule: "0 0 9 * * Mon".into(),
                recipients: Vec::new(),
            },
            attempts: 4,
            backoff_ms: 2000,
            webhook_timeout_secs: 10,
            webhooks: outbound::WebhookSettings::default(),
            tick_secs: 15,
            defaults: DefaultAlerts::default(),
        }
    }
}

/// Prometheus counters, and the scheduler's leader gauge.
pub struct Metrics {
    pub fired: IntCounterVec,
    pub delivered: IntCounterVec,
    pub failed: IntCounterVec,
    /// `vitals_leader{job="alerts"}`: 1 while this node runs the scheduler.
    pub leader: IntGauge,
}

impl Metrics {
    fn new(registry: &Registry) -> Metrics {
        let vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            if let Err(e) = registry.register(Box::new(c.clone())) {
                tracing::warn!(metric = name, error = %e, "metric not registered");
            }
            c
        };
        Metrics {
            fired: vec(
                "vitals_alerts_events_total",
                "Alert events by clause and event (fired, renotified, recovered)",
                &["clause", "event"],
            ),
            delivered: vec(
                "vitals_alerts_delivered_total",
                "Alert notifications delivered, by channel",
                &["channel"],
            ),
            failed: vec(
                "vitals_alerts_delivery_failures_total",
                "Failed alert delivery attempts, by channel",
                &["channel"],
            ),
            leader: vitals_control::leader::leader_gauge(registry, "alerts"),
        }
    }
}

/// The alerts service.
pub struct Alerts {
    pub cp: Arc<ControlPlane>,
    pub store: Arc<dyn Store>,
    pub control: Arc<Control>,
    pub analyzer: vitals_analyzer::Analyzer,
    pub settings: AlertSettings,
    pub lang: Lang,
    pub tz: chrono_tz::Tz,
    pub metrics: Metrics,
    /// Rules from the file; API rules are read from the control plane.
    file_rules: Vec<rule::AlertRule>,
    /// Schedules are not due before this (no catch-up of runs missed while
    /// no node ran). Their last runs are in the control plane
    /// (`schedule_runs`), not in memory, so a node taking over the
    /// scheduler's lease neither repeats nor skips a run.
    started: DateTime<Utc>,
}

impl Alerts {
    /// Loads the rules file (if any) and checks every rule.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        control: Arc<Control>,
        store: Arc<dyn Store>,
        analyzer: vitals_analyzer::Analyzer,
        settings: AlertSettings,
        lang: Lang,
        timezone: &str,
        registry: &Registry,
        started: DateTime<Utc>,
    ) -> Result<Alerts, AlertError> {
        let file_rules = match &settings.rules {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| AlertError::Read {
                    path: p.clone(),
                    source,
                })?;
                rule::parse_rules(&text)?
            }
            None => Vec::new(),
        };
        for r in &file_rules {
            r.check_outbound(&settings.webhooks)?;
        }
        for to in &settings.defaults.email {
            outbound::check_email(to).map_err(|refusal| AlertError::Refused {
                rule: "[alerts.defaults]".into(),
                refusal,
            })?;
        }
        for (what, s) in [("digest", &settings.digest), ("weekly", &settings.weekly)] {
            for to in &s.recipients {
                outbound::check_email(to).map_err(|refusal| AlertError::Refused {
                    rule: format!("[alerts.{what}]"),
                    refusal,
                })?;
            }
        }
        Ok(Alerts {
            cp: control.cp.clone(),
            store,
            control,
            analyzer,
            settings,
            lang,
            tz: schedule::tz(timezone),
            metrics: Metrics::new(registry),
            file_rules,
            started,
        })
    }

    /// The default rules of every app (see [`DefaultAlerts`]).
    fn default_rules(&self) -> Vec<rule::AlertRule> {
        let d = &self.settings.defaults;
        if !d.enabled {
            return Vec::new();
        }
        let apps = self.cp.apps().unwrap_or_default();
        apps.iter()
            .flat_map(|app| {
                self.analyzer
                    .policy
                    .rules_for(&app.app_id)
                    .into_iter()
                    .filter(|r| r.severity.blocks())
                    .map(|r| rule::AlertRule {
                        id: format!("default/{}/{}", app.app_id, r.id()),
                        app: app.app_id.clone(),
                        clause: r.clause.clone(),
                        metric: r.metric.as_str().to_string(),
                        statistic: Some(r.statistic),
                        threshold: r.threshold,
                        direction: r.direction,
                        category: r.category.clone(),
                        window_secs: d.window_secs,
                        min_sample: r.min_sample,
                        for_secs: 0,
                        renotify_secs: 3600,
                        recovery: true,
                        schedule: d.schedule.clone(),
                        releases: Vec::new(),
                        email: d.email.clone(),
                        webhooks: d.webhooks.clone(),
                        action: None,
                        enabled: true,
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every rule: the defaults, the file's, then the API's (a rule with the
    /// same id as an earlier one replaces it).
    pub fn rules(&self) -> Vec<rule::AlertRule> {
        let api: Vec<rule::AlertRule> = self
            .cp
            .objects(None, engine::RULE_KIND)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| serde_json::from_value(o.body).ok())
            .collect();
        let mut all: Vec<rule::AlertRule> = self
            .default_rules()
            .into_iter()
            .filter(|d| !api.iter().chain(&self.file_rules).any(|r| r.id == d.id))
            .collect();
        all.extend(
            self.file_rules
                .iter()
                .filter(|f| !api.iter().any(|a| a.id == f.id))
                .cloned(),
        );
        all.extend(api);
        all
    }

    /// Runs the scheduler with the system clock until `stop` changes, while
    /// this node holds the scheduler's leader lease (renewed at least every
    /// third of the lease; released on stop). A node without it skips its
    /// rounds.
    pub fn spawn(
        self: &Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let clock = schedule::SystemClock;
            let leader = Leader::new(
                me.cp.clone(),
                "alerts",
                me.control.lease.clone(),
                me.metrics.leader.clone(),
            );
            let renew = leader.settings().renew_every();
            loop {
                let now = schedule::Clock::now(&clock);
                let held = leader.acquire().await;
                if held {
                    me.tick(now).await;
                }
                let every = std::time::Duration::from_secs(me.settings.tick_secs.clamp(1, 60));
                let wait = if held {
                    me.next_due(now)
                        .and_then(|t| (t - now).to_std().ok())
                        .map(|d| d.min(every))
                        .unwrap_or(every)
                        .min(renew)
                } else {
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
