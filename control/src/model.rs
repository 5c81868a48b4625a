//! What operators configure per app, as stored objects (`ops_objects`,
//! one kind per type), with the checks that guard the clauses.

use crate::error::ControlError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Object kinds in the control plane.
pub mod kind {
    pub const EMERGENCY: &str = "emergency";
    pub const SITE: &str = "site";
    pub const SITE_HEALTH: &str = "site_health";
    pub const ROLLOUT: &str = "rollout";
    pub const KILL_SWITCH: &str = "kill_switch";
    pub const CHANNEL: &str = "channel";
    pub const MIN_VERSION: &str = "min_version";
}

/// A text for users: plain, or per language (`zh-CN`, `en`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Plain(String),
    ByLang(BTreeMap<String, String>),
}

impl Default for Text {
    fn default() -> Self {
        Text::Plain(String::new())
    }
}

impl Text {
    pub fn is_empty(&self) -> bool {
        match self {
            Text::Plain(s) => s.is_empty(),
            Text::ByLang(m) => m.values().all(String::is_empty),
        }
    }
}

/// Versions a directive or rollout applies to: `min <= v < max_exclusive`;
/// either end open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<String>,
}

impl VersionRange {
    pub fn contains(&self, v: &str) -> bool {
        self.min
            .as_deref()
            .is_none_or(|m| compare_versions(v, m).is_ge())
            && self
                .below
                .as_deref()
                .is_none_or(|b| compare_versions(v, b).is_lt())
    }
}

/// Numeric, part-by-part version order (`5.10.0` > `5.9.1`), as the SDK.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (x, y) = (parts(a), parts(b));
    for i in 0..x.len().max(y.len()) {
        let o = x.get(i).unwrap_or(&0).cmp(y.get(i).unwrap_or(&0));
        if o.is_ne() {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

fn platform_matches(rule: &str, platform: &str) -> bool {
    rule.is_empty() || rule == "*" || rule == platform
}

/// An emergency directive (5.5c): switch clients of (platform, versions) to
/// an emergency version that keeps trading working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emergency {
    /// `*` or one platform.
    #[serde(default = "any")]
    pub platform: String,
    #[serde(default)]
    pub versions: VersionRange,
    /// `notice`, `degrade` (turn off `features`) or `block`.
    #[serde(default = "notice")]
    pub action: String,
    pub target_version: String,
    pub url: String,
    pub reason: Text,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub features: Vec<String>,
}

fn any() -> String {
    "*".into()
}

fn notice() -> String {
    "notice".into()
}

impl Emergency {
    pub fn applies(&self, platform: &str, version: &str) -> bool {
        platform_matches(&self.platform, platform) && self.versions.contains(version)
    }

    pub fn check(&self) -> Result<(), ControlError> {
        if !matches!(self.action.as_str(), "notice" | "degrade" | "block") {
            return Err(ControlError::invalid("action", "notice, degrade or block"));
        }
        if self.target_version.is_empty() || self.url.is_empty() {
            return Err(ControlError::invalid(
                "target_version",
                "target version and url are required",
            ));
        }
        Ok(())
    }
}

/// One address of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Base URL, `https://203.0.113.10:443` or `https://[2001:db8::10]`.
    pub url: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
}

/// How the platform probes a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// `http` (GET `path`, 2xx/3xx is up) or `tcp` (connect).
    #[serde(default = "http")]
    pub kind: String,
    #[serde(default = "slash")]
    pub path: String,
}

fn http() -> String {
    "http".into()
}

fn slash() -> String {
    "/".into()
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            kind: http(),
            path: slash(),
        }
    }
}

/// A server site (5.5a, 6.2b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub id: String,
    /// `trade`, `quote`, `bus` or `other`.
    pub category: String,
    pub addresses: Vec<Address>,
    #[serde(default = "hundred")]
    pub weight: u32,
    #[serde(default)]
    pub probe: Probe,
    /// Drained by hand: clients are told to use it last.
    #[serde(default)]
    pub drained: bool,
}

