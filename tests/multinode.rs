//! End-to-end: two stateless `vitals serve` nodes behind a (test) load
//! balancer, as deploy/README.md ("Several nodes") lays them out — each
//! with its own data directory, port and ClickHouse node of the two-shard
//! cluster `vitals_local`, both on one PostgreSQL control plane — and what
//! such a deployment promises:
//!
//! 1. an app and key created once work on both nodes; batches sent to
//!    either are stored once, on both shards, and both nodes (API, `vitals
//!    gate`) give the same numbers, equal to what was sent;
//! 2. a batch re-sent to the other node is a duplicate, not stored twice;
//!    keys created or revoked later reach both nodes;
//! 3. the signed client config is the same document from both nodes, and
//!    a change made through one node (rollout, emergency, two-person
//!    action requested on one and approved on the other) shows on the
//!    other at once;
//! 4. each scheduled job has exactly one leader (`vitals_leader{job}`), and
//!    after `kill -9` of the leader the survivor takes over;
//! 5. a debug file uploaded through one node (the nodes share the
//!    debug-file directory, `[symbolicator] dir`, as they would on NFS) is
//!    used by the other without a restart: a minidump sent there is stored
//!    symbolicated.
//!
//! Needs `VITALS_TEST_CLICKHOUSE_CLUSTER_URL` (one node of the cluster; the
//! other is found in `system.clusters`) and `VITALS_TEST_POSTGRES_URL`;
//! skipped without them unless `CI=true`.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CLUSTER: &str = "vitals_local";
const NODE_IDS: [&str; 2] = ["node-a", "node-b"];
/// `[control_plane] lease_secs`: renewed every second.
const LEASE_SECS: u64 = 3;
/// Longest wait for anything eventually true (only so nothing hangs).
const PATIENCE: Duration = Duration::from_secs(90);

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
struct Cluster {
    dir: tempfile::TempDir,
    /// ClickHouse node of vitals node i (one per shard).
    ch: Vec<String>,
    db: String,
    pg: PgDb,
    configs: Vec<PathBuf>,
    nodes: Vec<Option<Vitals>>,
}

impl Cluster {
    /// Fresh databases, one config file per node, the schema migrated once
    /// (deploy/README.md, "Upgrades", step 3). No node runs yet.
    fn new(test: &str) -> Option<Cluster> {
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
        for (id, ch) in NODE_IDS.iter().zip(&c.ch) {
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

[control.probe]
interval_secs = 1

[alerts]
tick_secs = 1

[symbolicator]
dir = "{symbols}"
"#,
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

    fn config(&self, i: usize) -> &Path {
        &self.configs[i]
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", NODE_IDS[i]))
    }

    /// The last lines of node i's log (for failure messages).
    fn log_tail(&self, i: usize) -> String {
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
    fn start_both(&mut self) {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| self.spawn(0));
            let b = s.spawn(|| self.spawn(1));
            (a.join().expect("node a"), b.join().expect("node b"))
        });
        self.nodes = vec![Some(a), Some(b)];
    }

