//! Rules × facts → verdicts, and the release decision.

use crate::exact::QuantileEstimate;
use crate::facts::Facts;
use crate::judge::{Measured, Semantics, judge};
pub use crate::judge::{Reason, Verdict};
use crate::policy::{Bound, Direction, Metric, Rule, Severity, Statistic};
use crate::stats::wilson;
use serde::Serialize;
use std::collections::BTreeMap;
use vitals_i18n::{Lang, Msg};

mod evidence;
pub use evidence::Evidence;

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::InsufficientData => "insufficient_data",
        }
    }

    pub fn text(self, lang: Lang) -> String {
        match self {
            Verdict::Pass => Msg::VerdictPass.text(lang),
            Verdict::Fail => Msg::VerdictFail.text(lang),
            Verdict::InsufficientData => Msg::VerdictInsufficient.text(lang),
        }
    }
}

impl Reason {
    /// The reason in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        match self {
            Reason::NoData => Msg::ReasonNoData.text(lang),
            Reason::Within => Msg::ReasonWithin.text(lang),
            Reason::Over => Msg::ReasonOver.text(lang),
            Reason::TooFew { have, need } => {
                Msg::ReasonTooFew.render(lang, &[("have", have), ("need", need)])
            }
            Reason::ProvenOver { have, need } => {
                Msg::ReasonProvenOver.render(lang, &[("have", have), ("need", need)])
            }
            Reason::Unproven { more: Some(more) } => {
                Msg::ReasonUnprovenMore.render(lang, &[("more", more)])
            }
            Reason::Unproven { more: None } => Msg::ReasonUnproven.text(lang),
        }
    }
}

/// One rule's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    pub id: String,
    pub clause: String,
    pub metric: Metric,
    pub statistic: Statistic,
    pub category: Option<String>,
    pub value: Option<f64>,
    pub threshold: f64,
    pub direction: Direction,
    /// Whether the threshold itself passes.
    pub bound: Bound,
    /// `ensure` or `exceed` (`docs/METRICS.md`).
    pub semantics: Semantics,
    /// 95 % interval: Wilson for rates, normal for means, order statistics
    /// for percentiles.
    pub interval: Option<(f64, f64)>,
    /// Whether `value` is exact; a percentile far from the threshold is its
    /// histogram bucket's value (±0.5 %), which cannot change the verdict.
    pub exact: bool,
    pub sample: u64,
    pub min_sample: u64,
    pub severity: Severity,
    pub verdict: Verdict,
    /// Why the verdict is what it is.
    pub reason: Reason,
    pub evidence: Evidence,
}

impl RuleResult {
    pub fn title(&self, lang: Lang) -> String {
        let m = match self.metric {
            Metric::CrashRatePerSession => Msg::MetricCrashRatePerSession,
            Metric::CrashRatePerUser => Msg::MetricCrashRatePerUser,
            Metric::CrashRatePerModel => Msg::MetricCrashRatePerModel,
            Metric::CrashGroupUserShare => Msg::MetricCrashGroupUserShare,
            Metric::CrashGroupRegressions => Msg::MetricCrashGroupRegressions,
            Metric::UrgentTimeToFix => Msg::MetricUrgentTimeToFix,
            Metric::DeviceClassCoverage => Msg::MetricDeviceClassCoverage,
            Metric::OsVersionCoverage => Msg::MetricOsVersionCoverage,
            Metric::ScreenCoverage => Msg::MetricScreenCoverage,
            Metric::NetworkCoverage => Msg::MetricNetworkCoverage,
            Metric::HarmonyosCoverage => Msg::MetricHarmonyosCoverage,
            Metric::PackageSize => Msg::MetricPackageSize,
            Metric::InstallTime => Msg::MetricInstallTime,
            Metric::ColdStart => Msg::MetricColdStart,
            Metric::Cpu => Msg::MetricCpu,
            Metric::Memory => Msg::MetricMemory,
            Metric::ServerLatency => Msg::MetricServerLatency,
            Metric::RequestErrorRate => Msg::MetricRequestErrorRate,
            Metric::ThirdPartyInitShare => Msg::MetricThirdPartyInitShare,
            Metric::UntrustedShare => Msg::MetricUntrustedShare,
            Metric::ReleaseNotes => Msg::MetricReleaseNotes,
            Metric::UpgradePromptShare => Msg::MetricUpgradePromptShare,
            Metric::MinVersionNotice => Msg::MetricMinVersionNotice,
            Metric::HotUpdateSize => Msg::MetricHotUpdateSize,
            Metric::HotUpdateDelivery => Msg::MetricHotUpdateDelivery,
            Metric::HotUpdateSuccess => Msg::MetricHotUpdateSuccess,
        };
        m.render(
            lang,
            &[("category", &self.category.clone().unwrap_or_default())],
        )
    }
}

