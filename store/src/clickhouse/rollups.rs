//! Rollup upkeep on ClickHouse: (re)building the materialized views for the
//! configured time zone, knowing which zone the stored rollups use, and
//! taking an erased user's rows out of them.

use super::{ClickHouseStore, escape};
use crate::query::Query;
use crate::rollup::{Routed, route};
use crate::rollup_ddl;
use crate::{Result, StoreError};
use ::clickhouse::Row;
use serde::Deserialize;

const SETTINGS_DDL: &str = "CREATE TABLE IF NOT EXISTS rollup_settings (
    key String,
    value String,
    set_at UInt64
) ENGINE = MergeTree ORDER BY (key, set_at)";

impl ClickHouseStore {
    /// The time zone the stored rollups were built with; `None` when there
    /// are none (not migrated yet, or a rebuild in progress).
    pub(super) async fn rollup_zone(&self) -> Result<Option<String>> {
        if let Some(z) = self.rollups.read().map_err(poisoned)?.clone() {
            return Ok(z);
        }
        let zone = self.stored_zone().await?;
        *self.rollups.write().map_err(poisoned)? = Some(zone.clone());
        Ok(zone)
    }

    /// The zone stamped on the node the store talks to (every node is
    /// stamped alike).
    async fn stored_zone(&self) -> Result<Option<String>> {
        Self::zone_on(&self.client, self.database()).await
    }

    async fn zone_on(client: &::clickhouse::Client, database: &str) -> Result<Option<String>> {
        #[derive(Row, Deserialize)]
        struct N {
            n: u64,
        }
        #[derive(Row, Deserialize)]
        struct V {
            value: String,
        }
        let exists = client
            .query(&format!(
                "SELECT count() AS n FROM system.tables WHERE database = '{}' AND name = 'rollup_settings'",
                escape(database)
            ))
            .fetch_one::<N>()
            .await?
            .n;
        if exists == 0 {
            return Ok(None);
        }
        let v = client
            .query("SELECT value FROM rollup_settings WHERE key = 'timezone' ORDER BY set_at DESC LIMIT 1")
            .fetch_all::<V>()
            .await?;
        Ok(v.into_iter()
            .next()
            .and_then(|v| rollup_ddl::zone_of(&v.value)))
    }

    async fn set_zone(&self, value: &str) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        self.on_every_node(&[format!(
            "INSERT INTO rollup_settings (key, value, set_at) VALUES ('timezone', {}, {now})",
            super::cluster::quote(value)
        )])
        .await
    }

    /// Builds the rollups when there are none or they use another zone.
    /// Returns whether it rebuilt.
    /// Every node is asked: one left behind (down during the last
    /// rebuild, or added since) triggers a rebuild.
    pub(super) async fn ensure_rollups(&self) -> Result<bool> {
        self.on_every_node(&[SETTINGS_DDL.to_string()]).await?;
        *self.rollups.write().map_err(poisoned)? = None;
        let mut current = true;
        for n in &self.topology().await?.nodes {
            let zone = Self::zone_on(&n.client, self.database()).await?;
            current &= zone.as_deref() == Some(self.timezone.as_str());
        }
        if current {
            return Ok(false);
        }
        self.rebuild().await?;
        Ok(true)
    }

    pub(super) async fn rebuild(&self) -> Result<()> {
        self.on_every_node(&[SETTINGS_DDL.to_string()]).await?;
        *self.rollups.write().map_err(poisoned)? = Some(None);
        self.set_zone("").await?;
        let started = std::time::Instant::now();
        let layout = self.topology().await?.layout.clone();
        let plan = rollup_ddl::clickhouse_rebuild(&self.timezone, &layout);
        self.on_every_node(&plan.tables).await?;
        self.on_every_shard(&plan.truncate).await?;
        self.on_every_node(&plan.views).await?;
        self.on_every_shard(&plan.backfill).await?;
        self.set_zone(&rollup_ddl::stamp(&self.timezone)).await?;
        *self.rollups.write().map_err(poisoned)? = Some(Some(self.timezone.clone()));
        tracing::info!(
            timezone = %self.timezone,
            secs = started.elapsed().as_secs_f64(),
            "clickhouse rollups rebuilt"
        );
        Ok(())
    }

    /// The rollup rendering of `q`, if one answers it.
    pub(super) async fn routed(&self, q: &Query) -> Result<Option<Routed>> {
        Ok(match self.rollup_zone().await? {
            Some(z) => route(crate::query::Dialect::ClickHouse, q, &z),
            None => None,
        })
    }

    /// Takes one user's rows out of the rollups; call before deleting them.
    pub(super) async fn erase_from_rollups(&self, app_id: &str, user_id: &str) -> Result<()> {
        #[derive(Row, Deserialize)]
        struct K {
            user_key: String,
        }
        let Some(zone) = self.rollup_zone().await? else {
            return Ok(());
        };
        for stmt in rollup_ddl::clickhouse_erase_deltas(&zone, app_id, user_id) {
            self.client.query(&stmt).execute().await?;
        }
        let keys = self
            .client
            .query("SELECT DISTINCT user_key FROM events WHERE app_id = ? AND user_id = ?")
            .bind(app_id)
            .bind(user_id)
            .fetch_all::<K>()
            .await?;
        if keys.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = keys
            .iter()
            .map(|k| format!("'{}'", escape(&k.user_key)))
            .collect();
        let mut deletes = Vec::new();
        for t in rollup_ddl::clickhouse_user_tables() {
            deletes.push(format!(
                "ALTER TABLE {} DELETE WHERE app_id = '{}' AND user_key IN ({})",
                self.local(t).await?,
                escape(app_id),
                list.join(", ")
            ));
        }
        self.on_every_shard(&deletes).await
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Join("rollup state lock poisoned".into())
}
