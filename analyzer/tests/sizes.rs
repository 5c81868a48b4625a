//! Sizes, means and shares at the threshold: seeded random fleets whose
//! largest package (5.3a), mean of per-model install-time means (5.3b),
//! third-party SDK share of cold start (5.7c), share of sessions on rooted
//! or emulated devices (4.2.3) and largest hot-update package (5.4d) sit
//! exactly at, just under and just over their limits, some under the
//! minimum sample; every value and verdict is compared with a plain
//! reference over the same raw values (integer comparisons at the
//! threshold) on SQLite, ClickHouse and the two-shard cluster.

mod common;

use common::reference::*;
use common::*;
use std::collections::BTreeMap;
use vitals_analyzer::evaluate::Verdict;
use vitals_analyzer::policy::Metric;
use vitals_protocol::*;

/// One release's raw values for the other shares and sizes.
struct Other {
    version: String,
    /// (model, install duration ms, package bytes) per install.
    installs: Vec<(String, u64, u64)>,
    /// (total ms, third-party SDK ms or `None` without spans) per cold start.
    cold: Vec<(u64, Option<u64>)>,
    /// Per session: whether its device is rooted or an emulator.
    untrusted: Vec<bool>,
    /// Hot-update package bytes, one patch per entry.
    patches: Vec<u64>,
}

fn other(seed: u64) -> Other {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9) ^ 0x5A5A);
    let version = format!("6.{seed}.0");
    let off = [-1i64, 0, 1][seed as usize % 3];
    // 5.3b: four models whose means average 20,000 ms + off exactly, each
    // mean an integer (pairs m ± k), with different counts per model, so a
    // plain mean over installs would differ from the mean of model means.
    let spread = [3000i64, 1200][seed as usize % 2];
    let means = [
        20_000 + off + spread,
        20_000 + off - spread,
        20_000 + off + 500,
        20_000 + off - 500,
    ];
    // Below the minimum (30 installs) in some fleets.
    let per_model = if seed % 4 == 3 { 1u64 } else { 4 };
    let pkg_at = 104_857_600u64;
    let mut installs = Vec::new();
    for (i, m) in means.iter().enumerate() {
        let pairs = per_model * (i as u64 + 1);
        for _ in 0..pairs {
            let k = rng.below(5000) as i64;
            for d in [m - k, m + k] {
                let bytes = pkg_at - 5_000_000 + rng.below(4_000_000);
                installs.push((format!("M{i}"), d as u64, bytes));
            }
        }
    }
    // In odd fleets one more install makes M3's mean a fraction (n·m + m + 1
    // over n + 1), a little over its pair mean: the per-model sums must not
    // be rounded on the way (an average times a count was).
    if seed % 2 == 1 {
        installs.push(("M3".into(), (means[3] + 1) as u64, pkg_at - 9_000_000));
    }
    // The largest package at, just under or just over 100 MiB.
    installs[0].2 = (pkg_at as i64 + [-1i64, 0, 1][(seed / 3) as usize % 3]) as u64;

    // 5.7c: cold starts of 1000 ms with spans whose SDK time sums to 10 %
    // + off ms of the spanned total; a third have no spans (not counted).
    let spanned = [80u64, 150, 300][seed as usize % 3];
    let mut sdk: Vec<u64> = vec![100; spanned as usize];
    for _ in 0..spanned {
        // Move time between cold starts: the sum stays put.
        let (a, b) = (rng.below(spanned) as usize, rng.below(spanned) as usize);
        let d = rng.below(40).min(sdk[a]);
        sdk[a] -= d;
        sdk[b] += d;
    }
    sdk[0] = (sdk[0] as i64 + off) as u64;
    let mut cold: Vec<(u64, Option<u64>)> = sdk.into_iter().map(|s| (1000, Some(s))).collect();
    cold.extend((0..spanned / 2).map(|_| (500 + rng.below(3000), None)));

    // 4.2.3: sessions, untrusted around 5 %.
    let n = [80usize, 200, 1000, 2000][seed as usize % 4];
    let k = n / 20;
    let k = [k - 1, k, k + 1, k + 6][(seed / 2) as usize % 4];
    let mut untrusted: Vec<bool> = (0..n).map(|i| i < k).collect();
    for i in (1..n).rev() {
        untrusted.swap(i, rng.below(i as u64 + 1) as usize);
    }

    // 5.4d: the largest patch at, just under or just over 1 MiB.
    let patches = vec![
        300_000 + rng.below(100_000),
        (1_048_576i64 + [0i64, 1, -1][(seed / 4) as usize % 3]) as u64,
    ];
    Other {
        version,
        installs,
        cold,
        untrusted,
        patches,
    }
}

