//! Batch generation: each batch is a stretch of one device's activity,
//! derived only from (seed, device index, the device's batch number), so the
//! data does not depend on concurrency or order. Timestamps are placed
//! relative to an anchor time ("now"); everything except the absolute times
//! and the time-of-day weighting is independent of the anchor.

use super::SimConfig;
use super::catalog::{CUSTOM_EVENTS, SITES};
use super::crash::{choose_fatal, choose_handled, crash_event};
use super::device::VirtualDevice;
use super::util::{
    DOMAIN_BATCH, DOMAIN_IDS, DOMAIN_LIVE, clamp_u64, derive_rng, lognormal, stable_hash,
    uuid_from, weighted_index,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use vitals_protocol::*;

pub(crate) const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Relative activity per hour of day, China Standard Time (UTC+8): a
/// brokerage app peaks during the trading sessions.
const HOURLY: [f64; 24] = [
    0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.35, 0.6, 1.0, 1.0, 0.9, 0.6, 0.9, 1.0, 0.8, 0.6,
    0.55, 0.5, 0.55, 0.65, 0.7, 0.55, 0.3,
];

#[derive(Debug, Clone)]
struct ReleaseInfo {
    release: Release,
    /// How long before the anchor it was released.
    offset_ms: i64,
}

/// Generates the simulator's batches without any I/O.
///
/// Batch `index` belongs to device `index % devices` (its batch number
/// `index / devices`). The same configuration (seed included) and anchor
/// always yield the same batch.
#[derive(Debug, Clone)]
pub struct BatchGenerator {
    seed: u64,
    devices: u64,
    events_per_batch: usize,
    span_ms: i64,
    anchor_ms: i64,
    app_id: String,
    /// Newest first.
    releases: Vec<ReleaseInfo>,
    bad: Option<usize>,
    crash_p: f64,
    crash_mult: f64,
    abnormal_p: f64,
    live_share: f64,
}

/// Per-batch context shared by its sessions.
struct Ctx<'a> {
    dev: &'a VirtualDevice,
    release: &'a Release,
    bad: bool,
    carrier: &'static str,
}

impl BatchGenerator {
    /// A generator for `cfg`. Out-of-range settings are clamped to the
    /// nearest valid value (use [`SimConfig::check`] to reject them instead).
    /// The anchor is `cfg.now_ms`, or the wall clock now.
    pub fn new(cfg: &SimConfig) -> BatchGenerator {
        let src = if cfg.releases.is_empty() {
            super::default_releases()
        } else {
            cfg.releases.clone()
        };
        let mut releases: Vec<ReleaseInfo> = src
            .iter()
            .map(|r| ReleaseInfo {
                release: Release {
                    version: r.version.clone(),
                    build: r.build.clone(),
                },
                offset_ms: if r.released_days_ago.is_finite() {
                    (r.released_days_ago.clamp(0.0, 3650.0) * DAY_MS as f64) as i64
                } else {
                    0
                },
            })
            .collect();
        releases.sort_by_key(|r| r.offset_ms);
        let bad = match cfg.bad_release.as_deref() {
            None => Some(0),
            Some(v) => releases.iter().position(|r| r.release.version == v),
        };
        let days = i64::from(cfg.days.clamp(1, 30));
        BatchGenerator {
            seed: cfg.seed,
            devices: cfg.devices.max(1),
            events_per_batch: cfg.events_per_batch.clamp(1, 1000),
            span_ms: (days * DAY_MS).min(30 * DAY_MS - HOUR_MS),
            anchor_ms: cfg.now_ms.unwrap_or_else(super::now_ms),
            app_id: cfg.app_id.clone(),
            releases,
            bad,
            crash_p: if cfg.crash_probability.is_finite() {
                cfg.crash_probability.clamp(0.0, 1.0)
            } else {
                0.0
            },
            crash_mult: if cfg.crash_multiplier.is_finite() {
                cfg.crash_multiplier.max(0.0)
            } else {
                1.0
            },
            abnormal_p: 0.0015,
            live_share: if cfg.live_share.is_finite() {
                cfg.live_share.clamp(0.0, 1.0)
            } else {
                0.0
            },
        }
    }

    /// The anchor ("now") batches are placed before.
    pub fn anchor_ms(&self) -> i64 {
        self.anchor_ms
    }

