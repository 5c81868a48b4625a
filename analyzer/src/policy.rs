//! The policy: the standard's clauses as rules (`policy/standard.toml` is the
//! built-in default), with per-app overrides. Invalid policies are refused
//! at load with the rule and the reason.

use serde::{Deserialize, Serialize};
use std::fmt;
use vitals_i18n::{Lang, Msg};

/// What a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    CrashRatePerSession,
    CrashRatePerUser,
    CrashRatePerModel,
    CrashGroupUserShare,
    CrashGroupRegressions,
    UrgentTimeToFix,
    DeviceClassCoverage,
    OsVersionCoverage,
    ScreenCoverage,
    NetworkCoverage,
    HarmonyosCoverage,
    PackageSize,
    InstallTime,
    ColdStart,
    Cpu,
    Memory,
    ServerLatency,
    RequestErrorRate,
    ThirdPartyInitShare,
    UntrustedShare,
    ReleaseNotes,
    UpgradePromptShare,
    MinVersionNotice,
    HotUpdateSize,
    HotUpdateDelivery,
    HotUpdateSuccess,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::CrashRatePerSession => "crash_rate_per_session",
            Metric::CrashRatePerUser => "crash_rate_per_user",
            Metric::CrashRatePerModel => "crash_rate_per_model",
            Metric::CrashGroupUserShare => "crash_group_user_share",
            Metric::CrashGroupRegressions => "crash_group_regressions",
            Metric::UrgentTimeToFix => "urgent_time_to_fix",
            Metric::DeviceClassCoverage => "device_class_coverage",
            Metric::OsVersionCoverage => "os_version_coverage",
            Metric::ScreenCoverage => "screen_coverage",
            Metric::NetworkCoverage => "network_coverage",
            Metric::HarmonyosCoverage => "harmonyos_coverage",
            Metric::PackageSize => "package_size",
            Metric::InstallTime => "install_time",
            Metric::ColdStart => "cold_start",
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::ServerLatency => "server_latency",
            Metric::RequestErrorRate => "request_error_rate",
            Metric::ThirdPartyInitShare => "third_party_init_share",
            Metric::UntrustedShare => "untrusted_share",
            Metric::ReleaseNotes => "release_notes",
            Metric::UpgradePromptShare => "upgrade_prompt_share",
            Metric::MinVersionNotice => "min_version_notice",
            Metric::HotUpdateSize => "hot_update_size",
            Metric::HotUpdateDelivery => "hot_update_delivery",
            Metric::HotUpdateSuccess => "hot_update_success",
        }
    }

    /// The clause the metric proves, and the statistics that apply to it.
    fn spec(self) -> (&'static [&'static str], &'static [Statistic]) {
        use Statistic::*;
        const PERCENTILES: &[Statistic] = &[Mean, P50, P90, P99, Max];
        match self {
            Metric::CrashRatePerSession | Metric::CrashRatePerUser | Metric::CrashRatePerModel => {
                (&["5.1a"], &[Rate])
            }
            Metric::CrashGroupUserShare => (&["5.1b"], &[Share]),
            Metric::CrashGroupRegressions => (&["5.1c"], &[Max]),
            Metric::UrgentTimeToFix => (&["5.1c"], &[Days]),
            Metric::DeviceClassCoverage => (&["5.2a"], &[Coverage]),
            Metric::OsVersionCoverage => (&["5.2b"], &[Coverage]),
            Metric::ScreenCoverage => (&["5.2c"], &[Coverage]),
            Metric::NetworkCoverage => (&["5.2d"], &[Coverage]),
            Metric::HarmonyosCoverage => (&["5.2e"], &[Coverage]),
            Metric::PackageSize => (&["5.3a"], &[Max]),
            Metric::InstallTime => (&["5.3b"], &[MeanOfModelMeans, Mean, P50, P90, P99, Max]),
            Metric::ColdStart => (&["5.3c", "5.7c"], PERCENTILES),
            Metric::Cpu => (&["5.3d"], PERCENTILES),
            Metric::Memory => (&["5.3e"], PERCENTILES),
            Metric::ServerLatency => (&["5.3f", "5.5a"], PERCENTILES),
            Metric::RequestErrorRate => (&["5.3f", "5.5a"], &[Rate]),
            Metric::ThirdPartyInitShare => (&["5.7c"], &[Share]),
            Metric::UntrustedShare => (&["4.2.3"], &[Rate]),
            Metric::ReleaseNotes => (&["5.4a"], &[Present]),
            Metric::UpgradePromptShare => (&["5.4b"], &[Rate]),
            Metric::MinVersionNotice => (&["5.4c"], &[Days]),
            Metric::HotUpdateSize => (&["5.4d"], &[Max]),
            Metric::HotUpdateDelivery | Metric::HotUpdateSuccess => (&["5.4e"], &[Rate]),
        }
    }
}

