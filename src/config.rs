//! The `vitals` configuration: one TOML file (see `deploy/vitals.example.toml`),
//! every setting with a default, the main ones overridable by flags and
//! `VITALS_*` environment variables (flag > env > file > default).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vitals_collector::CollectorConfig;
use vitals_i18n::Lang;
use vitals_store::{ClickHouseConfig, ControlPlaneConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// Where the embedded store, control plane and spool live.
    pub data_dir: PathBuf,
    /// Default language of user-facing text: `zh-CN` or `en`.
    pub lang: String,
    /// Time zone for days, charts and schedules (IANA name).
    pub timezone: String,
    /// ClickHouse for telemetry; empty `url` means the embedded store.
    pub clickhouse: ClickHouseSection,
    /// Deadlines of start-up and of every call to the telemetry store.
    pub store: StoreSection,
    /// Control-plane database: empty `url` means SQLite under `data_dir`,
    /// a PostgreSQL URL a control plane shared by several nodes.
    pub control_plane: ControlPlaneConfig,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Policy file (TOML) overriding or replacing the built-in standard.
    pub policy: Option<PathBuf>,
    pub collector: CollectorConfig,
    /// Debug-file store of the symbolicator.
    pub symbolicator: SymbolicatorSection,
    /// Client config, sites and probes, rollouts, emergency actions.
    pub control: vitals_control::ControlSettings,
    /// Alert rules, SMTP, digests.
    pub alerts: vitals_alerts::AlertSettings,
    /// Dashboard sign-in: password-check concurrency, throttles, trusted
    /// proxies.
    pub web: vitals_web::LoginSettings,
    /// Served over HTTPS (TLS at a proxy or balancer in front).
    pub https: HttpsSection,
}

/// `[https]`: vitals speaks plain HTTP behind a proxy or load balancer that
/// terminates TLS; when browsers reach it over HTTPS, say so here: session
/// cookies get `Secure` and the `__Host-` prefix, and every response
/// carries `Strict-Transport-Security`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpsSection {
    /// Env: `VITALS_WEB_SECURE_COOKIES=1`.
    pub enabled: bool,
    /// HSTS `max-age`, seconds; 0 sends no HSTS header.
    pub hsts_max_age_secs: u64,
    /// HSTS for every sub-domain too (only if all of them serve HTTPS).
    pub hsts_include_subdomains: bool,
}

impl Default for HttpsSection {
    fn default() -> Self {
        HttpsSection {
            enabled: false,
            hsts_max_age_secs: 31_536_000,
            hsts_include_subdomains: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClickHouseSection {
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Cluster name from `<remote_servers>`: local tables on every node
    /// under `Distributed` tables (docs/ARCHITECTURE.md). Empty = one node.
    pub cluster: String,
    /// Every cluster node's HTTP URL; empty = discovered from
    /// `system.clusters` with the port of `url`.
    pub nodes: Vec<String>,
}

/// `[store]`: how long start-up, readiness and each call to the telemetry
/// store (ClickHouse or the embedded SQLite) may take. A store that stops
/// answering (frozen, black-holed, half-open connections) then costs a
/// failed call, never a hung collector (`src/timed_store.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// Longest start-up waits for the schema check before listening
    /// anyway; the migration goes on in the background, batches stay in
    /// the spool until it is done.
    pub startup_wait_ms: u64,
    /// Liveness check (`/readyz`).
    pub ping_timeout_ms: u64,
    /// Each read (dashboard, API, analyzer, alerts).
    pub query_timeout_ms: u64,
    /// Each write: one insert of a block from the spool (retried in doubt),
    /// an erasure, a crash rewrite.
    pub write_timeout_ms: u64,
    /// One attempt at the schema migration or a rollup rebuild (retried
    /// with back-off while it fails).
    pub migrate_timeout_ms: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            startup_wait_ms: 1_000,
            ping_timeout_ms: 500,
            query_timeout_ms: 30_000,
            write_timeout_ms: 120_000,
            migrate_timeout_ms: 600_000,
        }
    }
}

/// `[symbolicator]`: where the debug files live and how often this node
/// notices files stored through other nodes sharing that directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SymbolicatorSection {
    /// Root of the debug-file store (`blobs/`, `apps/`, `caches/`,
    /// `grouping/`); default `<data_dir>/symbols`. Shared storage (NFS)
    /// when several nodes run.
    pub dir: Option<PathBuf>,
    /// Least milliseconds between two checks of an app's directory for
    /// files stored or deleted by another node; 0 = at every lookup.
    pub index_refresh_ms: u64,
    /// `[symbolicator.uploads]`: bounds of one debug-file upload (request
    /// body, files, expanded size, ratio); uploads stream to
    /// `<data_dir>/tmp/uploads`.
    pub uploads: vitals_symbolicator::intake::UploadLimits,
}

