//! Release metadata (5.3a package sizes, 5.4a release notes, 5.4c minimum
//! version notice, 5.2b the minimum OS per platform) and crash-group
//! lifecycle state (5.1c), in the control plane.

use crate::control::{ControlPlane, now};
use crate::cpdb::params;
use crate::{Result, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Platforms whose minimum OS version a release can declare.
pub const MIN_OS_PLATFORMS: [&str; 5] = ["ios", "ipados", "android", "android_tablet", "harmonyos"];

/// Package size of one platform / ABI split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSize {
    pub platform: String,
    #[serde(default)]
    pub abi: String,
    pub bytes: u64,
}

/// A minimum-version restriction and its announcement (5.4c).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinVersion {
    /// Versions below this are to be refused.
    pub version: String,
    /// When users were told (Unix seconds).
    pub announced_at: i64,
    /// When the restriction takes effect (Unix seconds).
    pub enforce_at: i64,
}

/// What a release team registers about a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseMeta {
    #[serde(default)]
    pub app_id: String,
    pub version: String,
    #[serde(default)]
    pub build: String,
    /// Release notes shown to users (5.4a).
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub package_sizes: Vec<PackageSize>,
    #[serde(default)]
    pub min_version: Option<MinVersion>,
    /// Release date (Unix seconds); defaults to registration time.
    #[serde(default)]
    pub released_at: i64,
    /// The oldest OS version the release runs on, per platform
    /// ([`MIN_OS_PLATFORMS`]): `{"ios": "13.0", "android": "8.0"}`. The
    /// required 5.2b cells start at its major version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub min_os: BTreeMap<String, String>,
}

impl ReleaseMeta {
    /// The declared minimum OS major of `platform`, if any.
    pub fn min_os_major(&self, platform: &str) -> Option<u16> {
        self.min_os
            .get(platform)
            .map(|v| crate::row::os_major(v))
            .filter(|m| *m > 0)
    }
}

/// Lifecycle status of a crash group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    Open,
    Resolved,
    Ignored,
    Merged,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Open => "open",
            GroupStatus::Resolved => "resolved",
            GroupStatus::Ignored => "ignored",
            GroupStatus::Merged => "merged",
        }
    }

    fn parse(s: &str) -> GroupStatus {
        match s {
            "resolved" => GroupStatus::Resolved,
            "ignored" => GroupStatus::Ignored,
            "merged" => GroupStatus::Merged,
            _ => GroupStatus::Open,
        }
    }
}

/// Recorded state of a crash group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub fingerprint: String,
    pub status: GroupStatus,
    /// The release in which it was resolved.
    pub resolved_in: Option<String>,
    pub resolved_at: Option<i64>,
    pub merged_into: Option<String>,
    pub updated_by: String,
    pub updated_at: i64,
}

impl ControlPlane {
    /// Registers or replaces a release's metadata.
    pub fn put_release(&self, meta: &ReleaseMeta) -> Result<()> {
        if meta.version.is_empty() || meta.version.len() > 64 {
            return Err(StoreError::Invalid(
                "version must be 1-64 characters".into(),
            ));
        }
        if let Some(m) = &meta.min_version
            && m.enforce_at < m.announced_at
        {
            return Err(StoreError::Invalid(
                "min_version.enforce_at is before announced_at".into(),
            ));
        }
        for (platform, v) in &meta.min_os {
            if !MIN_OS_PLATFORMS.contains(&platform.as_str()) {
                return Err(StoreError::Invalid(format!(
                    "min_os: unknown platform '{platform}' (use {})",
                    MIN_OS_PLATFORMS.join(", ")
                )));
            }
            if v.len() > 64 || crate::row::os_major(v) == 0 {
                return Err(StoreError::Invalid(format!(
                    "min_os.{platform}: '{v}' is not an OS version such as 13.0"
                )));
            }
        }
        let min_os = (!meta.min_os.is_empty())
            .then(|| serde_json::to_string(&meta.min_os))
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let sizes = serde_json::to_string(&meta.package_sizes)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let min = meta
            .min_version
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let released = if meta.released_at > 0 {
            meta.released_at
        } else {
            now()
        };
        self.db.execute(
            "INSERT INTO releases (app_id, version, build, notes, package_sizes, min_version, released_at, created_at, min_os)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (app_id, version, build) DO UPDATE SET notes = excluded.notes,
               package_sizes = excluded.package_sizes, min_version = excluded.min_version,
               released_at = excluded.released_at, min_os = excluded.min_os",
            &params![meta.app_id, meta.version, meta.build, meta.notes, sizes, min, released, now(), min_os],
        )?;
        Ok(())
    }

