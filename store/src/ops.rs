//! Operations state in the control plane (clauses 5.4, 5.5, 6.2b, 6.4.1e):
//!
//! * versioned **objects** — sites, rollouts, emergency directives, kill
//!   switches, version channels, alert rules — as JSON documents keyed by
//!   `(app, kind, id)`; the services in `control/` and `alerts/` own their
//!   shapes, the store only keeps them;
//! * a per-app **config sequence** bumped by every change clients see;
//! * the **append-only audit log** (triggers refuse UPDATE and DELETE, on
//!   SQLite and on PostgreSQL): who, when, why, triggering alert, state before and after;
//! * **pending actions** awaiting a second operator's approval;
//! * **alert history** and **delivery attempts**;
//! * **Ed25519 signing keys** of the client config;
//! * **names of API tokens**, the identities behind two-person approval.
//!
//! Every change that clients see goes through [`ControlPlane::apply_change`]:
//! one transaction writes the object, bumps the sequence and appends the
//! audit entry, so the log can never disagree with the state.

use crate::control::{AuthFailure, ControlPlane, Role, now};
use crate::cpdb::{Row, params};
use crate::{Result, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One stored object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    pub app_id: String,
    pub kind: String,
    pub id: String,
    pub body: Value,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A change of one object, as requested, applied or awaiting approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub app_id: String,
    pub kind: String,
    pub object_id: String,
    /// Dotted action name, e.g. `emergency.activate`.
    pub action: String,
    /// The new body; `None` deletes the object.
    pub after: Option<Value>,
    pub reason: String,
    /// The alert (rule id and history id) that triggered it, if any.
    #[serde(default)]
    pub alert: Option<String>,
    /// Whether clients see this kind (bumps the config sequence).
    #[serde(default = "yes")]
    pub client_visible: bool,
}

fn yes() -> bool {
    true
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub app_id: String,
    pub kind: String,
    pub object_id: String,
    pub reason: String,
    pub alert: Option<String>,
    pub approved_by: Option<String>,
    pub pending_id: Option<String>,
    /// The entry this one reverted.
    pub reverts: Option<i64>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Who and how a change is applied.
#[derive(Debug, Clone, Default)]
pub struct Applied<'a> {
    pub actor: &'a str,
    pub approved_by: Option<&'a str>,
    pub pending_id: Option<&'a str>,
    pub reverts: Option<i64>,
}

/// An action awaiting approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    pub app_id: String,
    pub change: Change,
    pub requested_by: String,
    pub requested_at: i64,
    /// `pending`, `approved`, `rejected`.
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub audit_id: Option<i64>,
}

/// One alert event: fired, renotified, recovered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    #[serde(default)]
    pub id: i64,
    pub at: i64,
    pub rule_id: String,
    pub app_id: String,
    /// What the rule was evaluated on, e.g. `release=2.1.0`.
    pub series: String,
    /// `fired`, `renotified`, `recovered`, `action`.
    pub event: String,
    pub clause: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub detail: Value,
}

/// Which alert events to list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AlertFilter {
    pub app_id: Option<String>,
    pub rule_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<u32>,
}

/// One delivery attempt of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub history_id: i64,
    /// `email`, `webhook`, `wecom`, `dingtalk`.
    pub channel: String,
    pub target: String,
    pub attempt: u32,
    pub ok: bool,
    pub error: Option<String>,
    pub at: i64,
}

/// A signing key (the 32-byte Ed25519 seed; never leaves the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    pub key_id: String,
    pub secret: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// Who an API token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub name: String,
    pub role: Role,
}

fn json_text(v: &Value) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn parse_json(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

fn audit_row(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        app_id: r.get(4)?,
        kind: r.get(5)?,
        object_id: r.get(6)?,
        reason: r.get(7)?,
        alert: r.get(8)?,
        approved_by: r.get(9)?,
        pending_id: r.get(10)?,
        reverts: r.get(11)?,
        before: parse_json(r.get(12)?),
        after: parse_json(r.get(13)?),
    })
}

