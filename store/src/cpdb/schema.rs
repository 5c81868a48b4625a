//! Control-plane DDL, one per dialect; the same tables and columns, so the
//! queries are shared. Both are idempotent (`IF NOT EXISTS`).
//!
//! `signing_keys` reads SQLite's implicit `rowid` (the insertion order of
//! keys); on PostgreSQL an identity column of that name stands in for it.
//! `apps.rowid` on PostgreSQL is no longer read: Sentry project ids were
//! that counter before issue #22 and are now random, in `sentry_intake`
//! (added by this same idempotent DDL to a control plane of an older
//! version: its apps have no row there, so their Sentry intake is off
//! until an admin enables it).

/// SQLite (the embedded default).
pub(crate) const SQLITE: &str = "
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
-- leader leases and the last run of each schedule (store/src/leases.rs)
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_runs (
    name TEXT PRIMARY KEY, last_run INTEGER NOT NULL, holder TEXT NOT NULL);
-- Sentry-protocol intake per app (store/src/sentry_intake.rs); no row = off
CREATE TABLE IF NOT EXISTS sentry_intake (
    app_id TEXT PRIMARY KEY REFERENCES apps(app_id), project INTEGER NOT NULL UNIQUE,
    enabled INTEGER NOT NULL, allowed_origins TEXT NOT NULL, updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL);
-- replay ledger (store/src/replay.rs): digests of (key, nonce) and of
-- (app, batch id) acknowledged, each with its time, pruned after a window
CREATE TABLE IF NOT EXISTS ingest_nonces (
    digest BLOB PRIMARY KEY, seen_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ingest_nonces_seen ON ingest_nonces (seen_at);
CREATE TABLE IF NOT EXISTS ingest_batches (
    digest BLOB PRIMARY KEY, acked_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ingest_batches_acked ON ingest_batches (acked_at);
";

/// PostgreSQL (shared by several nodes). Run in one transaction under an
/// advisory lock, so nodes starting together do not race on the catalog.
pub(crate) const POSTGRES: &str = "
CREATE TABLE IF NOT EXISTS apps (
    app_id TEXT PRIMARY KEY, name TEXT NOT NULL, pseudonym_secret BYTEA NOT NULL,
    store_ip BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL,
    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_keys (
    key_id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(app_id), secret TEXT NOT NULL,
    active BIGINT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY, role TEXT NOT NULL, label TEXT NOT NULL,
    created_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE TABLE IF NOT EXISTS releases (
    app_id TEXT NOT NULL, version TEXT NOT NULL, build TEXT NOT NULL, notes TEXT NOT NULL,
    package_sizes TEXT NOT NULL, min_version TEXT, released_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL, PRIMARY KEY (app_id, version, build));
CREATE TABLE IF NOT EXISTS crash_groups (
    app_id TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    resolved_in TEXT, resolved_at BIGINT, merged_into TEXT, updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL, PRIMARY KEY (app_id, fingerprint));
CREATE TABLE IF NOT EXISTS erasures (
    app_id TEXT NOT NULL, pseudonym TEXT NOT NULL, requested_at BIGINT NOT NULL,
    completed_at BIGINT, PRIMARY KEY (app_id, pseudonym));
CREATE TABLE IF NOT EXISTS ops_objects (
    app_id TEXT NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL, PRIMARY KEY (app_id, kind, id));
CREATE TABLE IF NOT EXISTS ops_config_seq (
    app_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, changed_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ops_audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, app_id TEXT NOT NULL, kind TEXT NOT NULL, object_id TEXT NOT NULL,
    reason TEXT NOT NULL, alert TEXT, approved_by TEXT, pending_id TEXT, reverts BIGINT,
    before TEXT, after TEXT);
CREATE OR REPLACE FUNCTION ops_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'ops_audit'::regclass AND tgname = 'ops_audit_no_change') THEN
        CREATE TRIGGER ops_audit_no_change BEFORE UPDATE OR DELETE ON ops_audit
            FOR EACH ROW EXECUTE FUNCTION ops_audit_append_only();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = 'ops_audit'::regclass AND tgname = 'ops_audit_no_truncate') THEN
        CREATE TRIGGER ops_audit_no_truncate BEFORE TRUNCATE ON ops_audit
            FOR EACH STATEMENT EXECUTE FUNCTION ops_audit_append_only();
    END IF;
END;
$$;
CREATE TABLE IF NOT EXISTS ops_pending (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, change TEXT NOT NULL, requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL, status TEXT NOT NULL, decided_by TEXT, decided_at BIGINT,
    audit_id BIGINT);
CREATE TABLE IF NOT EXISTS alert_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL,
    rule_id TEXT NOT NULL, app_id TEXT NOT NULL, series TEXT NOT NULL, event TEXT NOT NULL,
    clause TEXT NOT NULL, value DOUBLE PRECISION, threshold DOUBLE PRECISION,
    detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, history_id BIGINT NOT NULL,
    channel TEXT NOT NULL, target TEXT NOT NULL, attempt BIGINT NOT NULL, ok BIGINT NOT NULL,
    error TEXT, at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS alert_deliveries_history ON alert_deliveries (history_id);
CREATE TABLE IF NOT EXISTS signing_keys (
    key_id TEXT PRIMARY KEY, secret BYTEA NOT NULL, created_at BIGINT NOT NULL,
    retired_at BIGINT, rowid BIGINT GENERATED BY DEFAULT AS IDENTITY NOT NULL);
CREATE TABLE IF NOT EXISTS api_token_names (
    token_hash TEXT PRIMARY KEY REFERENCES api_tokens(token_hash), name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS web_sessions (
    id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL REFERENCES users(name), csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL, expires_at BIGINT NOT NULL,
    revoked_at BIGINT);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_runs (
    name TEXT PRIMARY KEY, last_run BIGINT NOT NULL, holder TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sentry_intake (
    app_id TEXT PRIMARY KEY REFERENCES apps(app_id), project BIGINT NOT NULL UNIQUE,
    enabled BIGINT NOT NULL, allowed_origins TEXT NOT NULL, updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ingest_nonces (
    digest BYTEA PRIMARY KEY, seen_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS ingest_nonces_seen ON ingest_nonces (seen_at);
CREATE TABLE IF NOT EXISTS ingest_batches (
    digest BYTEA PRIMARY KEY, acked_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS ingest_batches_acked ON ingest_batches (acked_at);
";

/// Key of the advisory lock held while the PostgreSQL schema is created.
pub(crate) const POSTGRES_SCHEMA_LOCK: i64 = 0x7669_7461_6c73; // "vitals"
