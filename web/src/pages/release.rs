//! Release: adoption and active users over time, crash rate per session and
//! per user over time against the 0.05 % line, the clause scorecard with
//! evidence, and the comparison with the previous release.

use crate::charts::{self, Line, Threshold};
use crate::ctx::{guarded, url_encode};
use crate::layout::{self, Tab, decision, figure, verdict};
use crate::pages::{fmt_value, threshold};
use crate::{St, data, fmt};
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use vitals_analyzer::Evaluation;
use vitals_analyzer::evaluate::RuleResult;
use vitals_analyzer::facts::ReleaseRef;
use vitals_analyzer::policy::Metric;
use vitals_i18n::Msg;
use vitals_store::control::Role;

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

fn short_day(d: &str) -> String {
    d.get(5..).unwrap_or(d).to_string()
}

fn pct_axis(y: f64) -> String {
    format!("{:.2}%", y * 100.0)
}

pub async fn page(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    st: St,
) -> Result<HttpResponse, crate::error::Localized> {
    let (app, release) = path.into_inner();
    guarded(&req, &st.clone(), Role::Viewer, |cx| async move {
        let r = ReleaseRef::parse(&release);
        let (e, daily, all) = tokio::try_join!(
            async {
                let prev = st.analyzer.previous_release(&app, &r).await?;
                Ok::<_, crate::WebError>(st.analyzer.evaluate(&app, &r, None, prev.as_ref()).await?)
            },
            data::daily(&st, &app, &r),
            data::release_labels(&st, &app),
        )?;
        let f = &e.facts;
        let limit = threshold(&st, &app, Metric::CrashRatePerSession, None).unwrap_or(0.0005);
        let days: Vec<String> = daily.days.iter().map(|d| short_day(d)).collect();
        let per_session: Vec<Option<f64>> = daily.sessions.iter().zip(&daily.crashed).map(|(n, k)| rate(*k, *n)).collect();
        let per_user: Vec<Option<f64>> = daily.users.iter().zip(&daily.crashed_users).map(|(n, k)| rate(*k, *n)).collect();
        let crash_cap = cx.t(Msg::WebChartCrashRate);
        let crash_svg = charts::lines(
            &crash_cap,
            &days,
            &[
                Line { label: cx.t(Msg::MetricCrashRatePerSession), values: per_session.clone() },
                Line { label: cx.t(Msg::MetricCrashRatePerUser), values: per_user.clone() },
            ],
            &[Threshold { value: limit, label: cx.r(Msg::WebThresholdLine, &[("value", &fmt::pct(Some(limit)))]) }],
            &pct_axis,
        );
        let crash_table = html! {
            table {
                thead { tr { th { (cx.t(Msg::WebDay)) } th class="num" { (cx.t(Msg::WebSessions)) } th class="num" { (cx.t(Msg::WebCrashedSessions)) } th class="num" { (cx.t(Msg::MetricCrashRatePerSession)) } th class="num" { (cx.t(Msg::MetricCrashRatePerUser)) } } }
                tbody {
                    @for (i, d) in daily.days.iter().enumerate() {
                        tr {
                            td { (d) }
                            td class="num" { (fmt::num(daily.sessions[i])) }
                            td class="num" { (fmt::num(daily.crashed[i])) }
                            td class="num" { (over(&cx, per_session[i], limit)) }
                            td class="num" { (over(&cx, per_user[i], limit)) }
                        }
                    }
                }
            }
        };
        let adoption_cap = cx.t(Msg::WebChartAdoption);
        let adoption_svg = charts::lines(
            &adoption_cap,
            &days,
            &[Line { label: cx.t(Msg::WebAdoption), values: daily.adoption.clone() }],
            &[],
            &|y| format!("{:.0}%", y * 100.0),
        );
        let users_cap = cx.t(Msg::WebChartActiveUsers);
        let users_svg = charts::lines(
            &users_cap,
            &days,
            &[Line { label: cx.t(Msg::WebActiveUsers), values: daily.users.iter().map(|u| Some(*u as f64)).collect() }],
            &[],
            &|y| fmt::num(y.max(0.0) as u64),
        );
        let adoption_table = html! {
            table {
                thead { tr { th { (cx.t(Msg::WebDay)) } th class="num" { (cx.t(Msg::WebActiveUsers)) } th class="num" { (cx.t(Msg::WebAdoption)) } } }
                tbody {
                    @for (i, d) in daily.days.iter().enumerate() {
                        tr { td { (d) } td class="num" { (fmt::num(daily.users[i])) } td class="num" { (fmt::pct(daily.adoption[i])) } }
                    }
                }
            }
        };
        let body = html! {
            h1 { (app) " " (e.release) " " (decision(&cx, e.decision)) }
            (layout::tabs(&cx, &app, &e.release, Tab::Release))
            (layout::release_picker(&cx, &format!("/ui/apps/{}/releases/{}", url_encode(&app), url_encode(&e.release)), &all, &e.release, html! {}))
            div class="cards" {
                (card(&cx, Msg::WebSessions, fmt::num(f.sessions)))
                (card(&cx, Msg::WebUsers, fmt::num(f.users)))
                (card(&cx, Msg::MetricCrashRatePerSession, fmt::pct(rate(f.crashed_sessions, f.sessions))))
                (card(&cx, Msg::MetricCrashRatePerUser, fmt::pct(rate(f.crashed_users, f.users))))
                (card(&cx, Msg::WebFatalCrashes, fmt::num(f.fatal_crashes)))
            }
            (figure(&cx, "crash-rate-chart", &crash_cap, crash_svg, crash_table))
            (figure(&cx, "adoption-chart", &adoption_cap, adoption_svg, adoption_table.clone()))
            (figure(&cx, "users-chart", &users_cap, users_svg, adoption_table))
            h2 id="scorecard" { (cx.t(Msg::WebScorecard)) }
            (scorecard(&cx, &e))
            h2 id="comparison" { (cx.t(Msg::WebComparison)) }
            (comparison(&cx, &e))
            p {
                a href=(format!("/ui/apps/{}/crashes?release={}", url_encode(&app), url_encode(&e.release))) { (cx.t(Msg::WebSeeCrashGroups)) }
            }
        };
        Ok(layout::page(&cx, &format!("{app} {}", e.release), body))
    })
    .await
}

