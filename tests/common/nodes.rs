//! Helpers for tests that run several `vitals serve` nodes on one shared
//! control plane (PostgreSQL) and one ClickHouse cluster: a throw-away
//! PostgreSQL database, the binary started from a config file alone, the
//! CLI run against a config file, labelled metrics, signed GETs.

use super::{Key, Vitals, bin, parse_key_output, printed};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use vitals_protocol::sign;

/// Variables read by `vitals` itself (src/config.rs, src/main.rs) that
/// would override what a test writes into its config files.
const VITALS_ENV: &[&str] = &[
    "VITALS_CONFIG",
    "VITALS_DATA_DIR",
    "VITALS_CLICKHOUSE_URL",
    "VITALS_CLICKHOUSE_DATABASE",
    "VITALS_CLICKHOUSE_PASSWORD",
    "VITALS_CLICKHOUSE_CLUSTER",
    "VITALS_CONTROL_PLANE_URL",
    "VITALS_TIMEZONE",
    "VITALS_LISTEN",
    "VITALS_URL",
    "VITALS_TOKEN",
];

/// A command of the binary with the environment cleared of `VITALS_*`
/// settings, so only the config file and the flags count.
pub fn vitals_command() -> Command {
    let mut cmd = Command::new(bin());
    for v in VITALS_ENV {
        cmd.env_remove(v);
    }
    cmd
}

/// Runs `vitals ARGS --lang en --config CONFIG`; panics unless it exits
/// with 0; returns its standard output.
pub fn cli_with_config(config: &Path, args: &[&str]) -> String {
    let out = vitals_command()
        .args(args)
        .args(["--lang", "en", "--config"])
        .arg(config)
        .output()
        .expect("run vitals");
    assert!(
        out.status.success(),
        "vitals {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `vitals keys create --app APP` against the control plane `config` names.
pub fn create_app_key_with_config(config: &Path, app: &str) -> Key {
    parse_key_output(&cli_with_config(config, &["keys", "create", "--app", app]))
}

/// `vitals sentry enable --app APP` against the control plane `config`
/// names; returns the DSN's project id.
pub fn enable_sentry_with_config(config: &Path, app: &str) -> String {
    printed(
        &cli_with_config(config, &["sentry", "enable", "--app", app]),
        "project:",
    )
}

/// `vitals tokens create --role ROLE --name NAME` against the control
/// plane `config` names; returns the token.
pub fn create_named_token_with_config(config: &Path, role: &str, name: &str) -> String {
    cli_with_config(
        config,
        &["tokens", "create", "--role", role, "--name", name],
    )
    .split_whitespace()
    .last()
    .unwrap_or_default()
    .to_string()
}

impl Vitals {
    /// Starts `vitals serve --config CONFIG` on a free loopback port with
    /// nothing else from the command line or the environment, its log
    /// (`VITALS_LOG=log_level`) appended to `log`.
    pub fn serve_config(config: &Path, log: &Path, log_level: &str) -> Vitals {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log file");
        let mut child = vitals_command()
            .args([
                "serve",
                "--lang",
                "en",
                "--listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(config)
            .env("VITALS_LOG", log_level)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("start vitals serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read banner");
        let Some(url) = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string)
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no URL in banner {line:?}; log {}:\n{}",
                log.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            );
        };
        Vitals { url, child }
    }

    /// The process id (to tell nodes apart in messages).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Prometheus text at `/metrics`, or None when the node does not
    /// answer.
    pub fn metrics_text(&self) -> Option<String> {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10"])
            .arg(format!("{}/metrics", self.url))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }
}

/// The value of the sample `name{labels}` in Prometheus text, where
/// `labels` is the exact label set as printed (e.g. `job="alerts"`), or
/// empty for an unlabelled sample. None when absent.
pub fn metric_sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let series = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        (s == series).then(|| v.parse().ok()).flatten()
    })
}

/// Sends `GET path?query` signed like ingest (as SDKs fetch the client
/// config): the signature covers the path without the query.
pub async fn get_signed(
    client: &reqwest::Client,
    base: &str,
    key: &(String, String),
    path: &str,
    query: &str,
) -> reqwest::Response {
    let ts = super::now_secs();
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let sig = sign::sign(key.1.as_bytes(), "GET", path, ts, &nonce, b"");
    client
        .get(format!("{base}{path}?{query}"))
        .header(sign::HEADER_KEY, &key.0)
        .header(sign::HEADER_TIMESTAMP, ts.to_string())
        .header(sign::HEADER_NONCE, nonce)
        .header(sign::HEADER_SIGNATURE, sig)
        .header("accept-language", "en")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"))
}

/// `psql`, from `PATH` or the newest server installation.
fn psql() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("psql").is_file()))
        .unwrap_or(false);
    if on_path {
        return PathBuf::from("psql");
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
        .pop()
        .expect("psql (Debian's postgresql-client) is needed to create test databases")
}

/// Runs SQL through `psql` against `url`; returns unaligned tuples
/// (`|`-separated columns, one row a line).
pub fn psql_query(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new(psql())
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

/// The shared test PostgreSQL server (`VITALS_TEST_POSTGRES_URL`), or None
/// locally (a failure under CI).
pub fn shared_postgres() -> Option<String> {
    match std::env::var("VITALS_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI=true but VITALS_TEST_POSTGRES_URL is not set"
            );
            eprintln!("VITALS_TEST_POSTGRES_URL not set: skipping");
            None
        }
    }
}

/// A PostgreSQL database created for one test, dropped when this drops.
pub struct PgDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl PgDb {
    /// Creates `name` (letters, digits, `_`) on the server `admin_url`
    /// points at.
    pub fn create(admin_url: &str, name: &str) -> PgDb {
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "database name {name}"
        );
        psql_query(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .and_then(|_| psql_query(admin_url, &format!("CREATE DATABASE {name}")))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        PgDb {
            admin_url: admin_url.to_string(),
            name: name.to_string(),
            url: pg_url_with_db(admin_url, name),
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Err(e) = psql_query(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop PostgreSQL database {}: {e}", self.name);
        }
    }
}

/// The same server URL with another database name.
pub fn pg_url_with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let query = rest[end..]
        .find('?')
        .map(|q| &rest[end + q..])
        .unwrap_or("");
    format!("{scheme}://{}/{db}{query}", &rest[..end])
}

/// `vitals users create` with the password on standard input, against the
/// control plane `config` names.
pub fn create_user_with_config(config: &Path, name: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = vitals_command()
        .args([
            "users",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--password-stdin",
        ])
        .args(["--lang", "en", "--config"])
        .arg(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vitals users create");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write password");
    let out = child.wait_with_output().expect("vitals users create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `vitals gate --app APP --release RELEASE --format json` with `config`:
/// (exit code, standard output, standard error).
pub fn gate_json_with_config(config: &Path, app: &str, release: &str) -> (i32, String, String) {
    let out = vitals_command()
        .args([
            "gate",
            "--app",
            app,
            "--release",
            release,
            "--format",
            "json",
            "--lang",
            "en",
            "--config",
        ])
        .arg(config)
        .output()
        .expect("run vitals gate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