impl Default for SymbolicatorSection {
    fn default() -> Self {
        SymbolicatorSection {
            dir: None,
            index_refresh_ms: vitals_symbolicator::store::DEFAULT_REFRESH.as_millis() as u64,
            uploads: Default::default(),
        }
    }
}

impl Default for ClickHouseSection {
    fn default() -> Self {
        let d = ClickHouseConfig::default();
        ClickHouseSection {
            url: String::new(),
            database: d.database,
            user: d.user,
            password: d.password,
            cluster: d.cluster,
            nodes: d.nodes,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./vitals-data"),
            lang: "zh-CN".into(),
            timezone: "Asia/Shanghai".into(),
            clickhouse: ClickHouseSection::default(),
            store: StoreSection::default(),
            control_plane: ControlPlaneConfig::default(),
            workers: 0,
            policy: None,
            collector: CollectorConfig::default(),
            symbolicator: SymbolicatorSection::default(),
            control: Default::default(),
            alerts: Default::default(),
            web: Default::default(),
            https: HttpsSection::default(),
        }
    }
}

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Values given on the command line or through the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub clickhouse_url: Option<String>,
    pub lang: Option<String>,
}

impl Config {
    /// Loads `path` (if any), then applies `VITALS_*` variables handled here
    /// and the overrides.
    pub fn load(path: Option<&Path>, o: &Overrides) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: p.to_path_buf(),
                    source,
                })?
            }
            None => Config::default(),
        };
        if let Ok(v) = std::env::var("VITALS_TIMEZONE") {
            cfg.timezone = v;
        }
        if let Ok(v) = std::env::var("VITALS_CLICKHOUSE_DATABASE") {
            cfg.clickhouse.database = v;
        }
        if let Ok(v) = std::env::var("VITALS_CLICKHOUSE_PASSWORD") {
            cfg.clickhouse.password = v;
        }
        if std::env::var("VITALS_WEB_SECURE_COOKIES").is_ok_and(|v| v == "1" || v == "true") {
            cfg.https.enabled = true;
        }
        if let Ok(v) = std::env::var("VITALS_CONTROL_PLANE_URL") {
            cfg.control_plane.url = v;
        }
        if let Ok(v) = std::env::var("VITALS_CLICKHOUSE_CLUSTER") {
            cfg.clickhouse.cluster = v;
        }
        if let Some(v) = &o.listen {
            cfg.listen = v.clone();
        }
        if let Some(v) = &o.data_dir {
            cfg.data_dir = v.clone();
        }
        if let Some(v) = &o.clickhouse_url {
            cfg.clickhouse.url = v.clone();
        }
        if let Some(v) = &o.lang {
            cfg.lang = v.clone();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        Lang::parse(&self.lang).ok_or_else(|| {
            ConfigError::Invalid(format!("lang '{}' must be zh-CN or en", self.lang))
        })?;
        self.timezone.parse::<chrono_tz::Tz>().map_err(|_| {
            ConfigError::Invalid(format!(
                "timezone '{}' is not an IANA time zone",
                self.timezone
            ))
        })?;
        self.collector
            .validate()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.control_plane.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "control_plane.pool_size must be at least 1".into(),
            ));
        }
        let s = &self.store;
        for (name, v) in [
            ("startup_wait_ms", s.startup_wait_ms),
            ("ping_timeout_ms", s.ping_timeout_ms),
            ("query_timeout_ms", s.query_timeout_ms),
            ("write_timeout_ms", s.write_timeout_ms),
            ("migrate_timeout_ms", s.migrate_timeout_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!(
                    "store.{name} must be at least 1"
                )));
            }
        }
        let u = &self.symbolicator.uploads;
        for (name, v) in [
            ("max_request_bytes", u.max_request_bytes),
            ("max_zip_entries", u.max_zip_entries),
            ("max_zip_entry_bytes", u.max_zip_entry_bytes),
            ("max_zip_total_bytes", u.max_zip_total_bytes),
            ("max_zip_ratio", u.max_zip_ratio),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!(
                    "symbolicator.uploads.{name} must be at least 1"
                )));
            }
        }
        if self.web.hash_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "web.hash_concurrency must be at least 1".into(),
            ));
        }
        if let Some(bad) = self
            .web
            .trusted_proxies
            .iter()
            .find(|p| vitals_web::login_guard::Net::parse(p).is_none())
        {
            return Err(ConfigError::Invalid(format!(
                "web.trusted_proxies: '{bad}' is not an address or network (10.0.0.0/8)"
            )));
        }
        if self.control_plane.lease_secs < 3 {
            return Err(ConfigError::Invalid(
                "control_plane.lease_secs must be at least 3 (renewed every lease_secs / 3)".into(),
            ));
        }
        Ok(())
    }

    /// The policy in force: the configured file, else the standard.
    pub fn policy(&self) -> Result<vitals_analyzer::policy::Policy, ConfigError> {
        match &self.policy {
            None => Ok(vitals_analyzer::policy::Policy::standard()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                vitals_analyzer::policy::Policy::parse(&text).map_err(|e| {
                    ConfigError::Invalid(format!("{}: {}", p.display(), e.render(self.lang())))
                })
            }
        }
    }

    /// The debug-file store root: `[symbolicator] dir`, else
    /// `<data_dir>/symbols`.
    pub fn symbols_dir(&self) -> PathBuf {
        self.symbolicator
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("symbols"))
    }

    /// The symbolicator's settings.
    pub fn symbolicator(&self) -> vitals_symbolicator::Config {
        let mut c = vitals_symbolicator::Config::new(self.symbols_dir());
        c.index_refresh = Some(std::time::Duration::from_millis(
            self.symbolicator.index_refresh_ms,
        ));
        c
    }

    pub fn lang(&self) -> Lang {
        Lang::parse(&self.lang).unwrap_or_default()
    }

    /// The ClickHouse settings, when a URL is configured.
    pub fn clickhouse(&self) -> Option<ClickHouseConfig> {
        if self.clickhouse.url.is_empty() {
            return None;
        }
        Some(ClickHouseConfig {
            url: self.clickhouse.url.clone(),
            database: self.clickhouse.database.clone(),
            user: self.clickhouse.user.clone(),
            password: self.clickhouse.password.clone(),
            cluster: self.clickhouse.cluster.clone(),
            nodes: self.clickhouse.nodes.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_matches_defaults_where_uncommented() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/vitals.example.toml"
        ))
        .expect("example config present");
        let cfg: Config = toml::from_str(&text).expect("example config parses");
        cfg.validate().expect("example config valid");
        assert_eq!(cfg.collector.limits, vitals_protocol::Limits::default());
        assert_eq!(cfg.control_plane, ControlPlaneConfig::default());
        assert_eq!(
            cfg.collector.auth,
            vitals_collector::config::AuthConfig::default()
        );
        assert_eq!(
            cfg.collector.replay,
            vitals_collector::config::ReplayConfig::default()
        );
        assert_eq!(cfg.symbolicator, SymbolicatorSection::default());
        assert_eq!(cfg.store, StoreSection::default());
        assert_eq!(
            cfg.alerts.webhooks,
            vitals_alerts::outbound::WebhookSettings::default()
        );
        assert_eq!(cfg.web, vitals_web::LoginSettings::default());
        assert_eq!(cfg.control, vitals_control::ControlSettings::default());
        assert_eq!(cfg.https, HttpsSection::default());
        assert_eq!(
            cfg.collector.sentry,
            vitals_collector::sentry::SentryConfig::default()
        );
    }

    #[test]
    fn upload_bounds_parse_and_zero_is_refused() {
        let cfg: Config = toml::from_str(
            "[symbolicator.uploads]
max_zip_entries = 50",
        )
        .unwrap();
        assert_eq!(cfg.symbolicator.uploads.max_zip_entries, 50);
        assert_eq!(cfg.symbolicator.uploads.max_request_bytes, 4 << 30);
        let zero: Config = toml::from_str(
            "[symbolicator.uploads]
max_zip_ratio = 0",
        )
        .unwrap();
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("symbolicator.uploads.max_zip_ratio")
        );
        assert!(
            toml::from_str::<Config>(
                "[symbolicator.uploads]
max_zip = 1"
            )
            .is_err()
        );
    }

    #[test]
    fn replay_settings_parse_and_zero_is_refused() {
        let cfg: Config =
            toml::from_str("[collector.replay]\nbatch_window_secs = 86400\ndurable = false")
                .unwrap();
        assert_eq!(cfg.collector.replay.batch_window_secs, 86_400);
        assert!(!cfg.collector.replay.durable);
        assert_eq!(cfg.collector.replay.timeout_ms, 500);
        for key in ["batch_window_secs", "timeout_ms", "queue", "max_group"] {
            let zero: Config = toml::from_str(&format!("[collector.replay]\n{key} = 0")).unwrap();
            let e = zero.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("collector.replay.{key}")), "{e}");
        }
        let zero: Config = toml::from_str("[collector.auth]\nmax_nonces = 0").unwrap();
        assert!(zero.validate().is_err());
        assert!(toml::from_str::<Config>("[collector.replay]\nwindow = 1").is_err());
    }

    #[test]
    fn store_timeouts_parse_and_zero_is_refused() {
        let cfg: Config = toml::from_str("[store]\nping_timeout_ms = 250").unwrap();
        assert_eq!(cfg.store.ping_timeout_ms, 250);
        assert_eq!(cfg.store.query_timeout_ms, 30_000);
        let zero: Config = toml::from_str("[store]\nwrite_timeout_ms = 0").unwrap();
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("write_timeout_ms")
        );
        assert!(toml::from_str::<Config>("[store]\ntimeout = 1").is_err());
    }

    #[test]
    fn symbols_dir_defaults_under_data_dir_and_can_be_moved() {
        let cfg: Config = toml::from_str("data_dir = \"/d\"").unwrap();
        assert_eq!(cfg.symbols_dir(), PathBuf::from("/d/symbols"));
        assert_eq!(
            cfg.symbolicator().index_refresh,
            Some(std::time::Duration::from_secs(2))
        );
        let cfg: Config = toml::from_str(
            "data_dir = \"/d\"\n[symbolicator]\ndir = \"/nfs/symbols\"\nindex_refresh_ms = 0",
        )
        .unwrap();
        assert_eq!(cfg.symbols_dir(), PathBuf::from("/nfs/symbols"));
        let s = cfg.symbolicator();
        assert_eq!(s.root, PathBuf::from("/nfs/symbols"));
        assert_eq!(s.index_refresh, Some(std::time::Duration::ZERO));
        assert!(toml::from_str::<Config>("[symbolicator]\npath = \"x\"").is_err());
    }

    #[test]
    fn production_config_parses_and_names_the_cluster_and_control_plane() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/vitals.production.toml"
        ))
        .expect("production config present");
        let cfg: Config = toml::from_str(&text).expect("production config parses");
        cfg.validate().expect("production config valid");
        assert_eq!(cfg.clickhouse.cluster, "vitals");
        assert!(cfg.control_plane.url.starts_with("postgres://"));
        assert!(cfg.clickhouse().is_some(), "production uses ClickHouse");
    }

    #[test]
    fn control_plane_section_parses_and_is_checked() {
        let cfg: Config = toml::from_str(
            "[control_plane]\nurl = \"postgres://vitals@db/vitals\"\npool_size = 8\nnode_id = \"n1\"",
        )
        .unwrap();
        assert_eq!(cfg.control_plane.url, "postgres://vitals@db/vitals");
        assert_eq!(
            (cfg.control_plane.pool_size, cfg.control_plane.lease_secs),
            (8, 30)
        );
        assert_eq!(cfg.control_plane.node(), "n1");
        assert!(
            Config::default().control_plane.node().contains(':'),
            "hostname:pid"
        );
        assert!(toml::from_str::<Config>("[control_plane]\nurll = \"x\"").is_err());
        let zero: Config = toml::from_str("[control_plane]\npool_size = 0").unwrap();
        assert!(zero.validate().is_err());
    }

    #[test]
    fn overrides_win_and_bad_values_are_explained() {
        let o = Overrides {
            listen: Some("0.0.0.0:9".into()),
            lang: Some("en".into()),
            ..Default::default()
        };
        let cfg = Config::load(None, &o).unwrap();
        assert_eq!(cfg.listen, "0.0.0.0:9");
        assert_eq!(cfg.lang(), Lang::En);
        assert_eq!(cfg.timezone, "Asia/Shanghai");
        let bad = Overrides {
            lang: Some("fr".into()),
            ..Default::default()
        };
        let err = Config::load(None, &bad).unwrap_err().to_string();
        assert!(err.contains("zh-CN or en"), "{err}");
    }
}
