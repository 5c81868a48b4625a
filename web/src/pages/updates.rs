//! Updates (5.4d/e, 6.4.1e): hot-update funnels — offered → downloaded →
//! applied / failed / rolled back — with delivery and success rates against
//! the policy, and the rollout controls (pause, resume, roll back, delete).

use crate::charts::{self, Bar};
use crate::ctx::{Ctx, guarded, url_encode};
use crate::layout::{self, Tab, badge, figure};
use crate::pages::emergency::action_form;
use crate::pages::{ReleaseQuery, threshold};
use crate::{St, data, fmt};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde_json::Value;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::Metric;
use vitals_i18n::Msg;
use vitals_store::control::Role;
use vitals_store::ops::Object;

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k.min(n) as f64 / n as f64)
}

/// Rollouts with their controls (shared with the emergency page).
pub fn rollouts_table(cx: &Ctx, app: &str, back: &str, rollouts: &[Object], act: bool) -> Markup {
    let st = |b: &Value| {
        b.get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    html! {
        @if rollouts.is_empty() { p { (cx.t(Msg::WebNone)) } } @else {
            table data-testid="rollouts" {
                thead { tr { th { "ID" } th { (cx.t(Msg::WebKind)) } th { (cx.t(Msg::WebPlatform)) } th class="num" { (cx.t(Msg::WebPercent)) } th { (cx.t(Msg::WebState)) } th { (cx.t(Msg::WebBy)) } th {} } }
                tbody { @for r in rollouts {
                    @let state = st(&r.body);
                    tr {
                        td { (r.id) }
                        td { (r.body.get("kind").and_then(Value::as_str).unwrap_or("")) }
                        td { (r.body.get("platform").and_then(Value::as_str).unwrap_or("")) }
                        td class="num" { (r.body.get("percent").and_then(Value::as_f64).map(|p| format!("{p}%")).unwrap_or_default()) }
                        td { (badge(if state == "active" { "ok" } else { "warn" }, &state)) }
                        td { (r.updated_by) " · " (cx.ts(r.updated_at)) }
                        td { @if act {
                            details {
                                summary { (cx.t(Msg::WebRolloutControls)) }
                                @if state == "active" {
                                    (action_form(cx, app, back, &cx.t(Msg::WebPause), &[("type", "pause_rollout"), ("id", &r.id)], html! {}, false))
                                } @else {
                                    (action_form(cx, app, back, &cx.t(Msg::WebResume), &[("type", "resume_rollout"), ("id", &r.id)], html! {}, false))
                                }
                                (action_form(cx, app, back, &cx.t(Msg::WebRollback), &[("type", "rollback_rollout"), ("id", &r.id)], html! {}, true))
                                (action_form(cx, app, back, &cx.t(Msg::WebDelete), &[("type", "delete_rollout"), ("id", &r.id)], html! {}, true))
                            }
                        } }
                    }
                } }
            }
        }
    }
}

pub async fn page(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ReleaseQuery>,
    st: St,
) -> Result<HttpResponse, crate::error::Localized> {
    let app = path.into_inner();
    let asked = q.into_inner().release;
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let (release, all) = data::pick_release(&st, &app, asked.as_deref()).await?;
        let e = st.analyzer.evaluate(&app, &ReleaseRef::parse(&release), None, None).await?;
        let delivery_t = threshold(&st, &app, Metric::HotUpdateDelivery, None).unwrap_or(0.9);
        let success_t = threshold(&st, &app, Metric::HotUpdateSuccess, None).unwrap_or(0.95);
        let rollouts = st.analyzer.cp.objects(Some(&app), vitals_control::model::kind::ROLLOUT)?;
        let act = cx.can(Role::Operator) && st.control.is_some();
        let back = cx.here.clone();
        let funnels: Vec<Markup> = e
            .facts
            .patches
            .iter()
            .map(|p| {
                let stages = [
                    (Msg::WebStageOffered, p.offered),
                    (Msg::WebStageDownloaded, p.downloaded),
                    (Msg::WebStageApplied, p.applied),
                    (Msg::WebStageFailed, p.failed),
                    (Msg::WebStageRolledBack, p.rolled_back),
                ];
                let bars: Vec<Bar> = stages.iter().map(|(m, n)| Bar { label: cx.t(*m), value: *n as f64, threshold: None }).collect();
                let cap = cx.r(Msg::WebChartFunnel, &[("patch", &p.patch_id)]);
                let svg = charts::bars(&cap, &bars, None, &|x| fmt::num(x.max(0.0) as u64));
                let (d, s) = (rate(p.downloaded, p.offered), rate(p.applied, p.downloaded));
                let table = html! {
                    table {
                        thead { tr { th { (cx.t(Msg::WebStage)) } th class="num" { (cx.t(Msg::WebInstalls)) } } }
                        tbody { @for (m, n) in &stages { tr { td { (cx.t(*m)) } td class="num" { (fmt::num(*n)) } } } }
                    }
                    dl class="kv" {
                        dt { (cx.t(Msg::MetricHotUpdateDelivery)) }
                        dd { (fmt::pct(d)) " " (mark(&cx, d, delivery_t)) }
                        dt { (cx.t(Msg::MetricHotUpdateSuccess)) }
                        dd { (fmt::pct(s)) " " (mark(&cx, s, success_t)) }
                        dt { (cx.t(Msg::WebPackageSize)) } dd { (fmt::bytes(p.max_bytes)) }
                    }
                };
                figure(&cx, &format!("funnel-{}", p.patch_id), &cap, svg, table)
            })
            .collect();
        let body = html! {
            h1 { (cx.t(Msg::WebUpdatesTitle)) " · " (app) " " (release) }
            (layout::tabs(&cx, &app, &release, Tab::Updates))
            (layout::release_picker(&cx, &format!("/ui/apps/{}/updates", url_encode(&app)), &all, &release, html! {}))
            p class="muted" { (cx.r(Msg::WebUpdateTargets, &[("delivery", &fmt::pct(Some(delivery_t))), ("success", &fmt::pct(Some(success_t)))])) }
            @if funnels.is_empty() { p { (cx.t(Msg::WebNoPatches)) } }
            @for f in &funnels { (f) }
            (crate::pages::upgrade::section(&cx, &e))
            h2 { (cx.t(Msg::WebRollouts)) }
            (rollouts_table(&cx, &app, &back, &rollouts, act))
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebUpdatesTitle), body))
    })
    .await
}

fn mark(cx: &Ctx, v: Option<f64>, target: f64) -> Markup {
    match v {
        Some(v) if v >= target => badge("ok", &format!("✓ {}", cx.t(Msg::VerdictPass))),
        Some(_) => badge("bad", &format!("✗ {}", cx.t(Msg::VerdictFail))),
        None => badge("unknown", &format!("? {}", cx.t(Msg::VerdictInsufficient))),
    }
}
