//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use vitals_protocol::{Device, DeviceClass, Screen};

/// The Android phone the store tests' batches come from.
pub fn device() -> Device {
    Device {
        model: "SM-S9180".into(),
        class: DeviceClass::Phone,
        os_version: "14".into(),
        screen: Screen {
            width: 1080,
            height: 2340,
            density: 2.75,
        },
        abi: "arm64-v8a".into(),
        rooted: false,
        emulator: false,
        device_id: None,
    }
}
