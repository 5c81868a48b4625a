//! ClickHouse cluster mode: the same tables, spread over shards by
//! ClickHouse's own `Distributed` engine.
//!
//! With `[clickhouse] cluster = "NAME"` every sharded table `T` becomes a
//! node-local `T_local` (`MergeTree`, or `ReplicatedMergeTree` when the
//! server has ZooKeeper/Keeper) on every node plus a `Distributed` table
//! named `T` over them, so every query the store renders reads `T` as on
//! one node and ClickHouse merges the shards' partial aggregates (exact
//! `uniqExact` sets, sums, min/max states): the answers are the same on one
//! node and on N shards. Rows are sharded by `cityHash64(app_id, user_key)`,
//! so one user's rows, and with them the per-user rollups the materialized
//! views keep on each shard, live on one shard.
//!
//! Inserts go through the `Distributed` tables with
//! `insert_distributed_sync = 1`: the insert returns once every shard has
//! its rows, so the exactly-once ledger (events first, then the batch ids)
//! keeps its meaning. The trade-off: one slow shard slows every insert;
//! writing to the shards directly would avoid that hop but make vitals
//! re-implement the sharding and track shard health itself.
//!
//! DDL and mutations are node-local statements run by vitals on each node
//! (DDL) or on the first replica of each shard (backfills, `ALTER … DELETE`
//! / `UPDATE`, which replication carries to the other replicas). This needs
//! no distributed-DDL queue, so a cluster without Keeper works too. The
//! nodes come from `system.clusters` (their addresses with the HTTP port of
//! the configured URL) unless `[clickhouse] nodes` lists their URLs.

use super::{ClickHouseStore, base_client, escape, ident};
use crate::{Result, StoreError};
use ::clickhouse::{Client, Row};
use serde::Deserialize;
use std::sync::Arc;

/// Sharded tables and their sharding keys.
const SHARDED: &[(&str, &str)] = &[
    ("events", "cityHash64(app_id, user_key)"),
    ("batches", "cityHash64(app_id, batch_id)"),
    ("install_owner", "cityHash64(app_id, anon_key)"),
    (
        "session_ledger",
        "cityHash64(app_id, install_id, session_id)",
    ),
    ("rollup_sessions", "rand()"),
    ("rollup_users", "cityHash64(app_id, user_key)"),
    ("rollup_samples", "rand()"),
    ("rollup_user_sketch", "rand()"),
];

/// How tables are laid out: one node, or local tables + `Distributed`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Layout {
    cluster: Option<ClusterNames>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ClusterNames {
    name: String,
    database: String,
    replicated: bool,
}

impl Layout {
    /// One node: every table is itself.
    pub(crate) fn single() -> Layout {
        Layout::default()
    }

    pub(crate) fn cluster(name: &str, database: &str, replicated: bool) -> Layout {
        Layout {
            cluster: Some(ClusterNames {
                name: name.into(),
                database: database.into(),
                replicated,
            }),
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        self.cluster.is_some()
    }

    /// The node-local table behind `table`.
    pub(crate) fn local(&self, table: &str) -> String {
        match &self.cluster {
            Some(_) if sharding_key(table).is_some() => format!("{table}_local"),
            _ => table.to_string(),
        }
    }

    /// The statements for one `CREATE TABLE IF NOT EXISTS T (…) ENGINE = E
    /// …` written for one node: the local table (replicated when the
    /// cluster is) and, for a sharded table, its `Distributed` table.
    pub(crate) fn create(&self, stmt: &str) -> Vec<String> {
        let Some(c) = &self.cluster else {
            return vec![stmt.to_string()];
        };
        let Some(table) = created_table(stmt) else {
            return vec![stmt.to_string()];
        };
        let Some(key) = sharding_key(table) else {
            // Per-node bookkeeping (migration ledger, rollup settings).
            return vec![stmt.to_string()];
        };
        let local = format!("{table}_local");
        let mut s = stmt.replacen(
            &format!("CREATE TABLE IF NOT EXISTS {table} "),
            &format!("CREATE TABLE IF NOT EXISTS {local} "),
            1,
        );
        if c.replicated {
            let args = format!(
                "'/clickhouse/tables/{{shard}}/{}/{local}', '{{replica}}'",
                c.database
            );
            s = s
                .replacen(
                    "ENGINE = SummingMergeTree()",
                    &format!("ENGINE = ReplicatedSummingMergeTree({args})"),
                    1,
                )
                .replacen(
                    "ENGINE = MergeTree",
                    &format!("ENGINE = ReplicatedMergeTree({args})"),
                    1,
                );
        }
        vec![
            s,
            format!(
                "CREATE TABLE IF NOT EXISTS {table} AS {local} \
                 ENGINE = Distributed({}, {}, {local}, {key})",
                c.name, c.database
            ),
        ]
    }
}

/// Whether an error from `system.zookeeper` says there is no ZooKeeper
/// configuration at all (18.16: the table does not exist; current
/// releases: NO_ZOOKEEPER).
fn keeper_absent(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("system.zookeeper doesn't exist")
        || e.contains("no_zookeeper")
        || e.contains("no zookeeper")
}

fn sharding_key(table: &str) -> Option<&'static str> {
    SHARDED.iter().find(|(t, _)| *t == table).map(|(_, k)| *k)
}

