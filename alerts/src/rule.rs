//! Alert rules (TOML `[[alert]]` entries or the API): a threshold on an
//! analyzer statistic by clause id — or `site_down` — with evaluation
//! window, minimum sample, for-duration, re-notify interval, recovery
//! notice, cron cadence, recipients and an optional emergency action.

use crate::AlertError;
use serde::{Deserialize, Serialize};
use vitals_analyzer::policy::{Direction, Metric, Policy, Rule, Severity, Statistic};
use vitals_control::{Action, Mode};

/// A webhook target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `json` (generic), `wecom` or `dingtalk` robot format.
    #[serde(default = "json_kind")]
    pub kind: String,
    pub url: String,
}

fn json_kind() -> String {
    "json".into()
}

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleAction {
    /// `automatic` or `approval` (a second operator approves).
    pub mode: Mode,
    pub action: Action,
    /// For `activate_emergency`: limit the directive to the breaching
    /// release (default true).
    #[serde(default = "yes")]
    pub scope_to_release: bool,
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub id: String,
    pub app: String,
    /// Clause id, e.g. `5.1a`; carried in every subject line.
    pub clause: String,
    /// An analyzer metric (`crash_rate_per_session`, `crash_group_user_share`,
    /// `cold_start`, `cpu`, `memory`, `server_latency`, `hot_update_delivery`
    /// …) or `site_down`.
    pub metric: String,
    #[serde(default)]
    pub statistic: Option<Statistic>,
    #[serde(default)]
    pub threshold: f64,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub category: Option<String>,
    /// Evaluation window ending at the evaluation time.
    #[serde(default = "hour")]
    pub window_secs: u32,
    #[serde(default)]
    pub min_sample: u64,
    /// How long a breach must last before the alert fires.
    #[serde(default)]
    pub for_secs: u32,
    /// Re-notify while firing, at most this often.
    #[serde(default = "hour")]
    pub renotify_secs: u32,
    /// Send a notice when the breach ends.
    #[serde(default = "yes")]
    pub recovery: bool,
    /// Evaluation cadence (cron with seconds, in the configured time zone).
    #[serde(default = "every_minute")]
    pub schedule: String,
    /// Releases to watch; empty = every release with data in the window.
    #[serde(default)]
    pub releases: Vec<String>,
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    #[serde(default)]
    pub action: Option<RuleAction>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

fn hour() -> u32 {
    3600
}

fn every_minute() -> String {
    "0 * * * * *".into()
}

/// A rules file: `[[alert]]` entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(default, rename = "alert")]
    pub alerts: Vec<AlertRule>,
}

/// The analyzer statistic behind a rule.
#[derive(Debug, Clone)]
pub enum Target {
    Analyzer(Rule),
    SiteDown,
}

impl AlertRule {
    /// Checks the rule (the analyzer's policy validation for statistic,
    /// clause and threshold; the cron expression) and returns its target.
    pub fn target(&self) -> Result<Target, AlertError> {
        let bad = |reason: String| AlertError::Rule {
            rule: self.id.clone(),
            reason,
        };
        if self.id.is_empty() || self.app.is_empty() {
            return Err(bad("id and app are required".into()));
        }
        crate::schedule::Cron::parse(&self.schedule).map_err(|e| bad(format!("schedule: {e}")))?;
        if self.metric == "site_down" {
            return Ok(Target::SiteDown);
        }
        let metric: Metric = serde_json::from_value(serde_json::Value::String(self.metric.clone()))
            .map_err(|_| bad(format!("unknown metric {}", self.metric)))?;
        let rule = Rule {
            clause: self.clause.clone(),
            metric,
            statistic: self.statistic.unwrap_or(Statistic::Rate),
            threshold: self.threshold,
            direction: self.direction,
            min_sample: self.min_sample,
            severity: Severity::Urgent,
            category: self.category.clone(),
            enabled: true,
            verdict: None,
            bound: None,
        };
        // One-rule policy: the analyzer's own validation.
        let text = toml::to_string(&Policy {
            rules: vec![rule.clone()],
            ..Default::default()
        })
        .map_err(|e| bad(e.to_string()))?;
        Policy::parse(&text).map_err(|e| bad(e.render(vitals_i18n::Lang::En)))?;
        Ok(Target::Analyzer(rule))
    }
}

impl AlertRule {
    /// Checks the rule's recipients: every webhook against the allow-list
    /// (statically: scheme, host, IP literals; names are resolved and
    /// checked again at each delivery) and every e-mail address's shape.
    pub fn check_outbound(
        &self,
        allow: &crate::outbound::WebhookSettings,
    ) -> Result<(), AlertError> {
        let refused = |refusal| AlertError::Refused {
            rule: self.id.clone(),
            refusal,
        };
        for e in &self.email {
            crate::outbound::check_email(e).map_err(refused)?;
        }
        for w in &self.webhooks {
            if !matches!(w.kind.as_str(), "json" | "wecom" | "dingtalk") {
                return Err(AlertError::Rule {
                    rule: self.id.clone(),
                    reason: format!("webhook kind {} (json, wecom or dingtalk)", w.kind),
                });
            }
            crate::outbound::check_url(&w.url, allow).map_err(refused)?;
        }
        Ok(())
    }
}

/// Parses and checks a rules file.
pub fn parse_rules(text: &str) -> Result<Vec<AlertRule>, AlertError> {
    let f: RulesFile = toml::from_str(text).map_err(|e| AlertError::Rule {
        rule: "-".into(),
        reason: e.to_string(),
    })?;
    for r in &f.alerts {
        r.target()?;
    }
    Ok(f.alerts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_are_checked_by_the_analyzer_policy() {
        let ok = r#"
[[alert]]
id = "crash-spike"
app = "zq"
clause = "5.1a"
metric = "crash_rate_per_session"
statistic = "rate"
threshold = 0.0005
min_sample = 200
email = ["ops@example.cn"]
[alert.action]
mode = "automatic"
action = { type = "set_kill_switch", feature = "trade", enabled = false }
"#;
        let rules = parse_rules(ok).unwrap();
        assert_eq!(rules[0].window_secs, 3600);
        assert!(matches!(rules[0].target().unwrap(), Target::Analyzer(_)));
        let wrong_clause = ok.replace("5.1a", "5.3c");
        assert!(parse_rules(&wrong_clause).is_err());
        let bad_cron = ok.replace(
            "min_sample = 200",
            "min_sample = 200\nschedule = \"every now and then\"",
        );
        assert!(parse_rules(&bad_cron).is_err());
    }
}
