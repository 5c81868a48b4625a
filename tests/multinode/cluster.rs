//! The two-node setup: fresh databases (ClickHouse on the cluster,
//! PostgreSQL for the control plane), one config file per node, the nodes
//! started from their config file alone.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const CLUSTER: &str = "vitals_local";
pub const NODE_IDS: [&str; 2] = ["node-a", "node-b"];
/// `[control_plane] lease_secs`: renewed every second.
pub const LEASE_SECS: u64 = 3;
/// Longest wait for anything eventually true (only so nothing hangs).
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The ClickHouse cluster node and PostgreSQL server, or None (skip).
fn services() -> Option<(String, String)> {
    let ch = match std::env::var("VITALS_TEST_CLICKHOUSE_CLUSTER_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI=true but VITALS_TEST_CLICKHOUSE_CLUSTER_URL is not set"
            );
            eprintln!("VITALS_TEST_CLICKHOUSE_CLUSTER_URL not set: skipping");
            return None;
        }
    };
    let pg = shared_postgres()?;
    Some((ch, pg))
}

/// HTTP URLs of the cluster's nodes (shard order), from `system.clusters`
/// with the port of `url`.
fn clickhouse_nodes(url: &str) -> Vec<String> {
    let url = url.trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").expect("an http:// URL");
    let port = rest.rsplit_once(':').map(|(_, p)| p).unwrap_or("8123");
    let hosts = query(
        url,
        &format!(
            "SELECT host_address FROM system.clusters WHERE cluster = '{CLUSTER}' \
             ORDER BY shard_num, replica_num"
        ),
    )
    .unwrap_or_else(|e| panic!("system.clusters on {url}: {e}"));
    hosts
        .lines()
        .map(|h| format!("{scheme}://{h}:{port}"))
        .collect()
}

/// Two vitals nodes, their ClickHouse database and control-plane database.
/// Dropping it kills the nodes and drops both databases.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// ClickHouse node of vitals node i (one per shard).
    pub ch: Vec<String>,
    pub db: String,
    pub pg: PgDb,
    configs: Vec<PathBuf>,
    pub nodes: Vec<Option<Vitals>>,
}

impl Cluster {
    /// Fresh databases, one config file per node, the schema migrated once
    /// (deploy/README.md, "Upgrades", step 3). No node runs yet.
    pub fn new(test: &str) -> Option<Cluster> {
        Self::new_with(test, |_| String::new())
    }

    /// [`Cluster::new`] with `extra(i)` appended to node i's config file
    /// (more TOML tables).
    pub fn new_with(test: &str, extra: impl Fn(usize) -> String) -> Option<Cluster> {
        let (ch_url, pg_url) = services()?;
        let ch = clickhouse_nodes(&ch_url);
        assert_eq!(ch.len(), 2, "cluster {CLUSTER} has two shards: {ch:?}");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tag = format!("{test}_{}_{nanos}", std::process::id());
        let db = format!("vitals_mn_{tag}");
        let pg = PgDb::create(&pg_url, &format!("vitals_mn_{tag}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = Cluster {
            dir,
            ch,
            db,
            pg,
            configs: Vec::new(),
            nodes: vec![None, None],
        };
        for (i, (id, ch)) in NODE_IDS.iter().zip(&c.ch).enumerate() {
            let data = c.dir.path().join(id);
            let symbols = c.dir.path().join("shared-symbols");
            let path = c.dir.path().join(format!("{id}.toml"));
            std::fs::write(
                &path,
                format!(
                    r#"lang = "en"
data_dir = "{data}"
workers = 2

[clickhouse]
url = "{ch}"
database = "{db}"
cluster = "{CLUSTER}"

[control_plane]
url = "{pg}"
pool_size = 2
lease_secs = {LEASE_SECS}
node_id = "{id}"

[collector.auth]
key_refresh_secs = 1

[collector.writer]
linger_ms = 50

[control]
# Kill switches need a second person; emergency directives may be
# automatic (tests/multinode/control.rs uses both).
require_approval = ["kill_switch.set"]

[control.probe]
interval_secs = 1

[alerts]
tick_secs = 1

[symbolicator]
dir = "{symbols}"
{extra}"#,
                    extra = extra(i),
                    data = data.display(),
                    symbols = symbols.display(),
                    db = c.db,
                    pg = c.pg.url,
                ),
            )
            .expect("write config");
            c.configs.push(path);
        }
        cli_with_config(&c.configs[0], &["migrate"]);
        Some(c)
    }

    pub fn config(&self, i: usize) -> &Path {
        &self.configs[i]
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", NODE_IDS[i]))
    }

    /// The last lines of node i's log (for failure messages).
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn spawn(&self, i: usize) -> Vitals {
        Vitals::serve_config(
            self.config(i),
            &self.log_path(i),
            "warn,vitals_control::leader=info",
        )
    }

    /// Starts both nodes at the same time, as a fresh installation does.
    pub fn start_both(&mut self) {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| self.spawn(0));
            let b = s.spawn(|| self.spawn(1));
            (a.join().expect("node a"), b.join().expect("node b"))
        });
        self.nodes = vec![Some(a), Some(b)];
    }

    pub fn start(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} already runs");
        self.nodes[i] = Some(self.spawn(i));
    }

    pub fn node(&self, i: usize) -> &Vitals {
        self.nodes[i].as_ref().expect("node running")
    }

    pub fn url(&self, i: usize) -> String {
        self.node(i).url.clone()
    }

    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].take().expect("node running").kill9();
    }

    /// One number from ClickHouse, asked through node i's server.
    pub fn ch_u64(&self, i: usize, sql: &str) -> u64 {
        query_u64(&self.ch[i], &sql.replace("{db}", &self.db))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(v) = n.take() {
                v.kill9();
            }
        }
        for u in &self.ch {
            if let Err(e) = query(u, &format!("DROP DATABASE IF EXISTS {}", self.db)) {
                eprintln!("could not drop {} on {u}: {e}", self.db);
            }
        }
        // `pg` drops its database when the fields drop, after this.
    }
}

/// Per node: the sample `name{labels}` (0 when absent or unreachable).
pub fn per_node(c: &Cluster, name: &str, labels: &str) -> [f64; 2] {
    [0, 1].map(|i| {
        c.node(i)
            .metrics_text()
            .and_then(|t| metric_sample(&t, name, labels))
            .unwrap_or(0.0)
    })
}
