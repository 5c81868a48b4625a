//! Alerts: rules (clause, metric, threshold, window, schedule, recipients,
//! action) and the history of fired / renotified / recovered events.
//! Recipients are masked (4.3.5b): operators see whom, not full addresses.

use crate::ctx::{Ctx, guarded, url_encode};
use crate::layout::{self, badge};
use crate::{St, fmt};
use actix_web::{HttpRequest, HttpResponse};
use maud::{Markup, html};
use serde_json::Value;
use vitals_i18n::Msg;
use vitals_store::control::Role;
use vitals_store::ops::{AlertEvent, AlertFilter};

/// Masks an e-mail address or URL: keeps the first character and the domain.
fn mask_recipient(s: &str) -> String {
    if let Some((user, domain)) = s.split_once('@') {
        let first: String = user.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    match s.find("://").map(|i| i + 3) {
        Some(i) => {
            let host_end = s[i..].find('/').map(|j| i + j).unwrap_or(s.len());
            format!("{}/***", &s[..host_end])
        }
        None => fmt::mask(s),
    }
}

/// The alert history as a table (also on the overview).
pub fn history_table(cx: &Ctx, events: &[AlertEvent]) -> Markup {
    html! {
        table data-testid="alert-history" {
            thead { tr {
                th { (cx.t(Msg::WebWhen)) } th { (cx.t(Msg::WebApp)) } th { (cx.t(Msg::WebRuleId)) } th { (cx.t(Msg::WebClause)) }
                th { (cx.t(Msg::WebEvent)) } th { (cx.t(Msg::WebSeries)) } th class="num" { (cx.t(Msg::WebValue)) } th class="num" { (cx.t(Msg::WebThreshold)) }
            } }
            tbody { @for e in events { tr {
                td { (cx.ts(e.at)) }
                td { a href=(format!("/ui/apps/{}/emergency", url_encode(&e.app_id))) { (e.app_id) } }
                td { (e.rule_id) } td { (e.clause) }
                td { @match e.event.as_str() {
                    "fired" | "renotified" => { (badge("bad", &format!("! {}", e.event))) }
                    "recovered" => { (badge("ok", &format!("✓ {}", e.event))) }
                    other => { (badge("unknown", other)) }
                } }
                td { (fmt::mask(&e.series)) }
                td class="num" { (e.value.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())) }
                td class="num" { (e.threshold.map(|v| format!("{v:.4}")).unwrap_or_else(|| "—".into())) }
            } } }
        }
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub async fn page(req: HttpRequest, st: St) -> Result<HttpResponse, crate::error::Localized> {
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let rules: Vec<Value> = match &st.alert_rules {
            Some(f) => f(),
            None => st.analyzer.cp.objects(None, "alert_rule")?.into_iter().map(|o| o.body).collect(),
        };
        let history = st.analyzer.cp.alert_history(&AlertFilter { limit: Some(200), ..Default::default() })?;
        let body = html! {
            h1 { (cx.t(Msg::WebAlertsTitle)) }
            h2 { (cx.t(Msg::WebAlertRules)) }
            @if rules.is_empty() { p { (cx.t(Msg::WebNoRules)) } } @else {
                table data-testid="alert-rules" {
                    thead { tr {
                        th { (cx.t(Msg::WebRuleId)) } th { (cx.t(Msg::WebApp)) } th { (cx.t(Msg::WebClause)) } th { (cx.t(Msg::WebMetric)) }
                        th class="num" { (cx.t(Msg::WebThreshold)) } th class="num" { (cx.t(Msg::WebWindow)) } th { (cx.t(Msg::WebSchedule)) }
                        th { (cx.t(Msg::WebRecipients)) } th { (cx.t(Msg::WebAction)) } th { (cx.t(Msg::WebState)) }
                    } }
                    tbody { @for r in &rules { tr {
                        td { (str_of(r, "id")) } td { (str_of(r, "app")) } td { (str_of(r, "clause")) }
                        td { (str_of(r, "metric")) @if let Some(c) = r.get("category").and_then(Value::as_str) { " (" (c) ")" } }
                        td class="num" { (r.get("threshold").and_then(Value::as_f64).map(|v| v.to_string()).unwrap_or_default()) }
                        td class="num" { (r.get("window_secs").and_then(Value::as_u64).map(|v| format!("{v} s")).unwrap_or_default()) }
                        td { code { (str_of(r, "schedule")) } " " span class="muted" { "(" (cx.tz.name()) ")" } }
                        td {
                            @for e in r.get("email").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) { div { (mask_recipient(e)) } }
                            @for w in r.get("webhooks").and_then(Value::as_array).into_iter().flatten() { div { (str_of(w, "kind")) ": " (mask_recipient(str_of(w, "url"))) } }
                        }
                        td { @if let Some(a) = r.get("action").filter(|a| !a.is_null()) {
                            (a.get("action").map(|x| str_of(x, "type")).unwrap_or("")) " · " (str_of(a, "mode"))
                        } @else { "—" } }
                        td { @if r.get("enabled").and_then(Value::as_bool).unwrap_or(true) { (badge("ok", &cx.t(Msg::WebEnabled))) } @else { (badge("unknown", &cx.t(Msg::WebDisabled))) } }
                    } } }
                }
            }
            h2 { (cx.t(Msg::WebAlertHistory)) }
            @if history.is_empty() { p { (cx.t(Msg::WebNoAlerts)) } } @else { (history_table(&cx, &history)) }
        };
        Ok(layout::page(&cx, &cx.t(Msg::WebAlertsTitle), body))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::mask_recipient;

    #[test]
    fn recipients_are_masked() {
        assert_eq!(
            mask_recipient("zhang.san@broker.example"),
            "z***@broker.example"
        );
        assert_eq!(
            mask_recipient("https://qyapi.example/cgi-bin/webhook/send?key=abc"),
            "https://qyapi.example/***"
        );
    }
}
