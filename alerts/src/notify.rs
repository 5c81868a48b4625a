//! Rendering an alert event into what people read: subject (with the
//! clause id), plain text, HTML with the chart, webhook payloads. All text
//! comes from the catalogue, in the configured language; times in the
//! configured time zone.

use crate::rule::AlertRule;
use chrono_tz::Tz;
use serde_json::{Value, json};
use vitals_analyzer::policy::Direction;
use vitals_i18n::{Lang, Msg};

/// Fired, still firing, recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Fired,
    Ongoing,
    Recovered,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Fired => "fired",
            Event::Ongoing => "renotified",
            Event::Recovered => "recovered",
        }
    }
}

/// One alert event with everything needed to tell people about it.
#[derive(Debug, Clone)]
pub struct Notice {
    pub event: Event,
    pub rule: AlertRule,
    /// What was evaluated: a release (`5.2.0`) or a site id.
    pub series: String,
    pub metric_title: String,
    /// Formatted value and threshold.
    pub value: String,
    pub threshold: String,
    pub sample: u64,
    pub evidence: String,
    pub at: i64,
    /// (time, value) for the chart; raw numbers.
    pub points: Vec<(i64, f64)>,
    pub threshold_raw: f64,
    /// What the rule's emergency action did, already rendered.
    pub action: Option<String>,
}

/// A rendered notice.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub chart_png: Option<Vec<u8>>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Local time `YYYY-MM-DD HH:MM:SS` in `tz`.
pub fn local_time(secs: i64, tz: Tz) -> String {
    crate::schedule::at(secs)
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

impl Notice {
    pub fn subject(&self, lang: Lang) -> String {
        let m = match self.event {
            Event::Fired => Msg::AlertSubjectFired,
            Event::Ongoing => Msg::AlertSubjectOngoing,
            Event::Recovered => Msg::AlertSubjectRecovered,
        };
        m.render(
            lang,
            &[
                ("clause", &self.rule.clause),
                ("app", &self.rule.app),
                ("series", &self.series),
                ("metric", &self.metric_title),
                ("value", &self.value),
                ("threshold", &self.threshold),
            ],
        )
    }

    /// The plain-text body (also the webhook text).
    pub fn text(&self, lang: Lang, tz: Tz) -> String {
        let direction = match self.rule.direction {
            Direction::Below => Msg::AlertDirectionBelow.text(lang),
            Direction::AtLeast => Msg::AlertDirectionAtLeast.text(lang),
        };
        let mut t = Msg::AlertBody.render(
            lang,
            &[
                ("rule", &self.rule.id),
                ("clause", &self.rule.clause),
                ("app", &self.rule.app),
                ("series", &self.series),
                ("metric", &self.metric_title),
                ("value", &self.value),
                ("threshold", &self.threshold),
                ("direction", &direction),
                ("sample", &self.sample),
                ("window", &(self.rule.window_secs / 60)),
                ("evidence", &self.evidence),
                ("time", &local_time(self.at, tz)),
                ("tz", &tz.name()),
            ],
        );
        if let Some(a) = &self.action {
            t.push_str("\n\n");
            t.push_str(a);
        }
        t
    }

    pub fn render(&self, lang: Lang, tz: Tz) -> Rendered {
        let subject = self.subject(lang);
        let text = self.text(lang, tz);
        let chart_png = match crate::chart::render(&self.points, self.threshold_raw) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(rule = %self.rule.id, error = %e, "chart not rendered");
                None
            }
        };
        let mut rows = String::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('：')
                .or_else(|| line.split_once(": "))
                .unwrap_or(("", line));
            rows.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                escape(k),
                escape(v)
            ));
        }
        let img = if chart_png.is_some() {
            format!(
                "<p><img src=\"cid:chart\" width=\"{}\" height=\"{}\" alt=\"chart\"><br><small>{}</small></p>\n",
                crate::chart::WIDTH,
                crate::chart::HEIGHT,
                escape(&Msg::AlertChartCaption.render(lang, &[("metric", &self.metric_title)]))
            )
        } else {
            String::new()
        };
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n<h2>{}</h2>\n{img}<table>\n{rows}</table>\n</body></html>\n",
            lang.tag(),
            escape(&subject),
            escape(&subject)
        );
        Rendered {
            subject,
            text,
            html,
            chart_png,
        }
    }

    /// The webhook body for `kind` (`json`, `wecom`, `dingtalk`).
    pub fn webhook_body(&self, kind: &str, lang: Lang, tz: Tz) -> Value {
        let subject = self.subject(lang);
        let text = self.text(lang, tz);
        let markdown = format!("### {subject}\n\n{}", text.replace('\n', "  \n"));
        match kind {
            "wecom" => json!({"msgtype": "markdown", "markdown": {"content": markdown}}),
            "dingtalk" => {
                json!({"msgtype": "markdown", "markdown": {"title": subject, "text": markdown}})
            }
            _ => json!({
                "event": self.event.as_str(),
                "rule": self.rule.id,
                "app": self.rule.app,
                "clause": self.rule.clause,
                "metric": self.rule.metric,
                "series": self.series,
                "value": self.value,
                "threshold": self.threshold,
                "at": self.at,
                "subject": subject,
                "text": text,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(event: Event) -> Notice {
        let rule: AlertRule = toml::from_str(
            r#"
id = "crash-spike"
app = "zq"
clause = "5.1a"
metric = "crash_rate_per_session"
threshold = 0.0005
window_secs = 3600
email = ["ops@example.cn"]
"#,
        )
        .expect("rule");
        Notice {
            event,
            rule,
            series: "5.2.0".into(),
            metric_title: "崩溃率（按会话）".into(),
            value: "10.0000%".into(),
            threshold: "0.0500%".into(),
            sample: 600,
            evidence: "60 / 600 个会话崩溃".into(),
            at: 1_732_846_800,
            points: vec![(1_732_843_200, 0.0), (1_732_846_800, 0.1)],
            threshold_raw: 0.0005,
            action: None,
        }
    }

    #[test]
    fn email_texts_in_both_languages() {
        let tz = chrono_tz::Asia::Shanghai;
        for (lang, ev) in [
            (Lang::ZhCn, Event::Fired),
            (Lang::En, Event::Fired),
            (Lang::ZhCn, Event::Recovered),
        ] {
            let n = notice(ev);
            let r = n.render(lang, tz);
            assert!(r.subject.starts_with("[5.1a]"));
            insta::assert_snapshot!(
                format!("{}_{}", lang.tag(), ev.as_str()),
                format!(
                    "Subject: {}\n\n{}\n\n---- html ----\n{}",
                    r.subject, r.text, r.html
                )
            );
            let wecom = n.webhook_body("wecom", lang, tz);
            assert!(
                wecom["markdown"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("5.1a")
            );
        }
    }
}
