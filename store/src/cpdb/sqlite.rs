//! The SQLite side of the control-plane database (`rusqlite`, bundled).

use super::{Row, Value};
use crate::{Result, StoreError};
use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// A unique or primary-key violation becomes a [`StoreError::Conflict`]
/// (as on PostgreSQL); everything else stays an SQLite error.
pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e
        && matches!(
            f.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        )
    {
        return StoreError::Conflict(msg.clone().unwrap_or_else(|| f.to_string()));
    }
    StoreError::Sqlite(e)
}

pub(crate) fn execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<usize> {
    let mut st = conn.prepare_cached(sql).map_err(error)?;
    st.execute(rusqlite::params_from_iter(params))
        .map_err(error)
}

pub(crate) fn query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let mut st = conn.prepare_cached(sql).map_err(error)?;
    let n = st.column_count();
    let mut rows = st
        .query(rusqlite::params_from_iter(params))
        .map_err(error)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(error)? {
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            vals.push(match r.get_ref(i).map_err(error)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(
                    String::from_utf8(t.to_vec())
                        .map_err(|e| StoreError::Decode(format!("column {i}: {e}")))?,
                ),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}
