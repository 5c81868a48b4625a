//! 3: the fleet simulator's seeded batches sent through both nodes
//! (alternately, as a round-robin balancer would) and, all of them, to a
//! separate single node (one ClickHouse server, the embedded SQLite control
//! plane): the analyzer's verdicts and numbers — `vitals gate`, the
//! releases API, each release's health — are the same on both
//! installations, for every release the simulator produced.
//!
//! The batches are generated once and the very same values are sent
//! everywhere. They are anchored at the last midnight (UTC): the
//! simulator's data depends on the anchor's time of day (activity follows
//! the hour, and with it which release a device runs), so this anchor
//! gives the same fleet — and the same verdicts — whenever the test runs.
//!
//! The two installations have different control planes, hence different
//! per-app pseudonym secrets: the stored user keys differ, the numbers of
//! distinct users must not (checked below).

use crate::cluster::*;
use crate::common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SIM_APP: &str = "mn-sim";
const SEED: u64 = 20_261_129;
const BATCHES: usize = 1200;
const EVENTS_PER_BATCH: usize = 10;

/// A single `vitals serve`: the single ClickHouse server with a fresh
/// database, the SQLite control plane in its own data directory. Dropping
/// it kills the node and drops the database.
struct Single {
    dir: tempfile::TempDir,
    ch: String,
    db: String,
    config: PathBuf,
    node: Option<Vitals>,
}

impl Single {
    /// Writes the config file and migrates the schema; nothing runs yet.
    fn new(ch: &str, tag: &str) -> Single {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!("vitals_single_{tag}");
        let config = dir.path().join("single.toml");
        std::fs::write(
            &config,
            format!(
                r#"lang = "en"
data_dir = "{data}"
workers = 2

[clickhouse]
url = "{ch}"
database = "{db}"

[collector.writer]
linger_ms = 50
"#,
                data = dir.path().join("data").display(),
            ),
        )
        .expect("write config");
        let s = Single {
            dir,
            ch: ch.to_string(),
            db,
            config,
            node: None,
        };
        cli_with_config(&s.config, &["migrate"]);
        s
    }

    fn start(&mut self) {
        let log = self.dir.path().join("single.log");
        self.node = Some(Vitals::serve_config(&self.config, &log, "warn"));
    }

    fn node(&self) -> &Vitals {
        self.node.as_ref().expect("single node running")
    }

    fn ch_u64(&self, sql: &str) -> u64 {
        query_u64(&self.ch, &sql.replace("{db}", &self.db))
    }
}

impl Drop for Single {
    fn drop(&mut self) {
        if let Some(v) = self.node.take() {
            v.kill9();
        }
        if let Err(e) = query(&self.ch, &format!("DROP DATABASE IF EXISTS {}", self.db)) {
            eprintln!("could not drop {} on {}: {e}", self.db, self.ch);
        }
    }
}

/// Events a node stored.
fn stored(v: &Vitals) -> u64 {
    v.metric("vitals_events_stored_total") as u64
}

/// Events a node has finished with: stored plus dropped (any reason).
fn settled(v: &Vitals) -> u64 {
    stored(v) + v.metric("vitals_events_dropped_total") as u64
}

/// User keys split into install-keyed ones (`i:…`, batches without a user
/// id) and pseudonymised user ids.
fn split_keys(keys: &BTreeSet<String>) -> (Vec<&String>, Vec<&String>) {
    keys.iter().partition(|k| k.starts_with("i:"))
}

/// GET `path` from every base URL (with its token); all must answer 200.
async fn get_all(client: &reqwest::Client, bases: &[(String, &str)], path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (base, token) in bases {
        let (status, body) = get_json(client, &format!("{base}{path}"), token).await;
        assert_eq!(status, 200, "{base}{path}: {body}");
        out.push(body);
    }
    out
}

/// Panics unless `a` and `b` are the same JSON document, except that a
/// non-integer number may differ in its last bits (relative 1e-12): sums
/// of floating-point values (CPU percent, memory) are added up in another
/// order on two shards than on one server (and, on one server, in another
/// order before and after ClickHouse merges parts), so a mean computed
/// from them may differ by an ulp. Integers (counts, distinct users),
/// verdicts and texts must be equal. Returns the near-equal numbers.
fn assert_same(what: &str, a: &Value, b: &Value) -> Vec<String> {
    let (diff, near) = json_differences_within(a, b, 1e-12);
    assert!(
        diff.is_empty(),
        "{what}: the cluster and the single node differ ({} places): {:#?}",
        diff.len(),
        &diff[..diff.len().min(30)]
    );
    near.into_iter().map(|n| format!("{what} {n}")).collect()
}

