//! The client config document (docs/sdk-js.md, "Client config"): what one
//! client — (app, platform, version, build, install) — is told, as ASCII
//! JSON bytes that are signed exactly as sent.
//!
//! The body is deterministic for the same state and time window:
//! `issued_at` is the start of the current refresh window, so polling
//! clients get the same bytes, the same ETag and a `304` until something
//! changes (`seq` increases with every change clients see).

use crate::ControlSettings;
use crate::bucket::in_rollout;
use crate::error::ControlError;
use crate::model::{
    Channel, Emergency, KillSwitch, MinVersionRule, Rollout, Site, SiteHealth, Text,
    compare_versions, kind,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use vitals_store::ControlPlane;

/// Who asks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientQuery {
    pub app: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub build: String,
    /// When given, only the rollouts this install is in are listed (marked
    /// `"in": true`); without it every rollout is listed and the SDK buckets
    /// with the same formula.
    #[serde(default)]
    pub install_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EmergencyOut {
    pub id: String,
    pub action: String,
    pub message: Text,
    pub url: String,
    pub features: Vec<String>,
    pub target_version: String,
    pub mandatory: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct MinVersionOut {
    pub version: String,
    pub build: String,
    /// `warn` until `enforce_at`, `block` from then on.
    pub action: &'static str,
    pub message: Text,
    pub url: String,
    pub announced_at: i64,
    pub enforce_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LatestOut {
    pub version: String,
    pub build: String,
    pub notes: Text,
    pub url: String,
    /// Whether this client should be prompted to upgrade (5.4b).
    pub prompt: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiteOut {
    pub id: String,
    pub category: String,
    pub probe: String,
    pub weight: u32,
    /// `up`, `down` (demoted by probes or client reports) or `drained`.
    pub health: String,
    pub addresses: Vec<crate::model::Address>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageOut {
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RolloutOut {
    pub id: String,
    pub kind: String,
    pub percent: f64,
    /// `active`, `paused` (no new installs start it) or `rolled_back`
    /// (installs go back to the shipped version; percent is 0).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    pub member: Option<bool>,
}

/// The document. Field order is the wire order.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigBody {
    pub v: u32,
    pub app_id: String,
    pub seq: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub key_id: String,
    pub emergency: Option<EmergencyOut>,
    pub min_version: Option<MinVersionOut>,
    pub latest: Option<LatestOut>,
    pub sites: Vec<SiteOut>,
    pub rollouts: Vec<RolloutOut>,
    pub kill_switches: BTreeMap<String, bool>,
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    serde_json::from_value(v.clone()).ok()
}

/// Objects of a kind for an app, parsed (unparseable ones skipped).
pub fn list<T: serde::de::DeserializeOwned>(
    cp: &ControlPlane,
    app: &str,
    k: &str,
) -> Result<Vec<(String, T)>, ControlError> {
    Ok(cp
        .objects(Some(app), k)?
        .into_iter()
        .filter_map(|o| parse(&o.body).map(|t| (o.id, t)))
        .collect())
}

/// Per-platform object: the platform's own, else `*`.
fn for_platform<T: serde::de::DeserializeOwned>(
    cp: &ControlPlane,
    app: &str,
    k: &str,
    platform: &str,
) -> Result<Option<T>, ControlError> {
    for id in [platform, "*"] {
        if let Some(o) = cp.object(app, k, id)?
            && let Some(t) = parse(&o.body)
        {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Builds the config for one client at `now`.
pub fn build(
    cp: &ControlPlane,
    s: &ControlSettings,
    q: &ClientQuery,
    key_id: &str,
    now: i64,
) -> Result<ConfigBody, ControlError> {
    let (seq, _) = cp.config_seq(&q.app)?;
    let refresh = i64::from(s.config_refresh_secs.max(1));
    let issued_at = now - now.rem_euclid(refresh);
    let emergency = list::<Emergency>(cp, &q.app, kind::EMERGENCY)?
        .into_iter()
        .filter(|(_, e)| e.applies(&q.platform, &q.version))
        // The most severe directive wins: block > degrade > notice.
        .max_by_key(|(id, e)| {
            let rank = match e.action.as_str() {
                "block" => 3,
                "degrade" => 2,
                _ => 1,
            };
            (rank, std::cmp::Reverse(id.clone()))
        })
        .map(|(id, e)| EmergencyOut {
            id,
            action: e.action,
            message: e.reason,
            url: e.url,
            features: e.features,
            target_version: e.target_version,
            mandatory: e.mandatory,
        });
    let min_version = for_platform::<MinVersionRule>(cp, &q.app, kind::MIN_VERSION, &q.platform)?
        .map(|m| MinVersionOut {
            action: if now >= m.enforce_at { "block" } else { "warn" },
            version: m.version,
            build: m.build,
            message: m.message,
            url: m.url,
            announced_at: m.announced_at,
            enforce_at: m.enforce_at,
        });
    let latest = for_platform::<Channel>(cp, &q.app, kind::CHANNEL, &q.platform)?.map(|c| {
        let behind =
            !q.version.is_empty() && compare_versions(&q.version, &c.latest_version).is_lt();
        LatestOut {
            prompt: c.prompt && behind,
            version: c.latest_version,
            build: c.build,
            notes: c.notes,
            url: c.store_url,
        }
    });
    let health: BTreeMap<String, SiteHealth> = list::<SiteHealth>(cp, &q.app, kind::SITE_HEALTH)?
        .into_iter()
        .collect();
    let mut sites: Vec<SiteOut> = list::<Site>(cp, &q.app, kind::SITE)?
        .into_iter()
        .map(|(_, site)| {
            let h = if site.drained {
                "drained".to_string()
            } else {
                health
                    .get(&site.id)
                    .map(|h| h.status.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "up".into())
            };
            SiteOut {
                id: site.id,
                category: site.category,
                probe: site.probe.path,
                weight: site.weight,
                health: h,
                addresses: site.addresses,
            }
        })
        .collect();
    // Healthy sites first, by weight; demoted and drained ones stay listed
    // last, as a fallback (5.5a).
    sites.sort_by(|a, b| {
        (a.health != "up")
            .cmp(&(b.health != "up"))
            .then(b.weight.cmp(&a.weight))
            .then(a.id.cmp(&b.id))
    });
    let rollouts = list::<Rollout>(cp, &q.app, kind::ROLLOUT)?
        .into_iter()
        .filter(|(_, r)| r.applies(&q.platform, &q.version))
        .filter_map(|(_, r)| {
            let percent = if r.state == "rolled_back" {
                0.0
            } else {
                r.percent
            };
            let member = q
                .install_id
                .as_deref()
                .map(|i| in_rollout(&r.id, i, percent));
            if member == Some(false) && r.state != "rolled_back" {
                return None;
            }
            Some(RolloutOut {
                id: r.id,
                kind: r.kind,
                percent,
                state: r.state,
                package: r.package.map(|p| PackageOut {
                    url: p.url,
                    size: p.size,
                    sha256: p.sha256,
                }),
                value: r.value,
                member,
            })
        })
        .collect();
    let kill_switches = list::<KillSwitch>(cp, &q.app, kind::KILL_SWITCH)?
        .into_iter()
        .map(|(id, k)| (id, k.enabled))
        .collect();
    Ok(ConfigBody {
        v: 1,
        app_id: q.app.clone(),
        seq,
        issued_at,
        expires_at: issued_at + i64::from(s.config_ttl_secs),
        key_id: key_id.to_string(),
        emergency,
        min_version,
        latest,
        sites,
        rollouts,
        kill_switches,
    })
}

/// ASCII-only JSON (non-ASCII escaped as `\uXXXX`), so every runtime stores
/// and re-verifies exactly the signed bytes.
pub fn to_ascii_json(v: &impl Serialize) -> Result<Vec<u8>, ControlError> {
    let s = serde_json::to_string(v).map_err(|e| ControlError::Internal(e.to_string()))?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    Ok(out.into_bytes())
}

/// The ETag of a body.
pub fn etag(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", &hex::encode(Sha256::digest(body))[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_json_escapes_non_ascii_and_round_trips() {
        let v = serde_json::json!({"m": "交易暂停 🚨"});
        let b = to_ascii_json(&v).unwrap();
        assert!(b.iter().all(u8::is_ascii));
        let back: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(back, v);
    }
}