/// How the metric's observations are summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Rate,
    Share,
    Mean,
    MeanOfModelMeans,
    P50,
    P90,
    P99,
    Max,
    Coverage,
    Present,
    Days,
}

impl Statistic {
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Rate => "rate",
            Statistic::Share => "share",
            Statistic::Mean => "mean",
            Statistic::MeanOfModelMeans => "mean_of_model_means",
            Statistic::P50 => "p50",
            Statistic::P90 => "p90",
            Statistic::P99 => "p99",
            Statistic::Max => "max",
            Statistic::Coverage => "coverage",
            Statistic::Present => "present",
            Statistic::Days => "days",
        }
    }

    /// The quantile of a percentile statistic.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Statistic::P50 => Some(0.5),
            Statistic::P90 => Some(0.9),
            Statistic::P99 => Some(0.99),
            _ => None,
        }
    }
}

pub use crate::judge::{Bound, Direction, Semantics};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Blocker,
    Urgent,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Blocker => "blocker",
            Severity::Urgent => "urgent",
        }
    }

    /// Whether a failure makes the release no-go.
    pub fn blocks(self) -> bool {
        self != Severity::Warning
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub clause: String,
    pub metric: Metric,
    pub statistic: Statistic,
    pub threshold: f64,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub min_sample: u64,
    pub severity: Severity,
    /// Service category for `server_latency` (trade, quote, bus, other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `ensure` or `exceed`; by default what the clause's wording says
    /// ([`clause_semantics`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Semantics>,
    /// Whether the threshold itself passes; by default as the clause words
    /// it ([`clause_bound`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<Bound>,
}

/// The verdict semantics a clause's wording asks for: 保证 / 应保证
/// ("ensure") in 5.1a, 5.3d and 5.3e; every other clause is judged on the
/// measured value (`docs/METRICS.md`).
pub fn clause_semantics(clause: &str) -> Semantics {
    match clause {
        "5.1a" | "5.3d" | "5.3e" => Semantics::Ensure,
        _ => Semantics::Exceed,
    }
}

/// Whether the threshold itself passes, as the clause words it: 5.1a says
/// "below 0.05 %" (之下), so 0.05 % fails; "within" (以内) and "more than"
/// (超过, 5.1b) let the threshold pass.
pub fn clause_bound(clause: &str) -> Bound {
    match clause {
        "5.1a" => Bound::Exclusive,
        _ => Bound::Inclusive,
    }
}

fn yes() -> bool {
    true
}

impl Rule {
    /// The rule's threshold with its reading, for [`crate::judge`].
    pub fn limit(&self) -> crate::judge::Limit {
        crate::judge::Limit {
            threshold: self.threshold,
            direction: self.direction,
            bound: self.bound.unwrap_or_else(|| clause_bound(&self.clause)),
            semantics: self
                .verdict
                .unwrap_or_else(|| clause_semantics(&self.clause)),
            min_sample: self.min_sample,
        }
    }

    /// Stable id: `5.3f/server_latency/trade`.
    pub fn id(&self) -> String {
        match &self.category {
            Some(c) => format!("{}/{}/{c}", self.clause, self.metric.as_str()),
            None => format!("{}/{}", self.clause, self.metric.as_str()),
        }
    }
}

/// A per-app change of one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub app: String,
    pub clause: String,
    #[serde(default)]
    pub metric: Option<Metric>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub statistic: Option<Statistic>,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub min_sample: Option<u64>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub verdict: Option<Semantics>,
}

