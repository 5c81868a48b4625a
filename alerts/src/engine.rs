//! Evaluation and the alert life cycle.
//!
//! A rule is evaluated when its cron schedule is due. Analyzer rules gather
//! the analyzer's facts for each watched release over the rule's window
//! (`Scope { since, until }`) and take the analyzer's verdict (Wilson
//! intervals for rates, so noise does not page anyone); `site_down` reads
//! the prober's site health. Each (rule, series) has a state:
//!
//! * breach (verdict `fail`) lasting `for_secs` → **fired**: history entry,
//!   notification, the rule's emergency action;
//! * still breaching after `renotify_secs` since the last notice →
//!   **renotified**; no other repeat (dedup);
//! * `pass` while firing → **recovered** (notice if `recovery`);
//! * insufficient data changes nothing.

use crate::notify::{Event, Notice};
use crate::rule::{AlertRule, Target};
use crate::schedule::Cron;
use crate::{Alerts, delivery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use vitals_analyzer::evaluate::{RuleResult, Verdict};
use vitals_analyzer::facts::{ReleaseRef, Scope};
use vitals_control::model::{SiteHealth, kind};
use vitals_control::{Action, ActionRequest, Outcome};
use vitals_i18n::{Lang, Msg};
use vitals_store::ops::{AlertEvent, AlertFilter, Delivery};
use vitals_store::query::{Cond, Dim, Filter, Measure, Query};

/// Kind of API-managed rules in the control plane.
pub const RULE_KIND: &str = "alert_rule";
const STATE_KIND: &str = "alert_state";
const MAX_POINTS: usize = 48;

/// State of one (rule, series).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeriesState {
    pub firing: bool,
    pub breach_since: Option<i64>,
    pub fired_at: Option<i64>,
    pub last_notified: Option<i64>,
    /// Recent (time, value) evaluations, for charts.
    pub points: Vec<(i64, f64)>,
}

/// One observation of a series.
struct Observation {
    series: String,
    verdict: Verdict,
    value: Option<f64>,
    sample: u64,
    evidence: String,
    title: String,
    formatted: String,
    threshold: String,
    result: Option<RuleResult>,
}

/// What one evaluation did (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub rule: String,
    pub series: String,
    pub event: &'static str,
    pub history_id: i64,
}

fn lang_of(a: &Alerts) -> Lang {
    a.lang
}

impl Alerts {
    /// Runs everything due at `now`: rules, digest, weekly report.
    pub async fn tick(&self, now: DateTime<Utc>) -> Vec<Transition> {
        let mut out = Vec::new();
        for rule in self.rules().into_iter().filter(|r| r.enabled) {
            if !self.take_due(&format!("rule:{}", rule.id), &rule.schedule, now) {
                continue;
            }
            match self.evaluate_rule(&rule, now).await {
                Ok(t) => out.extend(t),
                Err(e) => {
                    tracing::warn!(rule = %rule.id, error = %e, "alert rule evaluation failed")
                }
            }
        }
        let digest = self.settings.digest.clone();
        if !digest.recipients.is_empty() && self.take_due("digest", &digest.schedule, now) {
            self.send_digest(now).await;
        }
        let weekly = self.settings.weekly.clone();
        if !weekly.recipients.is_empty() && self.take_due("weekly", &weekly.schedule, now) {
            self.send_weekly(now).await;
        }
        out
    }

