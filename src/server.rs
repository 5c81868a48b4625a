//! Wiring of all services into one process (`vitals serve` / `vitals demo`).

use crate::config::Config;
use crate::timed_store::TimedStore;
use actix_web::{App, HttpServer, middleware, web};
use std::net::SocketAddr;
use std::sync::Arc;
use vitals_collector::Collector;
use vitals_store::{ClickHouseStore, ControlPlane, SqliteStore, Store};

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("storage: {0}")]
    Store(#[from] vitals_store::StoreError),
    #[error("collector: {0}")]
    Collector(#[from] vitals_collector::CollectorError),
    #[error("control plane: {0}")]
    Control(#[from] vitals_control::ControlError),
    #[error("alerts: {0}")]
    Alerts(#[from] vitals_alerts::AlertError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
}

/// Opens the control plane: the PostgreSQL database `[control_plane] url`
/// names (creating its schema), else `control.sqlite` under the data
/// directory.
pub fn control_plane(cfg: &Config) -> Result<Arc<ControlPlane>, ServerError> {
    Ok(Arc::new(
        cfg.control_plane
            .open(cfg.data_dir.join("control.sqlite"))?,
    ))
}

/// Opens the telemetry store the configuration names, every call bounded
/// by the `[store]` timeouts (not migrated yet: see
/// [`crate::timed_store::spawn_migration`]).
pub async fn open_store(cfg: &Config) -> Result<Arc<TimedStore>, ServerError> {
    let store: Arc<dyn Store> = match cfg.clickhouse() {
        Some(ch) => Arc::new(ClickHouseStore::new(ch).with_timezone(cfg.timezone.clone())),
        None => Arc::new(
            SqliteStore::open(cfg.data_dir.join("telemetry.sqlite"))?
                .with_timezone(cfg.timezone.clone()),
        ),
    };
    Ok(Arc::new(TimedStore::new(store, (&cfg.store).into())))
}

/// A started server: its address, and a handle that stops it.
pub struct Running {
    pub addr: SocketAddr,
    pub backend: &'static str,
    server: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    collector: Collector,
    ops: Ops,
}

/// The control plane's prober, the alert scheduler, re-symbolication and
/// the background schema migration.
struct Ops {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How long shutdown waits for the background jobs to notice the stop
/// signal before it aborts them: a job in the middle of queries to a hung
/// store would otherwise hold the process for as long as its timeouts.
const OPS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Ops {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + OPS_GRACE;
        for mut t in self.tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                tracing::warn!("a background job did not stop within 5 s; aborted");
                t.abort();
            }
        }
    }
}

impl Running {
    /// Stops accepting requests, then drains the spool into the store.
    pub async fn stop(self) {
        self.server.stop(true).await;
        let _ = self.task.await;
        self.ops.shutdown().await;
        self.collector.shutdown().await;
    }

    /// Waits until the HTTP server ends (signal handling is actix's).
    pub async fn wait(self) -> Result<(), ServerError> {
        let Running {
            task,
            collector,
            ops,
            ..
        } = self;
        let res = task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        ops.shutdown().await;
        collector.shutdown().await;
        Ok(res?)
    }
}

/// Starts every service in this process.
pub async fn start(cfg: &Config) -> Result<Running, ServerError> {
    crate::at_rest::tighten(&cfg.data_dir)?;
    let cp = control_plane(cfg)?;
    tracing::info!(
        backend = cp.backend(),
        node = %cfg.control_plane.node(),
        "control plane ready"
    );
    let timed = open_store(cfg).await?;
    // The store may be down or hung at start (ClickHouse restarting or
    // frozen): the migration runs in the background, retried until it
    // succeeds, and start-up waits for it only briefly, so ingest always
    // works through the spool (inserts wait for the migration).
    let (ops_stop, ops_rx) = tokio::sync::watch::channel(false);
    let migration = crate::timed_store::spawn_migration(timed.clone(), ops_rx.clone());
    let wait = std::time::Duration::from_millis(cfg.store.startup_wait_ms);
    if !timed.wait_migrated(wait).await {
        tracing::warn!(
            backend = timed.backend(),
            waited_ms = cfg.store.startup_wait_ms,
            "schema not ready yet; listening anyway, batches stay in the spool until it is"
        );
    }
    let store: Arc<dyn Store> = timed;
    let backend = store.backend();
    let analyzer =
        vitals_analyzer::Analyzer::new(store.clone(), cp.clone(), cfg.policy()?, &cfg.timezone);
    let api_state = actix_web::web::Data::new(vitals_analyzer::api::ApiState {
        analyzer: analyzer.clone(),
        lang: cfg.lang(),
    });
    let symbolicator = vitals_symbolicator::Symbolicator::start(cfg.symbolicator())
        .map_err(|e| std::io::Error::other(format!("symbolicator: {e}")))?;
    // Uploads stream to a folder per request under the data directory; one
    // a killed process left behind is removed now.
    let uploads_tmp = cfg.data_dir.join("tmp").join("uploads");
    if uploads_tmp.exists()
        && let Err(e) = std::fs::remove_dir_all(&uploads_tmp)
    {
        tracing::warn!(dir = %uploads_tmp.display(), error = %e, "could not clear old uploads");
    }
    let sym_state = Arc::new(
        vitals_symbolicator::http::SymbolicatorState::new(symbolicator.clone(), cp.clone())
            .with_uploads(cfg.symbolicator.uploads, uploads_tmp),
    );
    let sym_enricher = Arc::new(crate::symbols::SymbolEnricher {
        symbolicator,
        attachments_dir: cfg.data_dir.join("attachments"),
    });
    let crash_routes = actix_web::web::Data::new(crate::symbols::CrashRoutes {
        store: store.clone(),
        cp: cp.clone(),
        enricher: sym_enricher.clone(),
        lang: cfg.lang(),
    });
    let sym_enricher_for_resym = sym_enricher.clone();
    let enricher: Arc<dyn vitals_store::Enricher> = sym_enricher;
    let collector = Collector::start_with(
        cfg.collector.clone(),
        &cfg.data_dir,
        cp.clone(),
        store.clone(),
        cfg.lang(),
        Some(enricher),
    )?;
    let inner = collector.inner.clone();
    // What the allocator holds, on `/metrics` next to the collector's figures.
    if let Err(e) = inner
        .metrics
        .registry
        .register(Box::new(crate::alloc::AllocatorStats::new()))
    {
        tracing::warn!(error = %e, "allocator figures not exported");
    }
    // Stored crashes that lacked a debug file are re-symbolicated when it
    // arrives; at start, whatever a stopped job left is picked up.
    let resym = crate::resym::Resymbolicator::new(
        store.clone(),
        sym_enricher_for_resym,
        &inner.metrics.registry,
    );
    resym.watch_uploads();
    // With several nodes, one of those starting together sweeps.
    let sweep = crate::resym::sweeps_here(
        &cp,
        cp.backend() != "sqlite",
        &cfg.control_plane.node(),
        cfg.control_plane.lease_secs,
    );
    match cp.apps() {
        Ok(apps) if sweep => resym.sweep(apps.into_iter().map(|a| a.app_id)),
        Ok(_) => tracing::info!("re-symbolication sweep left to the node that started with it"),
        Err(e) => tracing::warn!(error = %e, "re-symbolication sweep skipped"),
    }
    // Control plane (client config, sites, actions) and alerts; their
    // counters go to the collector's registry (`/metrics`).
    // With several nodes on one control plane, each scheduled job runs on
    // the node holding its lease.
    let control = Arc::new(
        vitals_control::Control::new(
            cp,
            cfg.control.clone(),
            Some(store.clone()),
            Some(inner.clone()),
            cfg.lang(),
        )?
        .with_lease(vitals_control::LeaseSettings {
            holder: cfg.control_plane.node(),
            ttl_secs: cfg.control_plane.lease_secs,
        }),
    );
    // The dashboard; cookies get `Secure` when it is served over HTTPS.
    let mut web_state = vitals_web::WebState::new(
        analyzer.clone(),
        Some(control.clone()),
        cfg.lang(),
        vitals_web::WebSettings {
            secure_cookies: cfg.https.enabled,
            ..Default::default()
        },
    )
    .with_login(cfg.web.clone());
    let alerts = Arc::new(vitals_alerts::Alerts::new(
        control.clone(),
        store,
        analyzer,
        cfg.alerts.clone(),
        cfg.lang(),
        &cfg.timezone,
        &inner.metrics.registry,
        vitals_alerts::schedule::at(vitals_control::now()),
    )?);
    let rules_of = alerts.clone();
    web_state.alert_rules = Some(Arc::new(move || {
        rules_of
            .rules()
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect()
    }));
    let web_state = actix_web::web::Data::new(web_state);
    let ops = Ops {
        stop: ops_stop,
        tasks: vec![
            migration,
            control.spawn_prober(ops_rx.clone()),
            alerts.spawn(ops_rx.clone()),
            resym.spawn(ops_rx),
        ],
    };
    let workers = if cfg.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        cfg.workers
    };
    // Over HTTPS, every response tells browsers to stay on it.
    let hsts = cfg
        .https
        .enabled
        .then(|| {
            crate::edge::hsts(
                cfg.https.hsts_max_age_secs,
                cfg.https.hsts_include_subdomains,
            )
        })
        .flatten();
    let (edge_cp, lang) = (control.cp.clone(), cfg.lang());
    let server = HttpServer::new(move || {
        let edge_cp = edge_cp.clone();
        let mut headers = middleware::DefaultHeaders::new();
        if let Some(v) = &hsts {
            headers = headers.add(("strict-transport-security", v.clone()));
        }
        let inner = inner.clone();
        let api_state = api_state.clone();
        let sym_state = sym_state.clone();
        let crash_routes = crash_routes.clone();
        let (control, alerts) = (control.clone(), alerts.clone());
        let web_state = web_state.clone();
        App::new()
            .app_data(crate::edge::json_config(lang))
            .app_data(crate::edge::query_config(lang))
            .app_data(crate::edge::path_config(lang))
            .wrap(middleware::from_fn(move |req, next| {
                crate::edge::auth_first(edge_cp.clone(), lang, req, next)
            }))
            .wrap(middleware::from_fn(vitals_web::session_first))
            .wrap(headers)
            .wrap(middleware::Logger::new("%a \"%r\" %s %b %Dms").log_target("vitals::http"))
            .configure(move |c| vitals_collector::configure_routes(inner, c))
            .configure(move |c| vitals_analyzer::api::configure(api_state, c))
            .configure(move |c| vitals_symbolicator::http::configure(c, sym_state))
            .configure(move |c| crate::symbols::configure(c, crash_routes))
            .configure(move |c| vitals_control::api::configure(control, c))
            .configure(move |c| vitals_alerts::api::configure(alerts, c))
            .configure(move |c| vitals_web::configure(web_state, c))
            .default_service(web::to(move |req| crate::edge::not_found(req, lang)))
    })
    .workers(workers)
    .shutdown_timeout(10)
    .bind(&cfg.listen)
    .map_err(|source| ServerError::Bind {
        addr: cfg.listen.clone(),
        source,
    })?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("no listening address"))?;
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(Running {
        addr,
        backend,
        server: handle,
        task,
        collector,
        ops,
    })
}
