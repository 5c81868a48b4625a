//! Performance (5.3): cold-start histogram and percentiles with the 2 s
//! line and p90 by model, CPU and memory distributions, install time per
//! model, package size per platform / ABI, and server latency by service
//! category and site against 300 / 100 / 500 ms. Thresholds come from the
//! policy in force, so an app's overrides show.

use crate::charts::{self, Bar, Threshold};
use crate::ctx::{Ctx, guarded, url_encode};
use crate::layout::{self, Tab, figure};
use crate::pages::{ReleaseQuery, threshold};
use crate::{St, data, fmt};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use vitals_analyzer::facts::{Dist, ReleaseRef};
use vitals_analyzer::policy::Metric;
use vitals_i18n::Msg;
use vitals_store::control::Role;

fn pcts(cx: &Ctx, d: &Dist, f: &dyn Fn(Option<f64>) -> String) -> Markup {
    html! {
        dl class="kv" {
            dt { "n" } dd { (fmt::num(d.n)) }
            dt { (cx.t(Msg::WebMean)) } dd { (f(d.mean)) }
            dt { "p50" } dd { (f(d.p50)) }
            dt { "p90" } dd { (f(d.p90)) }
            dt { "p99" } dd { (f(d.p99)) }
        }
    }
}

fn hist_table(cx: &Ctx, d: &Dist, f: &dyn Fn(f64) -> String) -> Markup {
    html! {
        (pcts(cx, d, &|v| v.map(f).unwrap_or_else(|| "—".into())))
        table {
            thead { tr { th { (cx.t(Msg::WebBin)) } th class="num" { (cx.t(Msg::WebCount)) } } }
            tbody { @for (lo, hi, c) in d.hist.bins() { tr { td { (f(lo)) " – " (f(hi)) } td class="num" { (fmt::num(c)) } } } }
        }
    }
}

/// Axis end: past the threshold and the p99, not the longest tail.
fn x_end(d: &Dist, t: f64) -> f64 {
    let p99 = d.p99.unwrap_or(0.0);
    (p99 * 1.2).max(t * 1.25).max(1.0)
}

