//! 5.4b: were the users of an older release prompted in the app to upgrade
//! to the newest version? (`docs/METRICS.md`, "5.4b In-app upgrade
//! prompt".)
//!
//! Per platform the release runs on:
//! - the **newest version** is the highest (by [`compare_versions`]) of the
//!   app's registered releases, the version the client config tells the
//!   platform to prompt for (its `channel`, 5.4a/5.4b), the versions with
//!   sessions on that platform and the versions this release's prompts
//!   offered there; when none is newer than the release, nothing is due on
//!   that platform;
//! - it became available at its registered `released_at`, else when the
//!   channel was set to it, else its first session on the platform, else
//!   the first prompt offering it;
//! - **due**: users of the release with a session or a prompt on the
//!   platform from then on; **prompted**: those of them shown a prompt
//!   offering the newest version (an answer counts as shown), with how many
//!   accepted, declined or asked to be reminded later.
//!
//! Users are counted per platform (a user on two platforms counts on
//! each); prompts offering another version than the newest are counted
//! apart (`stale_prompts`) and never as prompted.

use crate::facts::compare_versions;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use vitals_store::query::{AggRow, Col, Cond, Dim, Filter, Measure, Query};
use vitals_store::{ControlPlane, Store, StoreError};

/// The stored kind of the SDK's `upgrade_prompt` event.
pub const KIND: &str = "upgrade_prompt";
/// Control-plane objects of the version channel per platform (id: the
/// platform or `*`), which the client config serves as `latest`.
pub const CHANNEL_KIND: &str = "channel";

/// One platform's prompts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformPrompts {
    pub platform: String,
    /// The newest version there, newer than the release.
    pub newest: String,
    /// When it became available, Unix seconds.
    pub since: u32,
    /// Users of the release on the platform active from then on.
    pub due: u64,
    /// Of them, users shown a prompt offering the newest version.
    pub prompted: u64,
    pub accepted: u64,
    pub declined: u64,
    pub later: u64,
    /// Prompts from then on that offered another version.
    pub stale_prompts: u64,
}

/// The release's upgrade prompts, per platform where a newer version
/// exists (empty: the release is the newest everywhere it runs).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UpgradePrompts {
    pub platforms: Vec<PlatformPrompts>,
}

impl UpgradePrompts {
    fn sum(&self, f: impl Fn(&PlatformPrompts) -> u64) -> u64 {
        self.platforms.iter().map(f).sum()
    }

    /// Users due a prompt.
    pub fn due(&self) -> u64 {
        self.sum(|p| p.due)
    }

    /// Users shown one offering the newest version.
    pub fn prompted(&self) -> u64 {
        self.sum(|p| p.prompted)
    }

    pub fn accepted(&self) -> u64 {
        self.sum(|p| p.accepted)
    }

    pub fn declined(&self) -> u64 {
        self.sum(|p| p.declined)
    }

    pub fn later(&self) -> u64 {
        self.sum(|p| p.later)
    }

    pub fn stale_prompts(&self) -> u64 {
        self.sum(|p| p.stale_prompts)
    }

