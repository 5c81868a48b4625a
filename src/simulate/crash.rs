//! Crash reports. Each runtime has a small set of recurring bugs (so the same
//! crash groups across devices), a regression bug that only the bad release
//! ships, and a few handled (non-fatal) errors. Native frames carry
//! addresses inside loaded images whose debug ids are stable per build (app
//! images) or per OS version (system images), as a symbolicator expects.

use super::bugs::{ANDROID, APP_IMAGE, APPLE, ARKTS, Bug, Fr, MINI, RuntimeBugs};
use super::device::{Runtime, VirtualDevice};
use super::util::{stable_bytes, uuid_from};
use rand::Rng;
use vitals_protocol::{CrashEvent, Frame, Image, Release, Thread};

// ---- images ----------------------------------------------------------------

/// A loadable image: name, size, whether the app ships it, and for Apple
/// system libraries the offset inside the dyld shared cache.
struct ImageSpec(&'static str, u64, bool, u64);

const IMAGES: &[ImageSpec] = &[
    ImageSpec(APP_IMAGE, 0x1f4_c000, true, 0),
    ImageSpec("libobjc.A.dylib", 0x4_8000, false, 0x1000_0000),
    ImageSpec("libdispatch.dylib", 0x4_c000, false, 0x1240_0000),
    ImageSpec("libsystem_c.dylib", 0x7_d000, false, 0x1300_0000),
    ImageSpec("libsystem_kernel.dylib", 0x3_c000, false, 0x1320_0000),
    ImageSpec("libsystem_pthread.dylib", 0xc000, false, 0x1330_0000),
    ImageSpec("libswiftCore.dylib", 0x5c_8000, false, 0x1500_0000),
    ImageSpec("CoreFoundation", 0x53_c000, false, 0x1a00_0000),
    ImageSpec("UIKitCore", 0x1a4_4000, false, 0x1c00_0000),
    ImageSpec("libquote_core.so", 0x2c_3000, true, 0),
    ImageSpec("libentry.so", 0x1b_0000, true, 0),
    ImageSpec("libc.so", 0xe_5000, false, 0),
    ImageSpec("libart.so", 0x92_0000, false, 0),
    ImageSpec("libark_jsruntime.so", 0x4a_0000, false, 0),
    ImageSpec("libeventhandler.z.so", 0x5_8000, false, 0),
    ImageSpec("libipc_core.z.so", 0x6_2000, false, 0),
];

fn bugs(runtime: Runtime) -> &'static RuntimeBugs {
    match runtime {
        Runtime::Apple => &APPLE,
        Runtime::Android => &ANDROID,
        Runtime::ArkTs => &ARKTS,
        Runtime::MiniProgram => &MINI,
    }
}

/// Picks the bug behind a fatal crash: the release's regression when
/// `regression`, else one of the runtime's recurring bugs.
pub(crate) fn choose_fatal(
    rng: &mut impl Rng,
    dev: &VirtualDevice,
    regression: bool,
) -> &'static Bug {
    let b = bugs(dev.runtime);
    if regression {
        return b.regression;
    }
    super::util::pick_weighted(rng, b.background, |bug| {
        if bug.low_end && dev.tier == 2 {
            bug.weight * 3.0
        } else {
            bug.weight
        }
    })
}

/// Picks a handled, non-fatal error.
pub(crate) fn choose_handled(rng: &mut impl Rng, dev: &VirtualDevice) -> &'static Bug {
    super::util::pick_weighted(rng, bugs(dev.runtime).handled, |bug| bug.weight)
}

/// The crash report of `bug` on `dev` running `release`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn crash_event(
    rng: &mut impl Rng,
    ids: &mut impl Rng,
    dev: &VirtualDevice,
    release: &Release,
    bug: &Bug,
    ts: i64,
    session_id: &str,
    fatal: bool,
) -> CrashEvent {
    let idle = bugs(dev.runtime).idle;
    let mut loader = Loader::new(rng, dev, release);
    let crashed = Thread {
        id: if bug.thread == "main" {
            1
        } else {
            rng.gen_range(20..400)
        },
        name: bug.thread.to_string(),
        crashed: true,
        frames: bug
            .frames
            .iter()
            .map(|f| loader.frame(f, dev.runtime))
            .collect(),
    };
    let other = Thread {
        id: rng.gen_range(400..900),
        name: idle.0.to_string(),
        crashed: false,
        frames: idle
            .1
            .iter()
            .map(|f| loader.frame(f, dev.runtime))
            .collect(),
    };
    let mut message = bug.message.to_string();
    if message.contains("{hex}") {
        let addr = rng.gen_range(0x1000u64..0x7_ffff_fff0) & !0xf;
        message = message.replace("{hex}", &format!("0x{addr:x}"));
    }
    if message.contains("{n}") {
        message = message.replace("{n}", &rng.gen_range(1..40u32).to_string());
    }
    CrashEvent {
        ts,
        crash_id: uuid_from(ids),
        session_id: Some(session_id.to_string()),
        exception_type: bug.exception.to_string(),
        message,
        fatal,
        handled: !fatal,
        threads: vec![crashed, other],
        images: loader.images,
        raw: None,
        fingerprint: None,
        notes: Vec::new(),
    }
}

