//! Static fleet data: platform shares, device models with their screens and
//! the OS versions they can run, and OS version popularity. Model ids are the
//! identifiers the platforms themselves report (`iPhone15,2`, `SM-S9180`,
//! `ALN-AL00`…); shares are rough figures for a mainland-China retail
//! brokerage audience.

use vitals_protocol::{DeviceClass, Platform};

/// One device model.
pub(crate) struct Model {
    pub id: &'static str,
    pub class: DeviceClass,
    pub width: u32,
    pub height: u32,
    pub density: f32,
    /// 0 = current flagship, 1 = recent / mid-range, 2 = old or low-end.
    pub tier: u8,
    /// Inclusive index range into the platform's OS list that this model runs.
    pub os: (usize, usize),
    /// Relative share within the platform.
    pub weight: f64,
}

/// One platform: its share of the fleet, OS versions and models.
pub(crate) struct PlatformSpec {
    pub platform: Platform,
    pub weight: f64,
    /// OS version strings (oldest first) with relative popularity.
    pub os_versions: &'static [(&'static str, f64)],
    pub models: &'static [Model],
}

const P: DeviceClass = DeviceClass::Phone;
const T: DeviceClass = DeviceClass::Tablet;

#[allow(clippy::too_many_arguments)]
const fn m(
    id: &'static str,
    class: DeviceClass,
    width: u32,
    height: u32,
    density: f32,
    tier: u8,
    os: (usize, usize),
    weight: f64,
) -> Model {
    Model {
        id,
        class,
        width,
        height,
        density,
        tier,
        os,
        weight,
    }
}

const IOS_OS: &[(&str, f64)] = &[
    ("12.5.7", 1.0),
    ("13.7", 1.0),
    ("14.8.1", 2.0),
    ("15.8.3", 5.0),
    ("16.7.10", 12.0),
    ("17.6.1", 30.0),
    ("18.1.1", 25.0),
    ("18.3.2", 24.0),
];

const IOS_MODELS: &[Model] = &[
    m("iPhone7,2", P, 750, 1334, 2.0, 2, (0, 0), 1.0),
    m("iPhone8,1", P, 750, 1334, 2.0, 2, (1, 3), 2.0),
    m("iPhone10,3", P, 1125, 2436, 3.0, 2, (1, 4), 4.0),
    m("iPhone11,8", P, 828, 1792, 2.0, 2, (1, 6), 5.0),
    m("iPhone12,1", P, 828, 1792, 2.0, 1, (1, 7), 9.0),
    m("iPhone13,2", P, 1170, 2532, 3.0, 1, (2, 7), 11.0),
    m("iPhone14,5", P, 1170, 2532, 3.0, 1, (3, 7), 14.0),
    m("iPhone14,6", P, 750, 1334, 2.0, 1, (3, 7), 3.0),
    m("iPhone14,7", P, 1170, 2532, 3.0, 1, (4, 7), 10.0),
    m("iPhone15,2", P, 1179, 2556, 3.0, 0, (4, 7), 13.0),
    m("iPhone15,4", P, 1179, 2556, 3.0, 0, (5, 7), 10.0),
    m("iPhone16,2", P, 1290, 2796, 3.0, 0, (5, 7), 10.0),
    m("iPhone17,1", P, 1206, 2622, 3.0, 0, (6, 7), 6.0),
];

const IPADOS_OS: &[(&str, f64)] = &[
    ("13.7", 1.0),
    ("14.8.1", 2.0),
    ("15.8.3", 5.0),
    ("16.7.10", 12.0),
    ("17.7.2", 35.0),
    ("18.3.2", 45.0),
];