/// The release decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Go,
    NoGo,
    InsufficientData,
}

impl Decision {
    pub fn exit_code(self) -> i32 {
        match self {
            Decision::Go => 0,
            Decision::NoGo => 1,
            Decision::InsufficientData => 2,
        }
    }

    pub fn text(self, lang: Lang) -> String {
        match self {
            Decision::Go => Msg::GateGo.text(lang),
            Decision::NoGo => Msg::GateNoGo.text(lang),
            Decision::InsufficientData => Msg::GateInsufficient.text(lang),
        }
    }
}

/// Decides: any blocking failure → no-go; else any blocking rule without
/// enough data → insufficient; else go.
pub fn decide(results: &[RuleResult]) -> Decision {
    let blocking = || results.iter().filter(|r| r.severity.blocks());
    if blocking().any(|r| r.verdict == Verdict::Fail) {
        Decision::NoGo
    } else if blocking().any(|r| r.verdict == Verdict::InsufficientData) {
        Decision::InsufficientData
    } else {
        Decision::Go
    }
}

struct Outcome {
    measured: Option<Measured>,
    /// Observations, also when there is no value to judge.
    sample: u64,
    exact: bool,
    /// For an unproven `ensure`: further observations that would decide.
    more: Option<u64>,
    evidence: Evidence,
}

fn rate(rule: &Rule, k: u64, n: u64, evidence: Evidence) -> Outcome {
    Outcome {
        measured: crate::judge::rate(k, n),
        sample: n,
        exact: true,
        more: crate::judge::rate_more(&rule.limit(), k, n),
        evidence,
    }
}

fn plain(value: Option<f64>, sample: u64, evidence: Evidence) -> Outcome {
    Outcome {
        measured: value.map(|value| Measured {
            value,
            interval: None,
            sample,
        }),
        sample,
        exact: true,
        more: None,
        evidence,
    }
}

/// A distribution's statistic: the mean with its interval, or a percentile
/// from [`crate::exact`] (`est`), or the maximum.
fn dist(rule: &Rule, d: &crate::facts::Dist, est: Option<&QuantileEstimate>) -> Outcome {
    let evidence = Evidence::Samples { n: d.n };
    let limit = rule.limit();
    match rule.statistic {
        Statistic::Mean => Outcome {
            measured: crate::judge::mean(d.n, d.sum, d.sum_sq),
            sample: d.n,
            exact: true,
            more: crate::judge::mean_more(&limit, d.n, d.sum, d.sum_sq),
            evidence,
        },
        s if s.quantile().is_some() => {
            let q = s.quantile().unwrap_or(0.5);
            Outcome {
                measured: est.map(|e| Measured {
                    value: e.value,
                    interval: Some(e.interval),
                    sample: e.sample,
                }),
                sample: d.n,
                exact: est.is_some_and(|e| e.exact),
                more: crate::judge::quantile_more(&limit, d.n, q, d.hist.share_passing(&limit)),
                evidence,
            }
        }
        _ => plain(d.hist.max(), d.n, evidence),
    }
}

fn coverage(f: &Facts, clause: &str) -> Outcome {
    let cells: Vec<_> = f.cells.iter().filter(|c| c.clause == clause).collect();
    let covered = cells.iter().filter(|c| c.healthy).count();
    let missing = cells
        .iter()
        .filter(|c| !c.healthy)
        .map(|c| c.name.clone())
        .collect();
    let sessions = cells.iter().map(|c| c.sessions).sum();
    plain(
        (!cells.is_empty()).then(|| covered as f64 / cells.len() as f64),
        sessions,
        Evidence::Coverage {
            covered,
            required: cells.len(),
            missing,
        },
    )
}

