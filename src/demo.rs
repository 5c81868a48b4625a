//! `vitals demo`: the product on a simulated fleet, with no database to
//! install. Serves on the embedded store (or ClickHouse when given), creates
//! the `demo` app, an ingest key and an admin API token, and keeps a
//! simulated fleet reporting until Ctrl-C.
//!
//! The fleet's newest release crashes more often than the standard allows
//! (the simulator's bad release), and part of the fleet is live traffic of
//! the last hour, the window the default alert rules watch: the crash-rate
//! rule fires within a minute or two, is printed here and listed on the
//! dashboard's alert page.

use crate::config::Config;
use crate::{server, simulate};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use vitals_i18n::{Lang, Msg};
use vitals_store::ControlPlane;
use vitals_store::control::Role;
use vitals_store::ops::AlertFilter;

pub const DEMO_APP: &str = "demo";

/// How often the demo evaluates the default alert rules when the
/// configuration keeps their production cadence (every five minutes).
pub const DEMO_ALERT_SCHEDULE: &str = "*/20 * * * * *";
/// Share of the simulated batches that are live traffic of the last hour.
pub const DEMO_LIVE_SHARE: f64 = 0.3;

/// Runs the demo until Ctrl-C. `default_dir`: no data directory was given,
/// so use `./vitals-demo` rather than the production default.
pub async fn run(
    mut cfg: Config,
    default_dir: bool,
    devices: u64,
    seed: u64,
    rate: f64,
) -> Result<()> {
    if default_dir {
        cfg.data_dir = PathBuf::from("./vitals-demo");
    }
    let lang = cfg.lang();
    if cfg.alerts.defaults.schedule == vitals_alerts::DefaultAlerts::default().schedule {
        cfg.alerts.defaults.schedule = DEMO_ALERT_SCHEDULE.into();
    }
    crate::at_rest::tighten(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    // Keys and tokens first, so the collector's key cache starts with them.
    let cp = server::control_plane(&cfg)?;
    let key = match cp
        .keys()?
        .into_iter()
        .find(|k| k.app_id == DEMO_APP && k.active)
    {
        Some(k) => k,
        None => cp.create_key(DEMO_APP)?,
    };
    let token_path = cfg.data_dir.join("demo-token");
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) if cp.token_role(t.trim())? == Some(Role::Admin) => t.trim().to_string(),
        _ => {
            let t = cp.create_token(Role::Admin, "demo")?;
            std::fs::write(&token_path, format!("{t}\n"))
                .with_context(|| format!("writing {}", token_path.display()))?;
            t
        }
    };
    let users = demo_users(&cp, &cfg.data_dir.join("demo-users"))?;
    let running = server::start(&cfg).await?;
    let url = format!("http://{}", running.addr);
    println!(
        "{}",
        Msg::CliDemoBanner.render(
            lang,
            &[
                ("url", &url),
                ("app", &DEMO_APP),
                ("backend", &running.backend)
            ]
        )
    );
    println!(
        "{}",
        Msg::CliDemoToken.render(lang, &[("token", &token), ("path", &token_path.display())])
    );
    println!("{}", Msg::CliDemoUsers.render(lang, &[("url", &url)]));
    for (name, password, role) in &users {
        println!("  {name} / {password} / {role}");
    }
    println!("{}", Msg::CliDemoSamples.text(lang));
    println!("  curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/apps");
    println!("  curl -s -H 'Authorization: Bearer {token}' {url}/api/v1/apps/{DEMO_APP}/releases");
    println!("  curl -s {url}/metrics | grep vitals_events");
    println!("  curl -s {url}/readyz");
    println!(
        "{}",
        Msg::CliDemoAlerts.render(
            lang,
            &[("schedule", &cfg.alerts.defaults.schedule), ("url", &url)]
        )
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sim_cfg = simulate::SimConfig {
        target: url.clone(),
        app_id: DEMO_APP.into(),
        key_id: key.key_id.clone(),
        key_secret: key.secret.clone(),
        seed,
        devices,
        batches: 0,
        duration_secs: 0,
        rate,
        concurrency: 4,
        live_share: DEMO_LIVE_SHARE,
        ..Default::default()
    };
    let alerts = tokio::spawn(watch_alerts(cp.clone(), lang, url.clone(), stop_rx.clone()));
    let sim = tokio::spawn(simulate::run_until(sim_cfg, stop_rx));
    // Ctrl-C, or SIGTERM from a service manager or `timeout`.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    println!("{}", Msg::CliShuttingDown.text(lang));
    let _ = stop_tx.send(true);
    let _ = alerts.await;
    match sim.await {
        Ok(Ok(report)) => println!("{}", report.render(lang)),
        Ok(Err(e)) => tracing::warn!(error = %e, "simulator stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "simulator task failed"),
    }
    running.stop().await;
    Ok(())
}

/// Prints every alert of the demo app that fires from now on (the
/// scheduler records them in the control plane's alert history), until
/// `stop` changes.
async fn watch_alerts(
    cp: Arc<ControlPlane>,
    lang: Lang,
    url: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let filter = AlertFilter {
        app_id: Some(DEMO_APP.into()),
        limit: Some(200),
        ..Default::default()
    };
    let history = |cp: &ControlPlane| cp.alert_history(&filter).unwrap_or_default();
    let mut seen = history(&cp).iter().map(|e| e.id).max().unwrap_or(0);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.changed() => return,
        }
        let mut new: Vec<_> = history(&cp).into_iter().filter(|e| e.id > seen).collect();
        new.sort_by_key(|e| e.id);
        for e in new {
            seen = seen.max(e.id);
            if e.event == "fired" {
                println!("{}", fired_line(&e, lang, &url));
            }
        }
    }
}

