//! The vitals analyzer: stored telemetry → verdicts against the standard
//! (`docs/standard/CLAUSES.md`), per app and release.
//!
//! * [`policy`]: the standard as TOML rules with clause ids, per-app
//!   overrides, validation at load.
//! * [`facts`]: one release's facts, gathered with aggregation queries the
//!   store pushes down (ClickHouse or SQLite); no raw rows reach Rust.
//! * [`evaluate`]: rules × facts → pass / fail / insufficient data, with
//!   Wilson intervals for rates, and the go / no-go decision.
//! * [`render`]: text, JSON, JUnit, Markdown and HTML outputs.
//! * [`api`]: the read API.

pub mod api;
mod compat;
pub mod evaluate;
pub mod exact;
pub mod facts;
pub mod judge;
pub mod lifecycle;
pub mod policy;
pub mod render;
pub mod stats;
pub mod upgrade;

use evaluate::{Decision, RuleResult};
use facts::{Facts, ReleaseRef, Scope};
use policy::Policy;
use serde::Serialize;
use std::sync::Arc;
use vitals_store::query::{Cond, Dim, Filter, Measure, Query};
use vitals_store::{ControlPlane, Store, StoreError};

/// Errors of the analyzer.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzerError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("no data for release {release} of app {app}")]
    NoRelease { app: String, release: String },
    #[error("{0}")]
    Policy(#[from] policy::PolicyError),
}

/// A release's evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub app: String,
    pub release: String,
    pub decision: Decision,
    pub results: Vec<RuleResult>,
    pub facts: Facts,
    /// The baseline release's results, for comparison.
    pub baseline: Option<Box<Evaluation>>,
}

/// One release in the app's list.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseRow {
    pub version: String,
    pub build: String,
    pub sessions: u64,
    pub crashed_sessions: u64,
    pub users: u64,
    pub crashed_users: u64,
    pub fatal_crashes: u64,
    pub first_seen: u32,
    pub last_seen: u32,
}

/// The analyzer service.
#[derive(Clone)]
pub struct Analyzer {
    pub store: Arc<dyn Store>,
    pub cp: Arc<ControlPlane>,
    pub policy: Arc<Policy>,
    pub timezone: String,
}

impl Analyzer {
    pub fn new(
        store: Arc<dyn Store>,
        cp: Arc<ControlPlane>,
        policy: Policy,
        timezone: &str,
    ) -> Analyzer {
        Analyzer {
            store,
            cp,
            policy: Arc::new(policy),
            timezone: timezone.to_string(),
        }
    }