/// Assigns load addresses to images as frames reference them.
struct Loader<'a> {
    images: Vec<Image>,
    bases: Vec<(&'static str, u64)>,
    app_slide: u64,
    cache_slide: u64,
    cursor: u64,
    arch: &'static str,
    dev: &'a VirtualDevice,
    release: &'a Release,
}

impl<'a> Loader<'a> {
    fn new(rng: &mut impl Rng, dev: &'a VirtualDevice, release: &'a Release) -> Self {
        let arch = match dev.device.abi.as_str() {
            "armeabi-v7a" => "arm",
            "x86_64" => "x86_64",
            _ => "arm64",
        };
        let cursor = if arch == "arm" {
            0xa000_0000 + rng.gen_range(0..0x400u64) * 0x10_0000
        } else {
            0x70_0000_0000 + rng.gen_range(0..0x1000u64) * 0x10_0000
        };
        Loader {
            images: Vec::new(),
            bases: Vec::new(),
            app_slide: rng.gen_range(0..0x4000u64) * 0x4000,
            cache_slide: rng.gen_range(0..0x2000u64) * 0x4000,
            cursor,
            arch,
            dev,
            release,
        }
    }

    fn base(&mut self, name: &'static str) -> u64 {
        if let Some((_, b)) = self.bases.iter().find(|(n, _)| *n == name) {
            return *b;
        }
        let spec = IMAGES.iter().find(|i| i.0 == name);
        let (size, app, cache_off) = spec
            .map(|i| (i.1, i.2, i.3))
            .unwrap_or((0x10_0000, false, 0));
        let base = if self.dev.runtime == Runtime::Apple {
            if app {
                0x1_0000_0000 + self.app_slide
            } else {
                0x1_8000_0000 + self.cache_slide + cache_off
            }
        } else {
            let b = self.cursor;
            self.cursor += size.div_ceil(0x1000) * 0x1000 + 0x10_0000;
            b
        };
        // App images are identified per build, system images per OS version.
        let platform = self.dev.platform.as_str();
        let key: [&str; 4] = if app {
            [platform, &self.release.version, &self.release.build, name]
        } else {
            [platform, &self.dev.device.os_version, self.arch, name]
        };
        let bytes = stable_bytes(&key);
        let code_id = (self.dev.runtime != Runtime::Apple).then(|| {
            let extra = stable_bytes(&[name, "code"]);
            format!("{}{}", hex::encode(bytes), hex::encode(&extra[..4]))
        });
        self.images.push(Image {
            debug_id: uuid::Uuid::from_bytes(bytes).hyphenated().to_string(),
            code_id,
            name: name.to_string(),
            base: format!("0x{base:x}"),
            size,
            arch: self.arch.to_string(),
        });
        self.bases.push((name, base));
        base
    }

    fn frame(&mut self, f: &Fr, runtime: Runtime) -> Frame {
        match *f {
            Fr::Native {
                function,
                image,
                offset,
                in_app,
            } => Frame {
                addr: Some(format!("0x{:x}", self.base(image) + offset)),
                function: Some(function.to_string()),
                module: Some(image.to_string()),
                in_app: Some(in_app),
                ..Frame::default()
            },
            Fr::Java {
                class,
                method,
                file,
                line,
                in_app,
            } => Frame {
                function: Some(method.to_string()),
                module: Some(class.to_string()),
                file: Some(file.to_string()),
                line: (line > 0).then_some(line),
                in_app: Some(in_app),
                ..Frame::default()
            },
            Fr::Script {
                function,
                file,
                line,
                col,
                in_app,
            } => Frame {
                function: Some(function.to_string()),
                module: Some(
                    if runtime == Runtime::ArkTs {
                        "entry"
                    } else {
                        "app-service"
                    }
                    .to_string(),
                ),
                file: Some(file.to_string()),
                line: Some(line),
                col: Some(col),
                in_app: Some(in_app),
                ..Frame::default()
            },
        }
    }
}