/// One fired alert as the demo prints it: the rule, clause, release, the
/// value against the threshold in the metric's unit, and the evidence.
pub fn fired_line(e: &vitals_store::ops::AlertEvent, lang: Lang, url: &str) -> String {
    let metric = e
        .detail
        .pointer("/result/metric")
        .and_then(|m| serde_json::from_value(m.clone()).ok());
    let show = |v: Option<f64>| match (metric, v) {
        (Some(m), Some(v)) => vitals_analyzer::render::format_metric(m, v, e.threshold),
        (None, Some(v)) => format!("{v}"),
        (_, None) => "-".into(),
    };
    Msg::CliDemoAlertFired.render(
        lang,
        &[
            ("rule", &e.rule_id),
            ("clause", &e.clause),
            ("release", &e.series),
            ("value", &show(e.value)),
            ("threshold", &show(e.threshold)),
            (
                "evidence",
                &e.detail
                    .get("evidence")
                    .and_then(|v| v.as_str())
                    .unwrap_or(""),
            ),
            ("url", &url),
        ],
    )
}

/// Dashboard users of the demo (two operators for two-person approval, a
/// viewer, an admin), each with a fresh random password at every start:
/// printed once, stored only as its Argon2id hash (issue #22: no password
/// in clear on disk). A `legacy` file in which older versions kept the
/// passwords is removed.
fn demo_users(
    cp: &vitals_store::ControlPlane,
    legacy: &std::path::Path,
) -> Result<Vec<(String, String, &'static str)>> {
    match std::fs::remove_file(legacy) {
        Ok(()) => {
            tracing::warn!(path = %legacy.display(), "removed the demo's clear-text password file")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", legacy.display())),
    }
    let mut out = Vec::new();
    for (name, role) in [
        ("ops-a", Role::Operator),
        ("ops-b", Role::Operator),
        ("viewer", Role::Viewer),
        ("admin", Role::Admin),
    ] {
        let exists = cp.users()?.iter().any(|u| u.name == name);
        let password = format!(
            "{:016x}{:04x}",
            rand::random::<u64>(),
            rand::random::<u16>()
        );
        if exists {
            cp.set_password(name, &password)?;
        } else {
            cp.create_user(name, role, &password)?;
        }
        out.push((name.to_string(), password, role.as_str()));
    }
    Ok(out)
}
