//! The compatibility matrix of clause 5.2: required cells, each observed
//! (enough sessions) and healthy (its crash rate does not fail the 5.1a
//! rule, judged by [`crate::judge`] like the release) or not.
//!
//! Required cells are only versions that exist and can be observed:
//! - 5.2b iOS: the majors Apple released from the floor on — 9 to 18, then
//!   26 (Apple numbered by year from 2025), and every later major up to the
//!   newest one seen; Android: every major from the floor to the newest seen.
//! - 5.2e HarmonyOS: HarmonyOS 5 (NEXT, where apps run natively and the SDK
//!   reports `harmonyos`) up to the newest seen. HarmonyOS 2–4 run the
//!   Android app, which reports Android unless its SDK reads the system
//!   property that names HarmonyOS; they are required only once a session
//!   reports them, never as cells that can never be observed.

use crate::facts::{Cell, Scope};
use crate::judge::{Verdict, judge_rate};
use std::collections::BTreeMap;
use vitals_store::query::AggRow;

/// Oldest supported majors (5.2b) and the first native HarmonyOS (5.2e).
pub const IOS_FLOOR: u32 = 9;
pub const ANDROID_FLOOR: u32 = 5;
pub const HARMONY_NATIVE: u32 = 5;

/// iOS majors Apple released up to its switch to year numbers (iOS 26).
const IOS_RELEASED: &[u32] = &[9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 26];

/// The iOS majors from `floor` to `top` that exist.
fn ios_majors(floor: u32, top: u32) -> Vec<u32> {
    let last_listed = *IOS_RELEASED.last().unwrap_or(&0);
    IOS_RELEASED
        .iter()
        .copied()
        .chain((last_listed + 1)..=top)
        .filter(|m| (floor..=top).contains(m))
        .collect()
}

