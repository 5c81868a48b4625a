//! Control-plane state in SQLite (every mode): apps, ingest keys, API
//! tokens and erasure requests. Small tables, synchronous access; callers on
//! async threads go through `tokio::task::spawn_blocking` or accept the
//! sub-millisecond cost of these point queries.

use crate::{Result, StoreError};
use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
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
    /// Numeric project id for Sentry DSNs (`http://KEY@host/PROJECT`).
    pub project: i64,
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

const APP_SELECT: &str =
    "SELECT app_id, name, pseudonym_secret, store_ip, created_at, rowid FROM apps";

fn app_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<App> {
    Ok(App {
        app_id: r.get(0)?,
        name: r.get(1)?,
        pseudonym_secret: r.get(2)?,
        store_ip: r.get::<_, i64>(3)? != 0,
        created_at: r.get(4)?,
        project: r.get(5)?,
    })
}

/// The control-plane database.
pub struct ControlPlane {
    conn: Mutex<Connection>,
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

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY, name TEXT NOT NULL, pseudonym_secret BLOB NOT NULL,
    store_ip INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_keys (
    key_id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(app_id), secret TEXT NOT NULL,
    active INTEGER NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL,
    created_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS releases (
    app_id TEXT NOT NULL, version TEXT NOT NULL, build TEXT NOT NULL, notes TEXT NOT NULL,
    package_sizes TEXT NOT NULL, min_version TEXT, released_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL, PRIMARY KEY (app_id, version, build));
CREATE TABLE IF NOT EXISTS crash_groups (
    app_id TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    resolved_in TEXT, resolved_at INTEGER, merged_into TEXT, updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL, PRIMARY KEY (app_id, fingerprint));
CREATE TABLE IF NOT EXISTS erasures (
    app_id TEXT NOT NULL, pseudonym TEXT NOT NULL, requested_at INTEGER NOT NULL,
    completed_at INTEGER, PRIMARY KEY (app_id, pseudonym));
-- operations (store/src/ops.rs): control-plane objects, config sequence,
-- append-only audit log, pending approvals, alert history, signing keys.
CREATE TABLE IF NOT EXISTS ops_objects (
    app_id TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    updated_at INTEGER NOT NULL, updated_by TEXT NOT NULL, PRIMARY KEY (app_id, kind, id));
CREATE TABLE IF NOT EXISTS ops_config_seq (
    app_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, changed_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ops_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, app_id TEXT NOT NULL, kind TEXT NOT NULL, object_id TEXT NOT NULL,
    reason TEXT NOT NULL, alert TEXT, approved_by TEXT, pending_id TEXT, reverts INTEGER,
    before TEXT, after TEXT);
CREATE TRIGGER IF NOT EXISTS ops_audit_no_update BEFORE UPDATE ON ops_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS ops_audit_no_delete BEFORE DELETE ON ops_audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS ops_pending (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, change TEXT NOT NULL, requested_by TEXT NOT NULL,
    requested_at INTEGER NOT NULL, status TEXT NOT NULL, decided_by TEXT, decided_at INTEGER,
    audit_id INTEGER);
CREATE TABLE IF NOT EXISTS alert_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, rule_id TEXT NOT NULL,
    app_id TEXT NOT NULL, series TEXT NOT NULL, event TEXT NOT NULL, clause TEXT NOT NULL,
    value REAL, threshold REAL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, history_id INTEGER NOT NULL, channel TEXT NOT NULL,
    target TEXT NOT NULL, attempt INTEGER NOT NULL, ok INTEGER NOT NULL, error TEXT,
    at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS signing_keys (
    key_id TEXT PRIMARY KEY, secret BLOB NOT NULL, created_at INTEGER NOT NULL,
    retired_at INTEGER);
CREATE TABLE IF NOT EXISTS api_token_names (
    token_hash TEXT PRIMARY KEY REFERENCES api_tokens(token_hash), name TEXT NOT NULL UNIQUE);
-- dashboard users and sessions (store/src/users.rs)
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL REFERENCES users(name), csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL, last_seen INTEGER NOT NULL, expires_at INTEGER NOT NULL,
    revoked_at INTEGER);
";

impl ControlPlane {
    /// Opens (creating) the control-plane database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        Ok(ControlPlane {
            conn: Mutex::new(conn),
        })
    }

    pub(crate) fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Join("control-plane mutex poisoned".into()))
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
        self.conn()?.execute(
            "INSERT OR IGNORE INTO apps (app_id, name, pseudonym_secret, store_ip, created_at) VALUES (?, ?, ?, 0, ?)",
            params![app_id, name.unwrap_or(app_id), secret, now()],
        )?;
        self.app(app_id)?
            .ok_or_else(|| StoreError::NotFound(format!("app {app_id}")))
    }

    pub fn app(&self, app_id: &str) -> Result<Option<App>> {
        Ok(self
            .conn()?
            .query_row(
                &format!("{APP_SELECT} WHERE app_id = ?"),
                params![app_id],
                app_row,
            )
            .optional()?)
    }

    pub fn apps(&self) -> Result<Vec<App>> {
        let conn = self.conn()?;
        let mut st = conn.prepare(&format!("{APP_SELECT} ORDER BY app_id"))?;
        let rows = st
            .query_map([], app_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn set_store_ip(&self, app_id: &str, on: bool) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE apps SET store_ip = ? WHERE app_id = ?",
            params![i64::from(on), app_id],
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
        let active = self
            .keys()?
            .into_iter()
            .filter(|k| k.app_id == app_id && k.active)
            .count();
        if active >= MAX_ACTIVE_KEYS {
            return Err(StoreError::Conflict(format!(
                "app {app_id} already has {active} active keys; revoke one before creating another"
            )));
        }
        let key = IngestKey {
            key_id: format!("vk_{}", random_hex(8)),
            app_id: app_id.to_string(),
            secret: random_hex(32),
            active: true,
            created_at: now(),
            revoked_at: None,
        };
        self.conn()?.execute(
            "INSERT INTO ingest_keys (key_id, app_id, secret, active, created_at) VALUES (?, ?, ?, 1, ?)",
            params![key.key_id, key.app_id, key.secret, key.created_at],
        )?;
        Ok(key)
    }

    /// Every ingest key, active and revoked.
    pub fn keys(&self) -> Result<Vec<IngestKey>> {
        let conn = self.conn()?;
        let mut st = conn.prepare(
            "SELECT key_id, app_id, secret, active, created_at, revoked_at FROM ingest_keys ORDER BY app_id, created_at",
        )?;
        let rows = st
            .query_map([], |r| {
                Ok(IngestKey {
                    key_id: r.get(0)?,
                    app_id: r.get(1)?,
                    secret: r.get(2)?,
                    active: r.get::<_, i64>(3)? != 0,
                    created_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Revokes a key; requests signed with it are refused from then on.
    pub fn revoke_key(&self, key_id: &str) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE ingest_keys SET active = 0, revoked_at = ? WHERE key_id = ? AND active = 1",
            params![now(), key_id],
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
        self.conn()?.execute(
            "INSERT INTO api_tokens (token_hash, role, label, created_at) VALUES (?, ?, ?, ?)",
            params![token_hash(&token), role.as_str(), label, now()],
        )?;
        Ok(token)
    }

    /// The role of a valid, unrevoked token.
    pub fn token_role(&self, token: &str) -> Result<Option<Role>> {
        let role: Option<String> = self
            .conn()?
            .query_row(
                "SELECT role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                params![token_hash(token)],
                |r| r.get(0),
            )
            .optional()?;
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
        self.conn()?.execute(
            "INSERT INTO erasures (app_id, pseudonym, requested_at) VALUES (?, ?, ?)
             ON CONFLICT (app_id, pseudonym) DO UPDATE SET requested_at = excluded.requested_at, completed_at = NULL",
            params![app_id, pseudonym, now()],
        )?;
        Ok(())
    }

    pub fn complete_erasure(&self, app_id: &str, pseudonym: &str) -> Result<()> {
        self.conn()?.execute(
            "UPDATE erasures SET completed_at = ? WHERE app_id = ? AND pseudonym = ?",
            params![now(), app_id, pseudonym],
        )?;
        Ok(())
    }

    /// Every erased `(app_id, pseudonym)`.
    pub fn erasures(&self) -> Result<std::collections::HashSet<(String, String)>> {
        let conn = self.conn()?;
        let mut st = conn.prepare("SELECT app_id, pseudonym FROM erasures")?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<std::collections::HashSet<_>>>()?;
        Ok(rows)
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
