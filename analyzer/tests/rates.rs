//! Rates at the threshold: seeded random fleets whose crash rates per
//! session and per user sit exactly at, just under and just over 0.05 %,
//! whose worst crash group's share of users sits at, under and over 0.01 %,
//! and whose hot-update patch has delivery and success rates at, under and
//! over 90 % and 95 %, with every complication the definitions name:
//! whole batches re-sent, session starts re-sent in later batches, lost
//! starts, lost ends, lost crash reports (a `crashed` end alone), fatal
//! crashes naming their session or none, handled errors, rows sent before
//! login, patches applied and rolled back from the patched release, and
//! fleets below the minimum sample (where only a proven failure fails).
//!
//! Every count, value, interval and verdict the analyzer gives is compared
//! with a plain reference written here from `docs/METRICS.md` over the same
//! raw events: distinct session keys, crashed by either signal, users by
//! id (an install's pre-login rows belong to its user), the Wilson interval,
//! and the `ensure` / `exceed` readings with integer comparisons at the
//! threshold — on SQLite, ClickHouse and the two-shard cluster.

mod common;

use common::reference::*;
use common::*;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use vitals_analyzer::evaluate::Verdict;
use vitals_analyzer::policy::Metric;
use vitals_protocol::*;

/// One release's batches, and the patched release's.
struct Fleet {
    version: String,
    patch: String,
    batches: Vec<AcceptedBatch>,
}

fn crash_event(ts: i64, id: String, sid: Option<&str>, group: &str, fatal: bool) -> Event {
    let Event::Crash(mut c) = crash(ts, id) else {
        unreachable!()
    };
    c.session_id = sid.map(str::to_string);
    c.fingerprint = Some(group.into());
    c.fatal = fatal;
    c.handled = !fatal;
    Event::Crash(c)
}

/// A user's batch; `None` as the user sends it before login.
fn user_batch(
    id: String,
    version: &str,
    user: u64,
    login: bool,
    events: Vec<Event>,
) -> AcceptedBatch {
    let mut b = batch(id, version, user, events);
    if !login {
        b.batch.user_id = None;
    }
    b
}

