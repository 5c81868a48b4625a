//! Helpers for end-to-end tests: the real `vitals` binary, real ClickHouse
//! servers, signed HTTP requests.
#![allow(dead_code)]

pub mod fault;
pub mod http;
pub mod nodes;
pub mod proxy;
pub mod smtp;

#[allow(unused_imports)]
pub use fault::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use nodes::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vitals_protocol::{Batch, sign};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vitals")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared test ClickHouse, or None locally (a failure under CI).
pub fn shared_clickhouse() -> Option<String> {
    match std::env::var("VITALS_TEST_CLICKHOUSE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI=true but VITALS_TEST_CLICKHOUSE_URL is not set"
            );
            eprintln!("VITALS_TEST_CLICKHOUSE_URL not set: skipping");
            None
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A private ClickHouse server the test can stop and start.
pub struct ClickHouse {
    dir: PathBuf,
    /// Loopback address it listens on (127.0.0.1 unless a cluster test
    /// puts shards on 127.0.0.2, 127.0.0.3, …).
    pub host: &'static str,
    pub http: u16,
    pub tcp: u16,
    /// A config fragment copied into its config.d (e.g. `<remote_servers>`).
    config_d: Option<PathBuf>,
    child: Option<Child>,
}

impl ClickHouse {
    pub fn start(dir: &Path) -> ClickHouse {
        let mut ch = Self::new(dir, "127.0.0.1", free_port(), free_port(), None);
        ch.up();
        ch
    }

    /// A server on `host` with the given ports and config fragment, not
    /// started yet.
    pub fn new(
        dir: &Path,
        host: &'static str,
        http: u16,
        tcp: u16,
        config_d: Option<PathBuf>,
    ) -> ClickHouse {
        ClickHouse {
            dir: dir.to_path_buf(),
            host,
            http,
            tcp,
            config_d,
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.http)
    }

    pub fn up(&mut self) {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("deploy/clickhouse/run-local.sh"))
            .arg(&self.dir)
            .arg(self.http.to_string())
            .arg(self.tcp.to_string())
            .arg(self.host);
        if let Some(c) = &self.config_d {
            cmd.env("VITALS_CH_CONFIG_D", c);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server (is Debian's clickhouse-server installed?)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if query(&self.url(), "SELECT 1").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("ClickHouse did not come up on port {}", self.http);
    }

    /// Stops the server (SIGTERM, then waits).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while query(&self.url(), "SELECT 1").is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs one SQL statement over ClickHouse's HTTP interface.
pub fn query(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            "--max-time",
            "30",
            "--data-binary",
            sql,
            url,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn query_u64(url: &str, sql: &str) -> u64 {
    query(url, sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// An ingest key made by `vitals keys create`.
pub struct Key {
    pub key_id: String,
    pub secret: String,
}

/// Creates an ingest key through the CLI.
pub fn create_app_key(data_dir: &Path, app: &str) -> Key {
    let out = Command::new(bin())
        .args(["keys", "create", "--app", app, "--lang", "en", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("run vitals keys create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_key_output(&String::from_utf8_lossy(&out.stdout))
}

/// The key id and secret `vitals keys create` prints.
pub fn parse_key_output(text: &str) -> Key {
    Key {
        key_id: printed(text, "key id:"),
        secret: printed(text, "secret:"),
    }
}

/// The value after `label` on the line of `text` that starts with it.
pub fn printed(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {label} in {text}"))
}

/// Turns on the app's Sentry-protocol intake with `vitals sentry enable`
/// (off by default, issue #22); returns the DSN's project id.
pub fn enable_sentry(data_dir: &Path, app: &str) -> String {
    let out = Command::new(bin())
        .args([
            "sentry",
            "enable",
            "--app",
            app,
            "--lang",
            "en",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .expect("run vitals sentry enable");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed(&String::from_utf8_lossy(&out.stdout), "project:")
}

/// Creates an ingest key through the CLI; returns (key id, secret).
pub fn create_key(data_dir: &Path, app: &str) -> (String, String) {
    let k = create_app_key(data_dir, app);
    (k.key_id, k.secret)
}

/// Creates an API token with `role` through the CLI.
pub fn create_token(data_dir: &Path, role: &str) -> String {
    let out = Command::new(bin())
        .args([
            "tokens",
            "create",
            "--role",
            role,
            "--lang",
            "en",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .expect("run vitals tokens create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// A running `vitals serve`.
pub struct Vitals {
    pub url: String,
    child: Child,
}

/// Extra settings for [`Vitals::serve_opts`].
#[derive(Default)]
pub struct ServeOpts {
    /// A config file (TOML) passed with `--config`.
    pub config: Option<PathBuf>,
    /// Where stderr (the log) goes; inherited when unset.
    pub log: Option<PathBuf>,
    /// `VITALS_LOG` (default `warn`).
    pub log_level: Option<&'static str>,
}

impl Vitals {
    pub fn serve(data_dir: &Path, clickhouse: Option<(&str, &str)>) -> Vitals {
        Self::serve_opts(data_dir, clickhouse, &ServeOpts::default())
    }

    pub fn serve_opts(
        data_dir: &Path,
        clickhouse: Option<(&str, &str)>,
        opts: &ServeOpts,
    ) -> Vitals {
        Self::serve_within(data_dir, clickhouse, opts, Duration::from_secs(600))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Vitals::serve_opts`], failing when the banner (the server
    /// listening) does not come within `limit` (the process is killed).
    pub fn serve_within(
        data_dir: &Path,
        clickhouse: Option<(&str, &str)>,
        opts: &ServeOpts,
        limit: Duration,
    ) -> Result<Vitals, String> {
        let mut cmd = Command::new(bin());
        cmd.args([
            "serve",
            "--lang",
            "en",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("VITALS_CONFIG");
        if let Some((url, db)) = clickhouse {
            cmd.args(["--clickhouse-url", url])
                .env("VITALS_CLICKHOUSE_DATABASE", db);
        }
        if let Some(c) = &opts.config {
            cmd.arg("--config").arg(c);
        }
        let stderr = match &opts.log {
            Some(p) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .expect("open log file"),
            ),
            None => Stdio::inherit(),
        };
        cmd.env("VITALS_LOG", opts.log_level.unwrap_or("warn"))
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("start vitals serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let mut out = BufReader::new(stdout);
            let _ = out.read_line(&mut line);
            let _ = tx.send(line);
            // Keep reading, so the server never blocks on a full pipe.
            let _ = std::io::copy(&mut out, &mut std::io::sink());
        });
        let line = match rx.recv_timeout(limit) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("vitals serve did not listen within {limit:?}"));
            }
        };
        let Some(url) = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string)
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no URL in banner {line:?}"));
        };
        Ok(Vitals { url, child })
    }

    /// One value of the Prometheus text at `/metrics` (summed over labels);
    /// 0 when absent.
    pub fn metric(&self, name: &str) -> f64 {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10"])
            .arg(format!("{}/metrics", self.url))
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn kill9(mut self) {
        let _ = Command::new("kill")
            .arg("-9")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    pub fn terminate(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Vitals {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Signs and posts one batch; returns the HTTP status (0 on a transport
/// error).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    key: &(String, String),
    batch: &Batch,
) -> u16 {
    post_at(client, url, key, batch, now_secs()).await.status
}

/// What the collector answered.
#[derive(Debug, Default)]
pub struct Reply {
    /// 0 on a transport error.
    pub status: u16,
    /// The `Date` header, as Unix seconds.
    pub date: Option<i64>,
    pub retry_after: Option<String>,
    pub body: String,
}

/// Posts `batch` signed with timestamp `ts` (Unix seconds).
pub async fn post_at(
    client: &reqwest::Client,
    url: &str,
    key: &(String, String),
    batch: &Batch,
    ts: i64,
) -> Reply {
    let body = serde_json::to_vec(batch).expect("serialise");
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let sig = sign::sign(key.1.as_bytes(), "POST", "/api/v1/batch", ts, &nonce, &body);
    let resp = match client
        .post(format!("{url}/api/v1/batch"))
        .header(sign::HEADER_KEY, &key.0)
        .header(sign::HEADER_TIMESTAMP, ts.to_string())
        .header(sign::HEADER_NONCE, nonce)
        .header(sign::HEADER_SIGNATURE, sig)
        .header("content-type", "application/json")
        .header("accept-language", "en")
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) => r,
        Err(_) => return Reply::default(),
    };
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let date = header("date").and_then(|d| parse_http_date(&d));
    let retry_after = header("retry-after");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    Reply {
        status,
        date,
        retry_after,
        body,
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let p: Vec<&str> = s.split([' ', ':']).collect();
    if p.len() != 8 || p[7] != "GMT" {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let day: i64 = p[1].parse().ok()?;
    let month = MONTHS.iter().position(|m| *m == p[2])? as i64 + 1;
    let year: i64 = p[3].parse().ok()?;
    let (h, m, sec): (i64, i64, i64) = (p[4].parse().ok()?, p[5].parse().ok()?, p[6].parse().ok()?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// Deterministic batches for `app` from the fleet simulator.
pub fn batches(app: &str, n: usize, events_per_batch: usize, seed: u64) -> Vec<Batch> {
    batches_at(app, n, events_per_batch, seed, None)
}

/// [`batches`] placed before the anchor `now_ms` (Unix ms; None: the wall
/// clock when they are generated). The anchor's time of day shapes the
/// data (activity follows the hour of day), so the same seed and anchor
/// time of day give the same fleet on any day.
pub fn batches_at(
    app: &str,
    n: usize,
    events_per_batch: usize,
    seed: u64,
    now_ms: Option<i64>,
) -> Vec<Batch> {
    let cfg = vitals::simulate::SimConfig {
        app_id: app.into(),
        seed,
        devices: 200,
        events_per_batch,
        now_ms,
        ..Default::default()
    };
    vitals::simulate::generate_batches(&cfg, n)
}
