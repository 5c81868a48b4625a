//! Site health (5.5a): active probes from the platform (HTTP or TCP, per
//! address, with a timeout) and the error rate clients report per site in
//! their network events. A site is demoted after `fail_threshold`
//! consecutive failed rounds (every address down) or when clients see more
//! than `client_max_error_rate` errors, and restored after
//! `recover_threshold` consecutive good rounds. Demotions and restorations
//! are audited (actor `prober`) and bump the config sequence.

use crate::Control;
use crate::client_config::list;
use crate::model::{Site, SiteHealth, host_of, kind};
use std::time::Duration;
use vitals_store::ops::{Applied, Change};
use vitals_store::query::{Col, Cond, Dim, Filter, Measure, Query};

/// Result of probing one site once.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub ok: bool,
    pub error: Option<String>,
}

/// Probes every address of a site; up when any IPv4 or IPv6 address answers.
pub async fn probe_site(site: &Site, timeout: Duration) -> ProbeResult {
    let mut errors = Vec::new();
    for a in &site.addresses {
        let r = match site.probe.kind.as_str() {
            "tcp" => probe_tcp(&a.url, timeout).await,
            _ => {
                probe_http(
                    &format!("{}{}", a.url.trim_end_matches('/'), site.probe.path),
                    timeout,
                )
                .await
            }
        };
        match r {
            Ok(()) => {
                return ProbeResult {
                    ok: true,
                    error: None,
                };
            }
            Err(e) => errors.push(format!("{}: {e}", a.url)),
        }
    }
    ProbeResult {
        ok: false,
        error: Some(errors.join("; ")),
    }
}

async fn probe_tcp(url: &str, timeout: Duration) -> Result<(), String> {
    let hp = host_of(url).ok_or("no host")?;
    let default_port = if url.starts_with("https") { 443 } else { 80 };
    let has_port = match hp.strip_prefix('[') {
        Some(rest) => rest.contains("]:"),
        None => hp.contains(':'),
    };
    let addr = if has_port {
        hp.to_string()
    } else {
        format!("{hp}:{default_port}")
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

async fn probe_http(url: &str, timeout: Duration) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let r = client.get(url).send().await.map_err(|e| e.to_string())?;
    let s = r.status();
    if s.is_success() || s.is_redirection() {
        Ok(())
    } else {
        Err(format!("HTTP {}", s.as_u16()))
    }
}

impl Control {
    /// One probe round over every app's sites at `now` (Unix seconds):
    /// probes, client reports, state transitions. Returns the ids of sites
    /// whose status changed.
    pub async fn probe_round(&self, now: i64) -> Vec<String> {
        let mut changed = Vec::new();
        let apps = match self.cp.apps() {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "probe round: cannot list apps");
                return changed;
            }
        };
        let timeout = Duration::from_millis(self.settings.probe.timeout_ms.max(1));
        for app in apps {
            let sites = list::<Site>(&self.cp, &app.app_id, kind::SITE).unwrap_or_default();
            if sites.is_empty() {
                continue;
            }
            let reports = self.client_reports(&app.app_id, now).await;
            for (_, site) in sites {
                let r = probe_site(&site, timeout).await;
                let report = reports.iter().find(|(s, ..)| *s == site.id);
                if let Some(id) = self.record_probe(&app.app_id, &site, &r, report, now) {
                    changed.push(id);
                }
            }
        }
        changed
    }

    /// Client-reported (site, requests, error rate, mean ms) over the window.
    async fn client_reports(&self, app: &str, now: i64) -> Vec<(String, u64, f64, Option<f64>)> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let p = &self.settings.probe;
        let q = Query {
            filter: Filter {
                app_id: app.to_string(),
                kinds: vec!["network".into()],
                since: u32::try_from(now - i64::from(p.client_window_secs)).ok(),
                until: u32::try_from(now).ok(),
                ..Default::default()
            },
            group_by: vec![Dim::Site],
            measures: vec![
                Measure::Count(None),
                Measure::Count(Some(Cond::RequestFailed)),
                Measure::Avg(Col::DurationMs, None),
            ],
            ..Default::default()
        };
        match store.aggregate(&q).await {
            Ok(rows) => rows
                .iter()
                .filter(|r| r.count(0) > 0)
                .map(|r| {
                    let n = r.count(0);
                    (
                        r.dim(0).to_string(),
                        n,
                        r.count(1) as f64 / n as f64,
                        r.value(2),
                    )
                })
                .collect(),
            Err(e) => {
                tracing::warn!(app, error = %e, "client site reports unavailable");
                Vec::new()
            }
        }
    }

    /// Updates a site's health with one probe result; returns the site id if
    /// its status changed.
    pub fn record_probe(
        &self,
        app: &str,
        site: &Site,
        r: &ProbeResult,
        report: Option<&(String, u64, f64, Option<f64>)>,
        now: i64,
    ) -> Option<String> {
        let p = &self.settings.probe;
        let mut h: SiteHealth = self
            .cp
            .object(app, kind::SITE_HEALTH, &site.id)
            .ok()
            .flatten()
            .and_then(|o| serde_json::from_value(o.body).ok())
            .unwrap_or_else(|| SiteHealth {
                status: "up".into(),
                since: now,
                ..Default::default()
            });
        let clients_bad = report.is_some_and(|(_, n, rate, _)| {
            *n >= p.client_min_requests && *rate > p.client_max_error_rate
        });
        if let Some((_, n, rate, mean)) = report {
            h.client_requests = *n;
            h.client_error_rate = Some(*rate);
            h.client_mean_ms = *mean;
        }
        let good = r.ok && !clients_bad;
        if good {
            h.successes += 1;
            h.failures = 0;
        } else {
            h.failures += 1;
            h.successes = 0;
        }
        h.last_error = if r.ok {
            clients_bad.then(|| "client-reported error rate".to_string())
        } else {
            r.error.clone()
        };
        h.last_probe_at = now;
        let new_status = match h.status.as_str() {
            "up" if h.failures >= p.fail_threshold => Some("down"),
            "down" if h.successes >= p.recover_threshold => Some("up"),
            _ => None,
        };
        let Ok(body) = serde_json::to_value(&h) else {
            return None;
        };
        let Some(status) = new_status else {
            if let Err(e) = self.cp.put_state(app, kind::SITE_HEALTH, &site.id, &body) {
                tracing::warn!(app, site = %site.id, error = %e, "cannot save site health");
            }
            return None;
        };
        h.status = status.into();
        h.since = now;
        let Ok(body) = serde_json::to_value(&h) else {
            return None;
        };
        let change = Change {
            app_id: app.to_string(),
            kind: kind::SITE_HEALTH.into(),
            object_id: site.id.clone(),
            action: if status == "down" {
                "site.demote"
            } else {
                "site.restore_health"
            }
            .into(),
            after: Some(body),
            reason: h
                .last_error
                .clone()
                .unwrap_or_else(|| "probes recovered".into()),
            alert: None,
            client_visible: true,
        };
        match self.cp.apply_change(
            &change,
            &Applied {
                actor: "prober",
                ..Default::default()
            },
        ) {
            Ok(_) => {
                tracing::warn!(app, site = %site.id, status, "site health changed");
                self.metrics
                    .count(&change.action, crate::actions::Mode::Automatic);
                Some(site.id.clone())
            }
            Err(e) => {
                tracing::error!(app, site = %site.id, error = %e, "cannot record site health change");
                None
            }
        }
    }
}