const AUDIT_COLS: &str = "id, at, actor, action, app_id, kind, object_id, reason, alert, approved_by, pending_id, reverts, before, after";

const OBJECT_COLS: &str = "app_id, kind, id, body, updated_at, updated_by";

fn object_row(r: &Row) -> Result<Object> {
    let body: String = r.get(3)?;
    Ok(Object {
        app_id: r.get(0)?,
        kind: r.get(1)?,
        id: r.get(2)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        updated_at: r.get(4)?,
        updated_by: r.get(5)?,
    })
}

const PENDING_COLS: &str =
    "id, app_id, change, requested_by, requested_at, status, decided_by, decided_at, audit_id";

fn pending_row(r: &Row) -> Result<Option<Pending>> {
    let change: String = r.get(2)?;
    let Ok(change) = serde_json::from_str(&change) else {
        return Ok(None);
    };
    Ok(Some(Pending {
        id: r.get(0)?,
        app_id: r.get(1)?,
        change,
        requested_by: r.get(3)?,
        requested_at: r.get(4)?,
        status: r.get(5)?,
        decided_by: r.get(6)?,
        decided_at: r.get(7)?,
        audit_id: r.get(8)?,
    }))
}

/// Upsert of an object (shared by `put_state` and `apply_change`).
const PUT_OBJECT: &str = "INSERT INTO ops_objects (app_id, kind, id, body, updated_at, updated_by)
     VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (app_id, kind, id) DO UPDATE SET body = excluded.body,
       updated_at = excluded.updated_at, updated_by = excluded.updated_by";

const BUMP_SEQ: &str = "INSERT INTO ops_config_seq (app_id, seq, changed_at) VALUES (?, 1, ?)
     ON CONFLICT (app_id) DO UPDATE SET seq = ops_config_seq.seq + 1,
       changed_at = excluded.changed_at";

impl ControlPlane {
    /// One object.
    pub fn object(&self, app_id: &str, kind: &str, id: &str) -> Result<Option<Object>> {
        self.db
            .query_opt(
                &format!(
                    "SELECT {OBJECT_COLS} FROM ops_objects WHERE app_id = ? AND kind = ? AND id = ?"
                ),
                &params![app_id, kind, id],
            )?
            .as_ref()
            .map(object_row)
            .transpose()
    }

    /// Every object of a kind, of one app or (`None`) of all apps.
    pub fn objects(&self, app_id: Option<&str>, kind: &str) -> Result<Vec<Object>> {
        self.db
            .query(
                &format!(
                    "SELECT {OBJECT_COLS} FROM ops_objects
                     WHERE kind = ?1 AND (CAST(?2 AS TEXT) IS NULL OR app_id = ?2) ORDER BY app_id, id"
                ),
                &params![kind, app_id],
            )?
            .iter()
            .map(object_row)
            .collect()
    }

    /// Writes an object without an audit entry: internal state such as
    /// probe counters and alert states, which are not actions.
    pub fn put_state(&self, app_id: &str, kind: &str, id: &str, body: &Value) -> Result<()> {
        self.db.execute(
            PUT_OBJECT,
            &params![app_id, kind, id, json_text(body)?, now(), "system"],
        )?;
        Ok(())
    }