    /// Batch number `index`, anchored at [`Self::anchor_ms`].
    pub fn batch(&self, index: u64) -> Batch {
        self.batch_at(index, self.anchor_ms)
    }

    /// Batch number `index` with its events placed before `anchor_ms`.
    pub fn batch_at(&self, index: u64, anchor_ms: i64) -> Batch {
        let d = index % self.devices;
        let round = index / self.devices;
        let dev = VirtualDevice::generate(self.seed, d, self.devices);
        let mut rng = derive_rng(self.seed, DOMAIN_BATCH, d, round);
        let mut ids = derive_rng(self.seed, DOMAIN_IDS, d, round);
        let batch_id = uuid_from(&mut ids);

        // When this stretch of activity starts: a fixed number of draws, so
        // the rest of the stream does not depend on the anchor.
        let lo = 2 * HOUR_MS;
        let hi = (self.span_ms - 5 * 60_000).max(lo + 1);
        let mut ago = 0;
        let mut chosen = false;
        for _ in 0..6 {
            let cand = rng.gen_range(lo..hi);
            let u: f64 = rng.r#gen();
            let hour = ((anchor_ms - cand + 8 * HOUR_MS).rem_euclid(DAY_MS) / HOUR_MS) as usize;
            if !chosen {
                ago = cand;
                chosen = u < HOURLY[hour % 24];
            }
        }
        // Live traffic: a stretch that started 15-60 minutes ago, drawn
        // from a stream of its own, so history batches stay as they were.
        if self.live_share > 0.0 {
            let mut live = derive_rng(self.seed, DOMAIN_LIVE, d, round);
            if live.gen_bool(self.live_share) {
                ago = live.gen_range(15 * 60_000..HOUR_MS);
            }
        }
        let t0 = anchor_ms - ago;

        // The newest release this device had picked up by then.
        let ri = self
            .releases
            .iter()
            .position(|r| r.offset_ms - ago >= dev.update_latency_ms)
            .unwrap_or(self.releases.len().saturating_sub(1));
        let release = self
            .releases
            .get(ri)
            .map(|r| r.release.clone())
            .unwrap_or_else(|| Release {
                version: "0.0.0".into(),
                build: String::new(),
            });
        let carrier = if rng.gen_bool(dev.wifi_share) {
            "wifi"
        } else if dev.has_5g {
            "5g"
        } else {
            "4g"
        };
        let ctx = Ctx {
            dev: &dev,
            release: &release,
            bad: self.bad == Some(ri),
            carrier,
        };

        let end_limit = anchor_ms - 1000;
        let mut budget = self.events_per_batch;
        let mut events: Vec<Event> = Vec::with_capacity(budget);
        let mut cursor = t0 + rng.gen_range(0..600_000);
        let mut last: Option<(i64, i64)> = None; // (start, end) of the last session
        while budget >= 3 {
            let first = events.len();
            let Some((start, end)) = self.session(
                &mut rng,
                &mut ids,
                &ctx,
                cursor,
                end_limit,
                budget,
                &mut events,
            ) else {
                break;
            };
            budget -= events.len() - first;
            last = Some((start, end));
            let gap =
                lognormal(&mut rng, 35.0 * 60_000.0, 1.0).clamp(90_000.0, 8.0 * HOUR_MS as f64);
            cursor = end + gap as i64;
        }
        // Fill what is left of the batch inside the last session (or, when
        // there is none, as loose samples). The stable sort below keeps each
        // session's start first and its end last.
        if budget > 0 {
            let (start, end) = last.unwrap_or((t0, (t0 + 60_000).min(end_limit)));
            for _ in 0..budget {
                let ts = rng.gen_range(start..end.max(start + 1));
                events.push(self.body_event(&mut rng, &ctx, ts));
            }
        }
        events.sort_by_key(Event::ts);
        let last_ts = events.last().map(Event::ts).unwrap_or(t0);

        Batch {
            v: PROTOCOL_VERSION,
            batch_id,
            app_id: self.app_id.clone(),
            release,
            platform: dev.platform,
            device: dev.device.clone(),
            network: Network {
                ip_family: dev.ip_family,
                carrier: carrier.to_string(),
            },
            install_id: dev.install_id.clone(),
            user_id: dev.user_id.clone(),
            consent: dev.consent,
            environment: Some("production".into()),
            sent_at: Some((last_ts + rng.gen_range(1_000..60_000)).min(anchor_ms)),
            events,
        }
    }

