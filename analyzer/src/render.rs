//! Outputs of an evaluation: a text table for terminals, JSON, JUnit XML for
//! CI systems (one test case per rule), Markdown and HTML reports.

use crate::Evaluation;
use crate::evaluate::{RuleResult, Verdict};
use crate::policy::{Direction, Metric, Statistic};
use vitals_i18n::{Lang, Msg};

/// A value with its unit, as people read it. A value that differs from the
/// threshold is never printed like it: more decimals are shown until the two
/// read differently (200.04 MB against 200 MB, not "200.0 MB").
pub fn format_value(r: &RuleResult, v: f64) -> String {
    format_metric(r.metric, v, Some(r.threshold))
}

/// [`format_value`] for a metric and threshold without a rule's result
/// (an alert from the history, say).
pub fn format_metric(metric: Metric, v: f64, threshold: Option<f64>) -> String {
    let mut extra = 0;
    loop {
        let text = format_with(metric, v, extra);
        match threshold {
            Some(t) if v != t && extra < 6 && v.is_finite() => {
                if text != format_with(metric, t, extra) {
                    return text;
                }
            }
            _ => return text,
        }
        extra += 1;
    }
}

/// `v` in the metric's unit with `extra` more decimals than usual.
fn format_with(metric: Metric, v: f64, extra: usize) -> String {
    let num = |x: f64, decimals: usize, unit: &str| format!("{x:.*}{unit}", decimals + extra);
    match metric {
        Metric::CrashRatePerSession
        | Metric::CrashRatePerUser
        | Metric::CrashRatePerModel
        | Metric::CrashGroupUserShare => num(v * 100.0, 4, "%"),
        Metric::HotUpdateDelivery
        | Metric::HotUpdateSuccess
        | Metric::RequestErrorRate
        | Metric::ThirdPartyInitShare
        | Metric::UntrustedShare
        | Metric::UpgradePromptShare => num(v * 100.0, 2, "%"),
        Metric::DeviceClassCoverage
        | Metric::OsVersionCoverage
        | Metric::ScreenCoverage
        | Metric::NetworkCoverage
        | Metric::HarmonyosCoverage => num(v * 100.0, 0, "%"),
        Metric::PackageSize | Metric::HotUpdateSize => {
            if v >= 1_048_576.0 {
                num(v / 1_048_576.0, 1, " MB")
            } else {
                num(v / 1024.0, 0, " KB")
            }
        }
        Metric::InstallTime | Metric::ColdStart | Metric::ServerLatency => num(v, 0, " ms"),
        Metric::Cpu => num(v, 2, "%"),
        Metric::Memory => num(v, 1, " MB"),
        Metric::CrashGroupRegressions => num(v, 0, ""),
        Metric::ReleaseNotes => {
            if v > 0.0 {
                "✓".into()
            } else {
                "✗".into()
            }
        }
        Metric::MinVersionNotice | Metric::UrgentTimeToFix => num(v, 1, " d"),
    }
}

/// The comparison a rule passes with: ≤ / < (below, inclusive or not),
/// ≥ / > (at least).
pub fn passing_op(direction: Direction, bound: crate::judge::Bound) -> &'static str {
    use crate::judge::Bound;
    match (direction, bound) {
        (Direction::Below, Bound::Inclusive) => "≤",
        (Direction::Below, Bound::Exclusive) => "<",
        (Direction::AtLeast, Bound::Inclusive) => "≥",
        (Direction::AtLeast, Bound::Exclusive) => ">",
    }
}

fn threshold_text(r: &RuleResult) -> String {
    let op = passing_op(r.direction, r.bound);
    let stat = match r.statistic {
        Statistic::Rate
        | Statistic::Share
        | Statistic::Coverage
        | Statistic::Present
        | Statistic::Days => String::new(),
        s => format!("{} ", s.as_str()),
    };
    format!("{stat}{op} {}", format_value(r, r.threshold))
}

fn interval_text(r: &RuleResult) -> String {
    match r.interval {
        Some((lo, hi)) => format!("[{}, {}]", format_value(r, lo), format_value(r, hi)),
        None => "—".into(),
    }
}

fn value_text(r: &RuleResult) -> String {
    r.value
        .map(|v| format_value(r, v))
        .unwrap_or_else(|| "—".into())
}

fn columns(lang: Lang) -> Vec<String> {
    Msg::ReportColumns
        .text(lang)
        .split('|')
        .map(str::to_string)
        .collect()
}

fn row(r: &RuleResult, lang: Lang) -> Vec<String> {
    vec![
        r.clause.clone(),
        r.title(lang),
        value_text(r),
        threshold_text(r),
        interval_text(r),
        format!(
            "{}{}",
            r.verdict.text(lang),
            if r.verdict == Verdict::Fail {
                format!(" ({})", r.severity.as_str())
            } else {
                String::new()
            }
        ),
        evidence_text(r, lang),
    ]
}

/// The evidence, and why the verdict is not a pass when it is not.
pub fn evidence_text(r: &RuleResult, lang: Lang) -> String {
    match r.verdict {
        Verdict::Pass => r.evidence.render(lang),
        _ => format!("{} · {}", r.evidence.render(lang), r.reason.render(lang)),
    }
}