    /// Whether a schedule is due; marks it run if so. The last run is kept
    /// in the control plane and claimed with a compare-and-set, so of
    /// several nodes (one after another as leaders, or two at once while a
    /// lease changes hands) exactly one runs each firing.
    fn take_due(&self, key: &str, expr: &str, now: DateTime<Utc>) -> bool {
        let Ok(cron) = Cron::parse(expr) else {
            return false;
        };
        let name = format!("alerts:{key}");
        let last = match self.cp.last_run(&name) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(schedule = %name, error = %e, "last run unknown: not run");
                return false;
            }
        };
        let from = last
            .map(crate::schedule::at)
            .map_or(self.started, |l| l.max(self.started));
        if !cron.due(Some(from), self.started, now, self.tz) {
            return false;
        }
        match self
            .cp
            .claim_run(&name, last, now.timestamp(), &self.control.lease.holder)
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::debug!(schedule = %name, "run claimed by another node");
                false
            }
            Err(e) => {
                tracing::warn!(schedule = %name, error = %e, "run not claimed: not run");
                false
            }
        }
    }

    /// The earliest next run of any schedule after `now`.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut exprs: Vec<String> = self.rules().into_iter().map(|r| r.schedule).collect();
        exprs.push(self.settings.digest.schedule.clone());
        exprs.push(self.settings.weekly.schedule.clone());
        exprs
            .iter()
            .filter_map(|e| Cron::parse(e).ok())
            .filter_map(|c| c.next_after(now, self.tz))
            .min()
    }

    async fn observe(
        &self,
        rule: &AlertRule,
        now: i64,
    ) -> Result<Vec<Observation>, crate::AlertError> {
        let lang = lang_of(self);
        match rule.target()? {
            Target::SiteDown => Ok(self
                .cp
                .objects(Some(&rule.app), kind::SITE_HEALTH)?
                .into_iter()
                .filter_map(|o| Some((o.id, serde_json::from_value::<SiteHealth>(o.body).ok()?)))
                .map(|(id, h)| {
                    let down = h.status == "down";
                    Observation {
                        series: id,
                        verdict: if down { Verdict::Fail } else { Verdict::Pass },
                        value: Some(f64::from(h.failures)),
                        sample: u64::from(h.failures + h.successes),
                        evidence: h.last_error.unwrap_or_default(),
                        title: Msg::AlertMetricSiteDown.text(lang),
                        formatted: h.failures.to_string(),
                        threshold: rule.threshold.to_string(),
                        result: None,
                    }
                })
                .collect()),
            Target::Analyzer(policy_rule) => {
                let since = u32::try_from(now - i64::from(rule.window_secs)).ok();
                let until = u32::try_from(now).ok();
                let releases = if rule.releases.is_empty() {
                    self.active_releases(&rule.app, since, until).await?
                } else {
                    rule.releases.clone()
                };
                let mut out = Vec::new();
                for rel in releases {
                    let release = ReleaseRef::parse(&rel);
                    let scope = Scope {
                        since,
                        until,
                        ..Default::default()
                    };
                    let facts = vitals_analyzer::facts::gather(
                        self.store.as_ref(),
                        &self.cp,
                        &rule.app,
                        &release,
                        &scope,
                    )
                    .await?;
                    let r = vitals_analyzer::evaluate::evaluate_all(
                        self.store.as_ref(),
                        std::slice::from_ref(&policy_rule),
                        &facts,
                    )
                    .await?
                    .pop()
                    .expect("one rule, one result");
                    out.push(Observation {
                        series: rel,
                        verdict: r.verdict,
                        value: r.value,
                        sample: r.sample,
                        evidence: r.evidence.render(lang),
                        title: r.title(lang),
                        formatted: r
                            .value
                            .map(|v| vitals_analyzer::render::format_value(&r, v))
                            .unwrap_or_else(|| "-".into()),
                        threshold: vitals_analyzer::render::format_value(&r, r.threshold),
                        result: Some(r),
                    });
                }
                Ok(out)
            }
        }
    }

    /// Releases with sessions in the window, most sessions first (at most 10).
    async fn active_releases(
        &self,
        app: &str,
        since: Option<u32>,
        until: Option<u32>,
    ) -> Result<Vec<String>, crate::AlertError> {
        let q = Query {
            filter: Filter {
                app_id: app.to_string(),
                kinds: vec!["session".into()],
                since,
                until,
                ..Default::default()
            },
            group_by: vec![Dim::Version],
            measures: vec![Measure::Count(Some(Cond::SessionStart))],
            order_by_measure: Some(0),
            limit: Some(10),
        };
        Ok(self
            .store
            .aggregate(&q)
            .await?
            .into_iter()
            .filter(|r| r.count(0) > 0)
            .map(|r| r.dim(0).to_string())
            .collect())
    }

    /// Evaluates one rule at `now` and acts on the transitions.
    pub async fn evaluate_rule(
        &self,
        rule: &AlertRule,
        now: DateTime<Utc>,
    ) -> Result<Vec<Transition>, crate::AlertError> {
        let t = now.timestamp();
        let mut out = Vec::new();
        for obs in self.observe(rule, t).await? {
            let key = format!("{}|{}", rule.id, obs.series);
            let mut st: SeriesState = self
                .cp
                .object(&rule.app, STATE_KIND, &key)?
                .and_then(|o| serde_json::from_value(o.body).ok())
                .unwrap_or_default();
            if let Some(v) = obs.value {
                st.points.push((t, v));
                let extra = st.points.len().saturating_sub(MAX_POINTS);
                st.points.drain(..extra);
            }
            // An alert is about the measured value: it fires when the value
            // is over the limit and recovers when it is back within it, also
            // while an `ensure` rule cannot prove the limit yet (the gate's
            // promise, not an operational alarm).
            let within = obs.verdict == Verdict::Pass
                || obs.result.as_ref().is_some_and(|r| {
                    matches!(r.reason, vitals_analyzer::judge::Reason::Unproven { .. })
                });
            let event = match obs.verdict {
                _ if within => {
                    st.breach_since = None;
                    if st.firing {
                        st.firing = false;
                        Some(Event::Recovered)
                    } else {
                        None
                    }
                }
                Verdict::Fail => {
                    let since = *st.breach_since.get_or_insert(t);
                    if !st.firing && t - since >= i64::from(rule.for_secs) {
                        st.firing = true;
                        st.fired_at = Some(t);
                        Some(Event::Fired)
                    } else if st.firing
                        && st
                            .last_notified
                            .is_some_and(|n| t - n >= i64::from(rule.renotify_secs))
                    {
                        Some(Event::Ongoing)
                    } else {
                        None
                    }
                }
                Verdict::Pass | Verdict::InsufficientData => None,
            };
            if let Some(ev) = event {
                let id = self.record_and_notify(rule, &obs, ev, &st, t).await?;
                if ev != Event::Recovered || rule.recovery {
                    st.last_notified = Some(t);
                }
                out.push(Transition {
                    rule: rule.id.clone(),
                    series: obs.series.clone(),
                    event: ev.as_str(),
                    history_id: id,
                });
            }
            let body = serde_json::to_value(&st).unwrap_or_default();
            self.cp.put_state(&rule.app, STATE_KIND, &key, &body)?;
        }
        Ok(out)
    }

    async fn record_and_notify(
        &self,
        rule: &AlertRule,
        obs: &Observation,
        ev: Event,
        st: &SeriesState,
        t: i64,
    ) -> Result<i64, crate::AlertError> {
        let lang = lang_of(self);
        let id = self.cp.record_alert(&AlertEvent {
            id: 0,
            at: t,
            rule_id: rule.id.clone(),
            app_id: rule.app.clone(),
            series: obs.series.clone(),
            event: ev.as_str().into(),
            clause: rule.clause.clone(),
            value: obs.value,
            threshold: Some(rule.threshold),
            detail: json!({"sample": obs.sample, "evidence": obs.evidence, "result": obs.result}),
        })?;
        self.metrics
            .fired
            .with_label_values(&[&rule.clause, ev.as_str()])
            .inc();
        tracing::warn!(rule = %rule.id, app = %rule.app, clause = %rule.clause, series = %obs.series, event = ev.as_str(), value = ?obs.value, "alert");
        let action = match (&rule.action, ev) {
            (Some(a), Event::Fired) => {
                Some(self.act(rule, a, &obs.series, &obs.formatted, id, lang))
            }
            _ => None,
        };
        if ev == Event::Recovered && !rule.recovery {
            return Ok(id);
        }
        let notice = Notice {
            event: ev,
            rule: rule.clone(),
            series: obs.series.clone(),
            metric_title: obs.title.clone(),
            value: obs.formatted.clone(),
            threshold: obs.threshold.clone(),
            sample: obs.sample,
            evidence: obs.evidence.clone(),
            at: t,
            points: st.points.clone(),
            threshold_raw: rule.threshold,
            action,
        };
        self.deliver(id, &notice).await;
        Ok(id)
    }

    /// Runs the rule's emergency action; returns the rendered outcome.
    fn act(
        &self,
        rule: &AlertRule,
        a: &crate::rule::RuleAction,
        series: &str,
        value: &str,
        history_id: i64,
        lang: Lang,
    ) -> String {
        let mut action = a.action.clone();
        if let Action::ActivateEmergency { emergency, .. } = &mut action
            && a.scope_to_release
            && rule.metric != "site_down"
        {
            let v = ReleaseRef::parse(series).version;
            emergency.versions.below = Some(format!("{v}.1"));
            emergency.versions.min = Some(v);
        }
        let name = serde_json::to_value(&action)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_default();
        let req = ActionRequest {
            app: rule.app.clone(),
            action,
            reason: format!("[{}] {} {series}: {value}", rule.clause, rule.id),
            mode: Some(a.mode),
            alert: Some(format!("{}#{history_id}", rule.id)),
        };
        match self
            .control
            .request_by_rule(&req, &format!("alert:{}", rule.id))
        {
            Ok(Outcome::Applied { audit }) => {
                Msg::AlertActionApplied.render(lang, &[("action", &name), ("audit", &audit.id)])
            }
            Ok(Outcome::Pending { pending }) => {
                Msg::AlertActionPending.render(lang, &[("action", &name), ("id", &pending.id)])
            }
            Err(e) => {
                tracing::error!(rule = %rule.id, error = %e, "alert action failed");
                Msg::AlertActionFailed
                    .render(lang, &[("action", &name), ("reason", &e.parts(lang).1)])
            }
        }
    }

    /// Sends a notice to every channel of its rule, with retries.
    async fn deliver(&self, history_id: i64, n: &Notice) {
        let lang = lang_of(self);
        if !n.rule.email.is_empty() && !self.settings.smtp.host.is_empty() {
            let rendered = n.render(lang, self.tz);
            let target = n.rule.email.join(",");
            let smtp = self.settings.smtp.clone();
            self.with_retries(history_id, "email", &target, || async {
                let msg = delivery::message(&smtp, &n.rule.email, &rendered)?;
                Ok(delivery::send_email(&smtp, msg).await?)
            })
            .await;
        }
        for w in &n.rule.webhooks {
            let body = n.webhook_body(&w.kind, lang, self.tz);
            let timeout = std::time::Duration::from_secs(self.settings.webhook_timeout_secs.max(1));
            // The record and the log show the URL with its key masked.
            let target = vitals_control::redact::mask_url(&w.url);
            let allow = &self.settings.webhooks;
            self.with_retries(history_id, &w.kind, &target, || {
                delivery::send_webhook(&w.url, allow, &body, timeout, lang)
            })
            .await;
        }
    }

    /// Tries `send` up to `attempts` times with exponential backoff,
    /// recording every attempt.
    pub async fn with_retries<F, Fut>(
        &self,
        history_id: i64,
        channel: &str,
        target: &str,
        send: F,
    ) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), delivery::Failure>>,
    {
        let attempts = self.settings.attempts.max(1);
        for n in 1..=attempts {
            tokio::time::sleep(delivery::backoff(self.settings.backoff_ms, n)).await;
            let r = send().await;
            let d = Delivery {
                history_id,
                channel: channel.into(),
                target: target.into(),
                attempt: n,
                ok: r.is_ok(),
                error: r.as_ref().err().map(|f| delivery::excerpt(&f.text)),
                at: vitals_control::now(),
            };
            if let Err(e) = self.cp.record_delivery(&d) {
                tracing::warn!(error = %e, "delivery not recorded");
            }
            match r {
                Ok(()) => {
                    self.metrics.delivered.with_label_values(&[channel]).inc();
                    return true;
                }
                Err(e) => {
                    self.metrics.failed.with_label_values(&[channel]).inc();
                    let error = delivery::excerpt(&e.text);
                    tracing::warn!(channel, target, attempt = n, error = %error, "alert delivery failed");
                    if !e.retry {
                        break;
                    }
                }
            }
        }
        false
    }

    /// The daily digest: alert events of the last 24 hours.
    pub async fn send_digest(&self, now: DateTime<Utc>) {
        let lang = lang_of(self);
        let t = now.timestamp();
        let events = self
            .cp
            .alert_history(&AlertFilter {
                since: Some(t - 86_400),
                until: Some(t),
                limit: Some(500),
                ..Default::default()
            })
            .unwrap_or_default();
        let fired = events.iter().filter(|e| e.event == "fired").count();
        let firing = self
            .cp
            .objects(None, STATE_KIND)
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o.body.get("firing").and_then(|f| f.as_bool()) == Some(true))
            .count();
        let date = now.with_timezone(&self.tz).format("%Y-%m-%d").to_string();
        let subject = Msg::DigestSubject.render(
            lang,
            &[("date", &date), ("fired", &fired), ("firing", &firing)],
        );
        let lines: Vec<String> = events
            .iter()
            .rev()
            .map(|e| {
                Msg::DigestLine.render(
                    lang,
                    &[
                        ("time", &crate::notify::local_time(e.at, self.tz)),
                        ("clause", &e.clause),
                        ("app", &e.app_id),
                        ("series", &e.series),
                        ("event", &e.event),
                        (
                            "value",
                            &e.value.map(|v| format!("{v:.6}")).unwrap_or_default(),
                        ),
                        (
                            "threshold",
                            &e.threshold.map(|v| format!("{v}")).unwrap_or_default(),
                        ),
                    ],
                )
            })
            .collect();
        let text = if lines.is_empty() {
            Msg::DigestNone.text(lang)
        } else {
            lines.join("\n")
        };
        self.send_report(
            subject,
            text,
            None,
            &self.settings.digest.recipients,
            "digest",
        )
        .await;
    }

    /// The weekly compliance report: the analyzer's report of each app's
    /// newest release.
    pub async fn send_weekly(&self, _now: DateTime<Utc>) {
        let lang = lang_of(self);
        for app in self.cp.apps().unwrap_or_default() {
            let Ok(Some(rel)) = self.analyzer.latest_release(&app.app_id).await else {
                continue;
            };
            let Ok(e) = self.analyzer.evaluate(&app.app_id, &rel, None, None).await else {
                continue;
            };
            let decision = vitals_analyzer::render::text(&e, lang)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string();
            let subject = Msg::WeeklySubject.render(
                lang,
                &[
                    ("app", &app.app_id),
                    ("release", &e.release),
                    ("decision", &decision),
                ],
            );
            let text = vitals_analyzer::render::text(&e, lang);
            let html = vitals_analyzer::render::html(&e, lang, self.tz.name());
            self.send_report(
                subject,
                text,
                Some(html),
                &self.settings.weekly.recipients,
                "weekly",
            )
            .await;
        }
    }

    async fn send_report(
        &self,
        subject: String,
        text: String,
        html: Option<String>,
        to: &[String],
        what: &str,
    ) {
        if self.settings.smtp.host.is_empty() {
            return;
        }
        let html = html.unwrap_or_else(|| {
            format!(
                "<pre>{}</pre>",
                text.replace('&', "&amp;").replace('<', "&lt;")
            )
        });
        let r = crate::notify::Rendered {
            subject,
            text,
            html,
            chart_png: None,
        };
        let smtp = self.settings.smtp.clone();
        let id = self
            .cp
            .record_alert(&AlertEvent {
                id: 0,
                at: vitals_control::now(),
                rule_id: what.into(),
                app_id: "*".into(),
                series: "-".into(),
                event: "report".into(),
                clause: "-".into(),
                value: None,
                threshold: None,
                detail: json!({"subject": r.subject}),
            })
            .unwrap_or(0);
        self.with_retries(id, "email", &to.join(","), || async {
            Ok(delivery::send_email(&smtp, delivery::message(&smtp, to, &r)?).await?)
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use crate::{AlertSettings, Alerts};
    use chrono::{DateTime, TimeZone, Utc};
    use std::sync::Arc;
    use vitals_control::{Control, LeaseSettings};
    use vitals_i18n::Lang;
    use vitals_store::{ControlPlane, SqliteStore, Store};

    fn shanghai(d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2024, 11, d, h, mi, s)
            .single()
            .expect("valid time")
            .with_timezone(&Utc)
    }

    #[tokio::test]
    async fn a_new_leader_neither_repeats_nor_races_the_old_ones_runs() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Arc::new(ControlPlane::open(dir.path().join("c.sqlite")).unwrap());
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("t.sqlite")).unwrap());
        let node = |holder: &str, started| {
            let control = Control::new(cp.clone(), Default::default(), None, None, Lang::En)
                .unwrap()
                .with_lease(LeaseSettings {
                    holder: holder.into(),
                    ttl_secs: 30,
                });
            let analyzer = vitals_analyzer::Analyzer::new(
                store.clone(),
                cp.clone(),
                vitals_analyzer::policy::Policy::standard(),
                "Asia/Shanghai",
            );
            Alerts::new(
                Arc::new(control),
                store.clone(),
                analyzer,
                AlertSettings::default(),
                Lang::En,
                "Asia/Shanghai",
                &prometheus::Registry::new(),
                started,
            )
            .unwrap()
        };
        let daily = "0 0 9 * * *";
        // Node a runs since 08:00, node b (standby) since 08:30.
        let a = node("a", shanghai(28, 8, 0, 0));
        let b = node("b", shanghai(28, 8, 30, 0));
        assert!(!a.take_due("digest", daily, shanghai(28, 8, 59, 0)));
        assert!(
            a.take_due("digest", daily, shanghai(28, 9, 0, 5)),
            "a sends"
        );
        assert!(!a.take_due("digest", daily, shanghai(28, 9, 0, 20)), "once");
        // a stops; b takes the lease at 09:01 and must not send it again
        // (its own memory would have said: never ran, due since 09:00).
        assert!(!b.take_due("digest", daily, shanghai(28, 9, 1, 0)));
        assert_eq!(
            cp.last_run("alerts:digest").unwrap(),
            Some(shanghai(28, 9, 0, 5).timestamp())
        );
        // Next day b sends; a (back, briefly both running) cannot repeat it.
        assert!(b.take_due("digest", daily, shanghai(29, 9, 0, 2)));
        assert!(!a.take_due("digest", daily, shanghai(29, 9, 0, 3)));
        // A node started after 09:00 does not catch up that day's run.
        let c = node("c", shanghai(30, 9, 30, 0));
        assert!(!c.take_due("digest", daily, shanghai(30, 9, 31, 0)));
    }
}
