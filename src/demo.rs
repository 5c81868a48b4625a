//! `vitals demo`: the product on a simulated fleet, with no database to
//! install. Serves on the embedded store (or ClickHouse when given), creates
//! the `demo` app, an ingest key and an admin API token, and keeps a
//! simulated fleet reporting until Ctrl-C.

use crate::config::Config;
use crate::{server, simulate};
use anyhow::{Context, Result};
use std::path::PathBuf;
use vitals_i18n::Msg;
use vitals_store::control::Role;

pub const DEMO_APP: &str = "demo";

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
        ..Default::default()
    };
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
    match sim.await {
        Ok(Ok(report)) => println!("{}", report.render(lang)),
        Ok(Err(e)) => tracing::warn!(error = %e, "simulator stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "simulator task failed"),
    }
    running.stop().await;
    Ok(())
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
