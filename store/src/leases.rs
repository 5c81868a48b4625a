//! Leader leases and schedule runs, for several vitals nodes on one
//! control plane (PostgreSQL): each scheduled job (the alert scheduler, the
//! site prober) runs on the one node holding its lease, and the last run of
//! each schedule is kept here rather than in a node's memory, so a node
//! that takes over neither repeats nor loses a run.
//!
//! Lease times use the database's clock, not the nodes' (whose clocks may
//! disagree); on SQLite (one node) that is the local clock anyway. Times
//! are whole seconds, so a lease of `ttl` seconds lives between `ttl - 1`
//! and `ttl` seconds; holders renew every `ttl / 3`.

use crate::control::ControlPlane;
use crate::cpdb::params;
use crate::{Result, StoreError};

impl ControlPlane {
    /// Takes or renews the lease `name` for `holder` for `ttl_secs` (at
    /// least 1): one atomic upsert that succeeds when the lease is free,
    /// expired or already `holder`'s. Returns whether `holder` holds it now.
    pub fn try_lease(&self, name: &str, holder: &str, ttl_secs: u64) -> Result<bool> {
        if name.is_empty() || holder.is_empty() {
            return Err(StoreError::Invalid(
                "lease name and holder must not be empty".into(),
            ));
        }
        let ttl = i64::try_from(ttl_secs.max(1))
            .map_err(|_| StoreError::Invalid(format!("lease time {ttl_secs}s is too long")))?;
        let now = self.db.dialect().now_secs();
        // When the row exists and is someone else's live lease, the WHERE
        // of DO UPDATE fails: nothing is written and nothing returned.
        let row = self.db.query_opt(
            &format!(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, {now} + ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                   expires_at = excluded.expires_at
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= {now}
                 RETURNING holder"
            ),
            &params![name, holder, ttl],
        )?;
        Ok(match row {
            Some(r) => r.get::<String>(0)? == holder,
            None => false,
        })
    }

    /// Gives up the lease `name` if `holder` holds it (on a clean stop), so
    /// another node can take it at once instead of after it expires.
    pub fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.db.execute(
            "DELETE FROM leases WHERE name = ? AND holder = ?",
            &params![name, holder],
        )?;
        Ok(())
    }

    /// The current holder of a live lease, if any.
    pub fn lease_holder(&self, name: &str) -> Result<Option<String>> {
        let now = self.db.dialect().now_secs();
        self.db
            .query_opt(
                &format!("SELECT holder FROM leases WHERE name = ? AND expires_at > {now}"),
                &params![name],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// When the schedule `name` last ran (Unix seconds), if ever.
    pub fn last_run(&self, name: &str) -> Result<Option<i64>> {
        self.db
            .query_opt(
                "SELECT last_run FROM schedule_runs WHERE name = ?",
                &params![name],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// Records that schedule `name` runs at `at`, only if its last run is
    /// still `prev` (compare-and-set): true when this caller claimed the
    /// run, false when another node claimed it first.
    pub fn claim_run(&self, name: &str, prev: Option<i64>, at: i64, holder: &str) -> Result<bool> {
        let n = match prev {
            None => self.db.execute(
                "INSERT INTO schedule_runs (name, last_run, holder) VALUES (?, ?, ?)
                 ON CONFLICT (name) DO NOTHING",
                &params![name, at, holder],
            )?,
            Some(prev) => self.db.execute(
                "UPDATE schedule_runs SET last_run = ?, holder = ? WHERE name = ? AND last_run = ?",
                &params![at, holder, name, prev],
            )?,
        };
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::ControlPlane;

    #[test]
    fn one_holder_at_a_time_and_runs_are_claimed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::open(dir.path().join("c.sqlite")).expect("open");
        assert!(cp.try_lease("alerts", "a", 30).unwrap());
        assert!(!cp.try_lease("alerts", "b", 30).unwrap());
        assert!(cp.try_lease("alerts", "a", 30).unwrap(), "renewal");
        assert_eq!(cp.lease_holder("alerts").unwrap().as_deref(), Some("a"));
        cp.release_lease("alerts", "b").unwrap();
        assert!(!cp.try_lease("alerts", "b", 30).unwrap(), "not b's to free");
        cp.release_lease("alerts", "a").unwrap();
        assert!(cp.try_lease("alerts", "b", 30).unwrap());
        assert!(
            cp.try_lease("prober", "a", 30).unwrap(),
            "leases are per job"
        );

        assert_eq!(cp.last_run("digest").unwrap(), None);
        assert!(cp.claim_run("digest", None, 100, "a").unwrap());
        assert!(!cp.claim_run("digest", None, 100, "b").unwrap());
        assert!(!cp.claim_run("digest", Some(99), 200, "b").unwrap());
        assert!(cp.claim_run("digest", Some(100), 200, "b").unwrap());
        assert_eq!(cp.last_run("digest").unwrap(), Some(200));
    }
}
