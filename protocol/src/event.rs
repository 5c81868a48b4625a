//! The event kinds a batch carries. Every event has `ts`, Unix milliseconds
//! of when it happened on the device.

use crate::IpFamily;
use serde::{Deserialize, Serialize};

/// One telemetry event, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Session(SessionEvent),
    Crash(CrashEvent),
    ColdStart(ColdStartEvent),
    Perf(PerfEvent),
    Install(InstallEvent),
    Network(NetworkEvent),
    HotUpdate(HotUpdateEvent),
    UpgradePrompt(UpgradePromptEvent),
    Custom(CustomEvent),
}

impl Event {
    pub fn ts(&self) -> i64 {
        match self {
            Event::Session(e) => e.ts,
            Event::Crash(e) => e.ts,
            Event::ColdStart(e) => e.ts,
            Event::Perf(e) => e.ts,
            Event::Install(e) => e.ts,
            Event::Network(e) => e.ts,
            Event::HotUpdate(e) => e.ts,
            Event::UpgradePrompt(e) => e.ts,
            Event::Custom(e) => e.ts,
        }
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::Session(_) => EventKind::Session,
            Event::Crash(_) => EventKind::Crash,
            Event::ColdStart(_) => EventKind::ColdStart,
            Event::Perf(_) => EventKind::Perf,
            Event::Install(_) => EventKind::Install,
            Event::Network(_) => EventKind::Network,
            Event::HotUpdate(_) => EventKind::HotUpdate,
            Event::UpgradePrompt(_) => EventKind::UpgradePrompt,
            Event::Custom(_) => EventKind::Custom,
        }
    }
}

/// The event kind without its payload (metrics labels, storage column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Session,
    Crash,
    ColdStart,
    Perf,
    Install,
    Network,
    HotUpdate,
    UpgradePrompt,
    Custom,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Session,
        EventKind::Crash,
        EventKind::ColdStart,
        EventKind::Perf,
        EventKind::Install,
        EventKind::Network,
        EventKind::HotUpdate,
        EventKind::UpgradePrompt,
        EventKind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Session => "session",
            EventKind::Crash => "crash",
            EventKind::ColdStart => "cold_start",
            EventKind::Perf => "perf",
            EventKind::Install => "install",
            EventKind::Network => "network",
            EventKind::HotUpdate => "hot_update",
            EventKind::UpgradePrompt => "upgrade_prompt",
            EventKind::Custom => "custom",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Session start or end. A session is counted once, at its start; its end
/// carries the outcome used by the crash rate (5.1a).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEvent {
    pub ts: i64,
    pub session_id: String,
    pub phase: SessionPhase,
    /// Outcome, on `end` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SessionStatus>,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub foreground_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionPhase {
    Start,
    End,
}

impl SessionPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionPhase::Start => "start",
            SessionPhase::End => "end",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Ok,
    Crashed,
    Abnormal,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Ok => "ok",
            SessionStatus::Crashed => "crashed",
            SessionStatus::Abnormal => "abnormal",
        }
    }
}

/// A crash or handled error with its raw stack, kept for the symbolicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "CrashEventWire")]
pub struct CrashEvent {
    pub ts: i64,
    /// Client-chosen unique id of this crash report.
    pub crash_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Exception or signal type: `SIGSEGV`, `NSInvalidArgumentException`,
    /// `java.lang.NullPointerException`, `TypeError`.
    pub exception_type: String,
    pub message: String,
    /// A crash: the app was forced to exit (the standard, clause 3.2).
    /// Non-fatal errors are kept but do not count in the crash rate. When
    /// the client omits it, `!handled`: an error the app caught is never a
    /// crash, and validation refuses `handled` and `fatal` both true.
    pub fatal: bool,
    /// The app caught the error and went on running.
    pub handled: bool,
    pub threads: Vec<Thread>,
    /// Loaded images for native symbolication.
    pub images: Vec<Image>,
    /// Raw platform payload (an Apple report, a tombstone, base64 minidump
    /// reference…) handed to the symbolicator verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// Grouping key. Clients may set it to force a group (like Sentry's
    /// `fingerprint`); the symbolicator sets it from the symbolicated stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Set by the server: symbolication outcome and the debug files it
    /// lacked ("upload dSYM 67e9247c-… for CrashProbeiOS").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// [`CrashEvent`] as sent, where `fatal` may be omitted: its default
/// depends on `handled`, which serde's field defaults cannot express.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CrashEventWire {
    ts: i64,
    crash_id: String,
    #[serde(default)]
    session_id: Option<String>,
    exception_type: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    fatal: Option<bool>,
    #[serde(default)]
    handled: bool,
    #[serde(default)]
    threads: Vec<Thread>,
    #[serde(default)]
    images: Vec<Image>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    notes: Vec<String>,
}

