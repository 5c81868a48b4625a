//! Crash groups of a release and their lifecycle (5.1b, 5.1c).

use crate::facts::{GroupFact, compare_versions, regressed};
use std::collections::BTreeMap;
use vitals_store::query::AggRow;
use vitals_store::releases::{GroupState, GroupStatus};

/// Each fingerprint's first release and first sighting (Unix seconds), from
/// app-wide per-(fingerprint, version) rows: fatal crashes, first time.
pub fn first_releases(history: &[AggRow]) -> BTreeMap<String, (String, u32)> {
    let mut first: BTreeMap<String, (String, u32)> = BTreeMap::new();
    for r in history.iter().filter(|r| r.count(0) > 0) {
        let seen = r.value(1).unwrap_or(0.0) as u32;
        let e = first
            .entry(r.dim(0).to_string())
            .or_insert_with(|| (r.dim(1).to_string(), seen));
        if seen < e.1 || (seen == e.1 && compare_versions(r.dim(1), &e.0).is_lt()) {
            *e = (r.dim(1).to_string(), seen);
        }
    }
    first
}

/// A group's lifecycle state in `version` (5.1c): merged, ignored,
/// regressed (crashing after its resolution, in the release it was
/// resolved in or a later one: [`regressed`]), resolved, new (first seen in
/// this release) or open. `last_crash`: the group's last fatal crash in
/// `version`, Unix seconds.
pub fn state_of(
    st: Option<&GroupState>,
    first_release: &str,
    version: &str,
    last_crash: i64,
) -> &'static str {
    match st {
        Some(s) if s.status == GroupStatus::Merged => "merged",
        Some(s) if s.status == GroupStatus::Ignored => "ignored",
        Some(s) if regressed(s, version, last_crash) => "regressed",
        Some(s) if s.status == GroupStatus::Resolved => "resolved",
        _ if first_release == version => "new",
        _ => "open",
    }
}

/// Whether a crash group reaching `users` of `active_users` is urgent
/// (5.1b): the one test the gate's 5.1b rule, the crash-group list, alerts
/// and the dashboard all use.
pub fn is_urgent(limit: &crate::judge::Limit, users: u64, active_users: u64) -> bool {
    crate::judge::judge_rate(limit, users, active_users).0 == crate::judge::Verdict::Fail
}

/// Builds the release's groups from the store's per-group rows (`groups`:
/// fingerprint, exception → events, users, first, last) and the app-wide
/// per-(fingerprint, version) rows (`history`).
pub fn groups(
    groups: &[AggRow],
    history: &[AggRow],
    states: &[GroupState],
    version: &str,
    active_users: u64,
    urgent: &crate::judge::Limit,
) -> Vec<GroupFact> {
    let first = first_releases(history);
    let mut out: Vec<GroupFact> = groups
        .iter()
        .filter(|r| r.count(0) > 0)
        .map(|r| {
            let fp = r.dim(0).to_string();
            let users = r.count(1);
            let share = if active_users == 0 {
                0.0
            } else {
                users as f64 / active_users as f64
            };
            let (first_release, first_seen_all) = first
                .get(fp.as_str())
                .cloned()
                .unwrap_or_else(|| (version.to_string(), 0));
            let st = states.iter().find(|s| s.fingerprint == fp);
            let last_seen = r.value(3).unwrap_or(0.0) as u32;
            let state = state_of(st, &first_release, version, i64::from(last_seen));
            let is_urgent = is_urgent(urgent, users, active_users);
            // How long it has kept crashing since it first appeared: up to
            // its last crash in the data (never the clock, so every node and
            // every run gives the same figure for the same data).
            let open_days =
                (is_urgent && matches!(state, "new" | "open" | "regressed")).then(|| {
                    (i64::from(last_seen) - i64::from(first_seen_all)).max(0) as f64 / 86_400.0
                });
            let time_to_fix_secs = st
                .and_then(|s| s.resolved_at)
                .map(|at| at - i64::from(first_seen_all))
                .filter(|d| *d >= 0);
            GroupFact {
                fingerprint: fp,
                exception_type: r.dim(1).to_string(),
                events: r.count(0),
                users,
                share,
                urgent: is_urgent,
                first_seen: r.value(2).unwrap_or(0.0) as u32,
                last_seen,
                state,
                first_release,
                resolved_in: st.and_then(|s| s.resolved_in.clone()),
                time_to_fix_secs,
                open_days,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.users
            .cmp(&a.users)
            .then(b.events.cmp(&a.events))
            .then(a.fingerprint.cmp(&b.fingerprint))
    });
    out
}