const IPADOS_MODELS: &[Model] = &[
    m("iPad7,5", T, 1536, 2048, 2.0, 2, (0, 4), 6.0),
    m("iPad8,1", T, 1668, 2388, 2.0, 1, (0, 5), 5.0),
    m("iPad11,6", T, 1620, 2160, 2.0, 2, (1, 5), 8.0),
    m("iPad12,1", T, 1620, 2160, 2.0, 1, (2, 5), 14.0),
    m("iPad13,1", T, 1640, 2360, 2.0, 1, (1, 5), 8.0),
    m("iPad13,4", T, 1668, 2388, 2.0, 0, (1, 5), 9.0),
    m("iPad13,16", T, 1640, 2360, 2.0, 0, (2, 5), 10.0),
    m("iPad13,18", T, 1640, 2360, 2.0, 1, (3, 5), 12.0),
    m("iPad14,1", T, 1488, 2266, 2.0, 1, (2, 5), 7.0),
    m("iPad14,3", T, 1668, 2388, 2.0, 0, (3, 5), 8.0),
    m("iPad16,3", T, 1668, 2420, 2.0, 0, (4, 5), 5.0),
];

const ANDROID_OS: &[(&str, f64)] = &[
    ("7", 1.0),
    ("8", 2.0),
    ("9", 3.0),
    ("10", 6.0),
    ("11", 9.0),
    ("12", 14.0),
    ("13", 24.0),
    ("14", 28.0),
    ("15", 13.0),
];

const ANDROID_MODELS: &[Model] = &[
    m("SM-G9550", P, 1440, 2960, 4.0, 2, (0, 2), 3.0),
    m("MI 8", P, 1080, 2248, 2.75, 2, (1, 3), 4.0),
    m("PBEM00", P, 1080, 2340, 3.0, 2, (1, 4), 3.0),
    m("M2007J3SC", P, 1080, 2400, 2.75, 2, (3, 5), 6.0),
    m("M2011K2C", P, 1440, 3200, 3.5, 1, (4, 7), 7.0),
    m("22041211AC", P, 1080, 2400, 2.75, 1, (5, 7), 8.0),
    m("2211133C", P, 1080, 2400, 2.75, 0, (6, 8), 10.0),
    m("23127PN0CC", P, 1200, 2670, 3.0, 0, (7, 8), 9.0),
    m("SM-S9180", P, 1440, 3088, 3.5, 0, (6, 8), 7.0),
    m("SM-S9210", P, 1080, 2340, 3.0, 0, (7, 8), 5.0),
    m("V2241A", P, 1260, 2800, 3.0, 0, (6, 8), 9.0),
    m("PGT-AN10", P, 1312, 2848, 3.0, 0, (6, 8), 8.0),
    m("PHB110", P, 1440, 3216, 3.5, 0, (6, 8), 7.0),
];

const ANDROID_TABLET_MODELS: &[Model] = &[
    m("SM-T970", T, 1752, 2800, 2.0, 1, (3, 6), 10.0),
    m("SM-X700", T, 1600, 2560, 2.0, 1, (5, 8), 10.0),
    m("SM-X810", T, 1752, 2800, 2.0, 0, (6, 8), 10.0),
    m("SM-X200", T, 1200, 1920, 1.5, 2, (4, 7), 12.0),
    m("21051182C", T, 1600, 2560, 2.0, 1, (4, 7), 20.0),
    m("22081283C", T, 1800, 2880, 2.0, 0, (6, 8), 20.0),
    m("TB-J716F", T, 1600, 2560, 2.0, 1, (4, 6), 10.0),
    m("OPD2101", T, 1600, 2560, 2.0, 1, (5, 7), 8.0),
];

/// HarmonyOS 2–4 run Android-compatible apps; `5.0.0` is HarmonyOS NEXT
/// (ArkTS only).
const HARMONY_OS: &[(&str, f64)] = &[
    ("2.0.0", 2.0),
    ("2.0.1", 3.0),
    ("3.0.0", 8.0),
    ("3.1.0", 10.0),
    ("4.0.0", 22.0),
    ("4.2.0", 35.0),
    ("5.0.0", 20.0),
];