    fn start(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} already runs");
        self.nodes[i] = Some(self.spawn(i));
    }

    fn node(&self, i: usize) -> &Vitals {
        self.nodes[i].as_ref().expect("node running")
    }

    fn url(&self, i: usize) -> String {
        self.node(i).url.clone()
    }

    fn kill9(&mut self, i: usize) {
        self.nodes[i].take().expect("node running").kill9();
    }

    /// One number from ClickHouse, asked through node i's server.
    fn ch_u64(&self, i: usize, sql: &str) -> u64 {
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

/// Polls `f` until it returns Some, for at most `limit`; panics with
/// `what` and the last observation otherwise.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {limit:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = client
        .get(url)
        .bearer_auth(token)
        .header("accept-language", "en")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    let r = client
        .request(method, url)
        .bearer_auth(token)
        .header("accept-language", "en")
        .json(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------
// 1 + 2: ingest through both nodes
// ---------------------------------------------------------------------------

const APP: &str = "mn-ingest";
const VERSION: &str = "4.2.0";
const USERS: u64 = 40;
const CRASHED: u64 = 5;
/// Every user has two sessions (one batch each), one sent to each node.
const SESSIONS: u64 = 2 * USERS;
/// Per session a start and an end; per crashed session a crash too.
const EVENTS: u64 = 2 * SESSIONS + CRASHED;

fn batch(id: &str, version: &str, user: u64, events: Vec<Value>) -> vitals_protocol::Batch {
    serde_json::from_value(json!({
        "v": 1, "batch_id": id, "app_id": APP,
        "release": {"version": version, "build": "420"}, "platform": "android",
        "device": {"model": "SM-S9180", "os_version": "14",
                   "screen": {"width": 1080, "height": 2340, "density": 2.75}},
        "install_id": format!("inst-{user}"), "user_id": format!("user-{user}"),
        "events": events
    }))
    .expect("valid batch")
}

/// (node, batch): user u's first session goes to node u % 2, the second
/// to the other node; the first `CRASHED` users' second session crashes.
fn fleet() -> Vec<(usize, vitals_protocol::Batch)> {
    let ts = (now_secs() - 600) * 1000;
    let mut out = Vec::new();
    for u in 0..USERS {
        for s in 0..2u64 {
            let sid = format!("{VERSION}-u{u}-s{s}");
            let t = ts + (s as i64) * 60_000;
            let mut ev =
                vec![json!({"type": "session", "ts": t, "session_id": sid, "phase": "start"})];
            if s == 1 && u < CRASHED {
                ev.push(
                    json!({"type": "session", "ts": t + 5000, "session_id": sid, "phase": "end",
                    "status": "crashed", "duration_ms": 5000}),
                );
                ev.push(json!({"type": "crash", "ts": t + 5000, "crash_id": format!("c-{sid}"),
                    "session_id": sid, "exception_type": "java.lang.IllegalStateException",
                    "threads": [{"crashed": true, "frames": [
                        {"module": "com.broker.trade.OrderBook", "function": "submit", "line": 88}]}]}));
            } else {
                ev.push(
                    json!({"type": "session", "ts": t + 5000, "session_id": sid, "phase": "end",
                    "status": "ok", "duration_ms": 5000}),
                );
            }
            let node = ((u + s) % 2) as usize;
            out.push((node, batch(&format!("b-{sid}"), VERSION, u, ev)));
        }
    }
    out
}

/// Per node: the sample `name{labels}` (0 when absent or unreachable).
fn per_node(c: &Cluster, name: &str, labels: &str) -> [f64; 2] {
    [0, 1].map(|i| {
        c.node(i)
            .metrics_text()
            .and_then(|t| metric_sample(&t, name, labels))
            .unwrap_or(0.0)
    })
}

fn gate_json(config: &Path) -> (i32, String, String) {
    let out = vitals_command()
        .args([
            "gate",
            "--app",
            APP,
            "--release",
            &format!("{VERSION}+420"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_through_either_node_are_stored_once_and_counted_alike() {
    let Some(mut c) = Cluster::new("ingest") else {
        return;
    };
    // The app and its key are made once, through node A's configuration;
    // the viewer token through node B's: one control plane.
    let k = create_app_key_with_config(c.config(0), APP);
    let key = (k.key_id.clone(), k.secret.clone());
    let viewer = create_named_token_with_config(c.config(1), "viewer", "vera");
    c.start_both();
    let client = reqwest::Client::new();

    // 1. Batches alternately to A and B: all accepted, as new.
    let fleet = fleet();
    assert_eq!(fleet.len() as u64, SESSIONS);
    let mut sent_events = [0u64; 2];
    for (node, b) in &fleet {
        let r = post_at(&client, &c.url(*node), &key, b, now_secs()).await;
        assert_eq!(r.status, 202, "{} to node {node}: {}", b.batch_id, r.body);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["duplicate"], false, "{}", r.body);
        assert_eq!(body["accepted"], b.events.len(), "{}", r.body);
        sent_events[*node] += b.events.len() as u64;
    }
    assert_eq!(sent_events[0] + sent_events[1], EVENTS);
    assert!(sent_events[0] > 0 && sent_events[1] > 0);

    // Each node stores what it accepted (its own spool, its own writer).
    let stored = eventually("both nodes stored what they accepted", PATIENCE, || {
        let s = per_node(&c, "vitals_events_stored_total", "");
        async move {
            if s == sent_events.map(|n| n as f64) {
                Ok(s)
            } else {
                Err(format!("stored {s:?}, sent {sent_events:?}"))
            }
        }
    })
    .await;
    let accepted: [f64; 2] = [0, 1].map(|i| {
        let t = c.node(i).metrics_text().unwrap_or_default();
        ["session", "crash"]
            .iter()
            .filter_map(|k| {
                metric_sample(&t, "vitals_events_accepted_total", &format!("kind=\"{k}\""))
            })
            .sum()
    });
    assert_eq!(accepted, stored, "accepted = stored on each node");
    assert_eq!(
        per_node(&c, "vitals_batches_stored_total", ""),
        [SESSIONS as f64 / 2.0; 2],
        "each node stored half of the batches"
    );

    // ClickHouse through the Distributed tables, asked on either node.
    for i in 0..2 {
        let app = format!("app_id = '{APP}'");
        assert_eq!(
            c.ch_u64(i, &format!("SELECT count() FROM {{db}}.events WHERE {app}")),
            EVENTS,
            "events via node {i}"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.batches WHERE {app}")
            ),
            SESSIONS,
            "ledger via node {i}"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT uniqExact(user_key) FROM {{db}}.events WHERE {app}")
            ),
            USERS,
            "one pseudonym per user whichever node received the batch (via node {i})"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!(
                    "SELECT count() FROM (SELECT batch_id, seq FROM {{db}}.events WHERE {app} \
                     GROUP BY batch_id, seq HAVING count() > 1)"
                )
            ),
            0,
            "no event stored twice"
        );
    }
    // Rows are on both shards: the local tables split the total.
    let local: Vec<u64> = (0..2)
        .map(|i| {
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.events_local WHERE app_id = '{APP}'"),
            )
        })
        .collect();
    assert!(
        local.iter().all(|&n| n > 0),
        "rows on both shards: {local:?}"
    );
    assert_eq!(local.iter().sum::<u64>(), EVENTS, "{local:?}");
    // One user's rows live on one shard (sharded by app and user).
    let users_local: Vec<u64> = (0..2)
        .map(|i| {
            c.ch_u64(
                i,
                &format!(
                    "SELECT uniqExact(user_key) FROM {{db}}.events_local WHERE app_id = '{APP}'"
                ),
            )
        })
        .collect();
    assert_eq!(users_local.iter().sum::<u64>(), USERS, "{users_local:?}");

    // Both nodes answer the dashboard's release list alike, with the
    // numbers sent.
    let mut answers = Vec::new();
    for i in 0..2 {
        let (status, body) = get_json(
            &client,
            &format!("{}/api/v1/apps/{APP}/releases", c.url(i)),
            &viewer,
        )
        .await;
        assert_eq!(status, 200, "node {i}: {body}");
        answers.push(body);
    }
    assert_eq!(
        answers[0], answers[1],
        "both nodes give the same release list"
    );
    let rel = answers[0]["releases"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["version"] == VERSION))
        .unwrap_or_else(|| panic!("release {VERSION} listed: {}", answers[0]))
        .clone();
    assert_eq!(rel["build"], "420");
    assert_eq!(rel["sessions"], SESSIONS, "{rel}");
    assert_eq!(rel["crashed_sessions"], CRASHED, "{rel}");
    assert_eq!(rel["users"], USERS, "{rel}");
    assert_eq!(rel["crashed_users"], CRASHED, "{rel}");
    assert_eq!(rel["fatal_crashes"], CRASHED, "{rel}");

    // The release's health (analyzer facts) alike on both nodes.
    let mut health = Vec::new();
    for i in 0..2 {
        let (status, body) = get_json(
            &client,
            &format!(
                "{}/api/v1/apps/{APP}/releases/{VERSION}+420/health",
                c.url(i)
            ),
            &viewer,
        )
        .await;
        assert_eq!(status, 200, "node {i}: {body}");
        health.push(body);
    }
    assert_eq!(
        health[0], health[1],
        "same facts and verdicts on both nodes"
    );
    assert_eq!(health[0]["sessions"], SESSIONS, "{}", health[0]);
    assert_eq!(health[0]["crashed_sessions"], CRASHED, "{}", health[0]);
    assert_eq!(health[0]["users"], USERS, "{}", health[0]);

    // `vitals gate` from either node's configuration: the same JSON.
    let (code_a, out_a, err_a) = gate_json(c.config(0));
    let (code_b, out_b, err_b) = gate_json(c.config(1));
    let gate: Value = serde_json::from_str(&out_a)
        .unwrap_or_else(|e| panic!("gate JSON ({e}): {out_a}\n{err_a}"));
    assert_eq!(
        (code_a, &out_a),
        (code_b, &out_b),
        "gate via A and B\n{err_a}\n{err_b}"
    );
    assert_eq!(
        code_a, 2,
        "{SESSIONS} sessions are too few for a verdict: {out_a}"
    );
    assert_eq!(gate["decision"], "insufficient_data", "{out_a}");
    let facts = &gate["facts"];
    assert_eq!(
        [
            &facts["sessions"],
            &facts["crashed_sessions"],
            &facts["users"],
            &facts["crashed_users"],
            &facts["fatal_crashes"]
        ],
        [
            &json!(SESSIONS),
            &json!(CRASHED),
            &json!(USERS),
            &json!(CRASHED),
            &json!(CRASHED)
        ],
        "{out_a}"
    );
    // One crash group: the crashes share a stack, whichever node took them.
    assert_eq!(facts["groups"].as_array().map(Vec::len), Some(1), "{out_a}");
    assert_eq!(
        (&facts["groups"][0]["events"], &facts["groups"][0]["users"]),
        (&json!(CRASHED), &json!(CRASHED)),
        "{out_a}"
    );

    // 2. A batch re-sent to the other node is a duplicate: acknowledged
    // (the client cannot tell), dropped by the store, stored once.
    let (to_a, to_b) = (
        fleet.iter().find(|(n, _)| *n == 0).unwrap(),
        fleet
            .iter()
            .find(|(n, b)| *n == 1 && b.events.len() == 3)
            .unwrap(),
    );
    let dup_before = per_node(&c, "vitals_events_dropped_total", "reason=\"duplicate\"");
    assert_eq!(dup_before, [0.0, 0.0]);
    let r = post_at(&client, &c.url(1), &key, &to_a.1, now_secs()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = post_at(&client, &c.url(0), &key, &to_b.1, now_secs()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    // The same node knows its own recent batches at once.
    let r = post_at(&client, &c.url(0), &key, &to_a.1, now_secs()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["duplicate"],
        true,
        "{}",
        r.body
    );
    let want = [to_b.1.events.len() as f64, to_a.1.events.len() as f64];
    eventually(
        "both resent batches dropped as duplicates",
        PATIENCE,
        || {
            let d = per_node(&c, "vitals_events_dropped_total", "reason=\"duplicate\"");
            async move {
                if d == want {
                    Ok(())
                } else {
                    Err(format!("duplicates dropped {d:?}, want {want:?}"))
                }
            }
        },
    )
    .await;
    assert_eq!(
        per_node(&c, "vitals_events_stored_total", ""),
        stored,
        "nothing more stored"
    );
    for i in 0..2 {
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.events WHERE app_id = '{APP}'")
            ),
            EVENTS,
            "still every event once (via node {i})"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.batches WHERE app_id = '{APP}'")
            ),
            SESSIONS
        );
    }
    let (_, after) = get_json(
        &client,
        &format!("{}/api/v1/apps/{APP}/releases", c.url(1)),
        &viewer,
    )
    .await;
    assert_eq!(after, answers[0], "the numbers did not move");

    // A key made while the nodes run reaches both (key cache refresh), and
    // its revocation too.
    let k2 = create_app_key_with_config(c.config(1), APP);
    let key2 = (k2.key_id.clone(), k2.secret.clone());
    for i in 0..2 {
        let mut n = 0;
        eventually(&format!("new key accepted by node {i}"), PATIENCE, || {
            n += 1;
            let b = batch(&format!("k2-{i}-{n}"), "4.3.0", 1000 + i as u64, vec![
                json!({"type": "session", "ts": (now_secs() - 60) * 1000, "session_id": format!("k2-{i}-{n}"), "phase": "start"}),
            ]);
            let (client, url, key2) = (client.clone(), c.url(i), key2.clone());
            async move {
                let r = post_at(&client, &url, &key2, &b, now_secs()).await;
                if r.status == 202 {
                    Ok(())
                } else {
                    Err(format!("{} {}", r.status, r.body))
                }
            }
        })
        .await;
    }
    cli_with_config(c.config(0), &["keys", "revoke", &k2.key_id]);
    for i in 0..2 {
        let mut n = 0;
        eventually(&format!("revoked key refused by node {i}"), PATIENCE, || {
            n += 1;
            let b = batch(&format!("k2r-{i}-{n}"), "4.3.0", 2000 + i as u64, vec![
                json!({"type": "session", "ts": (now_secs() - 60) * 1000, "session_id": format!("k2r-{i}-{n}"), "phase": "start"}),
            ]);
            let (client, url, key2) = (client.clone(), c.url(i), key2.clone());
            async move {
                let r = post_at(&client, &url, &key2, &b, now_secs()).await;
                if r.status == 401 && r.body.contains("auth.revoked_key") {
                    Ok(())
                } else {
                    Err(format!("{} {}", r.status, r.body))
                }
            }
        })
        .await;
    }
    // The first key still works on both.
    for i in 0..2 {
        let b = batch(
            &format!("k1-after-{i}"),
            "4.3.0",
            3000 + i as u64,
            vec![
                json!({"type": "session", "ts": (now_secs() - 60) * 1000, "session_id": format!("k1-after-{i}"), "phase": "start"}),
            ],
        );
        assert_eq!(post(&client, &c.url(i), &key, &b).await, 202, "node {i}");
    }
}