fn hundred() -> u32 {
    100
}

impl Site {
    /// 6.2b: both families, never IPv6 only; every URL's host matches its
    /// family.
    pub fn check(&self) -> Result<(), ControlError> {
        if !matches!(self.category.as_str(), "trade" | "quote" | "bus" | "other") {
            return Err(ControlError::invalid(
                "category",
                "trade, quote, bus or other",
            ));
        }
        let has = |f: &str| self.addresses.iter().any(|a| a.family == f);
        if !has("ipv4") || !has("ipv6") {
            return Err(ControlError::DualStack(self.id.clone()));
        }
        for a in &self.addresses {
            let host = host_of(&a.url).unwrap_or_default();
            let v6 = host.starts_with('[');
            if a.family != "ipv4" && a.family != "ipv6" || (a.family == "ipv6") != v6 {
                return Err(ControlError::invalid(
                    "addresses",
                    &format!("{} is not an {} address", a.url, a.family),
                ));
            }
        }
        if !matches!(self.probe.kind.as_str(), "http" | "tcp") {
            return Err(ControlError::invalid("probe.kind", "http or tcp"));
        }
        Ok(())
    }
}

/// `host[:port]` of a URL (with brackets for IPv6).
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let end = rest.find('/').unwrap_or(rest.len());
    let hp = &rest[..end];
    if hp.is_empty() { None } else { Some(hp) }
}

/// Health of a site, kept by the prober.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteHealth {
    /// `up` or `down`.
    pub status: String,
    pub failures: u32,
    pub successes: u32,
    pub last_error: Option<String>,
    pub last_probe_at: i64,
    pub since: i64,
    /// Client-reported over the telemetry window.
    pub client_requests: u64,
    pub client_error_rate: Option<f64>,
    pub client_mean_ms: Option<f64>,
}

/// A package of a hot update or mini-program version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

/// Why an admin let an oversized package through (5.4d).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeOverride {
    pub by: String,
    pub reason: String,
}

/// A percentage rollout (5.5b, 6.4.1e): hot update, mini-program package or
/// feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    pub id: String,
    /// `hot_update`, `mini_program` or `feature`.
    pub kind: String,
    #[serde(default = "any")]
    pub platform: String,
    #[serde(default)]
    pub versions: VersionRange,
    #[serde(default)]
    pub package: Option<Package>,
    /// 0-100.
    pub percent: f64,
    /// `active`, `paused` or `rolled_back`. Deleted rollouts are removed.
    #[serde(default = "active")]
    pub state: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub size_override: Option<SizeOverride>,
}

fn active() -> String {
    "active".into()
}

impl Rollout {
    pub fn applies(&self, platform: &str, version: &str) -> bool {
        platform_matches(&self.platform, platform) && self.versions.contains(version)
    }

    /// Checks the shape and 5.4d's 1 MB cap (unless overridden with a reason
    /// by an admin: the caller checks the role).
    pub fn check(&self, max_package_bytes: u64) -> Result<(), ControlError> {
        if !matches!(
            self.kind.as_str(),
            "hot_update" | "mini_program" | "feature"
        ) {
            return Err(ControlError::invalid(
                "kind",
                "hot_update, mini_program or feature",
            ));
        }
        if !(0.0..=100.0).contains(&self.percent) || !self.percent.is_finite() {
            return Err(ControlError::invalid("percent", "0 to 100"));
        }
        if !matches!(self.state.as_str(), "active" | "paused" | "rolled_back") {
            return Err(ControlError::invalid(
                "state",
                "active, paused or rolled_back",
            ));
        }
        match &self.package {
            None if self.kind != "feature" => {
                return Err(ControlError::invalid(
                    "package",
                    "url, size and sha256 are required",
                ));
            }
            Some(p) => {
                if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(ControlError::invalid("package.sha256", "64 hex digits"));
                }
                if p.size > max_package_bytes {
                    match &self.size_override {
                        Some(o) if !o.reason.trim().is_empty() => {}
                        _ => {
                            return Err(ControlError::PackageTooLarge {
                                size: p.size,
                                limit: max_package_bytes,
                            });
                        }
                    }
                }
            }
            None => {}
        }
        Ok(())
    }
}