    /// Applies a change in one transaction: object, config sequence, audit
    /// entry. Returns the audit entry.
    pub fn apply_change(&self, c: &Change, how: &Applied<'_>) -> Result<AuditEntry> {
        let after = c.after.as_ref().map(json_text).transpose()?;
        // The transaction may run on a pool thread: it takes owned copies.
        let c = c.clone();
        let (actor, approved_by, pending_id, reverts) = (
            how.actor.to_string(),
            how.approved_by.map(str::to_string),
            how.pending_id.map(str::to_string),
            how.reverts,
        );
        let id = self.db.transaction(move |tx| {
            // Object changes are serialised, so `before` is the state this
            // change replaced even with several nodes writing.
            tx.lock(&format!("ops_objects:{}/{}/{}", c.app_id, c.kind, c.object_id))?;
            let at = now();
            let before: Option<String> = tx
                .query_opt(
                    "SELECT body FROM ops_objects WHERE app_id = ? AND kind = ? AND id = ?",
                    &params![c.app_id, c.kind, c.object_id],
                )?
                .map(|r| r.get(0))
                .transpose()?;
            match &after {
                Some(body) => tx.execute(
                    PUT_OBJECT,
                    &params![c.app_id, c.kind, c.object_id, body, at, actor],
                )?,
                None => tx.execute(
                    "DELETE FROM ops_objects WHERE app_id = ? AND kind = ? AND id = ?",
                    &params![c.app_id, c.kind, c.object_id],
                )?,
            };
            if c.client_visible {
                tx.execute(BUMP_SEQ, &params![c.app_id, at])?;
            }
            let id: i64 = tx
                .query_opt(
                    "INSERT INTO ops_audit (at, actor, action, app_id, kind, object_id, reason, alert,
                       approved_by, pending_id, reverts, before, after)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    &params![
                        at,
                        actor,
                        c.action,
                        c.app_id,
                        c.kind,
                        c.object_id,
                        c.reason,
                        c.alert,
                        approved_by,
                        pending_id,
                        reverts,
                        before,
                        after
                    ],
                )?
                .ok_or_else(|| StoreError::Decode("INSERT … RETURNING id gave no row".into()))?
                .get(0)?;
            if let Some(p) = &pending_id {
                tx.execute(
                    "UPDATE ops_pending SET audit_id = ? WHERE id = ?",
                    &params![id, p],
                )?;
            }
            Ok(id)
        })?;
        self.audit_entry(id)?
            .ok_or_else(|| StoreError::NotFound(format!("audit entry {id}")))
    }

    /// The app's config sequence and the time of its last change.
    pub fn config_seq(&self, app_id: &str) -> Result<(i64, i64)> {
        match self.db.query_opt(
            "SELECT seq, changed_at FROM ops_config_seq WHERE app_id = ?",
            &params![app_id],
        )? {
            Some(r) => Ok((r.get(0)?, r.get(1)?)),
            None => Ok((0, 0)),
        }
    }

    /// Bumps the config sequence without an object change (e.g. a site's
    /// health changed).
    pub fn bump_config_seq(&self, app_id: &str) -> Result<()> {
        self.db.execute(BUMP_SEQ, &params![app_id, now()])?;
        Ok(())
    }

    pub fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>> {
        self.db
            .query_opt(
                &format!("SELECT {AUDIT_COLS} FROM ops_audit WHERE id = ?"),
                &params![id],
            )?
            .as_ref()
            .map(audit_row)
            .transpose()
    }

    /// The audit log, newest first.
    pub fn audit(&self, app_id: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        self.db
            .query(
                &format!(
                    "SELECT {AUDIT_COLS} FROM ops_audit WHERE (CAST(?1 AS TEXT) IS NULL OR app_id = ?1)
                     ORDER BY id DESC LIMIT ?2"
                ),
                &params![app_id, limit],
            )?
            .iter()
            .map(audit_row)
            .collect()
    }

    /// Records an action awaiting approval; returns its id.
    pub fn create_pending(&self, c: &Change, requested_by: &str) -> Result<Pending> {
        let id = format!(
            "act_{}",
            &hex::encode(Sha256::digest(format!(
                "{c:?}{}{}",
                now(),
                rand::random::<u64>()
            )))[..16]
        );
        let change = serde_json::to_string(c).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.db.execute(
            "INSERT INTO ops_pending (id, app_id, change, requested_by, requested_at, status)
             VALUES (?, ?, ?, ?, ?, 'pending')",
            &params![id, c.app_id, change, requested_by, now()],
        )?;
        self.pending(&id)?
            .ok_or_else(|| StoreError::NotFound(format!("pending action {id}")))
    }

    pub fn pending(&self, id: &str) -> Result<Option<Pending>> {
        Ok(self
            .db
            .query_opt(
                &format!("SELECT {PENDING_COLS} FROM ops_pending WHERE id = ?"),
                &params![id],
            )?
            .as_ref()
            .map(pending_row)
            .transpose()?
            .flatten())
    }

    /// Actions of an app (or all), newest first; `only_open` keeps those
    /// still awaiting a decision.
    pub fn pendings(&self, app_id: Option<&str>, only_open: bool) -> Result<Vec<Pending>> {
        let rows = self.db.query(
            &format!(
                "SELECT {PENDING_COLS} FROM ops_pending
                 WHERE (CAST(?1 AS TEXT) IS NULL OR app_id = ?1)
                   AND (CAST(?2 AS BIGINT) = 0 OR status = 'pending')
                 ORDER BY requested_at DESC, id"
            ),
            &params![app_id, only_open],
        )?;
        let mut out = Vec::new();
        for r in &rows {
            out.extend(pending_row(r)?);
        }
        Ok(out)
    }

    /// Marks a pending action decided; false if it was no longer pending
    /// (decided concurrently).
    pub fn decide_pending(&self, id: &str, status: &str, by: &str) -> Result<bool> {
        let n = self.db.execute(
            "UPDATE ops_pending SET status = ?, decided_by = ?, decided_at = ?
             WHERE id = ? AND status = 'pending'",
            &params![status, by, now(), id],
        )?;
        Ok(n == 1)
    }

    /// Appends an alert event; returns its id.
    pub fn record_alert(&self, e: &AlertEvent) -> Result<i64> {
        self.db
            .query_opt(
                "INSERT INTO alert_history (at, rule_id, app_id, series, event, clause, value, threshold, detail)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                &params![
                    e.at,
                    e.rule_id,
                    e.app_id,
                    e.series,
                    e.event,
                    e.clause,
                    e.value,
                    e.threshold,
                    json_text(&e.detail)?
                ],
            )?
            .ok_or_else(|| StoreError::Decode("INSERT … RETURNING id gave no row".into()))?
            .get(0)
    }

    /// Alert events, newest first.
    pub fn alert_history(&self, f: &AlertFilter) -> Result<Vec<AlertEvent>> {
        self.db
            .query(
                "SELECT id, at, rule_id, app_id, series, event, clause, value, threshold, detail
                 FROM alert_history
                 WHERE (CAST(?1 AS TEXT) IS NULL OR app_id = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR rule_id = ?2)
                   AND (CAST(?3 AS BIGINT) IS NULL OR at >= ?3)
                   AND (CAST(?4 AS BIGINT) IS NULL OR at <= ?4)
                 ORDER BY id DESC LIMIT ?5",
                &params![
                    f.app_id,
                    f.rule_id,
                    f.since,
                    f.until,
                    f.limit.unwrap_or(100)
                ],
            )?
            .iter()
            .map(|r| {
                Ok(AlertEvent {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    rule_id: r.get(2)?,
                    app_id: r.get(3)?,
                    series: r.get(4)?,
                    event: r.get(5)?,
                    clause: r.get(6)?,
                    value: r.get(7)?,
                    threshold: r.get(8)?,
                    detail: parse_json(r.get(9)?).unwrap_or(Value::Null),
                })
            })
            .collect()
    }

    pub fn record_delivery(&self, d: &Delivery) -> Result<()> {
        self.db.execute(
            "INSERT INTO alert_deliveries (history_id, channel, target, attempt, ok, error, at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            &params![
                d.history_id,
                d.channel,
                d.target,
                d.attempt,
                d.ok,
                d.error,
                d.at
            ],
        )?;
        Ok(())
    }

    /// Delivery attempts of one alert event.
    pub fn deliveries(&self, history_id: i64) -> Result<Vec<Delivery>> {
        self.db
            .query(
                "SELECT history_id, channel, target, attempt, ok, error, at FROM alert_deliveries
                 WHERE history_id = ? ORDER BY id",
                &params![history_id],
            )?
            .iter()
            .map(|r| {
                Ok(Delivery {
                    history_id: r.get(0)?,
                    channel: r.get(1)?,
                    target: r.get(2)?,
                    attempt: r.get(3)?,
                    ok: r.get(4)?,
                    error: r.get(5)?,
                    at: r.get(6)?,
                })
            })
            .collect()
    }

    /// Signing keys, newest first (retired ones included).
    pub fn signing_keys(&self) -> Result<Vec<SigningKeyRow>> {
        self.db
            .query(
                "SELECT key_id, secret, created_at, retired_at FROM signing_keys
                 ORDER BY created_at DESC, rowid DESC",
                &params![],
            )?
            .iter()
            .map(|r| {
                Ok(SigningKeyRow {
                    key_id: r.get(0)?,
                    secret: r.get(1)?,
                    created_at: r.get(2)?,
                    retired_at: r.get(3)?,
                })
            })
            .collect()
    }

    pub fn add_signing_key(&self, key_id: &str, secret: &[u8]) -> Result<()> {
        self.db.execute(
            "INSERT INTO signing_keys (key_id, secret, created_at) VALUES (?, ?, ?)",
            &params![key_id, secret, now()],
        )?;
        Ok(())
    }

    /// Adds the first signing key, unless an unretired one exists already:
    /// read and insert under one lock, so nodes starting together on a
    /// fresh control plane make one key between them, not one each.
    /// Returns whether this key was added.
    pub fn add_first_signing_key(&self, key_id: &str, secret: &[u8]) -> Result<bool> {
        let (key_id, secret, at) = (key_id.to_string(), secret.to_vec(), now());
        self.db.transaction(move |tx| {
            tx.lock("signing_keys")?;
            if tx
                .query_opt(
                    "SELECT key_id FROM signing_keys WHERE retired_at IS NULL LIMIT 1",
                    &params![],
                )?
                .is_some()
            {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO signing_keys (key_id, secret, created_at) VALUES (?, ?, ?)",
                &params![key_id, secret, at],
            )?;
            Ok(true)
        })
    }

    pub fn retire_signing_key(&self, key_id: &str) -> Result<()> {
        let n = self.db.execute(
            "UPDATE signing_keys SET retired_at = ? WHERE key_id = ? AND retired_at IS NULL",
            &params![now(), key_id],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("signing key {key_id}")));
        }
        Ok(())
    }

    /// Creates an API token for a named person or system; names are unique,
    /// so "requested by A, approved by B" can be checked.
    pub fn create_named_token(&self, role: Role, name: &str) -> Result<String> {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "token name must be 1-64 characters".into(),
            ));
        }
        // Token and name commit together: a taken name leaves no orphan
        // unnamed token behind.
        let token = format!("vt_{}", crate::control::random_hex(24));
        let hash = crate::control::token_hash(&token);
        let name = name.to_string();
        self.db.transaction(move |tx| {
            let taken = tx.query_opt(
                "SELECT name FROM api_token_names WHERE name = ?",
                &params![name],
            )?;
            if taken.is_some() {
                return Err(StoreError::Conflict(format!("token name {name} is taken")));
            }
            tx.execute(
                "INSERT INTO api_tokens (token_hash, role, label, created_at) VALUES (?, ?, ?, ?)",
                &params![hash, role.as_str(), name, now()],
            )?;
            // A concurrent creation of the same name fails here on the
            // UNIQUE constraint, also as a Conflict.
            tx.execute(
                "INSERT INTO api_token_names (token_hash, name) VALUES (?, ?)",
                &params![hash, name],
            )?;
            Ok(())
        })?;
        Ok(token)
    }

    /// Checks an `Authorization` header for `needed` and names its holder:
    /// the token's name, or `token:<hash prefix>` for unnamed tokens (each
    /// token is then its own identity).
    pub fn identify(&self, header: Option<&str>, needed: Role) -> Result<Identity, AuthFailure> {
        let role = self.authorize(header, needed)?;
        let token = header
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let hash = crate::control::token_hash(token);
        let name: Option<String> = self
            .db
            .query_opt(
                "SELECT name FROM api_token_names WHERE token_hash = ?",
                &params![hash],
            )
            .and_then(|r| r.map(|r| r.get(0)).transpose())
            .map_err(|e| AuthFailure::Store(e.to_string()))?;
        Ok(Identity {
            name: name.unwrap_or_else(|| format!("token:{}", &hash[..12])),
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cp() -> (tempfile::TempDir, ControlPlane) {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = ControlPlane::open(dir.path().join("control.sqlite")).expect("open");
        (dir, cp)
    }

    #[test]
    fn changes_are_audited_with_before_and_after_and_log_is_append_only() {
        let (_d, cp) = cp();
        let c = Change {
            app_id: "a".into(),
            kind: "kill_switch".into(),
            object_id: "trade".into(),
            action: "kill_switch.set".into(),
            after: Some(json!({"enabled": false})),
            reason: "incident".into(),
            alert: None,
            client_visible: true,
        };
        let e1 = cp
            .apply_change(
                &c,
                &Applied {
                    actor: "alice",
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(e1.before, None);
        let c2 = Change {
            after: Some(json!({"enabled": true})),
            ..c.clone()
        };
        let e2 = cp
            .apply_change(
                &c2,
                &Applied {
                    actor: "bob",
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(e2.before, Some(json!({"enabled": false})));
        assert_eq!(cp.config_seq("a").unwrap().0, 2);
        assert_eq!(cp.audit(Some("a"), 10).unwrap().len(), 2);
        assert!(cp.db.execute("DELETE FROM ops_audit", &[]).is_err());
        assert!(
            cp.db
                .execute("UPDATE ops_audit SET actor = 'x'", &[])
                .is_err()
        );
    }

    #[test]
    fn only_the_first_signing_key_is_added_as_first() {
        let (_d, cp) = cp();
        assert!(cp.add_first_signing_key("k1", &[1; 32]).unwrap());
        assert!(!cp.add_first_signing_key("k2", &[2; 32]).unwrap());
        assert_eq!(cp.signing_keys().unwrap().len(), 1);
        cp.retire_signing_key("k1").unwrap();
        assert!(cp.add_first_signing_key("k3", &[3; 32]).unwrap());
        let live: Vec<String> = cp
            .signing_keys()
            .unwrap()
            .into_iter()
            .filter(|k| k.retired_at.is_none())
            .map(|k| k.key_id)
            .collect();
        assert_eq!(live, ["k3"]);
    }

    #[test]
    fn named_tokens_are_unique_identities() {
        let (_d, cp) = cp();
        let a = cp.create_named_token(Role::Operator, "alice").unwrap();
        assert!(matches!(
            cp.create_named_token(Role::Operator, "alice"),
            Err(StoreError::Conflict(_))
        ));
        let id = cp
            .identify(Some(&format!("Bearer {a}")), Role::Viewer)
            .unwrap();
        assert_eq!(id.name, "alice");
        let anon = cp.create_token(Role::Admin, "cli").unwrap();
        let id2 = cp
            .identify(Some(&format!("Bearer {anon}")), Role::Operator)
            .unwrap();
        assert!(id2.name.starts_with("token:"));
        assert!(matches!(
            cp.identify(Some(&format!("Bearer {a}")), Role::Admin),
            Err(AuthFailure::Forbidden { .. })
        ));
    }
}
