//! Verdicts at the threshold: seeded random fleets place the 90th
//! percentile of cold start, memory and bus latency exactly at, just under
//! and just over their thresholds (and CPU means around 5 %), and every
//! value, interval and verdict the analyzer gives is compared with a plain
//! reference computation over the same raw values, on SQLite, ClickHouse and
//! the two-shard cluster.
//!
//! The reference is written here from `docs/METRICS.md`: nearest-rank
//! percentiles with integer ranks, order-statistic intervals, the normal
//! interval of a mean, and the `ensure` / `exceed` rules.

mod common;

use common::*;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use vitals_analyzer::evaluate::{RuleResult, Verdict};
use vitals_analyzer::policy::Metric;
use vitals_protocol::*;

const Z95: f64 = 1.959_963_984_540_054;

/// One release's raw samples.
struct Fleet {
    version: String,
    cold: Vec<u64>,
    memory: Vec<f64>,
    bus: Vec<u64>,
    /// Bus requests that failed: (latency, status 0 for a timeout or
    /// transport error, or a 5xx). Left out of 5.3f's response times.
    bus_failed: Vec<(u64, u16)>,
    cpu: Vec<f64>,
}

/// `n` values whose nearest-rank 90th percentile is exactly `target`.
fn around<T: Copy>(
    rng: &mut impl Rng,
    n: usize,
    target: T,
    below: impl Fn(&mut dyn rand::RngCore) -> T,
    above: impl Fn(&mut dyn rand::RngCore) -> T,
) -> Vec<T> {
    let rank = (9 * n).div_ceil(10);
    let mut v: Vec<T> = (0..rank - 1).map(|_| below(rng)).collect();
    v.push(target);
    v.extend((rank..n).map(|_| above(rng)));
    v.shuffle(rng);
    v
}

fn fleet(seed: u64) -> Fleet {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = rng.gen_range(100..1500);
    let cold_t = [1999u64, 2000, 2001, 1990, 2012][seed as usize % 5];
    let mem_t = [199.5f64, 200.0, 200.04, 199.99, 190.0, 201.0][seed as usize % 6];
    let bus_t = [499u64, 500, 501, 502][seed as usize % 4];
    let cold = around(
        &mut rng,
        n,
        cold_t,
        |r| r.gen_range(300..=cold_t),
        |r| r.gen_range(cold_t..6000),
    );
    let memory = around(
        &mut rng,
        n + 37,
        mem_t,
        |r| (r.gen_range(60.0..mem_t) * 100.0f64).floor() / 100.0,
        |r| (r.gen_range(mem_t..400.0) * 100.0f64).ceil() / 100.0,
    );
    let bus = around(
        &mut rng,
        n + 11,
        bus_t,
        |r| r.gen_range(20..=bus_t),
        |r| r.gen_range(bus_t..3000),
    );
    // CPU around 5 %, with idle (0 %) samples.
    let centre = [4.6f64, 4.95, 5.0, 5.2][seed as usize % 4];
    let cpu = (0..n)
        .map(|i| {
            if i % 13 == 0 {
                0.0
            } else {
                (centre + rng.gen_range(-2.0..2.0f64)).max(0.0)
            }
        })
        .collect();
    // 0 to ~2 % of the requests fail, around the 1 % error-rate limit.
    let bus_failed = (0..rng.gen_range(0..bus.len() / 50 + 1))
        .map(|i| (if i % 2 == 0 { 5000 } else { 80 }, [0u16, 503, 500][i % 3]))
        .collect();
    Fleet {
        version: format!("9.{seed}.0"),
        cold,
        memory,
        bus,
        bus_failed,
        cpu,
    }
}

fn batches(f: &Fleet, ts: i64) -> Vec<AcceptedBatch> {
    let mut events: Vec<Event> = Vec::new();
    events.extend(f.cold.iter().map(|d| {
        Event::ColdStart(ColdStartEvent {
            ts,
            duration_ms: *d,
            spans: vec![],
        })
    }));
    events.extend(f.memory.iter().map(|m| {
        Event::Perf(PerfEvent {
            ts,
            cpu_pct: None,
            memory_mb: Some(*m),
        })
    }));
    events.extend(f.cpu.iter().map(|c| {
        Event::Perf(PerfEvent {
            ts,
            cpu_pct: Some(*c),
            memory_mb: None,
        })
    }));
    events.extend(f.bus.iter().map(|l| {
        Event::Network(NetworkEvent {
            ts,
            category: ServiceCategory::Bus,
            site: "sh1".into(),
            latency_ms: *l,
            status: 200,
            ip_family: IpFamily::Ipv4,
        })
    }));
    events.extend(f.bus_failed.iter().map(|(l, status)| {
        Event::Network(NetworkEvent {
            ts,
            category: ServiceCategory::Bus,
            site: "sz2".into(),
            latency_ms: *l,
            status: *status,
            ip_family: IpFamily::Ipv4,
        })
    }));
    events
        .chunks(400)
        .enumerate()
        .map(|(i, c)| {
            batch(
                format!("{}-{i}", f.version),
                &f.version,
                i as u64,
                c.to_vec(),
            )
        })
        .collect()
}

/// The reference verdict (`docs/METRICS.md`): `ensure` needs the interval's
/// upper end within the threshold; both fail on the value; inclusive
/// thresholds pass themselves; 100 is every rule's minimum sample here.
fn reference(ensure: bool, t: f64, n: usize, value: f64, hi: f64) -> Verdict {
    if n < 100 {
        return Verdict::InsufficientData;
    }
    if value > t {
        Verdict::Fail
    } else if ensure && hi > t {
        Verdict::InsufficientData
    } else {
        Verdict::Pass
    }
}