/// Rows: platform, device class, OS major, screen class, net family →
/// sessions, crashed sessions.
pub fn cells(rows: &[AggRow], scope: &Scope) -> Vec<Cell> {
    let mut acc: BTreeMap<(&'static str, String), (u64, u64)> = BTreeMap::new();
    let mut newest: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut seen_old_harmony = std::collections::BTreeSet::new();
    for r in rows {
        let (platform, class, major, screen, net) = (
            r.dim(0),
            r.dim(1),
            r.dim(2).parse::<u32>().unwrap_or(0),
            r.dim(3),
            r.dim(4),
        );
        let (n, c) = (r.count(0), r.count(1));
        let mut add = |clause: &'static str, name: String| {
            let e = acc.entry((clause, name)).or_default();
            e.0 += n;
            e.1 += c;
        };
        let device = match (platform, class) {
            ("ios", "phone") => Some("iPhone"),
            ("ipados", _) | ("ios", "tablet") => Some("iPad"),
            ("android" | "android_tablet", "phone") => Some("Android phone"),
            ("android" | "android_tablet", "tablet") => Some("Android tablet"),
            _ => None,
        };
        if let Some(d) = device {
            add("5.2a", d.to_string());
        }
        let os = match platform {
            "ios" | "ipados" => Some("iOS"),
            "android" | "android_tablet" => Some("Android"),
            _ => None,
        };
        if let Some(os) = os
            && major > 0
        {
            add("5.2b", format!("{os} {major}"));
            let e = newest.entry(os).or_default();
            *e = (*e).max(major);
        }
        if screen != "unknown" && !screen.is_empty() {
            add("5.2c", format!("screen {screen}"));
        }
        match net {
            "ipv4" => add("5.2d", "IPv4".into()),
            "ipv6" => add("5.2d", "IPv6".into()),
            "dual" => add("5.2d", "dual stack".into()),
            _ => {}
        }
        if platform == "harmonyos" && major > 0 {
            add("5.2e", format!("HarmonyOS {major}"));
            let e = newest.entry("HarmonyOS").or_default();
            *e = (*e).max(major);
            if major < HARMONY_NATIVE {
                seen_old_harmony.insert(major);
            }
        }
    }
    let mut required: Vec<(&'static str, String)> = vec![
        ("5.2a", "iPhone".into()),
        ("5.2a", "iPad".into()),
        ("5.2a", "Android phone".into()),
    ];
    let ios_top = newest
        .get("iOS")
        .copied()
        .unwrap_or(IOS_FLOOR)
        .max(IOS_FLOOR);
    required.extend(
        ios_majors(IOS_FLOOR, ios_top)
            .into_iter()
            .map(|m| ("5.2b", format!("iOS {m}"))),
    );
    let android_top = newest
        .get("Android")
        .copied()
        .unwrap_or(ANDROID_FLOOR)
        .max(ANDROID_FLOOR);
    required.extend((ANDROID_FLOOR..=android_top).map(|m| ("5.2b", format!("Android {m}"))));
    required.extend(["xs", "s", "m", "l", "tablet"].map(|s| ("5.2c", format!("screen {s}"))));
    required.extend(["IPv4", "IPv6", "dual stack"].map(|n| ("5.2d", n.to_string())));
    let harmony_top = newest
        .get("HarmonyOS")
        .copied()
        .unwrap_or(HARMONY_NATIVE)
        .max(HARMONY_NATIVE);
    required.extend(
        seen_old_harmony
            .into_iter()
            .chain(HARMONY_NATIVE..=harmony_top)
            .map(|m| ("5.2e", format!("HarmonyOS {m}"))),
    );
    required
        .into_iter()
        .map(|(clause, name)| {
            let (sessions, crashed) = acc.get(&(clause, name.clone())).copied().unwrap_or((0, 0));
            let observed = sessions >= scope.cell_min_sessions.max(1);
            let limit = crate::judge::Limit {
                min_sample: scope.cell_min_sessions.max(1),
                ..scope.crash
            };
            let healthy = observed && judge_rate(&limit, crashed, sessions).0 != Verdict::Fail;
            Cell {
                clause,
                name,
                sessions,
                crashed,
                observed,
                healthy,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_released_ios_majors_are_required() {
        assert_eq!(ios_majors(9, 18), (9..=18).collect::<Vec<_>>());
        assert_eq!(
            ios_majors(9, 26),
            [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 26]
        );
        assert_eq!(ios_majors(15, 27), [15, 16, 17, 18, 26, 27]);
        assert!(!ios_majors(9, 30).contains(&19));
    }

    fn row(platform: &str, major: u32, sessions: u64, crashed: u64) -> AggRow {
        AggRow {
            dims: vec![
                platform.into(),
                "phone".into(),
                major.to_string(),
                "m".into(),
                "dual".into(),
            ],
            values: vec![sessions as f64, crashed as f64],
        }
    }

    #[test]
    fn every_required_cell_can_be_observed_and_judged_like_the_release() {
        let scope = Scope::default();
        let rows = [
            row("ios", 26, 5000, 0),
            row("android", 16, 5000, 12),
            row("harmonyos", 5, 5000, 0),
            row("harmonyos", 3, 5000, 0),
        ];
        let cells = cells(&rows, &scope);
        let names: Vec<&str> = cells.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.contains(&"iOS 26") && !names.contains(&"iOS 19"),
            "{names:?}"
        );
        assert!(names.contains(&"HarmonyOS 3") && names.contains(&"HarmonyOS 5"));
        assert!(!names.contains(&"HarmonyOS 2") && !names.contains(&"HarmonyOS 4"));
        let cell = |n: &str| cells.iter().find(|c| c.name == n).unwrap();
        // 12 of 5000 = 0.24 %: over 0.05 %, so not healthy (its Wilson lower
        // end, 0.137 %, also is; a cell at 0.04 % would be healthy).
        assert!(cell("Android 16").observed && !cell("Android 16").healthy);
        assert!(cell("iOS 26").healthy);
    }
}
