//! The compatibility matrix of clause 5.2: required cells, each observed
//! (enough sessions) and healthy (its crash rate does not fail the 5.1a
//! rule, judged by [`crate::judge`] like the release) or not.
//!
//! Required cells are only versions that exist and can be observed:
//! - 5.2b iOS: the majors Apple released from the floor on — 9 to 18, then
//!   26 (Apple numbered by year from 2025); Android: every major from the
//!   floor on (5 to 16 released). Up to the newest major seen, and at least
//!   the first released one from the floor; a major newer than those listed
//!   only once a session reports it.
//! - The floor: the release's declared minimum OS (`min_os` of its release
//!   metadata; iPadOS shares the iOS cells, Android tablets the Android
//!   ones, the lower declared floor of the two) where it is above the
//!   standard's (iOS 9, Android 5); a declared floor below the standard's
//!   adds no cell the standard does not ask for. Without one, the
//!   standard's.
//! - 5.2e HarmonyOS: HarmonyOS 5 (NEXT, where apps run natively and the SDK
//!   reports `harmonyos`), or the declared minimum if higher, up to the
//!   newest seen. HarmonyOS 2–4 run the Android app, which reports Android
//!   unless its SDK reads the system property that names HarmonyOS; they
//!   are required only once a session reports them, never as cells that
//!   can never be observed.

use crate::facts::{Cell, Scope};
use crate::judge::{Verdict, judge_rate};
use std::collections::BTreeMap;
use vitals_store::query::AggRow;
use vitals_store::releases::ReleaseMeta;

/// Oldest supported majors (5.2b) and the first native HarmonyOS (5.2e).
pub const IOS_FLOOR: u32 = 9;
pub const ANDROID_FLOOR: u32 = 5;
pub const HARMONY_NATIVE: u32 = 5;

/// iOS majors Apple released up to its switch to year numbers (iOS 26).
const IOS_RELEASED: &[u32] = &[9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 26];
/// Android majors released, from the standard's floor (Android 16, 2025).
const ANDROID_RELEASED: &[u32] = &[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
/// Native HarmonyOS majors released (HarmonyOS 5 "NEXT", HarmonyOS 6).
const HARMONY_RELEASED: &[u32] = &[5, 6];

/// The majors of `released` from `floor` on that a required cell may
/// name: up to the newest seen, at least the first released one from the
/// floor; majors newer than the list only when seen.
fn majors(released: &[u32], floor: u32, seen: Option<u32>) -> Vec<u32> {
    let listed: Vec<u32> = released.iter().copied().filter(|m| *m >= floor).collect();
    let seen = seen.unwrap_or(0);
    let top = seen.max(listed.first().copied().unwrap_or(0));
    let last_listed = released.last().copied().unwrap_or(0);
    listed
        .into_iter()
        .filter(|m| *m <= top)
        .chain(((last_listed + 1).max(floor))..=seen)
        .collect()
}

/// The floors of the required 5.2b and 5.2e cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floors {
    pub ios: u32,
    pub android: u32,
    /// First native HarmonyOS major required.
    pub harmony: u32,
}

impl Default for Floors {
    fn default() -> Self {
        Floors {
            ios: IOS_FLOOR,
            android: ANDROID_FLOOR,
            harmony: HARMONY_NATIVE,
        }
    }
}

impl Floors {
    /// The floors of a release with this metadata (none: the standard's).
    pub fn of(meta: Option<&ReleaseMeta>) -> Floors {
        let declared = |platforms: &[&str], standard: u32| {
            platforms
                .iter()
                .filter_map(|p| meta?.min_os_major(p))
                .min()
                .map_or(standard, |m| u32::from(m).max(standard))
        };
        Floors {
            ios: declared(&["ios", "ipados"], IOS_FLOOR),
            android: declared(&["android", "android_tablet"], ANDROID_FLOOR),
            harmony: declared(&["harmonyos"], HARMONY_NATIVE),
        }
    }
}