fn other_batches(o: &Other, ts: i64) -> Vec<AcceptedBatch> {
    let mut out = Vec::new();
    let v = &o.version;
    // One batch per session (its device rooted or not); installs, cold
    // starts and patches spread over the first devices.
    for (s, bad) in o.untrusted.iter().enumerate() {
        let sid = format!("{v}-s{s}");
        let mut b = batch(
            format!("{v}-sess-{s}"),
            v,
            s as u64,
            vec![
                session(ts, &sid, SessionPhase::Start, None),
                session(ts + 9000, &sid, SessionPhase::End, Some(SessionStatus::Ok)),
            ],
        );
        b.batch.device.rooted = *bad && s % 2 == 0;
        b.batch.device.emulator = *bad && s % 2 == 1;
        out.push(b);
    }
    for (i, (model, d, bytes)) in o.installs.iter().enumerate() {
        let mut b = batch(
            format!("{v}-inst-{i}"),
            v,
            i as u64,
            vec![Event::Install(InstallEvent {
                ts,
                duration_ms: *d,
                package_bytes: *bytes,
                abi_split: vec![],
            })],
        );
        b.batch.device.model = model.clone();
        out.push(b);
    }
    let cold: Vec<Event> = o
        .cold
        .iter()
        .map(|(total, sdk)| {
            Event::ColdStart(ColdStartEvent {
                ts,
                duration_ms: *total,
                spans: match sdk {
                    Some(s) => vec![
                        Span {
                            name: "sdk:push".into(),
                            start_ms: 0,
                            duration_ms: *s,
                        },
                        Span {
                            name: "app:home".into(),
                            start_ms: *s,
                            duration_ms: total - s,
                        },
                    ],
                    None => vec![],
                },
            })
        })
        .collect();
    for (i, c) in cold.chunks(50).enumerate() {
        out.push(batch(format!("{v}-cold-{i}"), v, i as u64, c.to_vec()));
    }
    for (i, bytes) in o.patches.iter().enumerate() {
        let mut b = batch(
            format!("{v}-patch-{i}"),
            v,
            i as u64,
            vec![stage(
                ts + 10,
                &format!("{v}-P{i}"),
                HotUpdateStage::Offered,
            )],
        );
        if let Event::HotUpdate(h) = &mut b.batch.events[0] {
            h.package_bytes = *bytes;
        }
        out.push(b);
    }
    out
}

