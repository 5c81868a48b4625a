//! The control plane's small database layer: one API over the embedded
//! SQLite file (the default) and a shared PostgreSQL server (several vitals
//! nodes on one control plane).
//!
//! SQL is written once, with `?` / `?N` placeholders, in the dialect both
//! accept (`INSERT … ON CONFLICT … DO UPDATE / DO NOTHING`, `RETURNING`,
//! `CAST(? AS TEXT) IS NULL` where a parameter's type must be known,
//! integers as BIGINT); for PostgreSQL the placeholders are rewritten to
//! `$1..$n` ([`to_dollar`]). Only the DDL differs ([`schema`]).
//!
//! Why not sqlx: its SQLite driver links its own `libsqlite3-sys`, which
//! conflicts with the bundled one `rusqlite` (the telemetry store) links, so
//! PostgreSQL goes through the synchronous `postgres` crate on a pool of
//! dedicated threads ([`postgres`]).

pub(crate) mod migrate;
pub(crate) mod postgres;
pub(crate) mod schema;
pub(crate) mod sqlite;

use crate::{Result, StoreError};
use std::borrow::Cow;
use std::sync::Mutex;

/// One parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// Conversion of a Rust value into a parameter (borrowing, like
/// `rusqlite::params!`).
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// `params![a, b, …]`: an array of [`Value`]s (each argument borrowed).
macro_rules! params {
    () => {{
        let p: [$crate::cpdb::Value; 0] = [];
        p
    }};
    ($($x:expr),+ $(,)?) => {
        [$($crate::cpdb::ToValue::to_value(&$x)),+]
    };
}
pub(crate) use params;

/// Conversion of a column value into a Rust value; `None` on a type
/// mismatch.
pub(crate) trait FromValue: Sized {
    const EXPECTED: &'static str;
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const EXPECTED: &'static str = "integer";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    const EXPECTED: &'static str = "integer in 0..=4294967295";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => u32::try_from(*i).ok(),
            _ => None,
        }
    }
}

impl FromValue for bool {
    const EXPECTED: &'static str = "integer (boolean)";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl FromValue for f64 {
    const EXPECTED: &'static str = "real";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Real(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    const EXPECTED: &'static str = "text";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const EXPECTED: &'static str = "blob";
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row, owned (it crosses threads from the PostgreSQL pool).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `i` as `T`; a [`StoreError::Decode`] when it is missing or of
    /// another type (never a panic).
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).ok_or_else(|| {
            StoreError::Decode(format!("column {i} missing ({} columns)", self.0.len()))
        })?;
        T::from_value(v).ok_or_else(|| {
            StoreError::Decode(format!(
                "column {i}: expected {}, found {}",
                T::EXPECTED,
                v.type_name()
            ))
        })
    }
}

/// Which SQL dialect a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The database's clock in Unix seconds, as an SQL expression (leases
    /// use the shared database's clock, not each node's).
    pub(crate) fn now_secs(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CAST(strftime('%s', 'now') AS BIGINT)",
            // FLOOR: a numeric cast to BIGINT rounds, which would put
            // PostgreSQL's "now" up to half a second ahead of SQLite's.
            Dialect::Postgres => "CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)",
        }
    }
}

/// The backend.
pub(crate) enum Db {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(postgres::Pool),
}

impl Db {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    fn sqlite(
        m: &Mutex<rusqlite::Connection>,
    ) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>> {
        m.lock()
            .map_err(|_| StoreError::Join("control-plane mutex poisoned".into()))
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        match self {
            Db::Sqlite(m) => sqlite::execute(&*Self::sqlite(m)?, sql, params),
            Db::Postgres(pool) => {
                let (sql, params) = (to_dollar(sql).into_owned(), params.to_vec());
                pool.run(move |c| postgres::execute(c, &sql, &params))
            }
        }
    }

    /// Every row of a query (or of a statement with `RETURNING`).
    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match self {
            Db::Sqlite(m) => sqlite::query(&*Self::sqlite(m)?, sql, params),
            Db::Postgres(pool) => {
                let (sql, params) = (to_dollar(sql).into_owned(), params.to_vec());
                pool.run(move |c| postgres::query(c, &sql, &params))
            }
        }
    }

    /// The first row, if any.
    pub(crate) fn query_opt(&self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs `f` in one transaction, committed when it returns `Ok` and
    /// rolled back otherwise. On PostgreSQL the whole closure runs on one
    /// pool connection (hence `Send + 'static`: move owned data in).
    pub(crate) fn transaction<R, F>(&self, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<R> + Send + 'static,
    {
        match self {
            Db::Sqlite(m) => {
                let mut conn = Self::sqlite(m)?;
                // IMMEDIATE: the write lock is taken up front, so a
                // read-then-write cannot be overtaken by another process.
                let t = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let mut tx = Tx(TxInner::Sqlite(t));
                let r = f(&mut tx)?;
                tx.commit()?;
                Ok(r)
            }
            Db::Postgres(pool) => pool.run(move |c| {
                let t = c.transaction().map_err(postgres::error)?;
                let mut tx = Tx(TxInner::Postgres(t));
                let r = f(&mut tx)?;
                tx.commit()?;
                Ok(r)
            }),
        }
    }
}

/// An open transaction (see [`Db::transaction`]).
pub(crate) struct Tx<'a>(TxInner<'a>);