fn fleet(seed: u64, ts: i64) -> Fleet {
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA5A5);
    let version = format!("8.{seed}.0");
    let patched = format!("8.{seed}.1");
    let patch = format!("P-{seed}");
    // Sessions: at and around the minimum sample (1000) and large enough
    // for the 0.01 % share to be one or two users.
    let sessions = [800u64, 2500, 12_500, 25_000, 12_500, 2000][seed as usize % 6];
    let users = sessions - sessions / 5;
    let base = seed * 1_000_000;
    // Crashed sessions around 0.05 % (n / 2000), below the minimum a few
    // (a proven failure or not).
    let at = sessions / 2000;
    let crashed = match sessions {
        800 => rng.pick(&[0u64, 1, 3, 5]),
        // Cycled by seed, so the fleets meet each case (0 crashes in
        // 25,000 sessions passes `ensure`; the rest fail or are unproven).
        _ => [at.saturating_sub(1), at, at + 1, 0, at / 2][(seed + seed / 6) as usize % 5],
    };
    // The worst group's users around 0.01 % of the users.
    let share_at = users / 10_000;
    let top = rng.pick(&[share_at.saturating_sub(1), share_at, share_at + 1]);

    // Sessions 0..users are each user's first; the rest a second session
    // of users 0..sessions/5.
    let owner = |s: u64| if s < users { s } else { s - users };
    // Which sessions crash, and how the crash is told: 0 a `crashed` end
    // alone (the report was lost), 1 a fatal crash naming the session (the
    // end was lost), 2 both.
    let mut crash_of: BTreeMap<u64, u64> = BTreeMap::new();
    while (crash_of.len() as u64) < crashed {
        let s = rng.below(sessions);
        crash_of.insert(s, rng.below(3));
    }
    // Group users: the top group's, then smaller groups; a group's users
    // crash in it by a report naming a session of theirs when they have a
    // crashed session with a report, else by a report naming no session.
    let mut events: BTreeMap<(u64, bool), Vec<Event>> = BTreeMap::new();
    let mut later: Vec<(u64, Event)> = Vec::new();
    let mut reported: Vec<u64> = Vec::new();
    for s in 0..sessions {
        let u = base + owner(s);
        let sid = format!("{version}-s{s}");
        // A user's first session is sometimes sent before login.
        let login = !(s < users && u % 7 == 3);
        let lost_start = rng.chance(3);
        if !lost_start {
            events.entry((u, login)).or_default().push(session(
                ts,
                &sid,
                SessionPhase::Start,
                None,
            ));
            if rng.chance(8) {
                // The start re-sent in a later batch (a new batch id).
                later.push((u, session(ts, &sid, SessionPhase::Start, None)));
            }
        }
        match crash_of.get(&s) {
            Some(how) => {
                if *how != 1 {
                    events.entry((u, true)).or_default().push(session(
                        ts + 5000,
                        &sid,
                        SessionPhase::End,
                        Some(SessionStatus::Crashed),
                    ));
                }
                if *how != 0 {
                    reported.push(s);
                }
            }
            None => {
                if rng.chance(60) {
                    let status = if rng.chance(2) {
                        SessionStatus::Abnormal
                    } else {
                        SessionStatus::Ok
                    };
                    events.entry((u, true)).or_default().push(session(
                        ts + 5000,
                        &sid,
                        SessionPhase::End,
                        Some(status),
                    ));
                } else if lost_start {
                    // Neither start nor end: the session never existed.
                }
            }
        }
        if rng.chance(1) {
            // A handled error: never a crash, never a group's user.
            events.entry((u, true)).or_default().push(crash_event(
                ts + 100,
                format!("{sid}-h"),
                Some(&sid),
                "handled",
                false,
            ));
        }
    }
    // Group the reported crashes: the first `top` distinct users' reports go
    // to group A, the rest to groups of one user each (B…); when fewer users
    // than `top` have reports, reports naming no session fill the group.
    let mut group_users: Vec<u64> = Vec::new();
    for s in &reported {
        let u = base + owner(*s);
        let sid = format!("{version}-s{s}");
        let in_a = group_users.contains(&u) || (group_users.len() as u64) < top;
        if in_a && !group_users.contains(&u) {
            group_users.push(u);
        }
        let g = if in_a {
            "A".to_string()
        } else {
            format!("B{s}")
        };
        events.entry((u, true)).or_default().push(crash_event(
            ts + 4000,
            format!("{sid}-c"),
            Some(&sid),
            &g,
            true,
        ));
    }
    let mut filler = 0;
    while (group_users.len() as u64) < top {
        // Users without a crashed session: a report naming no session still
        // makes them crashed users and the group's users.
        let u = base + (users - 1 - filler);
        filler += 1;
        if group_users.contains(&u) {
            continue;
        }
        group_users.push(u);
        events.entry((u, true)).or_default().push(crash_event(
            ts + 4000,
            format!("{version}-u{u}-c"),
            None,
            "A",
            true,
        ));
    }

    // The patch: offered to `offered` users' installs on this release,
    // downloaded by some, applied (and some rolled back) from the patched
    // release.
    let offered = [90u64, 100, 200, 1000][seed as usize % 4];
    let downloaded = {
        let at = offered * 9 / 10;
        rng.pick(&[at - 1, at, at + 1]).min(offered)
    };
    let good = {
        // Applied and not rolled back, around 95 % of downloaded.
        let at = (downloaded * 95).div_ceil(100);
        [at - 1, at, (at + 1).min(downloaded)][(seed + seed / 3) as usize % 3]
    };
    let rolled_back = rng.below(downloaded - good + 1);
    let mut patched_events: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for d in 0..offered {
        let u = base + d;
        let mut old = vec![stage(ts + 10, &patch, HotUpdateStage::Offered)];
        if d < downloaded {
            old.push(stage(ts + 20, &patch, HotUpdateStage::Downloaded));
        }
        events.entry((u, true)).or_default().extend(old);
        if d < good + rolled_back {
            let new = patched_events.entry(u).or_default();
            new.push(stage(ts + 30, &patch, HotUpdateStage::Applied));
            if d >= good {
                new.push(stage(ts + 40, &patch, HotUpdateStage::RolledBack));
            }
        }
    }

    let mut batches = Vec::new();
    for ((u, login), evs) in events {
        for (i, chunk) in evs.chunks(7).enumerate() {
            let b = user_batch(
                format!("{version}-{u}-{login}-{i}"),
                &version,
                u,
                login,
                chunk.to_vec(),
            );
            if rng.chance(2) {
                // The whole batch re-sent (same batch id).
                batches.push(b.clone());
            }
            batches.push(b);
        }
    }
    for (i, (u, e)) in later.into_iter().enumerate() {
        batches.push(user_batch(
            format!("{version}-late-{i}"),
            &version,
            u,
            true,
            vec![e],
        ));
    }
    for (u, evs) in patched_events {
        batches.push(user_batch(format!("{patched}-{u}"), &patched, u, true, evs));
    }
    // Arrival order is not send order.
    for i in (1..batches.len()).rev() {
        batches.swap(i, rng.below(i as u64 + 1) as usize);
    }
    Fleet {
        version,
        patch,
        batches,
    }
}