/// The table a `CREATE TABLE IF NOT EXISTS` statement creates.
fn created_table(stmt: &str) -> Option<&str> {
    let rest = stmt
        .trim_start()
        .strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
    rest.split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .filter(|t| !t.is_empty())
}

/// One node of the cluster and the client that talks to it.
#[derive(Clone)]
pub(super) struct Node {
    pub url: String,
    pub shard: u32,
    /// With the vitals database selected.
    pub client: Client,
    /// Without a database (to create or drop it).
    pub admin: Client,
}

/// The cluster as discovered at first use.
pub(super) struct Topology {
    pub layout: Layout,
    pub nodes: Vec<Node>,
}

impl Topology {
    /// The first replica of each shard (nodes are in replica order): where backfills and mutations run.
    pub fn shard_leaders(&self) -> Vec<&Node> {
        let mut out: Vec<&Node> = Vec::new();
        for n in &self.nodes {
            if !out.iter().any(|o| o.shard == n.shard) {
                out.push(n);
            }
        }
        out
    }
}

impl ClickHouseStore {
    /// The table layout and the nodes (one, the configured URL, when not
    /// in cluster mode). Discovered once.
    pub(super) async fn topology(&self) -> Result<Arc<Topology>> {
        if let Some(t) = self.topology.read().map_err(poisoned)?.clone() {
            return Ok(t);
        }
        let t = Arc::new(self.discover().await?);
        *self.topology.write().map_err(poisoned)? = Some(t.clone());
        Ok(t)
    }

    async fn discover(&self) -> Result<Topology> {
        let name = self.cfg.cluster.trim();
        if name.is_empty() {
            return Ok(Topology {
                layout: Layout::single(),
                nodes: vec![Node {
                    url: self.cfg.url.clone(),
                    shard: 1,
                    client: self.client.clone(),
                    admin: base_client(&self.cfg),
                }],
            });
        }
        ident(name)?;
        #[derive(Row, Deserialize)]
        struct R {
            shard_num: u32,
            host_name: String,
            host_address: String,
        }
        let rows = base_client(&self.cfg)
            .query(
                "SELECT shard_num, host_name, host_address FROM system.clusters \
                 WHERE cluster = ? ORDER BY shard_num, replica_num",
            )
            .bind(name)
            .fetch_all::<R>()
            .await?;
        if rows.is_empty() {
            return Err(StoreError::Schema(format!(
                "cluster '{name}' is not defined in <remote_servers> of the ClickHouse server at {}",
                self.cfg.url
            )));
        }
        let mut nodes = Vec::with_capacity(rows.len());
        for r in rows {
            let url = node_url(
                &self.cfg.url,
                &self.cfg.nodes,
                &r.host_name,
                &r.host_address,
            )
            .ok_or_else(|| {
                StoreError::Schema(format!(
                    "no URL in [clickhouse] nodes for cluster host {} ({})",
                    r.host_name, r.host_address
                ))
            })?;
            let mut cfg = self.cfg.clone();
            cfg.url = url.clone();
            nodes.push(Node {
                url,
                shard: r.shard_num,
                client: base_client(&cfg).with_database(self.cfg.database.clone()),
                admin: base_client(&cfg),
            });
        }
        let replicated = self.has_keeper().await?;
        tracing::info!(
            cluster = name,
            nodes = nodes.len(),
            replicated,
            "clickhouse cluster discovered"
        );
        Ok(Topology {
            layout: Layout::cluster(name, ident(&self.cfg.database)?, replicated),
            nodes,
        })
    }

    /// Whether the server has ZooKeeper/Keeper (then local tables are
    /// replicated). A configured but unreachable one is an error, not a
    /// silent fall-back to unreplicated tables.
    async fn has_keeper(&self) -> Result<bool> {
        match base_client(&self.cfg)
            .query("SELECT count() FROM system.zookeeper WHERE path = '/'")
            .execute()
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if keeper_absent(&e.to_string()) => Ok(false),
            Err(e) => Err(StoreError::Schema(format!(
                "the ClickHouse server at {} has ZooKeeper/Keeper configured but it does not \
                 answer ({e}); replicated tables cannot be created until it does",
                self.cfg.url
            ))),
        }
    }

    /// Runs node-local statements on every node.
    pub(super) async fn on_every_node(&self, stmts: &[String]) -> Result<()> {
        let topo = self.topology().await?;
        for n in &topo.nodes {
            for s in stmts {
                run(&n.client, s, &n.url).await?;
            }
        }
        Ok(())
    }

    /// Runs node-local statements on the first replica of every shard.
    pub(super) async fn on_every_shard(&self, stmts: &[String]) -> Result<()> {
        let topo = self.topology().await?;
        for n in topo.shard_leaders() {
            for s in stmts {
                run(&n.client, s, &n.url).await?;
            }
        }
        Ok(())
    }

    /// The node-local name of `table` in the current layout.
    pub(super) async fn local(&self, table: &str) -> Result<String> {
        Ok(self.topology().await?.layout.local(table))
    }
}