fn gate(config: &Path, release: &str) -> (i32, Value, String) {
    let (code, out, err) = gate_json_with_config(config, SIM_APP, release);
    let json = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("gate {release} JSON ({e}): {out}\n{err}"));
    (code, json, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_fleet_through_both_nodes_gives_the_single_node_verdicts_and_numbers() {
    let Some(single_ch) = shared_clickhouse() else {
        return;
    };
    let Some(mut c) = Cluster::new("sim") else {
        return;
    };
    let mut single = Single::new(&single_ch, c.db.trim_start_matches("vitals_mn_"));
    // Keys and tokens made with the CLI, as an operator would.
    let k = create_app_key_with_config(c.config(0), SIM_APP);
    let cluster_key = (k.key_id, k.secret);
    let cluster_viewer = create_named_token_with_config(c.config(1), "viewer", "vera");
    let k = create_app_key_with_config(&single.config, SIM_APP);
    let single_key = (k.key_id, k.secret);
    let single_viewer = create_named_token_with_config(&single.config, "viewer", "vera");
    c.start_both();
    single.start();
    let client = reqwest::Client::new();

    let midnight_ms = now_secs() / 86_400 * 86_400 * 1000;
    let fleet = batches_at(SIM_APP, BATCHES, EVENTS_PER_BATCH, SEED, Some(midnight_ms));
    let truth = vitals::simulate::ground_truth(&fleet);
    assert!(truth.len() >= 2, "several releases: {:?}", truth.keys());

    // Batch n to node n % 2, and every batch to the single node.
    let mut accepted = [0u64; 3];
    for (n, b) in fleet.iter().enumerate() {
        let i = n % 2;
        for (slot, url, key) in [
            (i, c.url(i), &cluster_key),
            (2, single.node().url.clone(), &single_key),
        ] {
            let r = post_at(&client, &url, key, b, now_secs()).await;
            assert_eq!(r.status, 202, "{} to {url}: {}", b.batch_id, r.body);
            let body: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(body["duplicate"], false, "{}", r.body);
            accepted[slot] += body["accepted"].as_u64().expect("accepted");
        }
    }
    assert!(accepted[0] > 0 && accepted[1] > 0, "{accepted:?}");
    assert_eq!(
        accepted[0] + accepted[1],
        accepted[2],
        "both installations accepted the same events"
    );
    let total = accepted[2];

    // Wait until every node is done with what it accepted and the rows
    // are visible (through the Distributed tables on the cluster).
    let app = format!("app_id = '{SIM_APP}'");
    let count = format!("SELECT count() FROM {{db}}.events WHERE {app}");
    let stored = eventually("every accepted event stored or dropped", PATIENCE, || {
        let seen = [
            settled(c.node(0)),
            settled(c.node(1)),
            settled(single.node()),
        ];
        let stored = [stored(c.node(0)) + stored(c.node(1)), stored(single.node())];
        let rows = [c.ch_u64(0, &count), single.ch_u64(&count)];
        async move {
            if seen == accepted && rows == stored {
                Ok(stored)
            } else {
                Err(format!(
                    "settled {seen:?} of {accepted:?}; stored cluster/single {stored:?}, \
                     rows {rows:?}"
                ))
            }
        }
    })
    .await;
    assert_eq!(stored[0], stored[1], "stored on the cluster / single node");
    assert!(stored[0] > 0 && stored[0] <= total, "{stored:?} of {total}");
    assert_eq!(
        c.ch_u64(1, &count),
        c.ch_u64(0, &count),
        "same rows via node B"
    );

    // Different pseudonym secrets, the same number of distinct users.
    let users = format!("SELECT uniqExact(user_key) FROM {{db}}.events WHERE {app}");
    let (cu, su) = (c.ch_u64(0, &users), single.ch_u64(&users));
    assert_eq!(cu, su, "distinct users on the cluster / single node");
    assert!(cu > 0);
    let keys = |url: &str, db: &str| -> BTreeSet<String> {
        query(
            url,
            &format!("SELECT DISTINCT user_key FROM {db}.events WHERE {app} AND user_key != ''"),
        )
        .expect("user keys")
        .lines()
        .map(str::to_string)
        .collect()
    };
    let (ck, sk) = (keys(&c.ch[0], &c.db), keys(&single.ch, &single.db));
    // Batches without a user id are keyed by their install id (`i:…`),
    // the same everywhere; user ids are pseudonymised with the secret.
    let ((ci, cp), (si, sp)) = (split_keys(&ck), split_keys(&sk));
    assert_eq!(ci, si, "install-keyed users cluster / single");
    assert_eq!(cp.len(), sp.len(), "pseudonymised users cluster / single");
    assert!(!cp.is_empty(), "the simulator sends user ids");
    assert!(
        cp.iter().all(|k| !sp.contains(k)),
        "each installation pseudonymises with its own secret"
    );

    let bases = [
        (c.url(0), cluster_viewer.as_str()),
        (c.url(1), cluster_viewer.as_str()),
        (single.node().url.clone(), single_viewer.as_str()),
    ];

    // The releases API: the same list from A, B and the single node, with
    // the simulator's numbers.
    let lists = get_all(&client, &bases, &format!("/api/v1/apps/{SIM_APP}/releases")).await;
    assert_eq!(
        lists[0], lists[1],
        "nodes A and B give the same release list"
    );
    let mut near = assert_same("release list", &lists[0], &lists[2]);
    let rows = lists[0]["releases"].as_array().cloned().unwrap_or_default();
    let listed: BTreeMap<String, &Value> = rows
        .iter()
        .map(|r| (r["version"].as_str().unwrap_or_default().to_string(), r))
        .collect();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        truth.keys().collect::<Vec<_>>(),
        "every simulated release listed: {}",
        lists[0]
    );
    for (v, t) in &truth {
        let r = listed[v];
        assert_eq!(r["build"], t.build.as_str(), "{r}");
        assert_eq!(r["sessions"], t.sessions_started, "{v}: {r}\n{t:?}");
        assert_eq!(r["crashed_sessions"], t.sessions_crashed, "{v}: {r}\n{t:?}");
        assert_eq!(r["fatal_crashes"], t.fatal_crashes, "{v}: {r}\n{t:?}");
    }

    // Per release: the health API and `vitals gate` (A's and B's config,
    // and the single node's) give the same verdicts and numbers.
    let mut decisions = Vec::new();
    let mut verdicts: BTreeMap<String, usize> = BTreeMap::new();
    for (v, t) in &truth {
        let release = if t.build.is_empty() {
            v.clone()
        } else {
            format!("{v}+{}", t.build)
        };
        let health = get_all(
            &client,
            &bases,
            &format!("/api/v1/apps/{SIM_APP}/releases/{release}/health"),
        )
        .await;
        assert_eq!(health[0], health[1], "{release}: health from A and B");
        near.extend(assert_same(
            &format!("{release} health"),
            &health[0],
            &health[2],
        ));

        let (code_a, gate_a, err_a) = gate(c.config(0), &release);
        let (code_b, gate_b, err_b) = gate(c.config(1), &release);
        let (code_s, gate_s, err_s) = gate(&single.config, &release);
        assert_eq!(
            (code_a, &gate_a),
            (code_b, &gate_b),
            "{release}: gate via A and B\n{err_a}\n{err_b}"
        );
        assert_eq!(
            code_a, code_s,
            "{release}: gate exit code cluster / single\n{err_a}\n{err_s}"
        );
        near.extend(assert_same(&format!("{release} gate"), &gate_a, &gate_s));
        let facts = &gate_a["facts"];
        assert_eq!(facts["sessions"], t.sessions_started, "{release}: {facts}");
        assert_eq!(
            facts["crashed_sessions"], t.sessions_crashed,
            "{release}: {facts}"
        );
        for r in gate_a["results"].as_array().into_iter().flatten() {
            *verdicts
                .entry(r["verdict"].as_str().unwrap_or_default().to_string())
                .or_insert(0) += 1;
        }
        decisions.push((release, code_a, gate_a["decision"].clone()));
    }
    eprintln!("gate decisions (cluster = single): {decisions:?}; clause verdicts {verdicts:?}");
    // The comparison covered real verdicts, not only missing data (the
    // anchor fixes the data, so this holds on every run).
    assert!(
        decisions.iter().any(|(_, code, _)| *code != 2),
        "a release with a decision: {decisions:?}"
    );
    assert!(
        verdicts.contains_key("pass") && verdicts.contains_key("fail"),
        "{verdicts:?}"
    );
    eprintln!("equal but for the last bits: {near:#?}");
}
