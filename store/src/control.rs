//! Control-plane state: apps, ingest keys, API tokens and erasure requests
//! (and, in `ops.rs`, `users.rs`, `releases.rs`, `leases.rs`, everything
//! else). In an embedded SQLite file by default, or in a PostgreSQL
//! database shared by several vitals nodes ([`ControlPlaneConfig`]).
//!
//! Small tables, synchronous access; callers on async threads go through
//! `tokio::task::spawn_blocking` or accept the cost of these point queries
//! (sub-millisecond on SQLite, a round trip on PostgreSQL, whose pool runs
//! on threads of its own: see `cpdb/postgres.rs`).

use crate::cpdb::{Db, Row, params, schema};
use crate::sentry_intake::SentryIntake;
use crate::{Result, StoreError};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;

/// Most active ingest keys an app may have at once: two, so a key can be
/// rotated without downtime (create the new one, roll clients, revoke the
/// old one).
pub const MAX_ACTIVE_KEYS: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct App {
    pub app_id: String,
    pub name: String,
    /// Keyed-hash secret for user-id pseudonyms (never leaves the server).
    #[serde(skip)]
    pub pseudonym_secret: Vec<u8>,
    /// Whether client IPs may be stored (off by default, 4.3.1).
    pub store_ip: bool,
    pub created_at: i64,
    /// Sentry-protocol intake: off unless enabled, the DSN's random
    /// project id, allowed origins (`sentry_intake.rs`). Not shown in the
    /// apps API: `GET /api/v1/apps/{app}/sentry` is for operators.
    #[serde(skip)]
    pub sentry: SentryIntake,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestKey {
    pub key_id: String,
    pub app_id: String,
    #[serde(skip)]
    pub secret: String,
    pub active: bool,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Roles of API tokens (and, later, dashboard users).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Why an API request was not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid or revoked token")]
    Bad,
    #[error("role {role} may not do this (needs {needed})", role = .role.as_str(), needed = .needed.as_str())]
    Forbidden { role: Role, needed: Role },
    #[error("control plane: {0}")]
    Store(String),
}

const APP_SELECT: &str = "SELECT a.app_id, a.name, a.pseudonym_secret, a.store_ip, a.created_at,
       s.project, s.enabled, s.allowed_origins
     FROM apps a LEFT JOIN sentry_intake s ON s.app_id = a.app_id";

fn app_row(r: &Row) -> Result<App> {
    Ok(App {
        app_id: r.get(0)?,
        name: r.get(1)?,
        pseudonym_secret: r.get(2)?,
        store_ip: r.get(3)?,
        created_at: r.get(4)?,
        sentry: SentryIntake::from_row(r, 5)?,
    })
}

/// Where the control plane lives (`[control_plane]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlPlaneConfig {
    /// PostgreSQL URL (`postgres://user:password@host:5432/db`) shared by
    /// every vitals node of one installation; empty = the embedded SQLite
    /// file `control.sqlite` under the data directory (one node).
    pub url: String,
    /// PostgreSQL connections (each on a thread of its own).
    pub pool_size: usize,
    /// Seconds a node holds a job's leader lease (alert scheduler, site
    /// prober) without renewing it; another node takes over after that.
    pub lease_secs: u64,
    /// This node's name in leases; empty = hostname and process id.
    pub node_id: String,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig {
            url: String::new(),
            pool_size: 4,
            lease_secs: 30,
            node_id: String::new(),
        }
    }
}

impl ControlPlaneConfig {
    /// The configured node id, or `hostname:pid`.
    pub fn node(&self) -> String {
        if self.node_id.is_empty() {
            default_node_id()
        } else {
            self.node_id.clone()
        }
    }

    /// Opens the configured control plane: PostgreSQL when `url` is set,
    /// else the SQLite file at `sqlite_path`.
    pub fn open(&self, sqlite_path: impl AsRef<Path>) -> Result<ControlPlane> {
        if self.url.is_empty() {
            ControlPlane::open(sqlite_path)
        } else {
            ControlPlane::open_postgres(&self.url, self.pool_size)
        }
    }
}

/// `hostname:pid`: unique per running process on a set of hosts.
pub fn default_node_id() -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// The control-plane database.
pub struct ControlPlane {
    pub(crate) db: Db,
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl ControlPlane {
    /// Opens (creating) the control-plane database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(schema::SQLITE)?;
        crate::cpdb::migrate::sqlite(&mut conn)?;
        Ok(ControlPlane {
            db: Db::Sqlite(Mutex::new(conn)),
        })
    }