    /// The newest version(s): `2.1.0`, or `ios 2.1.0, android 2.0.3` when
    /// the platforms differ.
    pub fn newest(&self) -> String {
        let versions: BTreeSet<&str> = self.platforms.iter().map(|p| p.newest.as_str()).collect();
        if versions.len() == 1 {
            return versions.into_iter().collect();
        }
        self.platforms
            .iter()
            .map(|p| format!("{} {}", p.platform, p.newest))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn query(filter: Filter, group_by: Vec<Dim>, measures: Vec<Measure>) -> Query {
    Query {
        filter,
        group_by,
        measures,
        ..Default::default()
    }
}

fn kinds(f: &Filter, kinds: &[&str]) -> Filter {
    Filter {
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        ..f.clone()
    }
}

/// The newest version of one platform and when it became available.
#[derive(Debug, Default)]
struct Candidates {
    /// version → first known time (Unix seconds), per source, in the
    /// order a time is taken from.
    registered: BTreeMap<String, i64>,
    channel: BTreeMap<String, i64>,
    sessions: BTreeMap<String, i64>,
    offered: BTreeMap<String, i64>,
}

impl Candidates {
    fn newest(&self, release: &str) -> Option<(String, u32)> {
        let newest = self
            .registered
            .keys()
            .chain(self.channel.keys())
            .chain(self.sessions.keys())
            .chain(self.offered.keys())
            .filter(|v| compare_versions(v, release).is_gt())
            .max_by(|a, b| compare_versions(a, b))?
            .clone();
        let since = [
            &self.registered,
            &self.channel,
            &self.sessions,
            &self.offered,
        ]
        .into_iter()
        .find_map(|m| m.get(&newest).copied())
        .unwrap_or(0);
        Some((newest, u32::try_from(since.max(0)).unwrap_or(u32::MAX)))
    }
}

fn first_ts(r: &AggRow, i: usize) -> i64 {
    r.value(i).map(|t| t as i64).unwrap_or(0)
}

/// The version the client config serves `platform` as the latest (its
/// own channel, else the `*` one), and when it was set.
fn channel(
    cp: &ControlPlane,
    app: &str,
    platform: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    for id in [platform, "*"] {
        if let Some(o) = cp.object(app, CHANNEL_KIND, id)?
            && let Some(v) = o.body.get("latest_version").and_then(|v| v.as_str())
        {
            return Ok(Some((v.to_string(), o.updated_at)));
        }
    }
    Ok(None)
}

/// Gathers the prompts of the release `f` selects (its app, version and
/// build, the scope's time range and trust filter).
pub async fn gather(
    store: &dyn Store,
    cp: &ControlPlane,
    f: &Filter,
    release: &str,
) -> Result<UpgradePrompts, StoreError> {
    // Versions with sessions per platform, app-wide: when each appeared.
    let app = Filter {
        app_id: f.app_id.clone(),
        ..Default::default()
    };
    let versions_q = query(
        kinds(&app, &["session"]),
        vec![Dim::Platform, Dim::Version],
        vec![
            Measure::Count(Some(Cond::SessionStart)),
            Measure::Min(Col::Ts, None),
        ],
    );
    // The versions this release's prompts offered, per platform.
    let offered_q = query(
        kinds(f, &[KIND]),
        vec![Dim::Platform, Dim::PatchId],
        vec![Measure::Count(None), Measure::Min(Col::Ts, None)],
    );
    let (versions, offered) =
        tokio::try_join!(store.aggregate(&versions_q), store.aggregate(&offered_q))?;
    let mut registered: BTreeMap<String, i64> = BTreeMap::new();
    for m in cp.releases(&f.app_id)? {
        let e = registered.entry(m.version).or_insert(m.released_at);
        *e = (*e).min(m.released_at);
    }
    let mut by_platform: BTreeMap<String, Candidates> = BTreeMap::new();
    // The platforms the release runs on: its own sessions and prompts.
    let mut runs_on: BTreeSet<String> = BTreeSet::new();
    for r in versions.iter().filter(|r| r.count(0) > 0) {
        let c = by_platform.entry(r.dim(0).to_string()).or_default();
        c.sessions.insert(r.dim(1).to_string(), first_ts(r, 1));
        if r.dim(1) == release {
            runs_on.insert(r.dim(0).to_string());
        }
    }
    for r in offered.iter().filter(|r| r.count(0) > 0) {
        let c = by_platform.entry(r.dim(0).to_string()).or_default();
        c.offered.insert(r.dim(1).to_string(), first_ts(r, 1));
        runs_on.insert(r.dim(0).to_string());
    }
    let mut due: Vec<(String, String, u32)> = Vec::new();
    for p in runs_on {
        let c = by_platform.entry(p.clone()).or_default();
        c.registered = registered.clone();
        c.channel = channel(cp, &f.app_id, &p)?.into_iter().collect();
        if let Some((newest, since)) = c.newest(release) {
            due.push((p, newest, since));
        }
    }
    let jobs = due.into_iter().map(|(platform, newest, since)| async move {
        let window = Filter {
            platforms: vec![platform.clone()],
            since: Some(f.since.map_or(since, |s| s.max(since))),
            ..f.clone()
        };
        let users_q = query(
            kinds(&window, &["session", KIND]),
            vec![],
            vec![Measure::Users(None)],
        );
        let stage = |s: &str| Measure::Users(Some(Cond::Stage(s.into())));
        let prompts_q = query(
            kinds(&window, &[KIND]),
            vec![Dim::PatchId],
            vec![
                Measure::Users(None),
                stage("accepted"),
                stage("declined"),
                stage("later"),
                Measure::Count(None),
            ],
        );
        let (users, prompts) =
            tokio::try_join!(store.aggregate(&users_q), store.aggregate(&prompts_q))?;
        let mut p = PlatformPrompts {
            platform,
            since,
            due: users.first().map(|r| r.count(0)).unwrap_or(0),
            prompted: 0,
            accepted: 0,
            declined: 0,
            later: 0,
            stale_prompts: 0,
            newest: String::new(),
        };
        for r in &prompts {
            if r.dim(0) == newest {
                (p.prompted, p.accepted, p.declined, p.later) =
                    (r.count(0), r.count(1), r.count(2), r.count(3));
            } else {
                p.stale_prompts += r.count(4);
            }
        }
        p.newest = newest;
        Ok::<_, StoreError>(p)
    });
    Ok(UpgradePrompts {
        platforms: futures_util::future::try_join_all(jobs).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: &[(&str, i64)]) -> BTreeMap<String, i64> {
        v.iter().map(|(k, t)| (k.to_string(), *t)).collect()
    }

    #[test]
    fn the_newest_version_and_when_it_came_out() {
        let c = Candidates {
            registered: map(&[("2.0.0", 500)]),
            channel: BTreeMap::new(),
            sessions: map(&[("1.0.0", 10), ("2.0.0", 700), ("2.10.0", 900)]),
            offered: map(&[("2.9.0", 800)]),
        };
        // 2.10.0 is newer than 2.9.0; only its sessions date it.
        assert_eq!(c.newest("1.0.0"), Some(("2.10.0".into(), 900)));
        // A registered release's date comes before its first session.
        let c = Candidates {
            sessions: map(&[("2.0.0", 700)]),
            ..c
        };
        assert_eq!(c.newest("1.0.0"), Some(("2.9.0".into(), 800)));
        assert_eq!(c.newest("2.9.0"), None, "nothing newer: nothing due");
        let c = Candidates {
            offered: BTreeMap::new(),
            ..c
        };
        assert_eq!(c.newest("1.0.0"), Some(("2.0.0".into(), 500)));
        // The client config's channel: newer than any release, dated from
        // when it was set (a registration date would come first).
        let c = Candidates {
            channel: map(&[("2.1.0", 650)]),
            ..c
        };
        assert_eq!(c.newest("1.0.0"), Some(("2.1.0".into(), 650)));
        let c = Candidates {
            registered: map(&[("2.0.0", 500), ("2.1.0", 600)]),
            ..c
        };
        assert_eq!(c.newest("1.0.0"), Some(("2.1.0".into(), 600)));
    }

    #[test]
    fn newest_names_each_platform_only_when_they_differ() {
        let p = |platform: &str, newest: &str| PlatformPrompts {
            platform: platform.into(),
            newest: newest.into(),
            since: 0,
            due: 10,
            prompted: 9,
            accepted: 5,
            declined: 1,
            later: 2,
            stale_prompts: 3,
        };
        let u = UpgradePrompts {
            platforms: vec![p("android", "2.1.0"), p("ios", "2.1.0")],
        };
        assert_eq!(u.newest(), "2.1.0");
        assert_eq!((u.due(), u.prompted(), u.stale_prompts()), (20, 18, 6));
        let u = UpgradePrompts {
            platforms: vec![p("android", "2.0.3"), p("ios", "2.1.0")],
        };
        assert_eq!(u.newest(), "android 2.0.3, ios 2.1.0");
    }
}
