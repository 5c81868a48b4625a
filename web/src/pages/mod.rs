//! The pages. Each handler runs inside [`crate::ctx::guarded`] (signed in,
//! role checked) or [`crate::ctx::posted`] (plus CSRF), renders with maud
//! and the shared [`crate::layout`].

pub mod alerts;
pub mod compat;
pub mod crashes;
pub mod emergency;
pub mod overview;
pub mod perf;
pub mod release;
pub mod updates;
pub mod upgrade;

use crate::ctx::Ctx;
use maud::{Markup, html};
use vitals_i18n::Msg;

/// Text of a lifecycle state, with a badge class.
pub fn state_badge(cx: &Ctx, state: &str) -> Markup {
    let (class, m) = match state {
        "new" => ("bad", Msg::WebStateNew),
        "regressed" => ("bad", Msg::WebStateRegressed),
        "resolved" => ("ok", Msg::WebStateResolved),
        "ignored" => ("unknown", Msg::WebStateIgnored),
        "merged" => ("unknown", Msg::WebStateMerged),
        _ => ("warn", Msg::WebStateOpen),
    };
    crate::layout::badge(class, &cx.t(m))
}

/// The "urgent" marker of a crash group (5.1b): text, not colour alone.
pub fn urgent_badge(cx: &Ctx, urgent: bool) -> Markup {
    if urgent {
        html! { span class="badge bad" { span aria-hidden="true" { "!" } " " (cx.t(Msg::WebUrgent)) } }
    } else {
        html! { span class="muted" { (cx.t(Msg::WebNotUrgent)) } }
    }
}

/// Query parameter `release` (optional).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ReleaseQuery {
    #[serde(default)]
    pub release: Option<String>,
}

/// The policy's threshold for a metric (and category) of an app.
pub fn threshold(
    st: &crate::St,
    app: &str,
    metric: vitals_analyzer::policy::Metric,
    category: Option<&str>,
) -> Option<f64> {
    st.analyzer
        .policy
        .rules_for(app)
        .iter()
        .find(|r| r.metric == metric && (category.is_none() || r.category.as_deref() == category))
        .map(|r| r.threshold)
}

/// A rule's value in its unit.
pub fn fmt_value(cx: &Ctx, metric: vitals_analyzer::policy::Metric, v: Option<f64>) -> String {
    use vitals_analyzer::policy::Metric as M;
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return "—".into();
    };
    match metric {
        M::CrashRatePerSession
        | M::CrashRatePerUser
        | M::CrashRatePerModel
        | M::CrashGroupUserShare
        | M::DeviceClassCoverage
        | M::OsVersionCoverage
        | M::ScreenCoverage
        | M::NetworkCoverage
        | M::HarmonyosCoverage
        | M::HotUpdateDelivery
        | M::HotUpdateSuccess
        | M::RequestErrorRate
        | M::ThirdPartyInitShare
        | M::UntrustedShare
        | M::UpgradePromptShare => crate::fmt::pct(Some(v)),
        M::PackageSize | M::HotUpdateSize => crate::fmt::bytes(v as u64),
        M::InstallTime | M::ColdStart | M::ServerLatency => crate::fmt::ms(Some(v)),
        M::Cpu => format!("{v:.1}%"),
        M::Memory => crate::fmt::unit(Some(v), "MB"),
        M::MinVersionNotice | M::UrgentTimeToFix => {
            cx.r(Msg::WebDays, &[("n", &format!("{v:.1}"))])
        }
        M::CrashGroupRegressions | M::ReleaseNotes => format!("{v:.0}"),
    }
}