    /// Metadata of every registered release of an app, oldest first.
    pub fn releases(&self, app_id: &str) -> Result<Vec<ReleaseMeta>> {
        self.db
            .query(
                "SELECT app_id, version, build, notes, package_sizes, min_version, released_at, min_os
                 FROM releases WHERE app_id = ? ORDER BY released_at, version, build",
                &params![app_id],
            )?
            .iter()
            .map(|r| {
                let sizes: String = r.get(4)?;
                let min: Option<String> = r.get(5)?;
                // NULL: registered before min_os existed, or none declared.
                let min_os: Option<String> = r.get(7)?;
                Ok(ReleaseMeta {
                    app_id: r.get(0)?,
                    version: r.get(1)?,
                    build: r.get(2)?,
                    notes: r.get(3)?,
                    package_sizes: serde_json::from_str(&sizes).unwrap_or_default(),
                    min_version: min.and_then(|m| serde_json::from_str(&m).ok()),
                    released_at: r.get(6)?,
                    min_os: min_os
                        .and_then(|m| serde_json::from_str(&m).ok())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Sets a crash group's lifecycle state.
    pub fn set_group_state(
        &self,
        app_id: &str,
        fingerprint: &str,
        status: GroupStatus,
        resolved_in: Option<&str>,
        merged_into: Option<&str>,
        by: &str,
    ) -> Result<()> {
        let resolved_at = (status == GroupStatus::Resolved).then(now);
        self.db.execute(
            "INSERT INTO crash_groups (app_id, fingerprint, status, resolved_in, resolved_at, merged_into, updated_by, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (app_id, fingerprint) DO UPDATE SET status = excluded.status,
               resolved_in = excluded.resolved_in, resolved_at = excluded.resolved_at,
               merged_into = excluded.merged_into, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at",
            &params![app_id, fingerprint, status.as_str(), resolved_in, resolved_at, merged_into, by, now()],
        )?;
        Ok(())
    }

    /// Every recorded crash-group state of an app.
    pub fn group_states(&self, app_id: &str) -> Result<Vec<GroupState>> {
        self.db
            .query(
                "SELECT fingerprint, status, resolved_in, resolved_at, merged_into, updated_by, updated_at
                 FROM crash_groups WHERE app_id = ? ORDER BY fingerprint",
                &params![app_id],
            )?
            .iter()
            .map(|r| {
                Ok(GroupState {
                    fingerprint: r.get(0)?,
                    status: GroupStatus::parse(&r.get::<String>(1)?),
                    resolved_in: r.get(2)?,
                    resolved_at: r.get(3)?,
                    merged_into: r.get(4)?,
                    updated_by: r.get(5)?,
                    updated_at: r.get(6)?,
                })
            })
            .collect()
    }

    /// One group's state, if recorded.
    pub fn group_state(&self, app_id: &str, fingerprint: &str) -> Result<Option<GroupState>> {
        Ok(self
            .group_states(app_id)?
            .into_iter()
            .find(|g| g.fingerprint == fingerprint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_and_group_states_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).unwrap();
        let meta = ReleaseMeta {
            app_id: "a".into(),
            version: "1.2.0".into(),
            build: "120".into(),
            notes: "修复登录问题".into(),
            package_sizes: vec![PackageSize {
                platform: "android".into(),
                abi: "arm64-v8a".into(),
                bytes: 80 << 20,
            }],
            min_version: Some(MinVersion {
                version: "1.0.0".into(),
                announced_at: 100,
                enforce_at: 200,
            }),
            released_at: 50,
            min_os: BTreeMap::from([
                ("ios".into(), "13.0".into()),
                ("android".into(), "8".into()),
            ]),
        };
        cp.put_release(&meta).unwrap();
        cp.put_release(&meta).unwrap();
        assert_eq!(cp.releases("a").unwrap(), vec![meta.clone()]);
        assert_eq!(
            (
                meta.min_os_major("ios"),
                meta.min_os_major("android"),
                meta.min_os_major("harmonyos")
            ),
            (Some(13), Some(8), None)
        );
        for bad in [("symbian", "1.0"), ("ios", "latest"), ("android", "")] {
            let m = ReleaseMeta {
                min_os: BTreeMap::from([(bad.0.into(), bad.1.into())]),
                ..meta.clone()
            };
            assert!(
                matches!(cp.put_release(&m), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
        let bad = ReleaseMeta {
            min_version: Some(MinVersion {
                version: "1".into(),
                announced_at: 300,
                enforce_at: 200,
            }),
            ..meta
        };
        assert!(matches!(cp.put_release(&bad), Err(StoreError::Invalid(_))));
        cp.set_group_state(
            "a",
            "fp1",
            GroupStatus::Resolved,
            Some("1.2.0"),
            None,
            "ops",
        )
        .unwrap();
        let g = cp.group_state("a", "fp1").unwrap().unwrap();
        assert_eq!(
            (g.status, g.resolved_in.as_deref()),
            (GroupStatus::Resolved, Some("1.2.0"))
        );
        assert!(g.resolved_at.is_some());
    }
}