/// 5.3a, 5.3b, 5.7c, 4.2.3 and 5.4d at their thresholds: maxima, the mean
/// of per-model means, a ratio of sums and a rate, each placed at, just
/// under and just over its limit, against a plain reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_means_and_shares_at_the_threshold_match_a_plain_reference() {
    let ts = now_ms() - 3_600_000;
    let fleets: Vec<Other> = (0..12).map(other).collect();
    let data: Vec<AcceptedBatch> = fleets.iter().flat_map(|o| other_batches(o, ts)).collect();
    let b = backends(&data).await;
    let mut met: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for (store, dir) in b.iter() {
        for o in &fleets {
            let who = |m: &str| format!("{} {} {m}", store.backend(), o.version);
            let e = eval(store.clone(), dir, &o.version, None).await;
            let exceed = |ok: bool, n: u64, min: u64| {
                if n < min {
                    Verdict::InsufficientData
                } else if ok {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                }
            };

            // 5.3a: the largest package, 100 MiB inclusive.
            let max = o.installs.iter().map(|i| i.2).max().unwrap();
            let r = result(&e, Metric::PackageSize);
            assert_eq!(r.value, Some(max as f64), "{}", who("package"));
            assert_eq!(
                r.verdict,
                exceed(max <= 104_857_600, 1, 1),
                "{}",
                who("package")
            );
            *met.entry(("5.3a", format!("{:?}", r.verdict))).or_default() += 1;

            // 5.3b: the mean of per-model means, 20 s inclusive, ≥ 30 installs.
            let mut per: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
            for (m, d, _) in &o.installs {
                let e = per.entry(m).or_default();
                e.0 += d;
                e.1 += 1;
            }
            // Each model's mean as the analyzer takes it (its exact sum over
            // its count, models in name order); integers except M3 in odd
            // fleets, which sits 1/(4(n+1)) off an integer threshold case.
            let models = per.len() as f64;
            let want = per
                .values()
                .map(|(s, n)| *s as f64 / *n as f64)
                .sum::<f64>()
                / models;
            let r = result(&e, Metric::InstallTime);
            assert_eq!(r.sample, o.installs.len() as u64, "{}", who("install"));
            assert_eq!(r.value, Some(want), "{}", who("install"));
            assert_eq!(
                r.verdict,
                exceed(want <= 20_000.0, r.sample, 30),
                "{}: {r:?}",
                who("install")
            );
            *met.entry(("5.3b", format!("{:?}", r.verdict))).or_default() += 1;

            // 5.7c: SDK time ÷ total time of cold starts with spans, 10 %
            // inclusive, ≥ 100 such cold starts.
            let (sdk, total, n) = o.cold.iter().fold((0u64, 0u64, 0u64), |a, c| match c.1 {
                Some(s) => (a.0 + s, a.1 + c.0, a.2 + 1),
                None => a,
            });
            let r = result(&e, Metric::ThirdPartyInitShare);
            assert_eq!(r.sample, n, "{}", who("5.7c"));
            assert_eq!(r.value, Some(sdk as f64 / total as f64), "{}", who("5.7c"));
            assert_eq!(
                r.verdict,
                exceed(sdk * 10 <= total, n, 100),
                "{}: {r:?}",
                who("5.7c")
            );
            *met.entry(("5.7c", format!("{:?}", r.verdict))).or_default() += 1;

            // 4.2.3: untrusted sessions, 5 % inclusive, Wilson, ≥ 100.
            let k = o.untrusted.iter().filter(|u| **u).count() as u64;
            let r = result(&e, Metric::UntrustedShare);
            const UNTRUSTED: Rule = Rule {
                ensure: false,
                below: true,
                inclusive: true,
                num: 5,
                den: 100,
                min: 100,
            };
            check_rate(&who("4.2.3"), &r, &UNTRUSTED, k, o.untrusted.len() as u64);
            *met.entry(("4.2.3", format!("{:?}", r.verdict)))
                .or_default() += 1;

            // 5.4d: the largest hot-update package, 1 MiB inclusive.
            let max = *o.patches.iter().max().unwrap();
            let r = result(&e, Metric::HotUpdateSize);
            assert_eq!(
                r.verdict,
                exceed(max <= 1_048_576, 1, 1),
                "{}: {r:?}",
                who("5.4d")
            );
            *met.entry(("5.4d", format!("{:?}", r.verdict))).or_default() += 1;
        }
    }
    eprintln!("verdicts met: {met:?}");
    for rule in ["5.3a", "5.3b", "5.7c", "4.2.3", "5.4d"] {
        for v in ["Pass", "Fail"] {
            assert!(
                met.contains_key(&(rule, v.to_string())),
                "no fleet met {rule} {v}: {met:?}"
            );
        }
    }
    for rule in ["5.3b", "5.7c", "4.2.3"] {
        assert!(
            met.contains_key(&(rule, "InsufficientData".to_string())),
            "no fleet under {rule}'s minimum: {met:?}"
        );
    }
}