fn width(s: &str) -> usize {
    // CJK characters take two terminal columns.
    s.chars()
        .map(|c| match c {
            '\u{1100}'..='\u{115F}'
            | '\u{2E80}'..='\u{A4CF}'
            | '\u{AC00}'..='\u{D7A3}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{FE30}'..='\u{FE4F}'
            | '\u{FF00}'..='\u{FF60}'
            | '\u{FFE0}'..='\u{FFE6}' => 2,
            _ => 1,
        })
        .sum()
}

/// The terminal table, with the decision last.
pub fn text(e: &Evaluation, lang: Lang) -> String {
    let head = columns(lang);
    let rows: Vec<Vec<String>> = e.results.iter().map(|r| row(r, lang)).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| width(h)).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(widths.len() - 1) {
            widths[i] = widths[i].max(width(c));
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == cells.len() {
                    c.clone()
                } else {
                    format!("{c}{}", " ".repeat(widths[i].saturating_sub(width(c))))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = format!("{} {}\n", e.app, e.release);
    out.push_str(&line(&head));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out.push_str(&e.decision.text(lang));
    out.push('\n');
    out
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: one test case per rule; failures carry the severity as type,
/// rules without enough data are skipped.
pub fn junit(e: &Evaluation, lang: Lang) -> String {
    let failures = e
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .count();
    let skipped = e
        .results
        .iter()
        .filter(|r| r.verdict == Verdict::InsufficientData)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"vitals gate\" tests=\"{n}\" failures=\"{failures}\" skipped=\"{skipped}\">\n  <testsuite name=\"{}\" tests=\"{n}\" failures=\"{failures}\" skipped=\"{skipped}\">\n",
        xml(&format!("{} {}", e.app, e.release)),
        n = e.results.len()
    ));
    for r in &e.results {
        let summary = format!(
            "{}: {} ({}); {}",
            r.title(lang),
            value_text(r),
            threshold_text(r),
            r.evidence.render(lang)
        );
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml(&r.clause),
            xml(&r.id)
        ));
        match r.verdict {
            Verdict::Pass => {}
            Verdict::Fail => out.push_str(&format!(
                "<failure type=\"{}\" message=\"{}\"/>",
                r.severity.as_str(),
                xml(&summary)
            )),
            Verdict::InsufficientData => out.push_str(&format!(
                "<skipped message=\"{}\"/>",
                xml(&format!(
                    "{}: {}",
                    r.verdict.text(lang),
                    r.reason.render(lang)
                ))
            )),
        }
        out.push_str(&format!(
            "<system-out>{}</system-out></testcase>\n",
            xml(&summary)
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn local_now(tz: &str) -> String {
    let tz: chrono_tz::Tz = tz.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    chrono::Utc::now()
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The Markdown compliance report.
pub fn markdown(e: &Evaluation, lang: Lang, tz: &str) -> String {
    let mut out = format!(
        "# {}\n\n",
        Msg::ReportTitle.render(lang, &[("app", &e.app), ("release", &e.release)])
    );
    out.push_str(&format!(
        "{}\n\n**{}**\n\n",
        Msg::ReportGenerated.render(lang, &[("time", &local_now(tz)), ("tz", &tz)]),
        e.decision.text(lang)
    ));
    let head = columns(lang);
    out.push_str(&format!(
        "| {} |\n|{}|\n",
        head.join(" | "),
        vec!["---"; head.len()].join("|")
    ));
    for r in &e.results {
        let cells: Vec<String> = row(r, lang)
            .into_iter()
            .map(|c| c.replace('|', "\\|"))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if !e.facts.groups.is_empty() {
        out.push_str("\n## 5.1b / 5.1c\n\n| fingerprint | exception | users | share | state | first release |\n|---|---|---|---|---|---|\n");
        for g in e.facts.groups.iter().take(20) {
            out.push_str(&format!(
                "| {}{} | {} | {} | {:.4}% | {} | {} |\n",
                g.fingerprint,
                if g.urgent { " ⚠" } else { "" },
                g.exception_type.replace('|', "\\|"),
                g.users,
                g.share * 100.0,
                g.state,
                g.first_release
            ));
        }
    }
    out
}

/// A self-contained HTML report (no external assets).
pub fn html(e: &Evaluation, lang: Lang, tz: &str) -> String {
    let title = Msg::ReportTitle.render(lang, &[("app", &e.app), ("release", &e.release)]);
    let mut rows = String::new();
    for r in &e.results {
        let cls = r.verdict.as_str();
        let cells: String = row(r, lang)
            .iter()
            .map(|c| format!("<td>{}</td>", xml(c)))
            .collect();
        rows.push_str(&format!("<tr class=\"{cls}\">{cells}</tr>\n"));
    }
    let head: String = columns(lang)
        .iter()
        .map(|h| format!("<th scope=\"col\">{}</th>", xml(h)))
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:system-ui,sans-serif;margin:2rem}}table{{border-collapse:collapse}}td,th{{border:1px solid #888;padding:.3rem .5rem;text-align:left}}tr.fail td{{background:#fde2e2}}tr.insufficient_data td{{background:#f3f3f3}}</style></head>\n<body><h1>{t}</h1><p>{}</p><p><strong>{}</strong></p>\n<table><thead><tr>{head}</tr></thead><tbody>\n{rows}</tbody></table></body></html>\n",
        lang.tag(),
        xml(&Msg::ReportGenerated.render(lang, &[("time", &local_now(tz)), ("tz", &tz)])),
        xml(&e.decision.text(lang)),
        t = xml(&title),
    )
}