// ---------------------------------------------------------------------------
// 3: client config and control-plane changes
// ---------------------------------------------------------------------------

const CTL_APP: &str = "mn-control";
const CLIENT_Q: &str = "app=mn-control&platform=android&version=5.2.0&build=520";

/// The signed config node i serves: (body bytes, ETag, signature).
async fn client_config(
    client: &reqwest::Client,
    base: &str,
    key: &(String, String),
) -> (Vec<u8>, String, String) {
    let r = get_signed(client, base, key, "/api/v1/client-config", CLIENT_Q).await;
    let status = r.status().as_u16();
    let header = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (etag, sig) = (header("etag"), header("x-vitals-signature-ed25519"));
    let body = r.bytes().await.expect("body").to_vec();
    assert_eq!(
        status,
        200,
        "client config from {base}: {}",
        String::from_utf8_lossy(&body)
    );
    (body, etag, sig)
}

/// The documents of both nodes, which must be byte-identical (refetched
/// when the two requests fell into different refresh windows).
async fn same_config_from_both(
    client: &reqwest::Client,
    c: &Cluster,
    key: &(String, String),
) -> Value {
    for _ in 0..3 {
        let a = client_config(client, &c.url(0), key).await;
        let b = client_config(client, &c.url(1), key).await;
        let (da, db): (Value, Value) = (
            serde_json::from_slice(&a.0).unwrap(),
            serde_json::from_slice(&b.0).unwrap(),
        );
        if da["issued_at"] != db["issued_at"] {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&a.0),
            String::from_utf8_lossy(&b.0),
            "the same document from both nodes"
        );
        assert_eq!(a.1, b.1, "same ETag");
        assert_eq!(
            a.2, b.2,
            "same signature (same key, Ed25519 is deterministic)"
        );
        return da;
    }
    panic!("the two nodes never agreed on the refresh window");
}

