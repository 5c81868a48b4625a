//! The 5.4b section of the updates page: per platform, the newest version,
//! the users of the release due an upgrade prompt since it came out, those
//! shown one offering it and their answers, with the rule's verdict (the
//! gate's own result, so page and gate cannot disagree).

use crate::ctx::Ctx;
use crate::fmt;
use crate::layout::verdict;
use maud::{Markup, html};
use vitals_analyzer::Evaluation;
use vitals_analyzer::policy::Metric;
use vitals_i18n::Msg;

pub fn section(cx: &Ctx, e: &Evaluation) -> Markup {
    let u = &e.facts.upgrade;
    let rule = e
        .results
        .iter()
        .find(|r| r.metric == Metric::UpgradePromptShare);
    let share = |k: u64, n: u64| fmt::pct((n > 0).then(|| k as f64 / n as f64));
    html! {
        section data-testid="upgrade-prompts" {
            h2 { (cx.t(Msg::WebUpgradePrompts)) }
            @if let Some(r) = rule {
                p {
                    (verdict(cx, r.verdict)) " "
                    (cx.r(Msg::WebUpgradeTarget, &[("share", &fmt::pct(Some(r.threshold)))])) " · "
                    (vitals_analyzer::render::evidence_text(r, cx.lang))
                }
            }
            @if u.platforms.is_empty() {
                p { (cx.t(Msg::EvidenceUpgradeNotDue)) }
            } @else {
                table {
                    thead { tr {
                        th { (cx.t(Msg::WebPlatform)) } th { (cx.t(Msg::WebNewestVersion)) } th { (cx.t(Msg::WebOutSince)) }
                        th class="num" { (cx.t(Msg::WebUsersDue)) } th class="num" { (cx.t(Msg::WebUsersPrompted)) }
                        th class="num" { (cx.t(Msg::WebPromptShare)) } th class="num" { (cx.t(Msg::WebPromptAccepted)) }
                        th class="num" { (cx.t(Msg::WebPromptDeclined)) } th class="num" { (cx.t(Msg::WebPromptLater)) }
                        th class="num" { (cx.t(Msg::WebStalePrompts)) }
                    } }
                    tbody { @for p in &u.platforms {
                        tr data-platform=(p.platform) {
                            td { (p.platform) } td { (p.newest) } td { (cx.ts(i64::from(p.since))) }
                            td class="num" { (fmt::num(p.due)) } td class="num" { (fmt::num(p.prompted)) }
                            td class="num" { (share(p.prompted, p.due)) } td class="num" { (fmt::num(p.accepted)) }
                            td class="num" { (fmt::num(p.declined)) } td class="num" { (fmt::num(p.later)) }
                            td class="num" { (fmt::num(p.stale_prompts)) }
                        }
                    } }
                }
            }
        }
    }
}