enum TxInner<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(::postgres::Transaction<'a>),
}

impl Tx<'_> {
    pub(crate) fn execute(&mut self, sql: &str, params: &[Value]) -> Result<usize> {
        match &mut self.0 {
            TxInner::Sqlite(t) => sqlite::execute(t, sql, params),
            TxInner::Postgres(t) => postgres::execute(t, &to_dollar(sql), params),
        }
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        match &mut self.0 {
            TxInner::Sqlite(t) => sqlite::query(t, sql, params),
            TxInner::Postgres(t) => postgres::query(t, &to_dollar(sql), params),
        }
    }

    pub(crate) fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Serialises transactions on `key` until this one ends: a PostgreSQL
    /// transaction-scoped advisory lock (so a read-then-write of one object
    /// on two nodes cannot interleave, even when the row does not exist
    /// yet). SQLite transactions are IMMEDIATE, serialised already.
    pub(crate) fn lock(&mut self, key: &str) -> Result<()> {
        match &mut self.0 {
            TxInner::Sqlite(_) => Ok(()),
            // Wrapped: the lock function returns `void`, not a column type.
            TxInner::Postgres(t) => postgres::query(
                t,
                "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS l",
                &[Value::Text(key.to_string())],
            )
            .map(drop),
        }
    }

    fn commit(self) -> Result<()> {
        match self.0 {
            TxInner::Sqlite(t) => Ok(t.commit()?),
            TxInner::Postgres(t) => t.commit().map_err(postgres::error),
        }
    }
}

/// Rewrites `?` / `?N` placeholders to PostgreSQL's `$N`, outside string
/// literals, quoted identifiers and comments. Numbering follows SQLite: a
/// bare `?` is one more than the largest number so far.
pub(crate) fn to_dollar(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut i, mut last, mut max) = (0, 0, 0u32);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                // To the closing quote; a doubled quote inside is an escape
                // and simply re-enters the literal on the next iteration.
                let end = b[i + 1..]
                    .iter()
                    .position(|&c| c == q)
                    .map_or(b.len(), |p| i + 1 + p + 1);
                i = end;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            }
            b'?' => {
                out.push_str(&sql[last..i]);
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                let n = match sql[i + 1..i + 1 + digits].parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => max + 1,
                };
                max = max.max(n);
                out.push('$');
                out.push_str(&n.to_string());
                i += 1 + digits;
                last = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_literals_and_comments() {
        assert_eq!(
            to_dollar("SELECT a FROM t WHERE b = ? AND c = '?' AND d = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND d = $2"
        );
        assert_eq!(
            to_dollar("WHERE (CAST(?1 AS TEXT) IS NULL OR a = ?1) LIMIT ?2"),
            "WHERE (CAST($1 AS TEXT) IS NULL OR a = $1) LIMIT $2"
        );
        assert_eq!(
            to_dollar("SELECT 'it''s ?', \"q?\" -- ?\n, ? /* ? */, ?"),
            "SELECT 'it''s ?', \"q?\" -- ?\n, $1 /* ? */, $2"
        );
        assert_eq!(to_dollar("?3, ?"), "$3, $4");
        assert_eq!(to_dollar("no params"), "no params");
        assert_eq!(to_dollar("'unterminated ?"), "'unterminated ?");
    }

    #[test]
    fn getters_report_type_mismatches() {
        let row = Row(vec![
            Value::Int(7),
            Value::Text("x".into()),
            Value::Null,
            Value::Int(-1),
        ]);
        assert_eq!(row.get::<i64>(0).unwrap(), 7);
        assert_eq!(row.get::<Option<String>>(2).unwrap(), None);
        let e = row.get::<String>(0).unwrap_err().to_string();
        assert!(e.contains("expected text, found integer"), "{e}");
        assert!(matches!(row.get::<i64>(9), Err(StoreError::Decode(_))));
        assert!(matches!(row.get::<u32>(3), Err(StoreError::Decode(_))));
        assert!(matches!(row.get::<String>(2), Err(StoreError::Decode(_))));
        let p = params![1i64, "a", None::<String>, true, &[1u8, 2][..]];
        assert_eq!(p[2], Value::Null);
        assert_eq!(p[3], Value::Int(1));
        assert_eq!(p[4], Value::Blob(vec![1, 2]));
    }
}