/// A whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Leave sessions and samples from rooted or jailbroken devices and
    /// emulators out of every verdict (4.2.3); their share is still shown.
    #[serde(default)]
    pub exclude_untrusted: bool,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    #[serde(default, rename = "override")]
    pub overrides: Vec<Override>,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is not valid TOML: {0}")]
    Syntax(String),
    #[error("rule {rule}: {reason}")]
    Rule { rule: String, reason: PolicyReason },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyReason {
    ClauseMismatch { expected: String },
    Statistic { allowed: String },
    Threshold,
    Category,
    NoSuchRule,
    Duplicate,
}

impl fmt::Display for PolicyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Lang::En))
    }
}

impl PolicyReason {
    pub fn render(&self, lang: Lang) -> String {
        match self {
            PolicyReason::ClauseMismatch { expected } => {
                Msg::PolicyClauseMismatch.render(lang, &[("expected", expected)])
            }
            PolicyReason::Statistic { allowed } => {
                Msg::PolicyStatistic.render(lang, &[("allowed", allowed)])
            }
            PolicyReason::Threshold => Msg::PolicyThreshold.text(lang),
            PolicyReason::Category => Msg::PolicyCategory.text(lang),
            PolicyReason::NoSuchRule => Msg::PolicyNoSuchRule.text(lang),
            PolicyReason::Duplicate => Msg::PolicyDuplicate.text(lang),
        }
    }
}

impl PolicyError {
    pub fn render(&self, lang: Lang) -> String {
        match self {
            PolicyError::Syntax(e) => Msg::PolicySyntax.render(lang, &[("reason", e)]),
            PolicyError::Rule { rule, reason } => {
                Msg::PolicyInvalid.render(lang, &[("rule", rule), ("reason", &reason.render(lang))])
            }
        }
    }
}

/// The built-in policy text.
pub const STANDARD: &str = include_str!("../policy/standard.toml");

impl Policy {
    /// The standard itself.
    pub fn standard() -> Policy {
        // The built-in text is checked by a unit test; failing to parse it
        // is a build defect.
        Policy::parse(STANDARD).expect("built-in policy is valid")
    }