fn over(cx: &crate::ctx::Ctx, v: Option<f64>, limit: f64) -> Markup {
    html! {
        (fmt::pct(v))
        @if v.is_some_and(|v| v > limit) { " " span class="badge bad" { "✗ " (cx.t(Msg::WebOverLimit)) } }
    }
}

fn card(cx: &crate::ctx::Ctx, m: Msg, v: String) -> Markup {
    html! { div class="card" { div { (cx.t(m)) } div class="big" { (v) } } }
}

/// A rule's value as the gate prints it (never reading like the threshold
/// when it differs), with the dashboard's wording for days and notes.
fn rule_value(
    cx: &crate::ctx::Ctx,
    r: &vitals_analyzer::evaluate::RuleResult,
    v: Option<f64>,
) -> String {
    use vitals_analyzer::policy::Metric as M;
    match (r.metric, v.filter(|v| v.is_finite())) {
        (M::MinVersionNotice | M::ReleaseNotes, _) | (_, None) => fmt_value(cx, r.metric, v),
        (_, Some(v)) => vitals_analyzer::render::format_value(r, v),
    }
}

fn scorecard(cx: &crate::ctx::Ctx, e: &Evaluation) -> Markup {
    html! {
        table class="scorecard" data-testid="scorecard" {
            thead { tr {
                th { (cx.t(Msg::WebClause)) } th { (cx.t(Msg::WebRule)) } th class="num" { (cx.t(Msg::WebValue)) }
                th class="num" { (cx.t(Msg::WebThreshold)) } th { (cx.t(Msg::WebInterval)) } th class="num" { (cx.t(Msg::WebSample)) }
                th { (cx.t(Msg::WebVerdict)) } th { (cx.t(Msg::WebEvidence)) }
            } }
            tbody {
                @for r in &e.results {
                    tr data-clause=(r.clause) {
                        td { (r.clause) }
                        td { (r.title(cx.lang)) }
                        td class="num" { (rule_value(cx, r, r.value)) }
                        td class="num" {
                            (vitals_analyzer::render::passing_op(r.direction, r.bound)) " "
                            (rule_value(cx, r, Some(r.threshold)))
                        }
                        td { @if let Some((lo, hi)) = r.interval { (rule_value(cx, r, Some(lo))) " – " (rule_value(cx, r, Some(hi))) } @else { "—" } }
                        td class="num" { (fmt::num(r.sample)) " / " (fmt::num(r.min_sample)) }
                        td { (verdict(cx, r.verdict)) }
                        td { (vitals_analyzer::render::evidence_text(r, cx.lang)) }
                    }
                }
            }
        }
    }
}

/// How a rule moved from the previous release to this one.
#[derive(Debug, PartialEq)]
enum Change {
    Better,
    Worse,
    Changed,
    Same,
}

