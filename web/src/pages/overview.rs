//! Overview: every app with its newest release's decision and per-clause
//! verdicts, open urgent crash groups, active emergency directives, pending
//! approvals and recent alerts — "can we ship, are we healthy" at a glance.

use crate::ctx::{guarded, url_encode};
use crate::layout::{self, badge, decision, verdict};
use crate::pages::state_badge;
use crate::{St, fmt};
use actix_web::{HttpRequest, HttpResponse};
use maud::{Markup, html};
use vitals_analyzer::facts::ReleaseRef;
use vitals_i18n::Msg;
use vitals_store::control::Role;
use vitals_store::ops::AlertFilter;

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

pub async fn page(req: HttpRequest, st: St) -> Result<HttpResponse, crate::error::Localized> {
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let apps = st.analyzer.cp.apps()?;
        let mut sections: Vec<Markup> = Vec::new();
        for app in &apps {
            let releases = st.analyzer.releases(&app.app_id).await?;
            let Some(latest) = releases.last() else {
                sections.push(html! {
                    section class="app" {
                        h2 { (app.name) " " span class="muted" { "(" (app.app_id) ")" } }
                        p { (cx.t(Msg::WebNoData)) }
                    }
                });
                continue;
            };
            let r = ReleaseRef { version: latest.version.clone(), build: None };
            let e = st.analyzer.evaluate(&app.app_id, &r, None, None).await?;
            let a = url_encode(&app.app_id);
            let rel_url = format!("/ui/apps/{a}/releases/{}", url_encode(&e.release));
            let urgent: Vec<_> = e
                .facts
                .groups
                .iter()
                .filter(|g| g.urgent && matches!(g.state, "new" | "open" | "regressed"))
                .take(5)
                .collect();
            let mut older: Vec<_> = releases.iter().rev().take(8).collect();
            older.dedup_by(|x, y| x.version == y.version);
            sections.push(html! {
                section class="app" aria-labelledby=(format!("app-{}", app.app_id)) {
                    h2 id=(format!("app-{}", app.app_id)) { (app.name) " " span class="muted" { "(" (app.app_id) ")" } }
                    p {
                        (cx.t(Msg::WebLatestRelease)) ": "
                        a href=(rel_url) data-testid="latest-release" { (e.release) }
                        " " (decision(&cx, e.decision))
                    }
                    table class="scorecard compact" {
                        caption class="muted" { (cx.t(Msg::WebClauseVerdicts)) }
                        thead { tr { th { (cx.t(Msg::WebClause)) } th { (cx.t(Msg::WebRule)) } th { (cx.t(Msg::WebVerdict)) } } }
                        tbody {
                            @for res in &e.results {
                                tr { td { (res.clause) } td { (res.title(cx.lang)) } td { (verdict(&cx, res.verdict)) } }
                            }
                        }
                    }
                    h3 { (cx.t(Msg::WebUrgentGroups)) }
                    @if urgent.is_empty() {
                        p { (badge("ok", &cx.t(Msg::WebNoUrgentGroups))) }
                    } @else {
                        table {
                            thead { tr { th { (cx.t(Msg::WebException)) } th class="num" { (cx.t(Msg::WebUsers)) } th class="num" { (cx.t(Msg::WebShare)) } th { (cx.t(Msg::WebState)) } } }
                            tbody {
                                @for g in &urgent {
                                    tr class="urgent" {
                                        td { a href=(format!("/ui/apps/{a}/crashes/{}?release={}", url_encode(&g.fingerprint), url_encode(&e.release))) { (g.exception_type) " · " (fmt::short(&g.fingerprint)) } }
                                        td class="num" { (fmt::num(g.users)) }
                                        td class="num" { (fmt::pct(Some(g.share))) }
                                        td { (state_badge(&cx, g.state)) }
                                    }
                                }
                            }
                        }
                    }
                    h3 { (cx.t(Msg::WebReleases)) }
                    table {
                        thead { tr { th { (cx.t(Msg::WebRelease)) } th class="num" { (cx.t(Msg::WebSessions)) } th class="num" { (cx.t(Msg::WebUsers)) } th class="num" { (cx.t(Msg::MetricCrashRatePerSession)) } th { (cx.t(Msg::WebLastSeen)) } } }
                        tbody {
                            @for r in &older {
                                tr {
                                    td { a href=(format!("/ui/apps/{a}/releases/{}", url_encode(&r.version))) { (r.version) } }
                                    td class="num" { (fmt::num(r.sessions)) }
                                    td class="num" { (fmt::num(r.users)) }
                                    td class="num" { (fmt::pct(rate(r.crashed_sessions, r.sessions))) }
                                    td { (cx.ts(i64::from(r.last_seen))) }
                                }
                            }
                        }
                    }
                }
            });
        }
        let directives = st.analyzer.cp.objects(None, "emergency")?;
        let pending = st.analyzer.cp.pendings(None, true)?;
        let alerts = st.analyzer.cp.alert_history(&AlertFilter { limit: Some(10), ..Default::default() })?;
        let body = html! {
            h1 { (cx.t(Msg::WebOverviewTitle)) }
            div class="cards" {
                div class="card" {
                    div { (cx.t(Msg::WebActiveDirectives)) }
                    div class="big" { (directives.len()) }
                }
                div class="card" {
                    div { (cx.t(Msg::WebPendingApprovals)) }
                    div class="big" { (pending.len()) }
                }
                div class="card" {
                    div { (cx.t(Msg::WebRecentAlerts)) }
                    div class="big" { (alerts.len()) }
                }
            }
            @if !directives.is_empty() {
                h2 { (cx.t(Msg::WebActiveDirectives)) }
                table {
                    thead { tr { th { (cx.t(Msg::WebApp)) } th { "ID" } th { (cx.t(Msg::WebAction)) } th { (cx.t(Msg::WebTargetVersion)) } th { (cx.t(Msg::WebBy)) } th { (cx.t(Msg::WebWhen)) } } }
                    tbody {
                        @for d in &directives {
                            tr {
                                td { a href=(format!("/ui/apps/{}/emergency", url_encode(&d.app_id))) { (d.app_id) } }
                                td { (d.id) }
                                td { (d.body.get("action").and_then(|v| v.as_str()).unwrap_or("")) }
                                td { (d.body.get("target_version").and_then(|v| v.as_str()).unwrap_or("")) }
                                td { (d.updated_by) }
                                td { (cx.ts(d.updated_at)) }
                            }
                        }
                    }
                }
            }
            @for s in &sections { (s) }
            h2 { (cx.t(Msg::WebRecentAlerts)) }
            @if alerts.is_empty() {
                p { (cx.t(Msg::WebNoAlerts)) }
            } @else {
                (crate::pages::alerts::history_table(&cx, &alerts))
            }
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebOverviewTitle), body))
    })
    .await
}