    /// Parses and validates a policy. A file with no `[[rule]]` entries
    /// keeps the standard's rules and applies its overrides to them.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let mut p: Policy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        if p.rules.is_empty() {
            let base: Policy =
                toml::from_str(STANDARD).map_err(|e| PolicyError::Syntax(e.to_string()))?;
            p.rules = base.rules;
        }
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let mut seen = std::collections::HashSet::new();
        for r in &self.rules {
            let err = |reason| PolicyError::Rule {
                rule: r.id(),
                reason,
            };
            let (clauses, stats) = r.metric.spec();
            if !clauses.contains(&r.clause.as_str()) {
                return Err(err(PolicyReason::ClauseMismatch {
                    expected: clauses.join(", "),
                }));
            }
            if !stats.contains(&r.statistic) {
                let allowed = stats
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(err(PolicyReason::Statistic { allowed }));
            }
            if !r.threshold.is_finite() || r.threshold < 0.0 {
                return Err(err(PolicyReason::Threshold));
            }
            let needs_category =
                matches!(r.metric, Metric::ServerLatency | Metric::RequestErrorRate);
            let ok_category = matches!(
                r.category.as_deref(),
                Some("trade" | "quote" | "bus" | "other")
            );
            if needs_category != ok_category || (!needs_category && r.category.is_some()) {
                return Err(err(PolicyReason::Category));
            }
            if !seen.insert(r.id()) {
                return Err(err(PolicyReason::Duplicate));
            }
        }
        for o in &self.overrides {
            let id = format!("{}@{}", o.clause, o.app);
            if self.matching(o).next().is_none() {
                return Err(PolicyError::Rule {
                    rule: id,
                    reason: PolicyReason::NoSuchRule,
                });
            }
            if o.threshold.is_some_and(|t| !t.is_finite() || t < 0.0) {
                return Err(PolicyError::Rule {
                    rule: id,
                    reason: PolicyReason::Threshold,
                });
            }
        }
        // Every override applied must still give valid rules.
        for o in &self.overrides {
            let mut copy = self.clone();
            copy.overrides.clear();
            copy.rules = self.rules_for(&o.app);
            copy.validate()?;
        }
        Ok(())
    }

    fn matching<'a>(&'a self, o: &'a Override) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| {
            r.clause == o.clause
                && o.metric.is_none_or(|m| m == r.metric)
                && (o.category.is_none() || o.category == r.category)
        })
    }

    /// The effective rules for one app (overrides applied).
    pub fn rules_for(&self, app: &str) -> Vec<Rule> {
        let mut rules = self.rules.clone();
        for o in self.overrides.iter().filter(|o| o.app == app) {
            for r in rules.iter_mut().filter(|r| {
                r.clause == o.clause
                    && o.metric.is_none_or(|m| m == r.metric)
                    && (o.category.is_none() || o.category == r.category)
            }) {
                if let Some(v) = o.statistic {
                    r.statistic = v;
                }
                if let Some(v) = o.threshold {
                    r.threshold = v;
                }
                if let Some(v) = o.min_sample {
                    r.min_sample = v;
                }
                if let Some(v) = o.severity {
                    r.severity = v;
                }
                if let Some(v) = o.enabled {
                    r.enabled = v;
                }
                if let Some(v) = o.verdict {
                    r.verdict = Some(v);
                }
            }
        }
        rules.retain(|r| r.enabled);
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_is_a_valid_policy_with_every_clause() {
        let p = Policy::standard();
        let clauses: std::collections::BTreeSet<_> =
            p.rules.iter().map(|r| r.clause.as_str()).collect();
        for c in [
            "5.1a", "5.1b", "5.1c", "5.2a", "5.2b", "5.2c", "5.2d", "5.2e", "5.3a", "5.3b", "5.3c",
            "5.3d", "5.3e", "5.3f", "5.4a", "5.4b", "5.4c", "5.4d", "5.4e",
        ] {
            assert!(clauses.contains(c), "{c} missing");
        }
    }

    #[test]
    fn overrides_apply_per_app() {
        let p = Policy::parse(
            r#"
            [[override]]
            app = "trade"
            clause = "5.3c"
            threshold = 1500
            statistic = "p50"
            [[override]]
            app = "trade"
            clause = "5.3f"
            category = "quote"
            enabled = false
            "#,
        )
        .unwrap();
        let trade = p.rules_for("trade");
        let cold = trade
            .iter()
            .find(|r| r.metric == Metric::ColdStart)
            .unwrap();
        assert_eq!((cold.threshold, cold.statistic), (1500.0, Statistic::P50));
        assert!(!trade.iter().any(|r| r.category.as_deref() == Some("quote")));
        let other = p.rules_for("other");
        assert_eq!(
            other
                .iter()
                .find(|r| r.metric == Metric::ColdStart)
                .unwrap()
                .threshold,
            2000.0
        );
    }

    #[test]
    fn invalid_policies_name_rule_and_reason() {
        let e = Policy::parse(
            r#"[[rule]]
            clause = "5.3c"
            metric = "cold_start"
            statistic = "rate"
            threshold = 2000
            severity = "blocker""#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rule 5.3c/cold_start: the statistic does not apply to this metric; use one of: mean, p50, p90, p99, max"
        );
        assert!(e.render(Lang::ZhCn).contains("5.3c/cold_start"));
        let e = Policy::parse(
            r#"[[rule]]
            clause = "5.1b"
            metric = "cold_start"
            statistic = "p90"
            threshold = 2000
            severity = "blocker""#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("5.3c"), "{e}");
        let e = Policy::parse("[[override]]\napp = \"a\"\nclause = \"9.9z\"\n").unwrap_err();
        assert!(e.to_string().starts_with("rule 9.9z@a"), "{e}");
        let e = Policy::parse("[[override]]\napp = \"a\"\nclause = \"5.3c\"\nthreshold = -1\n")
            .unwrap_err();
        assert!(e.to_string().contains("threshold"), "{e}");
        assert!(matches!(
            Policy::parse("rule = 3"),
            Err(PolicyError::Syntax(_))
        ));
    }
}