/// A verdict that turned into a failure is worse, one that stopped failing
/// better. With the same verdict, the values decide when their 95 %
/// intervals do not overlap (2.0 % against 0.242 % is worse even when both
/// are "insufficient data"); overlapping intervals, or values without one
/// that are equal, are no change.
fn change(prev: &RuleResult, now: &RuleResult) -> Change {
    use vitals_analyzer::evaluate::Verdict::Fail;
    use vitals_analyzer::policy::Direction;
    match (prev.verdict, now.verdict) {
        (a, Fail) if a != Fail => return Change::Worse,
        (Fail, b) if b != Fail => return Change::Better,
        (a, b) if a != b => return Change::Changed,
        _ => {}
    }
    let (Some(p), Some(n)) = (prev.value, now.value) else {
        return Change::Same;
    };
    let (plo, phi) = prev.interval.unwrap_or((p, p));
    let (nlo, nhi) = now.interval.unwrap_or((n, n));
    let higher = if nlo > phi {
        true
    } else if nhi < plo {
        false
    } else {
        return Change::Same;
    };
    match (now.direction, higher) {
        (Direction::Below, true) | (Direction::AtLeast, false) => Change::Worse,
        _ => Change::Better,
    }
}

fn comparison(cx: &crate::ctx::Ctx, e: &Evaluation) -> Markup {
    let Some(b) = &e.baseline else {
        return html! { p { (cx.t(Msg::WebNoPrevious)) } };
    };
    html! {
        table data-testid="comparison" {
            thead { tr {
                th { (cx.t(Msg::WebClause)) } th { (cx.t(Msg::WebRule)) }
                th { (e.release) } th { (b.release) } th { (cx.t(Msg::WebChange)) }
            } }
            tbody {
                @for r in &e.results {
                    @let prev = b.results.iter().find(|p| p.id == r.id);
                    tr {
                        td { (r.clause) }
                        td { (r.title(cx.lang)) }
                        td { (fmt_value(cx, r.metric, r.value)) " " (verdict(cx, r.verdict)) }
                        td { @if let Some(p) = prev { (fmt_value(cx, p.metric, p.value)) " " (verdict(cx, p.verdict)) } @else { "—" } }
                        td {
                            @match prev.map(|p| change(p, r)) {
                                Some(Change::Worse) => { span class="badge bad" { "↓ " (cx.t(Msg::WebWorse)) } }
                                Some(Change::Better) => { span class="badge ok" { "↑ " (cx.t(Msg::WebBetter)) } }
                                Some(Change::Changed) => { span class="badge unknown" { (cx.t(Msg::WebChanged)) } }
                                Some(Change::Same) => { span class="muted" { (cx.t(Msg::WebUnchanged)) } }
                                None => { "—" }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_analyzer::evaluate::{Evidence, Reason, Verdict};
    use vitals_analyzer::judge::{Bound, Direction, Semantics};
    use vitals_analyzer::policy::{Severity, Statistic};

    fn per_user(k: u64, n: u64, verdict: Verdict) -> RuleResult {
        let v = k as f64 / n as f64;
        RuleResult {
            id: "5.1a/crash_rate_per_user".into(),
            clause: "5.1a".into(),
            metric: Metric::CrashRatePerUser,
            statistic: Statistic::Rate,
            category: None,
            value: Some(v),
            threshold: 0.0005,
            direction: Direction::Below,
            bound: Bound::Exclusive,
            semantics: Semantics::Ensure,
            interval: Some(vitals_analyzer::stats::wilson(k, n)),
            exact: true,
            sample: n,
            min_sample: 1000,
            severity: Severity::Blocker,
            verdict,
            reason: Reason::TooFew {
                have: n,
                need: 1000,
            },
            evidence: Evidence::None,
        }
    }

    #[test]
    fn a_clear_move_is_a_change_even_when_both_verdicts_are_insufficient() {
        use Verdict::InsufficientData as I;
        // 2.0 % of 500 users against 0.242 % of 826: the intervals do not
        // overlap, so this is worse, not "no change".
        assert_eq!(
            change(&per_user(2, 826, I), &per_user(10, 500, I)),
            Change::Worse
        );
        assert_eq!(
            change(&per_user(10, 500, I), &per_user(2, 826, I)),
            Change::Better
        );
        // 3 in 900 against 4 in 950: within the noise.
        assert_eq!(
            change(&per_user(3, 900, I), &per_user(4, 950, I)),
            Change::Same
        );
        assert_eq!(
            change(&per_user(3, 900, I), &per_user(9, 900, Verdict::Fail)),
            Change::Worse
        );
    }
}
