//! The compatibility matrix of clause 5.2: required cells, each observed
//! (enough sessions) and healthy (crash rate not clearly above the
//! standard) or not.

use crate::facts::{Cell, Scope};
use crate::stats::wilson;
use std::collections::BTreeMap;
use vitals_store::query::AggRow;

/// Oldest supported majors (5.2b) and the HarmonyOS range (5.2e).
pub const IOS_FLOOR: u32 = 9;
pub const ANDROID_FLOOR: u32 = 5;
pub const HARMONY_FLOOR: u32 = 2;

/// Rows: platform, device class, OS major, screen class, net family →
/// sessions, crashed sessions.
pub fn cells(rows: &[AggRow], scope: &Scope) -> Vec<Cell> {
    let mut acc: BTreeMap<(&'static str, String), (u64, u64)> = BTreeMap::new();
    let mut newest: BTreeMap<&'static str, u32> = BTreeMap::new();
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
    required.extend((IOS_FLOOR..=ios_top).map(|m| ("5.2b", format!("iOS {m}"))));
    let android_top = newest
        .get("Android")
        .copied()
        .unwrap_or(ANDROID_FLOOR)
        .max(ANDROID_FLOOR);
    required.extend((ANDROID_FLOOR..=android_top).map(|m| ("5.2b", format!("Android {m}"))));
    required.extend(["xs", "s", "m", "l", "tablet"].map(|s| ("5.2c", format!("screen {s}"))));
    required.extend(["IPv4", "IPv6", "dual stack"].map(|n| ("5.2d", n.to_string())));
    let harmony_top = newest.get("HarmonyOS").copied().unwrap_or(4).max(4);
    required.extend((HARMONY_FLOOR..=harmony_top).map(|m| ("5.2e", format!("HarmonyOS {m}"))));
    required
        .into_iter()
        .map(|(clause, name)| {
            let (sessions, crashed) = acc.get(&(clause, name.clone())).copied().unwrap_or((0, 0));
            let observed = sessions >= scope.cell_min_sessions.max(1);
            let healthy = observed && wilson(crashed, sessions).0 <= scope.crash_threshold;
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