    /// One session appended to `out`; returns its (start, end), or `None`
    /// when no further session fits before `end_limit` or in `budget`.
    #[allow(clippy::too_many_arguments)]
    fn session(
        &self,
        rng: &mut ChaCha8Rng,
        ids: &mut ChaCha8Rng,
        ctx: &Ctx<'_>,
        start: i64,
        end_limit: i64,
        budget: usize,
        out: &mut Vec<Event>,
    ) -> Option<(i64, i64)> {
        let dev = ctx.dev;
        let p_crash = (self.crash_p * if ctx.bad { self.crash_mult } else { 1.0 }).min(1.0);
        let u: f64 = rng.r#gen();
        let status = if u < p_crash {
            SessionStatus::Crashed
        } else if u < p_crash + self.abnormal_p {
            SessionStatus::Abnormal
        } else {
            SessionStatus::Ok
        };
        let mut duration = lognormal(rng, 210_000.0, 0.9).clamp(3_000.0, 3.0 * HOUR_MS as f64);
        if status != SessionStatus::Ok {
            duration *= rng.gen_range(0.05..1.0);
        }
        let duration = (duration as i64).max(3_000).min(end_limit - start);
        if duration < 3_000 || budget < 3 {
            return None;
        }
        let end = start + duration;
        let session_id = uuid_from(ids);
        let first = out.len();
        let mut used = if status == SessionStatus::Crashed {
            3
        } else {
            2
        };
        out.push(Event::Session(SessionEvent {
            ts: start,
            session_id: session_id.clone(),
            phase: SessionPhase::Start,
            status: None,
            duration_ms: 0,
            foreground_ms: 0,
        }));

        let is_app = dev.platform != Platform::Miniprogram;
        if is_app && rng.gen_bool(0.02) && budget - used >= 1 {
            let ts = start - rng.gen_range(5_000..60_000);
            out.push(Event::Install(self.install(rng, ctx, ts)));
            used += 1;
        }
        let mut body_from = start + 1;
        if rng.gen_bool(0.6) && budget - used >= 1 {
            let mut cs = self.cold_start(rng, ctx, start);
            cs.ts = cs.ts.min(end - 1);
            body_from = cs.ts;
            out.push(Event::ColdStart(cs));
            used += 1;
        }
        let funnel_p = if is_app { 0.03 } else { 0.08 };
        if rng.gen_bool(funnel_p) && budget - used >= 4 {
            used += self.hot_update(rng, ctx, start, end, out);
        }
        if rng.gen_bool(0.01) && budget - used >= 1 {
            let bug = choose_handled(rng, dev);
            let ts = rng.gen_range(start..end);
            out.push(Event::Crash(crash_event(
                rng,
                ids,
                dev,
                ctx.release,
                bug,
                ts,
                &session_id,
                false,
            )));
            used += 1;
        }
        let natural = 2.0 + duration as f64 / 20_000.0 * rng.gen_range(0.5..1.5);
        let body = (natural as usize).min(80).min(budget - used);
        for _ in 0..body {
            let ts = rng.gen_range(body_from.min(end - 1)..end);
            out.push(self.body_event(rng, ctx, ts));
        }
        if status == SessionStatus::Crashed {
            let regression =
                ctx.bad && self.crash_mult > 1.0 && rng.gen_bool(1.0 - 1.0 / self.crash_mult);
            let bug = choose_fatal(rng, dev, regression);
            out.push(Event::Crash(crash_event(
                rng,
                ids,
                dev,
                ctx.release,
                bug,
                end,
                &session_id,
                true,
            )));
        }
        let foreground = (duration as f64 * rng.gen_range(0.7..1.0)) as u64;
        out[first + 1..].sort_by_key(Event::ts);
        out.push(Event::Session(SessionEvent {
            ts: end,
            session_id,
            phase: SessionPhase::End,
            status: Some(status),
            duration_ms: duration as u64,
            foreground_ms: foreground,
        }));
        Some((start, end))
    }

    fn body_event(&self, rng: &mut ChaCha8Rng, ctx: &Ctx<'_>, ts: i64) -> Event {
        let k = weighted_index(rng, [0.74, 0.22, 0.04].into_iter());
        match k {
            0 => Event::Network(self.network(rng, ctx, ts)),
            1 => Event::Perf(self.perf(rng, ctx, ts)),
            _ => {
                let (name, timer, median) = CUSTOM_EVENTS[rng.gen_range(0..CUSTOM_EVENTS.len())];
                let value = if timer {
                    lognormal(rng, median, 0.5).round().max(1.0)
                } else {
                    median
                };
                Event::Custom(CustomEvent {
                    ts,
                    name: name.to_string(),
                    kind: if timer {
                        CustomKind::Timer
                    } else {
                        CustomKind::Counter
                    },
                    value,
                })
            }
        }
    }