fn outcome(rule: &Rule, f: &Facts, est: Option<&QuantileEstimate>) -> Outcome {
    match rule.metric {
        Metric::CrashRatePerSession => rate(
            rule,
            f.crashed_sessions,
            f.sessions,
            Evidence::Sessions {
                crashed: f.crashed_sessions,
                total: f.sessions,
            },
        ),
        Metric::CrashRatePerUser => rate(
            rule,
            f.crashed_users,
            f.users,
            Evidence::Users {
                crashed: f.crashed_users,
                total: f.users,
            },
        ),
        Metric::CrashRatePerModel => {
            // The model with the highest lower bound among those with enough
            // sessions: the clearest bad model, not the noisiest.
            let worst = f
                .models
                .iter()
                .filter(|m| m.sessions >= rule.min_sample)
                .max_by(|a, b| {
                    wilson(a.crashed, a.sessions)
                        .0
                        .total_cmp(&wilson(b.crashed, b.sessions).0)
                });
            match worst {
                Some(m) => rate(
                    rule,
                    m.crashed,
                    m.sessions,
                    Evidence::WorstModel {
                        model: m.model.clone(),
                        crashed: m.crashed,
                        total: m.sessions,
                    },
                ),
                None => plain(
                    None,
                    f.models.iter().map(|m| m.sessions).max().unwrap_or(0),
                    Evidence::None,
                ),
            }
        }
        Metric::CrashGroupUserShare => {
            // Every group is judged by the same function as the list's
            // urgent flag; the rule shows the worst one (an urgent group
            // first, then the most affected).
            let urgent = f.groups.iter().filter(|g| g.urgent).count();
            let worst = f
                .groups
                .iter()
                .max_by_key(|g| (g.urgent, g.users, std::cmp::Reverse(g.fingerprint.clone())));
            match worst {
                Some(g) => rate(
                    rule,
                    g.users,
                    f.users,
                    Evidence::Group {
                        fingerprint: g.fingerprint.clone(),
                        exception: g.exception_type.clone(),
                        users: g.users,
                        total: f.users,
                        urgent,
                    },
                ),
                None => rate(
                    rule,
                    0,
                    f.users,
                    Evidence::Users {
                        crashed: 0,
                        total: f.users,
                    },
                ),
            }
        }
        Metric::CrashGroupRegressions => {
            let fps: Vec<String> = f
                .groups
                .iter()
                .filter(|g| g.state == "regressed")
                .map(|g| g.fingerprint.clone())
                .collect();
            plain(
                Some(fps.len() as f64),
                f.groups.len() as u64,
                Evidence::Regressions { fingerprints: fps },
            )
        }
        Metric::UrgentTimeToFix => {
            // The urgent group open longest; none open: 0 days.
            let oldest = f
                .groups
                .iter()
                .filter_map(|g| g.open_days.map(|d| (d, g)))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match oldest {
                Some((days, g)) => plain(
                    Some(days),
                    f.groups.len() as u64,
                    Evidence::OpenGroup {
                        fingerprint: g.fingerprint.clone(),
                        days,
                    },
                ),
                None => plain(Some(0.0), f.groups.len() as u64, Evidence::NoOpenUrgent),
            }
        }
        Metric::DeviceClassCoverage => coverage(f, "5.2a"),
        Metric::OsVersionCoverage => coverage(f, "5.2b"),
        Metric::ScreenCoverage => coverage(f, "5.2c"),
        Metric::NetworkCoverage => coverage(f, "5.2d"),
        Metric::HarmonyosCoverage => coverage(f, "5.2e"),
        Metric::PackageSize => match f.packages.iter().max_by_key(|p| p.bytes) {
            Some(p) => plain(
                Some(p.bytes as f64),
                f.packages.len() as u64,
                Evidence::Package {
                    platform: p.platform.clone(),
                    abi: p.abi.clone(),
                },
            ),
            None => plain(None, 0, Evidence::None),
        },
        Metric::InstallTime => {
            let n: u64 = f.install_by_model.iter().map(|m| m.n).sum();
            let value = match rule.statistic {
                Statistic::MeanOfModelMeans if !f.install_by_model.is_empty() => Some(
                    f.install_by_model.iter().map(|m| m.mean).sum::<f64>()
                        / f.install_by_model.len() as f64,
                ),
                Statistic::Mean if n > 0 => Some(
                    f.install_by_model
                        .iter()
                        .map(|m| m.mean * m.n as f64)
                        .sum::<f64>()
                        / n as f64,
                ),
                _ => None,
            };
            plain(
                value,
                n,
                Evidence::Models {
                    models: f.install_by_model.len(),
                    n,
                },
            )
        }
        Metric::ColdStart => dist(rule, &f.cold_start, est),
        Metric::Cpu => dist(rule, &f.cpu, est),
        Metric::Memory => dist(rule, &f.memory, est),
        Metric::ServerLatency => {
            let d = rule.category.as_ref().and_then(|c| f.latency.get(c));
            match d {
                Some(d) => dist(rule, d, est),
                None => plain(None, 0, Evidence::None),
            }
        }
        Metric::RequestErrorRate => {
            let cat = rule.category.as_deref().unwrap_or("");
            let cells: Vec<_> = f
                .request_errors
                .iter()
                .filter(|c| c.category == cat)
                .collect();
            let (failed, total) = cells
                .iter()
                .fold((0, 0), |(k, n), c| (k + c.failed, n + c.requests));
            // The site with the highest failure share, for the reader.
            let worst = cells
                .iter()
                .max_by(|a, b| {
                    (a.failed as f64 / a.requests as f64)
                        .total_cmp(&(b.failed as f64 / b.requests as f64))
                        .then(b.site.cmp(&a.site))
                })
                .map(|c| c.site.clone())
                .unwrap_or_default();
            rate(
                rule,
                failed,
                total,
                Evidence::Requests {
                    failed,
                    total,
                    worst_site: worst,
                },
            )
        }
        Metric::ThirdPartyInitShare => {
            let s = &f.sdk_init;
            plain(
                (s.total_ms > 0.0).then(|| s.sdk_ms / s.total_ms),
                s.cold_starts,
                Evidence::SdkInit {
                    cold_starts: s.cold_starts,
                    sdk_ms: s.sdk_ms,
                },
            )
        }
        Metric::UntrustedShare => rate(
            rule,
            f.untrusted_sessions,
            f.all_sessions,
            Evidence::Untrusted {
                untrusted: f.untrusted_sessions,
                total: f.all_sessions,
            },
        ),
        Metric::ReleaseNotes => {
            let chars = f
                .notes
                .as_deref()
                .map(|n| n.trim().chars().count())
                .unwrap_or(0);
            plain(
                Some(if chars > 0 { 1.0 } else { 0.0 }),
                1,
                Evidence::Notes { chars },
            )
        }
        Metric::UpgradePromptShare => {
            // 5.4b: nothing is due until a newer version exists.
            let u = &f.upgrade;
            if u.platforms.is_empty() {
                return plain(None, 0, Evidence::UpgradeNotDue);
            }
            rate(
                rule,
                u.prompted(),
                u.due(),
                Evidence::UpgradePrompt {
                    newest: u.newest(),
                    prompted: u.prompted(),
                    due: u.due(),
                    accepted: u.accepted(),
                    declined: u.declined(),
                    later: u.later(),
                    stale: u.stale_prompts(),
                },
            )
        }
        Metric::MinVersionNotice => match &f.min_version {
            Some(m) => {
                let days = (m.enforce_at - m.announced_at) as f64 / 86_400.0;
                plain(
                    Some(days),
                    1,
                    Evidence::MinVersion {
                        version: m.version.clone(),
                        days,
                    },
                )
            }
            // Nothing to announce: the clause is satisfied trivially.
            None => plain(Some(f64::INFINITY), 1, Evidence::NoMinVersion),
        },
        Metric::HotUpdateSize => match f.patches.iter().max_by_key(|p| p.max_bytes) {
            Some(p) => plain(
                Some(p.max_bytes as f64),
                f.patches.len() as u64,
                Evidence::Patch {
                    patch: p.patch_id.clone(),
                    num: p.max_bytes,
                    den: 1_048_576,
                },
            ),
            None => plain(None, 0, Evidence::None),
        },
        Metric::HotUpdateDelivery | Metric::HotUpdateSuccess => {
            // The worst patch with enough devices.
            let pick = |p: &crate::facts::Patch| match rule.metric {
                Metric::HotUpdateDelivery => (p.downloaded.min(p.offered), p.offered),
                // Applied and not rolled back (an install that rolled back
                // is taken as having applied first).
                _ => (
                    p.applied.saturating_sub(p.rolled_back).min(p.downloaded),
                    p.downloaded,
                ),
            };
            let worst = f
                .patches
                .iter()
                .filter(|p| pick(p).1 >= rule.min_sample)
                .min_by(|a, b| {
                    let (ka, na) = pick(a);
                    let (kb, nb) = pick(b);
                    (ka as f64 / na as f64).total_cmp(&(kb as f64 / nb as f64))
                });
            match worst {
                Some(p) => {
                    let (k, n) = pick(p);
                    rate(
                        rule,
                        k,
                        n,
                        Evidence::Patch {
                            patch: p.patch_id.clone(),
                            num: k,
                            den: n,
                        },
                    )
                }
                None => plain(
                    None,
                    f.patches.iter().map(|p| pick(p).1).max().unwrap_or(0),
                    Evidence::None,
                ),
            }
        }
    }
}