/// The version channel of a platform (5.4a, 5.4b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub latest_version: String,
    #[serde(default)]
    pub build: String,
    pub notes: Text,
    pub store_url: String,
    /// Prompt users below the latest version to upgrade.
    #[serde(default = "yes")]
    pub prompt: bool,
}

fn yes() -> bool {
    true
}

/// A minimum-version restriction of a platform (5.4c).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinVersionRule {
    pub version: String,
    #[serde(default)]
    pub build: String,
    /// When users were told (Unix seconds).
    pub announced_at: i64,
    /// When it is enforced (Unix seconds).
    pub enforce_at: i64,
    #[serde(default)]
    pub message: Text,
    #[serde(default)]
    pub url: String,
}

impl MinVersionRule {
    /// 5.4c: enforcement needs `notice_days` of notice.
    pub fn check(&self, notice_days: u32) -> Result<(), ControlError> {
        let needed = i64::from(notice_days) * 86_400;
        if self.enforce_at - self.announced_at < needed {
            return Err(ControlError::NoticeTooShort {
                days: notice_days,
                given_days: (self.enforce_at - self.announced_at) / 86_400,
            });
        }
        Ok(())
    }
}

/// A kill switch: a feature turned on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitch {
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_ranges() {
        let r = VersionRange {
            min: Some("2.0".into()),
            below: Some("2.1.0".into()),
        };
        assert!(r.contains("2.0.0") && r.contains("2.0.9"));
        assert!(!r.contains("2.1") && !r.contains("1.9.9"));
        assert!(compare_versions("5.10.0", "5.9.1").is_gt());
    }

    #[test]
    fn ipv6_only_sites_are_refused() {
        let mut s = Site {
            id: "s".into(),
            category: "trade".into(),
            addresses: vec![Address {
                url: "https://[2001:db8::1]".into(),
                family: "ipv6".into(),
            }],
            weight: 100,
            probe: Probe::default(),
            drained: false,
        };
        assert!(matches!(s.check(), Err(ControlError::DualStack(_))));
        s.addresses.push(Address {
            url: "https://203.0.113.1".into(),
            family: "ipv4".into(),
        });
        s.check().unwrap();
        s.addresses[1].family = "ipv6".into();
        assert!(s.check().is_err());
    }

    #[test]
    fn packages_over_1mb_need_an_override_with_reason() {
        let mut r = Rollout {
            id: "p".into(),
            kind: "hot_update".into(),
            platform: "*".into(),
            versions: VersionRange::default(),
            package: Some(Package {
                url: "https://cdn/p.zip".into(),
                size: 2 << 20,
                sha256: "a".repeat(64),
            }),
            percent: 10.0,
            state: "active".into(),
            value: None,
            size_override: None,
        };
        assert!(matches!(
            r.check(1 << 20),
            Err(ControlError::PackageTooLarge { .. })
        ));
        r.size_override = Some(SizeOverride {
            by: "root".into(),
            reason: "font bundle, approved by CTO".into(),
        });
        r.check(1 << 20).unwrap();
    }

    #[test]
    fn min_version_needs_notice() {
        let m = MinVersionRule {
            version: "5.0".into(),
            build: String::new(),
            announced_at: 0,
            enforce_at: 3 * 86_400,
            message: Text::default(),
            url: String::new(),
        };
        assert!(matches!(
            m.check(7),
            Err(ControlError::NoticeTooShort { .. })
        ));
        m.check(3).unwrap();
    }
}