/// What the reference computes for one release.
#[derive(Debug, Default)]
struct Reference {
    sessions: u64,
    crashed_sessions: u64,
    users: u64,
    crashed_users: u64,
    /// Group → distinct users with a fatal crash in it.
    groups: BTreeMap<String, u64>,
    /// The patch's funnel: (offered, downloaded, applied, rolled back)
    /// installs, app-wide.
    funnel: (u64, u64, u64, u64),
}

/// The reference over raw batches: each batch id counts once; a user is
/// the batch's user id, or the install's (each install here has one user,
/// who logs in on it).
fn reference(all: &[AcceptedBatch], version: &str, patch: &str) -> Reference {
    let mut seen = HashSet::new();
    let mut sessions = BTreeSet::new();
    let mut crashed = BTreeSet::new();
    let mut users = BTreeSet::new();
    let mut crashed_users = BTreeSet::new();
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stages: [BTreeSet<String>; 4] = Default::default();
    for b in all {
        if !seen.insert(b.batch.batch_id.clone()) {
            continue;
        }
        let install = b.batch.install_id.clone();
        let user = b
            .batch
            .user_id
            .clone()
            .unwrap_or_else(|| format!("u{}", &install[1..]));
        for e in &b.batch.events {
            if let Event::HotUpdate(h) = e
                && h.patch_id == patch
            {
                let i = match h.stage {
                    HotUpdateStage::Offered => 0,
                    HotUpdateStage::Downloaded => 1,
                    HotUpdateStage::Applied => 2,
                    HotUpdateStage::RolledBack => 3,
                    HotUpdateStage::Failed => continue,
                };
                stages[i].insert(install.clone());
            }
            if b.batch.release.version != version {
                continue;
            }
            match e {
                Event::Session(s) => {
                    let key = (install.clone(), s.session_id.clone());
                    sessions.insert(key.clone());
                    users.insert(user.clone());
                    if s.status == Some(SessionStatus::Crashed) {
                        crashed.insert(key);
                        crashed_users.insert(user.clone());
                    }
                }
                Event::Crash(c) => {
                    users.insert(user.clone());
                    if !c.fatal {
                        continue;
                    }
                    crashed_users.insert(user.clone());
                    if let Some(sid) = &c.session_id {
                        let key = (install.clone(), sid.clone());
                        sessions.insert(key.clone());
                        crashed.insert(key);
                    }
                    groups
                        .entry(c.fingerprint.clone().unwrap())
                        .or_default()
                        .insert(user.clone());
                }
                _ => {}
            }
        }
    }
    Reference {
        sessions: sessions.len() as u64,
        crashed_sessions: crashed.len() as u64,
        users: users.len() as u64,
        crashed_users: crashed_users.len() as u64,
        groups: groups
            .into_iter()
            .map(|(g, u)| (g, u.len() as u64))
            .collect(),
        funnel: (
            stages[0].len() as u64,
            stages[1].len() as u64,
            stages[2].len() as u64,
            stages[3].len() as u64,
        ),
    }
}