/// Percentile estimates of the rules that need one, by rule id.
pub type Estimates = BTreeMap<String, QuantileEstimate>;

/// The distribution a percentile rule reads.
fn rule_dist<'a>(rule: &Rule, f: &'a Facts) -> Option<&'a crate::facts::Dist> {
    rule.statistic.quantile()?;
    match rule.metric {
        Metric::ColdStart => Some(&f.cold_start),
        Metric::Cpu => Some(&f.cpu),
        Metric::Memory => Some(&f.memory),
        Metric::ServerLatency => f.latency.get(rule.category.as_deref()?),
        _ => None,
    }
}

/// Reads, exactly where a verdict depends on it, every percentile the rules
/// judge (`all_exact`: exactly everywhere).
pub async fn estimates(
    store: &dyn vitals_store::Store,
    rules: &[Rule],
    f: &Facts,
    all_exact: bool,
) -> Result<Estimates, vitals_store::StoreError> {
    let jobs = rules.iter().filter_map(|r| {
        let d = rule_dist(r, f)?;
        let q = r.statistic.quantile()?;
        Some(async move {
            let est = crate::exact::quantile(store, d, q, &r.limit(), all_exact).await?;
            Ok::<_, vitals_store::StoreError>(est.map(|e| (r.id(), e)))
        })
    });
    let found = futures_util::future::try_join_all(jobs).await?;
    Ok(found.into_iter().flatten().collect())
}

