//! Virtual devices: one stable profile per device index, derived from the
//! seed alone.

use super::catalog::{Model, PLATFORMS, PlatformSpec, SITES};
use super::util::{
    DOMAIN_DEVICE, derive_rng, exponential, pick_weighted, uuid_from, weighted_index,
};
use rand::Rng;
use vitals_protocol::{Consent, Device, IpFamily, Platform, Screen};

const DAY_MS: f64 = 86_400_000.0;

/// How the app's code runs on a device, which decides what a crash looks
/// like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// iOS / iPadOS: Objective-C / Swift / C++ in Mach-O images.
    Apple,
    /// Android and HarmonyOS 2–4: Java/Kotlin with an NDK library.
    Android,
    /// HarmonyOS NEXT: ArkTS with a native library.
    ArkTs,
    /// A WeChat mini program: JavaScript.
    MiniProgram,
}

/// One simulated device with everything that stays fixed across its batches.
#[derive(Debug, Clone)]
pub(crate) struct VirtualDevice {
    pub platform: Platform,
    pub runtime: Runtime,
    pub device: Device,
    /// 0 = flagship … 2 = old / low-end.
    pub tier: u8,
    pub ip_family: IpFamily,
    pub install_id: String,
    pub user_id: Option<String>,
    pub consent: Consent,
    /// How long after a release this device typically installs it.
    pub update_latency_ms: i64,
    /// Index into [`SITES`] of the site it is routed to.
    pub home_site: usize,
    /// Share of its batches sent over Wi-Fi.
    pub wifi_share: f64,
    /// Has a 5G radio (else cellular is 4G).
    pub has_5g: bool,
}

impl VirtualDevice {
    /// The device with index `index` of the fleet generated from `seed`.
    /// `devices` is the fleet size (user ids are drawn from a pool scaled to
    /// it, so some users own two devices).
    pub(crate) fn generate(seed: u64, index: u64, devices: u64) -> VirtualDevice {
        let mut rng = derive_rng(seed, DOMAIN_DEVICE, index, 0);
        let spec: &PlatformSpec = pick_weighted(&mut rng, &PLATFORMS, |p| p.weight);
        let platform = spec.platform;
        let model: &Model = pick_weighted(&mut rng, spec.models, |m| m.weight);
        let (lo, hi) = model.os;
        let hi = hi.min(spec.os_versions.len().saturating_sub(1));
        let lo = lo.min(hi);
        let os_idx =
            lo + weighted_index(&mut rng, spec.os_versions[lo..=hi].iter().map(|(_, w)| *w));
        let os_version = spec.os_versions[os_idx.min(hi)].0.to_string();

        let runtime = match platform {
            Platform::Ios | Platform::Ipados => Runtime::Apple,
            Platform::Android | Platform::AndroidTablet => Runtime::Android,
            Platform::Harmonyos if os_version.starts_with('5') => Runtime::ArkTs,
            Platform::Harmonyos => Runtime::Android,
            Platform::Miniprogram | Platform::Other => Runtime::MiniProgram,
        };

        // Integrity signals: a few rooted / jailbroken devices and emulators.
        let (rooted_p, emulator_p) = match platform {
            Platform::Ios | Platform::Ipados => (0.005, 0.003),
            Platform::Android | Platform::AndroidTablet => (0.015, 0.01),
            Platform::Harmonyos => (0.005, 0.005),
            Platform::Miniprogram | Platform::Other => (0.0, 0.0),
        };
        let rooted = rng.gen_bool(rooted_p);
        let emulator = rng.gen_bool(emulator_p);

        let mut model_id = model.id.to_string();
        let mut screen = Screen {
            width: model.width,
            height: model.height,
            density: model.density,
        };
        let abi = match platform {
            Platform::Ios | Platform::Ipados => "arm64",
            Platform::Miniprogram | Platform::Other => "",
            _ if emulator => "x86_64",
            Platform::Android | Platform::AndroidTablet => {
                let v7_share = if model.tier == 2 { 0.25 } else { 0.03 };
                if rng.gen_bool(v7_share) {
                    "armeabi-v7a"
                } else {
                    "arm64-v8a"
                }
            }
            Platform::Harmonyos => "arm64-v8a",
        }
        .to_string();
        if emulator && matches!(platform, Platform::Android | Platform::AndroidTablet) {
            model_id = "sdk_gphone64_x86_64".to_string();
            screen = Screen {
                width: 1080,
                height: 2400,
                density: 2.625,
            };
        }

        let ip_family = match weighted_index(&mut rng, [50.0, 10.0, 40.0].into_iter()) {
            0 => IpFamily::Ipv4,
            1 => IpFamily::Ipv6,
            _ => IpFamily::Dual,
        };

        let install_id = uuid_from(&mut rng);
        // ~3% opted out of analytics: the SDK then sends no user id.
        let analytics = !rng.gen_bool(0.03);
        let has_user = rng.gen_bool(0.7);
        let user_pool = (devices.saturating_mul(4) / 5).max(1);
        let user_n = rng.gen_range(1..=user_pool);
        let user_id = (analytics && has_user).then(|| format!("user-{user_n}"));
        // Half of the app installs granted device-id consent; mini programs
        // have no device id at all.
        let device_ids = platform != Platform::Miniprogram && rng.gen_bool(0.5);
        let raw_device_id = uuid_from(&mut rng);
        let device_id = device_ids.then(|| match platform {
            Platform::Ios | Platform::Ipados => raw_device_id.to_uppercase(), // IDFV
            _ => raw_device_id,                                               // OAID / ODID
        });

        // Release uptake: most devices auto-update within days, a third lag
        // for weeks; mini programs update on the next cold start.
        let update_latency_days = match platform {
            Platform::Miniprogram => exponential(&mut rng, 0.2),
            _ if rng.gen_bool(0.7) => exponential(&mut rng, 1.5),
            _ => exponential(&mut rng, 12.0),
        };
        let home_site = weighted_index(&mut rng, SITES.iter().map(|s| s.1));
        let wifi_share = rng.gen_range(0.45..0.85);
        let has_5g = model.tier < 2 && rng.gen_bool(0.85);

        VirtualDevice {
            platform,
            runtime,
            device: Device {
                model: model_id,
                class: model.class,
                os_version,
                screen,
                abi,
                rooted,
                emulator,
                device_id,
            },
            tier: if emulator { 1 } else { model.tier },
            ip_family,
            install_id,
            user_id,
            consent: Consent {
                analytics,
                device_ids,
            },
            update_latency_ms: (update_latency_days * DAY_MS) as i64,
            home_site,
            wifi_share,
            has_5g,
        }
    }
}
