//! The write-side ledgers on ClickHouse: install owners (see
//! [`crate::owners`]) and session identity.
//!
//! Session identity (see [`crate::sessions`]): the ledger is
//! read for the sessions a chunk of batches carries signals for, before
//! the chunk's rows are written, and the changed states are appended.
//!
//! Reads go through the `Distributed` table on a cluster (every shard), so
//! where a ledger row lives does not matter. Ledger rows written by the
//! chunk's own batches are left out of the read: a retried write after a
//! crash assigns the same flags as its first attempt did.

use super::{ClickHouseStore, escape};
use crate::Result;
use crate::owners;
use crate::row::EventRow;
use crate::sessions::{self, Changed, SessionKey, SessionState};
use ::clickhouse::Row;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Keys per lookup query (well inside the server's 256 KiB query limit).
const KEYS_PER_QUERY: usize = 2000;

#[derive(Row, Serialize)]
struct LedgerRow<'a> {
    app_id: &'a str,
    install_id: &'a str,
    session_id: &'a str,
    counted: u8,
    crashed: u8,
    abnormal: u8,
    batch_id: &'a str,
    at: u32,
}

#[derive(Row, Serialize)]
struct OwnerRow<'a> {
    app_id: &'a str,
    anon_key: &'a str,
    owner: &'a str,
    ts: u32,
}

#[derive(Row, Deserialize)]
struct KnownOwner {
    anon_key: String,
    owner: String,
    ts: u32,
}

#[derive(Row, Deserialize)]
struct StateRow {
    install_id: String,
    session_id: String,
    counted: u8,
    crashed: u8,
    abnormal: u8,
}

impl ClickHouseStore {
    /// Flags `rows` from the stored session states; returns the derived
    /// rows and the changed states to append with
    /// [`Self::write_session_ledger`].
    pub(super) async fn session_flags<'a>(
        &self,
        rows: &mut [EventRow<'a>],
        own_batches: &HashSet<&str>,
    ) -> Result<(Vec<EventRow<'a>>, Vec<Changed<'a>>)> {
        let keys = sessions::keys(rows);
        if keys.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let own = own_batches
            .iter()
            .map(|b| format!("'{}'", escape(b)))
            .collect::<Vec<_>>()
            .join(",");
        let mut by_app: BTreeMap<&str, Vec<&SessionKey>> = BTreeMap::new();
        for k in &keys {
            by_app.entry(k.0.as_str()).or_default().push(k);
        }
        let mut found = Vec::new();
        for (app, mut keys) in by_app {
            // In key order, each lookup covers a few installs' granules
            // rather than a slice of every install in the chunk.
            keys.sort_unstable();
            for part in keys.chunks(KEYS_PER_QUERY) {
                let list = part
                    .iter()
                    .map(|k| format!("('{}','{}')", escape(&k.1), escape(&k.2)))
                    .collect::<Vec<_>>()
                    .join(",");
                // The plain IN on the key's second column is what the
                // primary index narrows by (the tuple IN then picks rows).
                let installs = part
                    .iter()
                    .map(|k| k.1.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|i| format!("'{}'", escape(i)))
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!(
                    "SELECT install_id, session_id, max(counted) AS counted,
                        max(crashed) AS crashed, max(abnormal) AS abnormal
                     FROM session_ledger
                     WHERE app_id = '{}' AND install_id IN ({installs})
                       AND (install_id, session_id) IN ({list})
                       AND batch_id NOT IN ({own})
                     GROUP BY install_id, session_id",
                    escape(app)
                );
                let rows: Vec<StateRow> = self.client.query(&sql).fetch_all().await?;
                found.extend(rows.into_iter().map(|r| {
                    (
                        (app.to_string(), r.install_id, r.session_id),
                        SessionState {
                            counted: r.counted != 0,
                            crashed: r.crashed != 0,
                            abnormal: r.abnormal != 0,
                        },
                    )
                }));
            }
        }
        let mut states: HashMap<SessionKey, SessionState> = sessions::fold(found);
        Ok(sessions::assign(rows, &mut states))
    }

    /// Appends the (install, user) pairs of `rows` not yet stored at the
    /// same or an earlier time (queries take the earliest per install).
    pub(super) async fn write_install_owners(&self, rows: &[EventRow<'_>]) -> Result<()> {
        let logins = owners::logins(rows);
        if logins.is_empty() {
            return Ok(());
        }
        let mut known: HashMap<(String, String, String), u32> = HashMap::new();
        let mut by_app: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for l in &logins {
            by_app.entry(l.app_id).or_default().push(&l.anon_key);
        }
        for (app, keys) in by_app {
            for part in keys.chunks(KEYS_PER_QUERY) {
                let list = part
                    .iter()
                    .map(|k| format!("'{}'", escape(k)))
                    .collect::<Vec<_>>()
                    .join(",");
                let sql = format!(
                    "SELECT anon_key, owner, toUInt32(min(ts)) AS ts FROM install_owner
                     WHERE app_id = '{}' AND anon_key IN ({list})
                     GROUP BY anon_key, owner",
                    escape(app)
                );
                let rows: Vec<KnownOwner> = self.client.query(&sql).fetch_all().await?;
                for r in rows {
                    known.insert((app.to_string(), r.anon_key, r.owner), r.ts);
                }
            }
        }
        let fresh: Vec<&owners::Login<'_>> = logins
            .iter()
            .filter(|l| {
                let k = (
                    l.app_id.to_string(),
                    l.anon_key.clone(),
                    l.owner.to_string(),
                );
                known.get(&k).is_none_or(|&ts| l.ts < ts)
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut ins = self.client.insert::<OwnerRow<'_>>("install_owner").await?;
        for l in fresh {
            ins.write(&OwnerRow {
                app_id: l.app_id,
                anon_key: &l.anon_key,
                owner: l.owner,
                ts: l.ts,
            })
            .await?;
        }
        ins.end().await?;
        Ok(())
    }

    /// Appends the changed session states (one insert: one part).
    pub(super) async fn write_session_ledger(&self, changed: &[Changed<'_>]) -> Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let now = u32::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
        .unwrap_or(u32::MAX);
        let mut ins = self
            .client
            .insert::<LedgerRow<'_>>("session_ledger")
            .await?;
        for c in changed {
            ins.write(&LedgerRow {
                app_id: &c.key.0,
                install_id: &c.key.1,
                session_id: &c.key.2,
                counted: u8::from(c.state.counted),
                crashed: u8::from(c.state.crashed),
                abnormal: u8::from(c.state.abnormal),
                batch_id: c.batch_id,
                at: now,
            })
            .await?;
        }
        ins.end().await?;
        Ok(())
    }
}