/// Evaluates every rule: percentiles exact where it matters, then
/// [`evaluate`].
pub async fn evaluate_all(
    store: &dyn vitals_store::Store,
    rules: &[Rule],
    f: &Facts,
) -> Result<Vec<RuleResult>, vitals_store::StoreError> {
    let est = estimates(store, rules, f, false).await?;
    Ok(rules.iter().map(|r| evaluate(r, f, &est)).collect())
}

/// Evaluates one rule ([`crate::judge`] decides).
pub fn evaluate(rule: &Rule, f: &Facts, est: &Estimates) -> RuleResult {
    let o = outcome(rule, f, est.get(&rule.id()));
    let limit = rule.limit();
    let (verdict, reason) = judge(&limit, o.measured, || o.more);
    let m = o.measured;
    RuleResult {
        id: rule.id(),
        clause: rule.clause.clone(),
        metric: rule.metric,
        statistic: rule.statistic,
        category: rule.category.clone(),
        value: m.map(|m| m.value).filter(|v| v.is_finite()),
        threshold: rule.threshold,
        direction: rule.direction,
        bound: limit.bound,
        semantics: limit.semantics,
        interval: m.and_then(|m| m.interval),
        exact: o.exact,
        sample: o.sample,
        min_sample: rule.min_sample,
        severity: rule.severity,
        verdict,
        reason,
        evidence: o.evidence,
    }
}