/// The public keys node i publishes, and whether `sig` over `body`
/// verifies with them.
async fn published_keys(client: &reqwest::Client, base: &str) -> Value {
    let r = client
        .get(format!(
            "{base}/api/v1/client-config/public-key?app={CTL_APP}"
        ))
        .send()
        .await
        .expect("public key");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_changes_through_one_node_show_on_the_other_at_once() {
    let Some(mut c) = Cluster::new("control") else {
        return;
    };
    let k = create_app_key_with_config(c.config(0), CTL_APP);
    let key = (k.key_id.clone(), k.secret.clone());
    let alice = create_named_token_with_config(c.config(0), "operator", "alice");
    let bob = create_named_token_with_config(c.config(1), "operator", "bob");
    c.start_both();
    let client = reqwest::Client::new();

    // One signing key for the installation, published alike by both.
    let (pk_a, pk_b) = (
        published_keys(&client, &c.url(0)).await,
        published_keys(&client, &c.url(1)).await,
    );
    assert_eq!(pk_a, pk_b, "both nodes publish the same keys");
    let keys: Vec<String> = serde_json::from_value(pk_a["public_keys"].clone()).unwrap();
    assert_eq!(
        keys.len(),
        1,
        "two nodes starting together make one signing key: {pk_a}"
    );

    let doc0 = same_config_from_both(&client, &c, &key).await;
    assert_eq!(doc0["app_id"], CTL_APP);
    assert_eq!(doc0["key_id"], pk_a["key_id"], "{doc0}");
    assert!(doc0["emergency"].is_null(), "{doc0}");
    assert_eq!(doc0["rollouts"], json!([]), "{doc0}");
    let seq0 = doc0["seq"].as_i64().expect("seq");
    // The signature verifies with the key the *other* node publishes.
    let (body, _, sig) = client_config(&client, &c.url(0), &key).await;
    assert!(
        vitals_control::signing::verify(&body, &sig, &keys),
        "node A's document verifies with node B's published key"
    );

    // A rollout put through A is in B's very next document.
    let (status, body) = send_json(
        &client,
        reqwest::Method::PUT,
        &format!(
            "{}/api/v1/apps/{CTL_APP}/rollouts/dark-mode?reason=trial",
            c.url(0)
        ),
        &alice,
        &json!({"id": "dark-mode", "kind": "feature", "percent": 25.0, "value": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (b_body, _, _) = client_config(&client, &c.url(1), &key).await;
    let doc_b: Value = serde_json::from_slice(&b_body).unwrap();
    assert_eq!(doc_b["seq"], seq0 + 1, "{doc_b}");
    let ro = &doc_b["rollouts"][0];
    assert_eq!(
        (&ro["id"], &ro["percent"], &ro["state"], &ro["value"]),
        (
            &json!("dark-mode"),
            &json!(25.0),
            &json!("active"),
            &json!(true)
        ),
        "{doc_b}"
    );

    // An emergency directive activated through A (automatic mode) is in
    // B's next document.
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions", c.url(0)),
        &alice,
        &json!({
            "app": CTL_APP, "reason": "crash spike in 5.2.0", "mode": "automatic",
            "action": {"type": "activate_emergency", "id": "em-5.2", "emergency": {
                "platform": "android", "versions": {"min": "5.2.0", "below": "5.3.0"},
                "action": "block", "target_version": "5.1.9-emergency",
                "url": "https://dl.example/mn-emergency.apk",
                "reason": {"zh-CN": "交易功能临时切换到应急版本", "en": "trading moved to the emergency version"},
                "mandatory": true}}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "applied", "{body}");
    let (b_body, _, _) = client_config(&client, &c.url(1), &key).await;
    let doc_b: Value = serde_json::from_slice(&b_body).unwrap();
    assert_eq!(doc_b["seq"], seq0 + 2, "{doc_b}");
    let em = &doc_b["emergency"];
    assert_eq!(em["id"], "em-5.2", "{doc_b}");
    assert_eq!(em["action"], "block", "{doc_b}");
    assert_eq!(em["target_version"], "5.1.9-emergency", "{doc_b}");
    assert_eq!(em["mandatory"], true, "{doc_b}");

    // Two-person rule across nodes: requested on A by alice, alice cannot
    // approve it on B, bob can; until then clients see nothing.
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions", c.url(0)),
        &alice,
        &json!({
            "app": CTL_APP, "reason": "order book failing",
            "action": {"type": "set_kill_switch", "feature": "trade", "enabled": false}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["status"], "pending",
        "approval is the default mode: {body}"
    );
    let pending = body["pending"]["id"]
        .as_str()
        .expect("pending id")
        .to_string();
    let doc = same_config_from_both(&client, &c, &key).await;
    assert_eq!(
        doc["seq"],
        seq0 + 2,
        "a pending action changes nothing: {doc}"
    );
    assert_eq!(doc["kill_switches"], json!({}), "{doc}");
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions/{pending}/approve", c.url(1)),
        &alice,
        &json!({}),
    )
    .await;
    assert_eq!(
        status, 403,
        "the requester cannot approve, on any node: {body}"
    );
    let (status, body) = send_json(
        &client,
        reqwest::Method::POST,
        &format!("{}/api/v1/actions/{pending}/approve", c.url(1)),
        &bob,
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["actor"], "alice", "{body}");
    assert_eq!(body["approved_by"], "bob", "{body}");
    let (a_body, _, _) = client_config(&client, &c.url(0), &key).await;
    let doc_a: Value = serde_json::from_slice(&a_body).unwrap();
    assert_eq!(doc_a["seq"], seq0 + 3, "{doc_a}");
    assert_eq!(doc_a["kill_switches"], json!({"trade": false}), "{doc_a}");

    // Final state: the same document, the same operator view and audit.
    let doc = same_config_from_both(&client, &c, &key).await;
    assert_eq!(doc["seq"], seq0 + 3);
    let mut views = Vec::new();
    for i in 0..2 {
        let (status, state) = get_json(
            &client,
            &format!("{}/api/v1/apps/{CTL_APP}/control", c.url(i)),
            &bob,
        )
        .await;
        assert_eq!(status, 200, "{state}");
        let (status, audit) = get_json(
            &client,
            &format!("{}/api/v1/audit?app={CTL_APP}", c.url(i)),
            &bob,
        )
        .await;
        assert_eq!(status, 200, "{audit}");
        views.push((state, audit));
    }
    assert_eq!(views[0], views[1], "one control plane behind both nodes");
    let actions: Vec<&str> = views[0]
        .1
        .as_array()
        .expect("audit list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["kill_switch.set", "emergency.activate", "rollout.put"],
        "{}",
        views[0].1
    );

    // The dashboard needs no sticky sessions: signed in on A, the session
    // works on B; signed out on B, it is gone on A too.
    create_user_with_config(c.config(1), "olga", "operator", "correct horse battery");
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = web
        .post(format!("{}/ui/login", c.url(0)))
        .header("cookie", "vitals_login=t0k3n-for-the-login-form")
        .form(&[
            ("name", "olga"),
            ("password", "correct horse battery"),
            ("_csrf", "t0k3n-for-the-login-form"),
            ("next", "/ui/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed in on A");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("vitals_session="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .expect("session cookie")
        .to_string();
    let cookie = format!("vitals_session={session}");
    let page = |i: usize, cookie: Option<String>| {
        let (web, url) = (web.clone(), format!("{}/ui/", c.url(i)));
        async move {
            let mut rq = web.get(url);
            if let Some(ck) = cookie {
                rq = rq.header("cookie", ck);
            }
            let r = rq.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    assert_eq!(
        page(1, None).await.0,
        303,
        "B without a session: to sign-in"
    );
    let (status, html) = page(1, Some(cookie.clone())).await;
    assert_eq!(status, 200, "A's session is valid on B");
    assert!(html.contains("olga"), "B shows the signed-in user");
    let csrf = html
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF field on the page")
        .to_string();
    let r = web
        .post(format!("{}/ui/logout", c.url(1)))
        .header("cookie", &cookie)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "signed out on B");
    assert_eq!(
        page(0, Some(cookie)).await.0,
        303,
        "the session ended on B is gone on A"
    );
}

/// `vitals users create` with the password on standard input.
fn create_user_with_config(config: &Path, name: &str, role: &str, password: &str) {
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
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
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

// ---------------------------------------------------------------------------
// 4: leader leases
// ---------------------------------------------------------------------------

const JOBS: [&str; 2] = ["alerts", "prober"];

/// `vitals_leader{job}` of each job on each running node (None: not
/// running or not answering).
fn leaders(c: &Cluster) -> Vec<[Option<f64>; 2]> {
    let texts: Vec<Option<String>> = (0..2)
        .map(|i| c.nodes[i].as_ref().and_then(Vitals::metrics_text))
        .collect();
    JOBS.iter()
        .map(|job| {
            [0, 1].map(|i| {
                texts[i]
                    .as_deref()
                    .and_then(|t| metric_sample(t, "vitals_leader", &format!("job=\"{job}\"")))
            })
        })
        .collect()
}

/// The lease holders in the control plane: job → node id.
fn lease_holders(c: &Cluster) -> Vec<(String, String)> {
    let rows = psql_query(
        &c.pg.url,
        "SELECT name, holder FROM leases WHERE expires_at > extract(epoch from now()) ORDER BY name",
    )
    .expect("read leases");
    rows.lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Polls until, for every job, exactly one of `candidates` reports 1 and
/// every other running node 0, the same way on `rounds` consecutive polls
/// spanning more than a lease period; returns the leader per job.
async fn stable_leaders(c: &Cluster, candidates: &[usize], rounds: u32) -> Vec<usize> {
    let deadline = Instant::now() + PATIENCE;
    let (mut last, mut same) = (Vec::new(), 0);
    loop {
        let seen = leaders(c);
        let pick: Option<Vec<usize>> = seen
            .iter()
            .map(|per| {
                let ones: Vec<usize> = (0..2).filter(|&i| per[i] == Some(1.0)).collect();
                let others_zero = (0..2)
                    .filter(|i| !ones.contains(i) && c.nodes[*i].is_some())
                    .all(|i| per[i] == Some(0.0));
                match ones.as_slice() {
                    [one] if candidates.contains(one) && others_zero => Some(*one),
                    _ => None,
                }
            })
            .collect();
        match pick {
            Some(p) if p == last => same += 1,
            Some(p) => {
                last = p;
                same = 1;
            }
            None => same = 0,
        }
        if same >= rounds {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "no stable single leader per job among {candidates:?} within {PATIENCE:?}: {seen:?}\n\
             node a:\n{}\nnode b:\n{}",
            c.log_tail(0),
            c.log_tail(1)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_per_job_and_the_survivor_of_a_kill_9_takes_over() {
    let Some(mut c) = Cluster::new("leader") else {
        return;
    };
    c.start_both();
    // Stable over 2 × lease (renewals every lease / 3).
    let rounds = (4 * LEASE_SECS) as u32 + 1;
    let lead = stable_leaders(&c, &[0, 1], rounds).await;
    let holders = lease_holders(&c);
    let want: Vec<(String, String)> = JOBS
        .iter()
        .zip(&lead)
        .map(|(j, &i)| (j.to_string(), NODE_IDS[i].to_string()))
        .collect();
    assert_eq!(holders, want, "the gauges name the lease holders");

    // kill -9 the alert scheduler's leader: no clean release, so the
    // survivor takes over when the lease expires.
    let victim = lead[0];
    let survivor = 1 - victim;
    c.kill9(victim);
    let lead = stable_leaders(&c, &[survivor], 3).await;
    assert_eq!(lead, vec![survivor; 2]);
    assert_eq!(
        lease_holders(&c),
        JOBS.iter()
            .map(|j| (j.to_string(), NODE_IDS[survivor].to_string()))
            .collect::<Vec<_>>(),
        "the survivor holds every lease"
    );

    // The killed node comes back under the same name: it does not take
    // the leases back while the survivor renews them.
    c.start(victim);
    let lead = stable_leaders(&c, &[survivor], rounds).await;
    assert_eq!(lead, vec![survivor; 2]);
    let back = leaders(&c);
    for (job, per) in JOBS.iter().zip(&back) {
        assert_eq!(per[victim], Some(0.0), "{job}: the restarted node follows");
    }
}

// ---------------------------------------------------------------------------
// 5: debug files uploaded through one node, used by the other
// ---------------------------------------------------------------------------

const SYM_APP: &str = "mn-native";
const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/minidump");
/// linux.dmp's main module (crash.debug).
const DEBUG_ID: &str = "c0bcc3f1-9827-fe65-3058-404b2831d9e6";

/// Posts the fixture minidump linux.dmp to node `base`'s Sentry endpoint.
async fn post_minidump(client: &reqwest::Client, base: &str, key: &Key) {
    let dump = std::fs::read(format!("{FIX}/mini-dumps/linux.dmp")).expect("linux.dmp");
    let mut body = Vec::new();
    body.extend_from_slice(b"--vitalsB\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n");
    body.extend_from_slice(
        json!({
            "event_id": uuid::Uuid::new_v4().simple().to_string(),
            "release": format!("{SYM_APP}@1.0.0+1"),
            "timestamp": now_secs(),
            "user": {"id": "u1"}
        })
        .to_string()
        .as_bytes(),
    );
    body.extend_from_slice(b"\r\n--vitalsB\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"linux.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n");
    body.extend_from_slice(&dump);
    body.extend_from_slice(b"\r\n--vitalsB--\r\n");
    let r = client
        .post(format!(
            "{base}/api/{}/minidump/?sentry_key={}",
            key.project, key.key_id
        ))
        .header("content-type", "multipart/form-data; boundary=vitalsB")
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST minidump to {base}: {e}"));
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().await.unwrap_or_default());
}

/// The fixture's ground truth (shared/fixtures README): rip 0x401d72 →
/// `crash` main.cpp:23, inlined in `start` :27, in `main` :35.
fn symbolicated(doc: &Value) -> bool {
    let frames = doc["threads"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["crashed"] == true))
        .and_then(|t| t["frames"].as_array().cloned())
        .unwrap_or_default();
    let find = |func: &str, line: u64| {
        frames.iter().any(|f| {
            f["function"].as_str().is_some_and(|n| n.contains(func))
                && f["line"].as_u64() == Some(line)
                && f["file"].as_str().is_some_and(|p| p.ends_with("main.cpp"))
        })
    };
    find("crash", 23) && find("start", 27) && find("main", 35)
}

/// Whether the crash's notes name `debug_id` as a missing file (the
/// system libraries of the dump, libc and ld, stay missing).
fn names_missing_file(doc: &Value, debug_id: &str) -> bool {
    doc["notes"].as_array().is_some_and(|n| {
        n.iter()
            .filter_map(Value::as_str)
            .any(|n| n.starts_with(vitals_store::MISSING_FILE_NOTE) && n.contains(debug_id))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_file_uploaded_through_one_node_symbolicates_crashes_on_the_other() {
    let Some(mut c) = Cluster::new("symbols") else {
        return;
    };
    let key = create_app_key_with_config(c.config(0), SYM_APP);
    let ops = create_named_token_with_config(c.config(0), "operator", "ops");
    c.start_both();
    let client = reqwest::Client::new();
    let list = |i: usize| {
        let (client, url, ops) = (
            client.clone(),
            format!("{}/api/v1/apps/{SYM_APP}/debug-files", c.url(i)),
            ops.clone(),
        );
        async move {
            let (status, body) = get_json(&client, &url, &ops).await;
            assert_eq!(status, 200, "{url}: {body}");
            body["files"].as_array().cloned().unwrap_or_default()
        }
    };
    // Node B has looked at the app (it has no files yet) before the upload:
    // what it learnt then must not stick.
    assert!(list(1).await.is_empty());

    // The debug file goes in through node A, as CI uploads it.
    let out = vitals_command()
        .args(["upload-symbols", "--app", SYM_APP, "--lang", "en", "--url"])
        .arg(c.url(0))
        .arg("--token")
        .arg(&ops)
        .arg("--config")
        .arg(c.config(0))
        .arg(format!("{FIX}/symbolic-debugfiles/linux/crash.debug"))
        .output()
        .expect("run vitals upload-symbols");
    assert!(
        out.status.success(),
        "upload-symbols: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let on_a = list(0).await;
    assert_eq!(on_a.len(), 1, "A lists its upload at once: {on_a:?}");
    let file_id = on_a[0]["id"].as_str().unwrap_or_default().to_string();

    // Node B sees it without a restart (its index follows the directory).
    eventually("node B lists the file uploaded through A", PATIENCE, || {
        let (f, file_id) = (list(1), file_id.clone());
        async move {
            let files = f.await;
            if files.iter().any(|x| x["id"] == file_id.as_str()) {
                Ok(())
            } else {
                Err(format!("{files:?}"))
            }
        }
    })
    .await;

    // A crash sent to B now is stored symbolicated by B.
    post_minidump(&client, &c.url(1), &key).await;
    let sql = format!(
        "SELECT payload FROM {}.events WHERE app_id = '{SYM_APP}' AND kind = 'crash' \
         FORMAT JSONEachRow",
        c.db
    );
    let ch = c.ch[1].clone();
    let doc = eventually("the crash sent to B is stored", PATIENCE, || {
        let r = query(&ch, &sql);
        async move {
            let text = r?;
            let row: Value = text
                .lines()
                .next()
                .and_then(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| format!("no crash row yet: {text:?}"))?;
            serde_json::from_str::<Value>(row["payload"].as_str().unwrap_or(""))
                .map_err(|e| format!("payload ({e}): {row}"))
        }
    })
    .await;
    assert!(
        symbolicated(&doc),
        "the crash stored by B is not symbolicated: frames {}\nnotes {}\nnode b:\n{}",
        doc["threads"],
        doc["notes"],
        c.log_tail(1)
    );
    assert!(
        !names_missing_file(&doc, DEBUG_ID),
        "B marked the crash as missing the file: {}",
        doc["notes"]
    );
}
