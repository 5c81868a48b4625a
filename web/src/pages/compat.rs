//! Compatibility (5.2): the required matrix as a heat map — each cell
//! healthy, observed but unhealthy, or untested — with the IPv4 / IPv6
//! split (5.2d) and HarmonyOS (5.2e) called out, and the table beside it.

use crate::charts::{self, CellState, HeatCell};
use crate::ctx::{Ctx, guarded, url_encode};
use crate::layout::{self, Tab, badge, figure};
use crate::pages::ReleaseQuery;
use crate::{St, data, fmt};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use vitals_analyzer::facts::{Cell, ReleaseRef};
use vitals_i18n::Msg;
use vitals_store::control::Role;

fn state(c: &Cell) -> CellState {
    match (c.observed, c.healthy) {
        (true, true) => CellState::Healthy,
        (true, false) => CellState::Unhealthy,
        _ => CellState::Untested,
    }
}

fn state_text(cx: &Ctx, c: &Cell) -> Markup {
    match state(c) {
        CellState::Healthy => badge("ok", &format!("✓ {}", cx.t(Msg::WebCellHealthy))),
        CellState::Unhealthy => badge("bad", &format!("✗ {}", cx.t(Msg::WebCellUnhealthy))),
        CellState::Untested => badge("unknown", &format!("– {}", cx.t(Msg::WebCellUntested))),
    }
}

fn rate(c: &Cell) -> Option<f64> {
    (c.sessions > 0).then(|| c.crashed as f64 / c.sessions as f64)
}

fn table(cx: &Ctx, cells: &[&Cell]) -> Markup {
    html! {
        table {
            thead { tr {
                th { (cx.t(Msg::WebClause)) } th { (cx.t(Msg::WebCell)) } th class="num" { (cx.t(Msg::WebSessions)) }
                th class="num" { (cx.t(Msg::MetricCrashRatePerSession)) } th { (cx.t(Msg::WebState)) }
            } }
            tbody {
                @for c in cells {
                    tr { td { (c.clause) } td { (c.name) } td class="num" { (fmt::num(c.sessions)) } td class="num" { (fmt::pct(rate(c))) } td { (state_text(cx, c)) } }
                }
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
        let cells = &e.facts.cells;
        let clauses = ["5.2a", "5.2b", "5.2c", "5.2d", "5.2e"];
        let rows: Vec<(String, Vec<HeatCell>)> = clauses
            .iter()
            .map(|cl| {
                let v = cells
                    .iter()
                    .filter(|c| c.clause == *cl)
                    .map(|c| HeatCell {
                        label: c.name.clone(),
                        detail: format!("{} · {}", fmt::pct(rate(c)), fmt::num(c.sessions)),
                        state: state(c),
                    })
                    .collect();
                (cl.to_string(), v)
            })
            .collect();
        let cap = cx.t(Msg::WebChartMatrix);
        let svg = charts::heatmap(&cap, &rows);
        let all_cells: Vec<&Cell> = cells.iter().collect();
        let healthy = cells.iter().filter(|c| c.healthy).count();
        let net: Vec<&Cell> = cells.iter().filter(|c| c.clause == "5.2d").collect();
        let harmony: Vec<&Cell> = cells.iter().filter(|c| c.clause == "5.2e").collect();
        let body = html! {
            h1 { (cx.t(Msg::WebCompatTitle)) " · " (app) " " (release) }
            (layout::tabs(&cx, &app, &release, Tab::Compat))
            (layout::release_picker(&cx, &format!("/ui/apps/{}/compatibility", url_encode(&app)), &all, &release, html! {}))
            p { (cx.r(Msg::WebCoverageSummary, &[("healthy", &healthy), ("total", &cells.len())])) }
            p class="muted" { (cx.t(Msg::WebLegendCells)) }
            (figure(&cx, "matrix", &cap, svg, table(&cx, &all_cells)))
            div class="grid2" {
                section {
                    h2 { (cx.t(Msg::WebIpSplit)) }
                    @if net.is_empty() { p { (cx.t(Msg::WebNoData)) } } @else { (table(&cx, &net)) }
                }
                section {
                    h2 { "HarmonyOS" }
                    @if harmony.is_empty() { p { (cx.t(Msg::WebNoData)) } } @else { (table(&cx, &harmony)) }
                }
            }
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebCompatTitle), body))
    })
    .await
}