const CRASH_RATE: Rule = Rule {
    ensure: true,
    below: true,
    inclusive: false,
    num: 5,
    den: 10_000,
    min: 1000,
};
const GROUP_SHARE: Rule = Rule {
    ensure: false,
    below: true,
    inclusive: true,
    num: 1,
    den: 10_000,
    min: 1000,
};
const DELIVERY: Rule = Rule {
    ensure: false,
    below: false,
    inclusive: true,
    num: 90,
    den: 100,
    min: 100,
};
const SUCCESS: Rule = Rule {
    ensure: false,
    below: false,
    inclusive: true,
    num: 95,
    den: 100,
    min: 100,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_and_shares_at_the_threshold_match_a_plain_reference() {
    let ts = now_ms() - 3_600_000;
    let fleets: Vec<Fleet> = (0..12).map(|s| fleet(s, ts)).collect();
    let data: Vec<AcceptedBatch> = fleets.iter().flat_map(|f| f.batches.clone()).collect();
    let b = backends(&data).await;
    // Which verdicts the fleets reached, so the test shows it met each.
    let mut met: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for (store, dir) in b.iter() {
        for f in &fleets {
            let who = |m: &str| format!("{} {} {m}", store.backend(), f.version);
            let want = reference(&data, &f.version, &f.patch);
            let e = eval(store.clone(), dir, &f.version, None).await;

            assert_eq!(e.facts.sessions, want.sessions, "{}", who("sessions"));
            assert_eq!(
                e.facts.crashed_sessions,
                want.crashed_sessions,
                "{}",
                who("crashed sessions")
            );
            assert_eq!(e.facts.users, want.users, "{}", who("users"));
            assert_eq!(
                e.facts.crashed_users,
                want.crashed_users,
                "{}",
                who("crashed users")
            );

            let r = result(&e, Metric::CrashRatePerSession);
            check_rate(
                &who("per session"),
                &r,
                &CRASH_RATE,
                want.crashed_sessions,
                want.sessions,
            );
            *met.entry(("5.1a session", format!("{:?}", r.verdict)))
                .or_default() += 1;
            let r = result(&e, Metric::CrashRatePerUser);
            check_rate(
                &who("per user"),
                &r,
                &CRASH_RATE,
                want.crashed_users,
                want.users,
            );
            *met.entry(("5.1a user", format!("{:?}", r.verdict)))
                .or_default() += 1;

            // 5.1b: every group judged alone (the list's urgent flag), the
            // rule shows the worst: urgent first, then most users, then the
            // smallest fingerprint.
            let got: BTreeMap<String, (u64, bool)> = e
                .facts
                .groups
                .iter()
                .map(|g| (g.fingerprint.clone(), (g.users, g.urgent)))
                .collect();
            let urgent = |k: u64| GROUP_SHARE.verdict(k, want.users) == Some(Verdict::Fail);
            let want_groups: BTreeMap<String, (u64, bool)> = want
                .groups
                .iter()
                .map(|(g, k)| (g.clone(), (*k, urgent(*k))))
                .collect();
            assert_eq!(got, want_groups, "{}", who("groups"));
            let worst = want
                .groups
                .iter()
                .max_by_key(|(g, k)| (urgent(**k), **k, std::cmp::Reverse((*g).clone())))
                .map_or(0, |(_, k)| *k);
            let r = result(&e, Metric::CrashGroupUserShare);
            check_rate(&who("5.1b"), &r, &GROUP_SHARE, worst, want.users);
            *met.entry(("5.1b", format!("{:?}", r.verdict))).or_default() += 1;

            // 5.4e: the patch's funnel, app-wide.
            let (offered, downloaded, applied, rolled_back) = want.funnel;
            let r = result(&e, Metric::HotUpdateDelivery);
            if offered >= DELIVERY.min {
                check_rate(&who("delivery"), &r, &DELIVERY, downloaded, offered);
            } else {
                assert_eq!(r.verdict, Verdict::InsufficientData, "{}", who("delivery"));
            }
            *met.entry(("5.4e delivery", format!("{:?}", r.verdict)))
                .or_default() += 1;
            let r = result(&e, Metric::HotUpdateSuccess);
            let good = applied - rolled_back;
            if downloaded >= SUCCESS.min {
                check_rate(&who("success"), &r, &SUCCESS, good, downloaded);
            } else {
                assert_eq!(r.verdict, Verdict::InsufficientData, "{}", who("success"));
            }
            *met.entry(("5.4e success", format!("{:?}", r.verdict)))
                .or_default() += 1;
        }
    }
    eprintln!("verdicts met: {met:?}");
    // The fleets reach both sides of every threshold (and, for 5.1a, the
    // unproven middle), so a constant answer cannot pass.
    for (rule, verdicts) in [
        (
            "5.1a session",
            &[Verdict::Pass, Verdict::Fail, Verdict::InsufficientData][..],
        ),
        ("5.1a user", &[Verdict::Fail, Verdict::InsufficientData][..]),
        ("5.1b", &[Verdict::Pass, Verdict::Fail][..]),
        ("5.4e delivery", &[Verdict::Pass, Verdict::Fail][..]),
        ("5.4e success", &[Verdict::Pass, Verdict::Fail][..]),
    ] {
        for v in verdicts {
            assert!(
                met.contains_key(&(rule, format!("{v:?}"))),
                "no fleet met {rule} {v:?}: {met:?}"
            );
        }
    }
}