const HARMONY_MODELS: &[Model] = &[
    m("ELS-AN00", P, 1200, 2640, 3.0, 2, (0, 4), 5.0),
    m("LIO-AN00", P, 1176, 2400, 3.0, 2, (0, 4), 5.0),
    m("NOH-AN00", P, 1344, 2772, 3.0, 1, (0, 5), 10.0),
    m("ABR-AL00", P, 1224, 2700, 3.0, 1, (1, 5), 8.0),
    m("DCO-AL00", P, 1212, 2616, 3.0, 1, (2, 6), 10.0),
    m("LNA-AL00", P, 1220, 2700, 3.0, 0, (3, 6), 8.0),
    m("ALN-AL00", P, 1260, 2720, 3.0, 0, (4, 6), 16.0),
    m("BRA-AL00", P, 1216, 2688, 3.0, 0, (4, 6), 10.0),
    m("HBN-AL00", P, 1260, 2844, 3.0, 0, (4, 6), 10.0),
    m("GOT-W29", T, 1600, 2560, 2.0, 1, (2, 6), 4.0),
];

/// A WeChat mini program reports the host phone's model and `"<OS> <ver>"`.
const MINI_OS: &[(&str, f64)] = &[
    ("iOS 16.7.10", 8.0),
    ("iOS 17.6.1", 25.0),
    ("iOS 18.3.2", 30.0),
    ("Android 12", 8.0),
    ("Android 13", 12.0),
    ("Android 14", 12.0),
    ("Android 15", 5.0),
];

const MINI_MODELS: &[Model] = &[
    m("iPhone13,2", P, 1170, 2532, 3.0, 1, (0, 2), 8.0),
    m("iPhone14,5", P, 1170, 2532, 3.0, 1, (0, 2), 12.0),
    m("iPhone15,2", P, 1179, 2556, 3.0, 0, (0, 2), 12.0),
    m("iPhone16,2", P, 1290, 2796, 3.0, 0, (1, 2), 8.0),
    m("M2007J3SC", P, 1080, 2400, 2.75, 2, (3, 4), 6.0),
    m("2211133C", P, 1080, 2400, 2.75, 0, (4, 6), 10.0),
    m("23127PN0CC", P, 1200, 2670, 3.0, 0, (5, 6), 8.0),
    m("SM-S9180", P, 1440, 3088, 3.5, 0, (4, 6), 5.0),
    m("V2241A", P, 1260, 2800, 3.0, 0, (4, 6), 10.0),
    m("PGT-AN10", P, 1312, 2848, 3.0, 0, (4, 6), 8.0),
];

/// Every platform with its share of the fleet (percent).
pub(crate) static PLATFORMS: [PlatformSpec; 6] = [
    PlatformSpec {
        platform: Platform::Ios,
        weight: 35.0,
        os_versions: IOS_OS,
        models: IOS_MODELS,
    },
    PlatformSpec {
        platform: Platform::Ipados,
        weight: 5.0,
        os_versions: IPADOS_OS,
        models: IPADOS_MODELS,
    },
    PlatformSpec {
        platform: Platform::Android,
        weight: 45.0,
        os_versions: ANDROID_OS,
        models: ANDROID_MODELS,
    },
    PlatformSpec {
        platform: Platform::AndroidTablet,
        weight: 3.0,
        os_versions: ANDROID_OS,
        models: ANDROID_TABLET_MODELS,
    },
    PlatformSpec {
        platform: Platform::Harmonyos,
        weight: 10.0,
        os_versions: HARMONY_OS,
        models: HARMONY_MODELS,
    },
    PlatformSpec {
        platform: Platform::Miniprogram,
        weight: 2.0,
        os_versions: MINI_OS,
        models: MINI_MODELS,
    },
];

/// Server sites with their share of home assignments and a latency factor.
pub(crate) const SITES: &[(&str, f64, f64)] = &[
    ("sh-1", 50.0, 1.0),
    ("sz-1", 30.0, 1.05),
    ("bj-2", 20.0, 1.15),
];

/// Custom events an app might record: name, is-timer, median value.
pub(crate) const CUSTOM_EVENTS: &[(&str, bool, f64)] = &[
    ("order_submit", false, 1.0),
    ("quote_refresh", false, 1.0),
    ("watchlist_edit", false, 1.0),
    ("kline_render_ms", true, 38.0),
    ("login_ms", true, 640.0),
    ("search_ms", true, 120.0),
];