    /// Releases with data, oldest first. Three queries a rollup or the
    /// (few) crash rows answer: sessions with first/last seen, users, and
    /// fatal crashes.
    pub async fn releases(&self, app: &str) -> Result<Vec<ReleaseRow>, AnalyzerError> {
        use vitals_store::query::Col;
        let f = |kinds: &[&str]| Filter {
            app_id: app.to_string(),
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        };
        let q = |filter: Filter, measures: Vec<Measure>| Query {
            filter,
            group_by: vec![Dim::Version, Dim::Build],
            measures,
            ..Default::default()
        };
        let sessions = q(
            f(&["session"]),
            vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Count(Some(Cond::SessionCrashed)),
                Measure::Min(Col::Ts, None),
                Measure::Max(Col::Ts, None),
            ],
        );
        // Sessions and crashes define a release's users (as in facts).
        let users = q(
            f(&["session", "crash"]),
            vec![
                Measure::Users(None),
                Measure::Users(Some(Cond::CrashedUser)),
            ],
        );
        let crashes = q(
            f(&["crash"]),
            vec![
                Measure::Count(Some(Cond::FatalCrash)),
                Measure::Min(Col::Ts, None),
                Measure::Max(Col::Ts, None),
            ],
        );
        let (s, u, c) = tokio::try_join!(
            self.store.aggregate(&sessions),
            self.store.aggregate(&users),
            self.store.aggregate(&crashes),
        )?;
        let mut by: std::collections::BTreeMap<(String, String), ReleaseRow> = Default::default();
        for (part, rs) in [(0, &s), (1, &u), (2, &c)] {
            for r in rs.iter() {
                let k = (r.dim(0).to_string(), r.dim(1).to_string());
                let e = by.entry(k.clone()).or_insert_with(|| ReleaseRow {
                    version: k.0,
                    build: k.1,
                    sessions: 0,
                    crashed_sessions: 0,
                    users: 0,
                    crashed_users: 0,
                    fatal_crashes: 0,
                    first_seen: u32::MAX,
                    last_seen: 0,
                });
                let mut seen = |first: Option<f64>, last: Option<f64>| {
                    if let Some(t) = first {
                        e.first_seen = e.first_seen.min(t as u32);
                    }
                    if let Some(t) = last {
                        e.last_seen = e.last_seen.max(t as u32);
                    }
                };
                match part {
                    0 => {
                        seen(r.value(2), r.value(3));
                        e.sessions = r.count(0);
                        e.crashed_sessions = r.count(1);
                    }
                    1 => {
                        e.users = r.count(0);
                        e.crashed_users = r.count(1);
                    }
                    _ => {
                        seen(r.value(1), r.value(2));
                        e.fatal_crashes = r.count(0);
                    }
                }
            }
        }
        let mut rows: Vec<ReleaseRow> = by
            .into_values()
            .map(|mut r| {
                if r.first_seen == u32::MAX {
                    r.first_seen = 0;
                }
                r
            })
            .collect();
        rows.sort_by(|a, b| {
            facts::compare_versions(&a.version, &b.version).then(a.build.cmp(&b.build))
        });
        Ok(rows)
    }

    /// Versions with sessions or fatal crashes, oldest first: the cheap
    /// form of [`Analyzer::releases`] for navigation (no user counts).
    pub async fn versions(&self, app: &str) -> Result<Vec<String>, AnalyzerError> {
        let q = |kinds: &[&str], m: Measure| Query {
            filter: Filter {
                app_id: app.to_string(),
                kinds: kinds.iter().map(|k| k.to_string()).collect(),
                ..Default::default()
            },
            group_by: vec![Dim::Version],
            measures: vec![m],
            ..Default::default()
        };
        let (sq, cq) = (
            q(&["session"], Measure::Count(Some(Cond::SessionStart))),
            q(&["crash"], Measure::Count(Some(Cond::FatalCrash))),
        );
        let (s, c) = tokio::try_join!(self.store.aggregate(&sq), self.store.aggregate(&cq))?;
        let mut v: Vec<String> = s
            .iter()
            .chain(c.iter())
            .filter(|r| r.count(0) > 0)
            .map(|r| r.dim(0).to_string())
            .collect();
        v.sort_by(|a, b| facts::compare_versions(a, b));
        v.dedup();
        Ok(v)
    }

    /// The release before `release` (by version order), if any.
    pub async fn previous_release(
        &self,
        app: &str,
        release: &ReleaseRef,
    ) -> Result<Option<ReleaseRef>, AnalyzerError> {
        let versions = self.versions(app).await?;
        let idx = versions.iter().position(|v| *v == release.version);
        Ok(idx.and_then(|i| i.checked_sub(1)).map(|i| ReleaseRef {
            version: versions[i].to_string(),
            build: None,
        }))
    }

    /// The newest release with data.
    pub async fn latest_release(&self, app: &str) -> Result<Option<ReleaseRef>, AnalyzerError> {
        Ok(self.versions(app).await?.pop().map(|version| ReleaseRef {
            version,
            build: None,
        }))
    }

    /// Gathers facts and evaluates every rule of the policy for the app.
    pub async fn evaluate(
        &self,
        app: &str,
        release: &ReleaseRef,
        policy: Option<&Policy>,
        baseline: Option<&ReleaseRef>,
    ) -> Result<Evaluation, AnalyzerError> {
        let policy = policy.unwrap_or(&self.policy);
        let rules = policy.rules_for(app);
        let limit = |m: policy::Metric| rules.iter().find(|r| r.metric == m).map(|r| r.limit());
        let defaults = Scope::default();
        let scope = Scope {
            crash: limit(policy::Metric::CrashRatePerSession).unwrap_or(defaults.crash),
            urgent: limit(policy::Metric::CrashGroupUserShare).unwrap_or(defaults.urgent),
            cell_min_sessions: rules
                .iter()
                .find(|r| r.metric == policy::Metric::DeviceClassCoverage)
                .map(|r| r.min_sample)
                .unwrap_or(100),
            exclude_untrusted: policy.exclude_untrusted,
            ..defaults
        };
        let (facts, baseline) = tokio::try_join!(
            async {
                facts::gather(self.store.as_ref(), &self.cp, app, release, &scope)
                    .await
                    .map_err(AnalyzerError::from)
            },
            async {
                Ok(match baseline {
                    Some(b) if b != release => Some(Box::new(
                        Box::pin(self.evaluate(app, b, Some(policy), None)).await?,
                    )),
                    _ => None,
                })
            }
        )?;
        let has_data = facts.sessions > 0
            || facts.fatal_crashes > 0
            || facts.users > 0
            || facts.cold_start.n > 0
            || facts.cpu.n > 0
            || facts.memory.n > 0
            || !facts.install_by_model.is_empty()
            || !facts.latency.is_empty()
            || !facts.patches.is_empty();
        if !has_data && facts.notes.is_none() {
            return Err(AnalyzerError::NoRelease {
                app: app.to_string(),
                release: release.label(),
            });
        }
        let results: Vec<RuleResult> =
            evaluate::evaluate_all(self.store.as_ref(), &rules, &facts).await?;
        let decision = evaluate::decide(&results);
        Ok(Evaluation {
            app: app.to_string(),
            release: release.label(),
            decision,
            results,
            facts,
            baseline,
        })
    }
}