fn bar_table(cx: &Ctx, head: Msg, bars: &[Bar], f: &dyn Fn(f64) -> String) -> Markup {
    html! {
        table {
            thead { tr { th { (cx.t(head)) } th class="num" { (cx.t(Msg::WebValue)) } th class="num" { (cx.t(Msg::WebThreshold)) } } }
            tbody {
                @for b in bars {
                    tr {
                        td { (b.label) }
                        td class="num" { (f(b.value)) @if b.threshold.is_some_and(|t| b.value > t) { " " span class="badge bad" { "✗ " (cx.t(Msg::WebOverLimit)) } } }
                        td class="num" { (b.threshold.map(f).unwrap_or_else(|| "—".into())) }
                    }
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
        let f = &e.facts;
        let th = |m: Metric, c: Option<&str>, d: f64| threshold(&st, &app, m, c).unwrap_or(d);
        let cold_t = th(Metric::ColdStart, None, 2000.0);
        let cpu_t = th(Metric::Cpu, None, 5.0);
        let mem_t = th(Metric::Memory, None, 200.0);
        let inst_t = th(Metric::InstallTime, None, 20_000.0);
        let pkg_t = th(Metric::PackageSize, None, 100.0 * 1024.0 * 1024.0);
        let ms = |x: f64| fmt::ms(Some(x));
        let line = |v: String| cx.r(Msg::WebThresholdLine, &[("value", &v)]);

        let cold_cap = cx.t(Msg::WebChartColdStart);
        let cold_svg = charts::histogram(&cold_cap, &f.cold_start.hist.bins(), x_end(&f.cold_start, cold_t), &[Threshold { value: cold_t, label: line(ms(cold_t)) }], &|x| format!("{:.1}s", x / 1000.0));
        let mut by_model: Vec<Bar> = f
            .cold_start_by_model
            .iter()
            .filter_map(|(m, d)| d.p90.map(|v| Bar { label: m.clone(), value: v, threshold: Some(cold_t) }))
            .collect();
        by_model.sort_by(|a, b| b.value.total_cmp(&a.value));
        by_model.truncate(15);
        let model_cap = cx.t(Msg::WebChartColdStartByModel);
        let model_svg = charts::bars(&model_cap, &by_model, Some(&line(ms(cold_t))), &ms);

        let cpu_cap = cx.t(Msg::WebChartCpu);
        let cpu_svg = charts::histogram(&cpu_cap, &f.cpu.hist.bins(), x_end(&f.cpu, cpu_t), &[Threshold { value: cpu_t, label: line(format!("{cpu_t}%")) }], &|x| format!("{x:.1}%"));
        let mem_cap = cx.t(Msg::WebChartMemory);
        let mem_svg = charts::histogram(&mem_cap, &f.memory.hist.bins(), x_end(&f.memory, mem_t), &[Threshold { value: mem_t, label: line(format!("{mem_t} MB")) }], &|x| format!("{x:.0} MB"));

        let mut inst: Vec<Bar> = f.install_by_model.iter().map(|m| Bar { label: m.model.clone(), value: m.mean, threshold: Some(inst_t) }).collect();
        inst.sort_by(|a, b| b.value.total_cmp(&a.value));
        inst.truncate(15);
        let inst_cap = cx.t(Msg::WebChartInstall);
        let secs = |x: f64| format!("{:.1} s", x / 1000.0);
        let inst_svg = charts::bars(&inst_cap, &inst, Some(&line(secs(inst_t))), &secs);

        let pkgs: Vec<Bar> = f.packages.iter().map(|p| Bar { label: format!("{} {}", p.platform, p.abi), value: p.bytes as f64, threshold: Some(pkg_t) }).collect();
        let pkg_cap = cx.t(Msg::WebChartPackage);
        let mb = |x: f64| fmt::bytes(x as u64);
        let pkg_svg = charts::bars(&pkg_cap, &pkgs, Some(&line(mb(pkg_t))), &mb);

        let lat: Vec<Bar> = f
            .latency_cells
            .iter()
            .filter_map(|c| {
                c.dist.p90.map(|v| Bar {
                    label: format!("{} · {} · {}", c.category, c.site, c.ip_family),
                    value: v,
                    threshold: threshold(&st, &app, Metric::ServerLatency, Some(&c.category)),
                })
            })
            .collect();
        let lat_cap = cx.t(Msg::WebChartLatency);
        let lat_legend = cx.t(Msg::WebLatencyLines);
        let lat_svg = charts::bars(&lat_cap, &lat, Some(&lat_legend), &ms);

        let a = url_encode(&app);
        let body = html! {
            h1 { (cx.t(Msg::WebPerfTitle)) " · " (app) " " (release) }
            (layout::tabs(&cx, &app, &release, Tab::Perf))
            (layout::release_picker(&cx, &format!("/ui/apps/{a}/performance"), &all, &release, html! {}))
            (figure(&cx, "cold-start", &cold_cap, cold_svg, hist_table(&cx, &f.cold_start, &ms)))
            (figure(&cx, "cold-start-models", &model_cap, model_svg, bar_table(&cx, Msg::WebModel, &by_model, &ms)))
            (figure(&cx, "cpu", &cpu_cap, cpu_svg, hist_table(&cx, &f.cpu, &|x| format!("{x:.1}%"))))
            (figure(&cx, "memory", &mem_cap, mem_svg, hist_table(&cx, &f.memory, &|x| format!("{x:.0} MB"))))
            (figure(&cx, "install", &inst_cap, inst_svg, bar_table(&cx, Msg::WebModel, &inst, &secs)))
            (figure(&cx, "package", &pkg_cap, pkg_svg, bar_table(&cx, Msg::WebPlatform, &pkgs, &mb)))
            (figure(&cx, "latency", &lat_cap, lat_svg, bar_table(&cx, Msg::WebCategorySite, &lat, &ms)))
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebPerfTitle), body))
    })
    .await
}