    /// Connects to a PostgreSQL control plane shared by several nodes
    /// (`pool_size` connections) and creates its schema if missing. Fails
    /// with [`StoreError::Postgres`] (password masked) when the server does
    /// not answer.
    pub fn open_postgres(url: &str, pool_size: usize) -> Result<Self> {
        let pool = crate::cpdb::postgres::Pool::start(url, pool_size)?;
        pool.run(|c| {
            let mut tx = c.transaction().map_err(crate::cpdb::postgres::error)?;
            tx.execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[&schema::POSTGRES_SCHEMA_LOCK],
            )
            .map_err(crate::cpdb::postgres::error)?;
            tx.batch_execute(schema::POSTGRES)
                .map_err(crate::cpdb::postgres::error)?;
            tx.batch_execute(&crate::cpdb::migrate::postgres())
                .map_err(crate::cpdb::postgres::error)?;
            tx.commit().map_err(crate::cpdb::postgres::error)
        })?;
        Ok(ControlPlane {
            db: Db::Postgres(pool),
        })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Returns the app, creating it with a fresh pseudonym secret if new.
    pub fn ensure_app(&self, app_id: &str, name: Option<&str>) -> Result<App> {
        if app_id.is_empty()
            || app_id.len() > 64
            || !app_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(StoreError::Invalid(format!(
                "app id '{app_id}' must be 1-64 letters, digits, '.', '_' or '-'"
            )));
        }
        if let Some(app) = self.app(app_id)? {
            return Ok(app);
        }
        let mut secret = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        self.db.execute(
            "INSERT INTO apps (app_id, name, pseudonym_secret, store_ip, created_at)
             VALUES (?, ?, ?, 0, ?) ON CONFLICT (app_id) DO NOTHING",
            &params![app_id, name.unwrap_or(app_id), secret, now()],
        )?;
        self.app(app_id)?
            .ok_or_else(|| StoreError::NotFound(format!("app {app_id}")))
    }

    pub fn app(&self, app_id: &str) -> Result<Option<App>> {
        self.db
            .query_opt(
                &format!("{APP_SELECT} WHERE a.app_id = ?"),
                &params![app_id],
            )?
            .as_ref()
            .map(app_row)
            .transpose()
    }

    pub fn apps(&self) -> Result<Vec<App>> {
        self.db
            .query(&format!("{APP_SELECT} ORDER BY a.app_id"), &params![])?
            .iter()
            .map(app_row)
            .collect()
    }

    pub fn set_store_ip(&self, app_id: &str, on: bool) -> Result<()> {
        let n = self.db.execute(
            "UPDATE apps SET store_ip = ? WHERE app_id = ?",
            &params![on, app_id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("app {app_id}")));
        }
        Ok(())
    }

    /// Creates an ingest key for `app_id` (creating the app if needed).
    /// Refuses a third active key: revoke one first.
    pub fn create_key(&self, app_id: &str) -> Result<IngestKey> {
        self.ensure_app(app_id, None)?;
        let key = IngestKey {
            key_id: format!("vk_{}", random_hex(8)),
            app_id: app_id.to_string(),
            secret: random_hex(32),
            active: true,
            created_at: now(),
            revoked_at: None,
        };
        // Count and insert in one transaction (serialised per app), so two
        // nodes cannot both add a third key.
        let k = key.clone();
        self.db.transaction(move |tx| {
            tx.lock(&format!("ingest_keys:{}", k.app_id))?;
            let active: i64 = tx
                .query_opt(
                    "SELECT COUNT(*) FROM ingest_keys WHERE app_id = ? AND active = 1",
                    &params![k.app_id],
                )?
                .map_or(Ok(0), |r| r.get(0))?;
            if active >= MAX_ACTIVE_KEYS as i64 {
                return Err(StoreError::Conflict(format!(
                    "app {} already has {active} active keys; revoke one before creating another",
                    k.app_id
                )));
            }
            tx.execute(
                "INSERT INTO ingest_keys (key_id, app_id, secret, active, created_at) VALUES (?, ?, ?, 1, ?)",
                &params![k.key_id, k.app_id, k.secret, k.created_at],
            )?;
            Ok(())
        })?;
        Ok(key)
    }

    /// Every ingest key, active and revoked.
    pub fn keys(&self) -> Result<Vec<IngestKey>> {
        self.db
            .query(
                "SELECT key_id, app_id, secret, active, created_at, revoked_at FROM ingest_keys
                 ORDER BY app_id, created_at, key_id",
                &params![],
            )?
            .iter()
            .map(|r| {
                Ok(IngestKey {
                    key_id: r.get(0)?,
                    app_id: r.get(1)?,
                    secret: r.get(2)?,
                    active: r.get(3)?,
                    created_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })
            .collect()
    }

    /// Revokes a key; requests signed with it are refused from then on.
    pub fn revoke_key(&self, key_id: &str) -> Result<()> {
        let n = self.db.execute(
            "UPDATE ingest_keys SET active = 0, revoked_at = ? WHERE key_id = ? AND active = 1",
            &params![now(), key_id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("active key {key_id}")));
        }
        Ok(())
    }

    /// Creates an API token with `role`; returns the token (shown once; only
    /// its SHA-256 is kept).
    pub fn create_token(&self, role: Role, label: &str) -> Result<String> {
        let token = format!("vt_{}", random_hex(24));
        self.db.execute(
            "INSERT INTO api_tokens (token_hash, role, label, created_at) VALUES (?, ?, ?, ?)",
            &params![token_hash(&token), role.as_str(), label, now()],
        )?;
        Ok(token)
    }

    /// The role of a valid, unrevoked token.
    pub fn token_role(&self, token: &str) -> Result<Option<Role>> {
        let role: Option<String> = self
            .db
            .query_opt(
                "SELECT role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                &params![token_hash(token)],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    /// Checks an `Authorization` header value (`Bearer …`) for `needed`.
    pub fn authorize(&self, header: Option<&str>, needed: Role) -> Result<Role, AuthFailure> {
        let token = header
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Missing)?;
        let role = self
            .token_role(token)
            .map_err(|e| AuthFailure::Store(e.to_string()))?
            .ok_or(AuthFailure::Bad)?;
        if role < needed {
            return Err(AuthFailure::Forbidden { role, needed });
        }
        Ok(role)
    }

    /// Records that a user's data must be erased; rows still in flight are
    /// dropped by the writer from now on.
    pub fn request_erasure(&self, app_id: &str, pseudonym: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO erasures (app_id, pseudonym, requested_at) VALUES (?, ?, ?)
             ON CONFLICT (app_id, pseudonym) DO UPDATE SET requested_at = excluded.requested_at, completed_at = NULL",
            &params![app_id, pseudonym, now()],
        )?;
        Ok(())
    }

    pub fn complete_erasure(&self, app_id: &str, pseudonym: &str) -> Result<()> {
        self.db.execute(
            "UPDATE erasures SET completed_at = ? WHERE app_id = ? AND pseudonym = ?",
            &params![now(), app_id, pseudonym],
        )?;
        Ok(())
    }

    /// Every erased `(app_id, pseudonym)`.
    pub fn erasures(&self) -> Result<std::collections::HashSet<(String, String)>> {
        self.db
            .query("SELECT app_id, pseudonym FROM erasures", &params![])?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp() -> (tempfile::TempDir, ControlPlane) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::open(dir.path().join("control.sqlite")).expect("open");
        (dir, cp)
    }

    #[test]
    fn keys_rotate_with_at_most_two_active() {
        let (_d, cp) = cp();
        let k1 = cp.create_key("demo").unwrap();
        let k2 = cp.create_key("demo").unwrap();
        assert_ne!(k1.secret, k2.secret);
        assert!(matches!(
            cp.create_key("demo"),
            Err(StoreError::Conflict(_))
        ));
        cp.revoke_key(&k1.key_id).unwrap();
        let k3 = cp.create_key("demo").unwrap();
        let keys = cp.keys().unwrap();
        assert_eq!(keys.iter().filter(|k| k.active).count(), 2);
        assert!(keys.iter().any(|k| k.key_id == k3.key_id && k.active));
        assert!(matches!(
            cp.revoke_key(&k1.key_id),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn tokens_are_hashed_and_roles_checked() {
        let (_d, cp) = cp();
        let t = cp.create_token(Role::Admin, "ci").unwrap();
        assert_eq!(cp.token_role(&t).unwrap(), Some(Role::Admin));
        assert_eq!(cp.token_role("vt_wrong").unwrap(), None);
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn app_ids_are_checked_and_secrets_stable() {
        let (_d, cp) = cp();
        assert!(matches!(
            cp.ensure_app("bad id", None),
            Err(StoreError::Invalid(_))
        ));
        let a = cp.ensure_app("demo", Some("Demo")).unwrap();
        let b = cp.ensure_app("demo", None).unwrap();
        assert_eq!(a.pseudonym_secret, b.pseudonym_secret);
        assert_eq!(a.pseudonym_secret.len(), 32);
    }
}