/// Rows: platform, device class, OS major, screen class, net family →
/// sessions, crashed sessions; `meta`: the release's metadata (its
/// declared minimum OS).
pub fn cells(rows: &[AggRow], scope: &Scope, meta: Option<&ReleaseMeta>) -> Vec<Cell> {
    let floors = Floors::of(meta);
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
    let seen = |os: &str| newest.get(os).copied();
    required.extend(
        majors(IOS_RELEASED, floors.ios, seen("iOS"))
            .into_iter()
            .map(|m| ("5.2b", format!("iOS {m}"))),
    );
    required.extend(
        majors(ANDROID_RELEASED, floors.android, seen("Android"))
            .into_iter()
            .map(|m| ("5.2b", format!("Android {m}"))),
    );
    required.extend(["xs", "s", "m", "l", "tablet"].map(|s| ("5.2c", format!("screen {s}"))));
    required.extend(["IPv4", "IPv6", "dual stack"].map(|n| ("5.2d", n.to_string())));
    required.extend(
        seen_old_harmony
            .into_iter()
            .chain(majors(HARMONY_RELEASED, floors.harmony, seen("HarmonyOS")))
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
    fn only_released_majors_are_required() {
        let ios = |floor, seen| majors(IOS_RELEASED, floor, seen);
        assert_eq!(ios(9, Some(18)), (9..=18).collect::<Vec<_>>());
        assert_eq!(
            ios(9, Some(26)),
            [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 26]
        );
        assert_eq!(ios(15, Some(27)), [15, 16, 17, 18, 26, 27]);
        assert!(!ios(9, Some(30)).contains(&19));
        // Nothing seen: the floor's own cell (or the first released after it).
        assert_eq!(ios(9, None), [9]);
        assert_eq!(ios(19, None), [26]);
        assert_eq!(ios(27, None), Vec::<u32>::new());
        assert_eq!(ios(27, Some(28)), [27, 28]);
        let android = |floor, seen| majors(ANDROID_RELEASED, floor, seen);
        assert_eq!(android(8, Some(14)), (8..=14).collect::<Vec<_>>());
        assert_eq!(android(17, None), Vec::<u32>::new());
        assert_eq!(android(5, Some(17)), (5..=17).collect::<Vec<_>>());
        assert_eq!(majors(HARMONY_RELEASED, 5, Some(3)), [5]);
        assert_eq!(majors(HARMONY_RELEASED, 6, None), [6]);
    }

    fn meta(min_os: &[(&str, &str)]) -> ReleaseMeta {
        ReleaseMeta {
            app_id: "a".into(),
            version: "1.0.0".into(),
            build: String::new(),
            notes: String::new(),
            package_sizes: vec![],
            min_version: None,
            released_at: 0,
            min_os: min_os
                .iter()
                .map(|(p, v)| (p.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_declared_minimum_os_raises_the_floor_never_lowers_it() {
        let scope = Scope::default();
        let rows = [
            row("ios", 18, 5000, 0),
            row("ipados", 17, 5000, 0),
            row("android", 14, 5000, 0),
            row("harmonyos", 6, 5000, 0),
        ];
        let names = |m: Option<&ReleaseMeta>| -> Vec<String> {
            cells(&rows, &scope, m)
                .into_iter()
                .filter(|c| c.clause == "5.2b" || c.clause == "5.2e")
                .map(|c| c.name)
                .collect()
        };
        let standard = names(None);
        assert_eq!(standard.iter().filter(|n| n.starts_with("iOS")).count(), 10);
        assert!(standard.contains(&"iOS 9".to_string()) && standard.contains(&"Android 5".into()));
        let m = meta(&[
            ("ios", "15.0"),
            ("ipados", "16.1"),
            ("android", "8.0.0"),
            ("harmonyos", "6.0"),
        ]);
        let declared = names(Some(&m));
        let want: Vec<String> = ["iOS 15", "iOS 16", "iOS 17", "iOS 18"]
            .into_iter()
            .chain(
                (8..=14)
                    .map(|a| format!("Android {a}"))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str),
            )
            .chain(["HarmonyOS 6"])
            .map(String::from)
            .collect();
        assert_eq!(declared, want);
        // Below the standard's floor: the standard's cells, not more.
        let low = meta(&[("ios", "8.0"), ("android", "4.4")]);
        assert_eq!(names(Some(&low)), standard);
        assert_eq!(Floors::of(Some(&low)), Floors::default());
    }

    /// Whether a device can report `name`: a version that exists on a
    /// platform whose SDK reports it, or one a session reported. Versions
    /// exist as released (iOS 9–18 and 26, Android up to 16, HarmonyOS 5–6),
    /// and, numbered yearly or consecutively, every later one up to the
    /// newest a device reported. Written here from the release history,
    /// apart from `majors`.
    fn observable(name: &str, rows: &[(String, u32)]) -> bool {
        let (os, major) = name.rsplit_once(' ').unwrap();
        let m: u32 = major.parse().unwrap();
        let newest = |platforms: &[&str]| {
            rows.iter()
                .filter(|(p, _)| platforms.contains(&p.as_str()))
                .map(|(_, x)| *x)
                .max()
                .unwrap_or(0)
        };
        let reported = |platforms: &[&str]| {
            rows.iter()
                .any(|(p, x)| *x == m && platforms.contains(&p.as_str()))
        };
        let apple = ["ios", "ipados"];
        let android = ["android", "android_tablet"];
        match os {
            "iOS" => {
                (9..=18).contains(&m)
                    || (26..=newest(&apple).max(26)).contains(&m)
                    || reported(&apple)
            }
            "Android" => m <= newest(&android).max(16) || reported(&android),
            // HarmonyOS 2-4 report Android: only a session naming them
            // makes them observable.
            "HarmonyOS" => {
                (5..=newest(&["harmonyos"]).max(6)).contains(&m) || reported(&["harmonyos"])
            }
            _ => unreachable!("{name}"),
        }
    }

    #[test]
    fn no_required_cell_can_never_be_observed_whatever_the_fleet_and_floor() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(52);
        let scope = Scope::default();
        let platforms = ["ios", "ipados", "android", "android_tablet", "harmonyos"];
        for round in 0..2000 {
            let fleet: Vec<(String, u32)> = (0..rng.gen_range(0..6))
                .map(|_| {
                    let p = platforms[rng.gen_range(0..platforms.len())];
                    let m = match p {
                        "ios" | "ipados" => rng.gen_range(7..=30),
                        "harmonyos" => rng.gen_range(1..=8),
                        _ => rng.gen_range(3..=18),
                    };
                    (p.to_string(), m)
                })
                .collect();
            let rows: Vec<AggRow> = fleet.iter().map(|(p, m)| row(p, *m, 500, 0)).collect();
            let mut declared: Vec<(&str, String)> = Vec::new();
            for p in platforms {
                if rng.gen_bool(0.5) {
                    declared.push((p, format!("{}.0", rng.gen_range(1..=30))));
                }
            }
            let d: Vec<(&str, &str)> = declared.iter().map(|(p, v)| (*p, v.as_str())).collect();
            let m = meta(&d);
            let floors = Floors::of(Some(&m));
            for c in cells(&rows, &scope, Some(&m)) {
                if c.clause != "5.2b" && c.clause != "5.2e" {
                    continue;
                }
                assert!(
                    observable(&c.name, &fleet),
                    "round {round}: required {} can never be observed (fleet {fleet:?}, min_os {d:?})",
                    c.name
                );
                let (os, major) = c.name.rsplit_once(' ').unwrap();
                let major: u32 = major.parse().unwrap();
                let floor = match os {
                    "iOS" => floors.ios,
                    "Android" => floors.android,
                    _ if major < HARMONY_NATIVE => 0,
                    _ => floors.harmony,
                };
                assert!(
                    major >= floor,
                    "round {round}: {} below the floor {floor} (min_os {d:?})",
                    c.name
                );
            }
        }
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
        let cells = cells(&rows, &scope, None);
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