    fn network(&self, rng: &mut ChaCha8Rng, ctx: &Ctx<'_>, ts: i64) -> NetworkEvent {
        const CATS: [(ServiceCategory, f64, f64); 4] = [
            (ServiceCategory::Trade, 25.0, 120.0),
            (ServiceCategory::Quote, 45.0, 45.0),
            (ServiceCategory::Bus, 15.0, 200.0),
            (ServiceCategory::Other, 15.0, 150.0),
        ];
        let (category, _, median) = CATS[weighted_index(rng, CATS.iter().map(|c| c.1))];
        let site = if rng.gen_bool(0.9) {
            ctx.dev.home_site
        } else {
            rng.gen_range(0..SITES.len())
        };
        let (site_id, _, site_factor) = SITES[site.min(SITES.len() - 1)];
        let carrier_factor = match ctx.carrier {
            "wifi" => 1.0,
            "5g" => 1.15,
            _ => 1.6,
        };
        let tier_factor = [1.0, 1.05, 1.2][usize::from(ctx.dev.tier.min(2))];
        let mut latency = lognormal(
            rng,
            median * carrier_factor * site_factor * tier_factor,
            0.5,
        );
        let ip_family = match ctx.dev.ip_family {
            IpFamily::Dual if rng.gen_bool(0.75) => IpFamily::Ipv6,
            IpFamily::Dual => IpFamily::Ipv4,
            f => f,
        };
        let fail_scale = if ctx.carrier == "4g" { 3.0 } else { 1.0 };
        let u: f64 = rng.r#gen();
        let status = if u < 0.002 * fail_scale {
            latency = rng.gen_range(10_000.0..15_000.0);
            0
        } else if u < 0.002 * fail_scale + 0.003 {
            [502, 503, 504][rng.gen_range(0..3)]
        } else if u < 0.002 * fail_scale + 0.008 {
            401
        } else {
            200
        };
        NetworkEvent {
            ts,
            category,
            site: site_id.to_string(),
            latency_ms: clamp_u64(latency, 1, 60_000),
            status,
            ip_family,
        }
    }

    fn perf(&self, rng: &mut ChaCha8Rng, ctx: &Ctx<'_>, ts: i64) -> PerfEvent {
        let cpu_median = 2.2 * [0.8, 1.0, 1.3][usize::from(ctx.dev.tier.min(2))];
        let cpu = lognormal(rng, cpu_median, 0.6).clamp(0.1, 400.0);
        let mem_base = match ctx.dev.platform {
            Platform::Ios => 120.0,
            Platform::Ipados => 150.0,
            Platform::Android => 145.0,
            Platform::AndroidTablet => 165.0,
            Platform::Harmonyos => 140.0,
            Platform::Miniprogram | Platform::Other => 80.0,
        };
        let mem = lognormal(rng, mem_base, 0.2) * if ctx.bad { 1.35 } else { 1.0 };
        PerfEvent {
            ts,
            cpu_pct: Some((cpu * 10.0).round() / 10.0),
            memory_mb: Some((mem.clamp(10.0, 16_384.0) * 10.0).round() / 10.0),
        }
    }

    fn cold_start(&self, rng: &mut ChaCha8Rng, ctx: &Ctx<'_>, start: i64) -> ColdStartEvent {
        let dev = ctx.dev;
        let platform_factor = match dev.platform {
            Platform::Ios => 0.9,
            Platform::Ipados => 0.95,
            Platform::Android => 1.05,
            Platform::AndroidTablet => 1.1,
            Platform::Harmonyos => 1.0,
            Platform::Miniprogram | Platform::Other => 1.6,
        };
        let median = 900.0
            * platform_factor
            * [0.8, 1.0, 1.45][usize::from(dev.tier.min(2))]
            * if dev.device.emulator { 1.3 } else { 1.0 }
            * if ctx.bad { 1.4 } else { 1.0 };
        let total = clamp_u64(lognormal(rng, median, 0.35), 120, 60_000);
        let process = total * rng.gen_range(15..22) / 100;
        let init = total * rng.gen_range(40..52) / 100;
        let frame = total - process - init;
        ColdStartEvent {
            ts: start + total as i64,
            duration_ms: total,
            spans: vec![
                Span {
                    name: "process_start".into(),
                    start_ms: 0,
                    duration_ms: process,
                },
                Span {
                    name: "app_init".into(),
                    start_ms: process,
                    duration_ms: init,
                },
                Span {
                    name: "first_frame".into(),
                    start_ms: process + init,
                    duration_ms: frame,
                },
            ],
        }
    }