impl From<CrashEventWire> for CrashEvent {
    fn from(w: CrashEventWire) -> Self {
        CrashEvent {
            ts: w.ts,
            crash_id: w.crash_id,
            session_id: w.session_id,
            exception_type: w.exception_type,
            message: w.message,
            fatal: w.fatal.unwrap_or(!w.handled),
            handled: w.handled,
            threads: w.threads,
            images: w.images,
            raw: w.raw,
            fingerprint: w.fingerprint,
            notes: w.notes,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thread {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub crashed: bool,
    #[serde(default)]
    pub frames: Vec<Frame>,
}

/// One stack frame: a native address (with the image it belongs to), a Java
/// frame (module = class), or a JS frame (file, line, column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Frame {
    /// Instruction address, hex string `0x…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app: Option<bool>,
    /// Set by the symbolicator: this frame was inlined into the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inlined: Option<bool>,
}

/// A loaded binary image (native symbolication key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Image {
    #[serde(default)]
    pub debug_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    #[serde(default)]
    pub name: String,
    /// Load address, hex string.
    #[serde(default)]
    pub base: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub arch: String,
}

/// Cold start duration (5.3c) with optional breakdown spans (5.7c).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColdStartEvent {
    pub ts: i64,
    pub duration_ms: u64,
    #[serde(default)]
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    pub name: String,
    #[serde(default)]
    pub start_ms: u64,
    pub duration_ms: u64,
}

/// A CPU / memory sample (5.3d, 5.3e).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerfEvent {
    pub ts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<f64>,
}

/// An install or update install (5.3a, 5.3b).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallEvent {
    pub ts: i64,
    pub duration_ms: u64,
    pub package_bytes: u64,
    #[serde(default)]
    pub abi_split: Vec<AbiSize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbiSize {
    pub abi: String,
    pub bytes: u64,
}

/// A server request timed by the client (5.3f, 5.5a).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkEvent {
    pub ts: i64,
    pub category: ServiceCategory,
    /// Server site id as configured in the control plane.
    #[serde(default)]
    pub site: String,
    pub latency_ms: u64,
    /// HTTP status, or 0 for a transport failure.
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub ip_family: IpFamily,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceCategory {
    Trade,
    Quote,
    Bus,
    Other,
}

impl ServiceCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceCategory::Trade => "trade",
            ServiceCategory::Quote => "quote",
            ServiceCategory::Bus => "bus",
            ServiceCategory::Other => "other",
        }
    }
}

/// A hot-update or mini-program package delivery step (5.4d, 5.4e).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotUpdateEvent {
    pub ts: i64,
    pub patch_id: String,
    pub stage: HotUpdateStage,
    #[serde(default)]
    pub package_bytes: u64,
    #[serde(default)]
    pub error_code: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HotUpdateStage {
    Offered,
    Downloaded,
    Applied,
    Failed,
    RolledBack,
}

impl HotUpdateStage {
    pub fn as_str(self) -> &'static str {
        match self {
            HotUpdateStage::Offered => "offered",
            HotUpdateStage::Downloaded => "downloaded",
            HotUpdateStage::Applied => "applied",
            HotUpdateStage::Failed => "failed",
            HotUpdateStage::RolledBack => "rolled_back",
        }
    }
}

/// An in-app prompt to upgrade to a newer version (5.4b) and what the user
/// did with it. Send `shown` when the prompt appears and the answer when
/// the user gives one; an answer alone also means the prompt was shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradePromptEvent {
    pub ts: i64,
    /// The version the prompt offered (the client config's
    /// `latest.version`).
    pub target_version: String,
    pub outcome: UpgradeOutcome,
    /// Where in the app it was shown (a screen or trigger name), `""` when
    /// not given.
    #[serde(default)]
    pub placement: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeOutcome {
    /// The prompt appeared; the user has not answered (yet).
    Shown,
    /// The user chose to upgrade (went to the store or the download).
    Accepted,
    /// The user refused.
    Declined,
    /// The user asked to be reminded later.
    Later,
}

impl UpgradeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeOutcome::Shown => "shown",
            UpgradeOutcome::Accepted => "accepted",
            UpgradeOutcome::Declined => "declined",
            UpgradeOutcome::Later => "later",
        }
    }
}

/// An app-defined counter or timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomEvent {
    pub ts: i64,
    pub name: String,
    #[serde(default)]
    pub kind: CustomKind,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CustomKind {
    #[default]
    Counter,
    Timer,
}

impl CustomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomKind::Counter => "counter",
            CustomKind::Timer => "timer",
        }
    }
}