async fn run(client: &Client, stmt: &str, url: &str) -> Result<()> {
    client.query(stmt).execute().await.map_err(|e| {
        tracing::warn!(node = url, error = %e, "statement failed on a cluster node");
        StoreError::from(e)
    })
}

/// The HTTP URL of a cluster host: the configured node whose host matches,
/// else the configured URL with the host swapped.
fn node_url(base: &str, nodes: &[String], host_name: &str, host_address: &str) -> Option<String> {
    if !nodes.is_empty() {
        return nodes
            .iter()
            .find(|u| {
                let h = url_host(u);
                h == host_name || h == host_address
            })
            .cloned();
    }
    let (scheme, rest) = base.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let port = authority.rsplit_once(':').map(|(_, p)| p);
    let host = if host_address.contains(':') {
        format!("[{host_address}]")
    } else {
        host_address.to_string()
    };
    Some(match port {
        Some(p) if !authority.ends_with(']') => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority
        .rsplit_once('@')
        .map(|(_, a)| a)
        .unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Join("cluster topology lock poisoned".into())
}

/// Escaped for a string literal (re-exported for the callers' SQL).
pub(super) fn quote(s: &str) -> String {
    format!("'{}'", escape(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_layout_leaves_statements_alone() {
        let l = Layout::single();
        let s = "CREATE TABLE IF NOT EXISTS events (a String) ENGINE = MergeTree ORDER BY a";
        assert_eq!(l.create(s), vec![s.to_string()]);
        assert_eq!(l.local("events"), "events");
    }

    #[test]
    fn cluster_layout_makes_local_and_distributed_tables() {
        let l = Layout::cluster("vitals", "db", false);
        let s = "CREATE TABLE IF NOT EXISTS events (a String) ENGINE = MergeTree\nORDER BY a";
        let out = l.create(s);
        assert_eq!(out.len(), 2);
        assert!(out[0].starts_with("CREATE TABLE IF NOT EXISTS events_local ("));
        assert!(out[0].contains("ENGINE = MergeTree\nORDER BY a"));
        assert_eq!(
            out[1],
            "CREATE TABLE IF NOT EXISTS events AS events_local \
             ENGINE = Distributed(vitals, db, events_local, cityHash64(app_id, user_key))"
        );
        assert_eq!(l.local("events"), "events_local");
        // Per-node bookkeeping stays one plain table.
        let m =
            "CREATE TABLE IF NOT EXISTS schema_migrations (v UInt32) ENGINE = MergeTree ORDER BY v";
        assert_eq!(l.create(m), vec![m.to_string()]);
        assert_eq!(l.local("schema_migrations"), "schema_migrations");
    }

    #[test]
    fn replicated_cluster_uses_replicated_engines() {
        let l = Layout::cluster("vitals", "db", true);
        let s = "CREATE TABLE IF NOT EXISTS rollup_users (a String) ENGINE = SummingMergeTree() ORDER BY a";
        let out = l.create(s);
        assert!(
            out[0].contains(
                "ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/db/rollup_users_local', '{replica}')"
            ),
            "{}",
            out[0]
        );
        let e = "CREATE TABLE IF NOT EXISTS batches (a String) ENGINE = MergeTree ORDER BY a";
        assert!(l.create(e)[0].contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/db/batches_local', '{replica}') ORDER BY a"));
    }

    #[test]
    fn only_a_missing_keeper_configuration_means_unreplicated() {
        assert!(keeper_absent(
            "Code: 60, e.displayText() = DB::Exception: Table system.zookeeper doesn't exist., e.what() = DB::Exception"
        ));
        assert!(keeper_absent(
            "Code: 225. DB::Exception: There is no zookeeper configuration. (NO_ZOOKEEPER)"
        ));
        assert!(!keeper_absent(
            "Code: 999. Coordination::Exception: Connection loss"
        ));
    }

    #[test]
    fn node_urls_follow_the_configured_port_or_the_list() {
        assert_eq!(
            node_url("http://127.0.0.2:18125", &[], "localhost", "127.0.0.3").as_deref(),
            Some("http://127.0.0.3:18125")
        );
        assert_eq!(
            node_url("https://ch:8443/", &[], "h", "::1").as_deref(),
            Some("https://[::1]:8443")
        );
        let nodes = vec![
            "http://ch-s1-r1:8123".to_string(),
            "http://u:p@ch-s2-r1:8123".to_string(),
        ];
        assert_eq!(
            node_url("http://x:8123", &nodes, "ch-s2-r1", "10.0.0.2").as_deref(),
            Some("http://u:p@ch-s2-r1:8123")
        );
        assert_eq!(node_url("http://x:8123", &nodes, "other", "10.0.0.9"), None);
    }
}