    fn install(&self, rng: &mut ChaCha8Rng, ctx: &Ctx<'_>, ts: i64) -> InstallEvent {
        let dev = ctx.dev;
        let (mb, secs) = match dev.platform {
            Platform::Ios => (86.0, 9.0),
            Platform::Ipados => (88.0, 11.0),
            Platform::Android => (72.0, 14.0),
            Platform::AndroidTablet => (74.0, 15.0),
            Platform::Harmonyos => (78.0, 12.0),
            Platform::Miniprogram | Platform::Other => (12.0, 3.0),
        };
        // The same build has the same size everywhere.
        let jitter =
            (stable_hash(&[&ctx.release.version, dev.platform.as_str()]) % 4_000_000) as f64;
        let v7 = if dev.device.abi == "armeabi-v7a" {
            -4_000_000.0
        } else {
            0.0
        };
        let bytes = (mb * 1_000_000.0 - 2_000_000.0 + jitter + v7) as u64;
        let duration = lognormal(
            rng,
            secs * 1000.0 * [0.8, 1.0, 1.5][usize::from(dev.tier.min(2))],
            0.5,
        );
        let abi = if dev.device.abi.is_empty() {
            "arm64"
        } else {
            dev.device.abi.as_str()
        };
        InstallEvent {
            ts,
            duration_ms: clamp_u64(duration, 500, 600_000),
            package_bytes: bytes,
            abi_split: vec![AbiSize {
                abi: abi.to_string(),
                bytes: bytes * 38 / 100,
            }],
        }
    }

    /// A hot-update funnel (offered → downloaded → applied / failed / rolled
    /// back); returns how many events it added (at most 4).
    fn hot_update(
        &self,
        rng: &mut ChaCha8Rng,
        ctx: &Ctx<'_>,
        start: i64,
        end: i64,
        out: &mut Vec<Event>,
    ) -> usize {
        let n = 1 + weighted_index(rng, [1.0, 2.0, 4.0].into_iter());
        let patch_id = format!("hp-{}-{n}", ctx.release.version);
        let package_bytes = 400_000 + stable_hash(&[&patch_id]) % 500_000;
        let mut ts = start + rng.gen_range(1_000..5_000);
        let push = |out: &mut Vec<Event>, ts: i64, stage, error: &str| {
            out.push(Event::HotUpdate(HotUpdateEvent {
                ts: ts.min(end),
                patch_id: patch_id.clone(),
                stage,
                package_bytes,
                error_code: error.to_string(),
            }));
        };
        push(out, ts, HotUpdateStage::Offered, "");
        let slow = if ctx.carrier == "4g" { 2.0 } else { 1.0 };
        ts += lognormal(rng, 2_500.0 * slow, 0.6) as i64;
        if !rng.gen_bool(0.93) {
            let code = if rng.gen_bool(0.6) {
                "E_NETWORK_TIMEOUT"
            } else {
                "E_DOWNLOAD_INTERRUPTED"
            };
            push(out, ts, HotUpdateStage::Failed, code);
            return 2;
        }
        push(out, ts, HotUpdateStage::Downloaded, "");
        ts += rng.gen_range(100..600);
        let u: f64 = rng.r#gen();
        if u < 0.035 {
            let code = if rng.gen_bool(0.6) {
                "E_VERIFY_SIGNATURE"
            } else {
                "E_DISK_FULL"
            };
            push(out, ts, HotUpdateStage::Failed, code);
            return 3;
        }
        if u >= 0.99 {
            return 2; // the app was closed before applying
        }
        push(out, ts, HotUpdateStage::Applied, "");
        if rng.gen_bool(0.015) {
            ts += rng.gen_range(5_000..60_000);
            push(out, ts, HotUpdateStage::RolledBack, "E_CRASH_LOOP");
            return 4;
        }
        3
    }
}