/// Nearest-rank percentile and its order-statistic interval, from sorted
/// values, with integer ranks (q = 0.9).
fn p90<T: Copy + Into<f64>>(values: &[T]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = values.iter().map(|x| (*x).into()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let rank = (9 * n).div_ceil(10);
    let half = Z95 * (n as f64 * 0.9 * 0.1).sqrt();
    let lo = ((0.9 * n as f64 - half).floor().max(1.0) as usize).min(rank);
    let hi = ((0.9 * n as f64 + half).ceil() as usize).clamp(rank, n);
    (v[lo - 1], v[rank - 1], v[hi - 1])
}

fn result(e: &vitals_analyzer::Evaluation, m: Metric, cat: Option<&str>) -> RuleResult {
    e.results
        .iter()
        .find(|r| r.metric == m && r.category.as_deref() == cat)
        .unwrap_or_else(|| panic!("{m:?} {cat:?}"))
        .clone()
}

/// Checks a percentile rule against its reference.
fn check_p90(who: &str, r: &RuleResult, values: (f64, f64, f64), n: usize, t: f64, ensure: bool) {
    let (lo, exact, hi) = values;
    let want = reference(ensure, t, n, exact, hi);
    assert_eq!(
        r.verdict, want,
        "{who}: value {exact} interval ({lo}, {hi}) vs {t}: {r:?}"
    );
    assert_eq!(r.sample, n as u64, "{who}");
    let got = r.value.expect("a value");
    if r.exact {
        assert_eq!(got, exact, "{who}: exact value");
    } else {
        assert!(
            (got - exact).abs() <= 0.006 * exact,
            "{who}: {got} vs {exact}"
        );
    }
    // When the value's histogram bucket could hold the threshold, the value
    // must have been read exactly.
    let upper = vitals_store::row::BUCKET_GAMMA.powi(i32::from(vitals_store::row::bucket(exact)));
    if upper / vitals_store::row::BUCKET_GAMMA < t && t <= upper {
        assert!(
            r.exact,
            "{who}: {exact} shares a bucket with {t} but is not exact: {r:?}"
        );
    }
    if ensure {
        let (glo, ghi) = r.interval.expect("an interval");
        // The interval's ends decide `ensure`: exact where they straddle.
        assert_eq!(ghi > t, hi > t, "{who}: upper end {ghi} vs {hi}");
        assert!(glo <= got && got <= ghi, "{who}: {glo} {got} {ghi}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_and_means_at_the_threshold_match_a_plain_reference() {
    let ts = now_ms() - 3_600_000;
    let fleets: Vec<Fleet> = (0..24).map(fleet).collect();
    let data: Vec<_> = fleets.iter().flat_map(|f| batches(f, ts)).collect();
    let b = backends(&data).await;
    for (store, dir) in b.iter() {
        for f in &fleets {
            let who = |m: &str| format!("{} {} {m}", store.backend(), f.version);
            let e = eval(store.clone(), dir, &f.version, None).await;

            let cold: Vec<f64> = f.cold.iter().map(|d| *d as f64).collect();
            let r = result(&e, Metric::ColdStart, None);
            check_p90(
                &who("cold start"),
                &r,
                p90(&cold),
                cold.len(),
                2000.0,
                false,
            );

            let r = result(&e, Metric::Memory, None);
            check_p90(
                &who("memory"),
                &r,
                p90(&f.memory),
                f.memory.len(),
                200.0,
                true,
            );

            let bus: Vec<f64> = f.bus.iter().map(|l| *l as f64).collect();
            let r = result(&e, Metric::ServerLatency, Some("bus"));
            check_p90(&who("bus"), &r, p90(&bus), bus.len(), 500.0, false);

            // 5.3f request error rate: failed ÷ all bus requests, judged on
            // the measured value against 1 % (inclusive).
            let r = result(&e, Metric::RequestErrorRate, Some("bus"));
            let total = (f.bus.len() + f.bus_failed.len()) as u64;
            let failed = f.bus_failed.len() as u64;
            assert_eq!(r.sample, total, "{}", who("errors"));
            assert_eq!(
                r.value,
                Some(failed as f64 / total as f64),
                "{}",
                who("errors")
            );
            let want = if failed * 100 > total {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            assert_eq!(r.verdict, want, "{}: {failed} of {total}", who("errors"));

            // CPU: mean of every sample (zeros included), normal interval.
            let n = f.cpu.len() as f64;
            let mean = f.cpu.iter().sum::<f64>() / n;
            let var = f.cpu.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let hi = mean + Z95 * (var / n).sqrt();
            let r = result(&e, Metric::Cpu, None);
            let got = r.value.expect("cpu mean");
            assert!(
                (got - mean).abs() <= 1e-9 * mean,
                "{}: {got} vs {mean}",
                who("cpu")
            );
            let (_, ghi) = r.interval.expect("cpu interval");
            assert!((ghi - hi).abs() <= 1e-6, "{}: {ghi} vs {hi}", who("cpu"));
            // Far enough from the limit that float sums cannot flip it.
            if (mean - 5.0).abs() > 1e-9 && (hi - 5.0).abs() > 1e-9 {
                assert_eq!(
                    r.verdict,
                    reference(true, 5.0, f.cpu.len(), mean, hi),
                    "{}: mean {mean} upper {hi}",
                    who("cpu")
                );
            }
        }
    }
}
