//! Columns added to control-plane tables after they were first created.
//! The DDL in [`super::schema`] creates what is missing (`IF NOT EXISTS`)
//! but never changes a table that exists, so a control plane created by an
//! older version would lack a column added later. Each such column is
//! listed here once and added where it is missing, idempotently, on both
//! backends, at every open:
//!
//! - SQLite: inside an immediate transaction (two processes opening one
//!   file cannot both add it), checked against `pragma_table_info`;
//! - PostgreSQL: `ADD COLUMN IF NOT EXISTS`, in the schema transaction
//!   under its advisory lock.
//!
//! Rows written before a column existed read it as NULL; the code reading
//! it gives NULL its meaning (e.g. no declared minimum OS).

use rusqlite::{Connection, TransactionBehavior};

/// A column added to an existing table.
pub(crate) struct AddedColumn {
    pub table: &'static str,
    pub column: &'static str,
    /// Its type, the same word on both backends.
    pub ty: &'static str,
}

/// Every column added after its table's first version, oldest first.
pub(crate) const ADDED: &[AddedColumn] = &[
    // The minimum OS version a release declares per platform, JSON
    // (`releases.rs`, the 5.2b floor).
    AddedColumn {
        table: "releases",
        column: "min_os",
        ty: "TEXT",
    },
];

/// Adds the missing columns to an SQLite control plane.
pub(crate) fn sqlite(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for c in ADDED {
        let present: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
            [c.table, c.column],
            |r| r.get(0),
        )?;
        if present == 0 {
            tx.execute_batch(&format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                c.table, c.column, c.ty
            ))?;
        }
    }
    tx.commit()
}

/// The statements that add the missing columns on PostgreSQL.
pub(crate) fn postgres() -> String {
    ADDED
        .iter()
        .map(|c| {
            format!(
                "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {};\n",
                c.table, c.column, c.ty
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The releases table as versions before `min_os` created it.
    const OLD_RELEASES: &str = "CREATE TABLE releases (
        app_id TEXT NOT NULL, version TEXT NOT NULL, build TEXT NOT NULL, notes TEXT NOT NULL,
        package_sizes TEXT NOT NULL, min_version TEXT, released_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL, PRIMARY KEY (app_id, version, build));
        INSERT INTO releases VALUES ('a', '1.0.0', '', 'n', '[]', NULL, 5, 5);";

    fn columns(conn: &Connection) -> Vec<String> {
        let mut st = conn
            .prepare("SELECT name FROM pragma_table_info('releases')")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn sqlite_adds_a_missing_column_once_and_keeps_the_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(OLD_RELEASES).unwrap();
        assert!(!columns(&conn).contains(&"min_os".to_string()));
        sqlite(&mut conn).unwrap();
        sqlite(&mut conn).unwrap();
        let cols = columns(&conn);
        assert_eq!(
            cols.iter().filter(|c| *c == "min_os").count(),
            1,
            "{cols:?}"
        );
        let (version, min_os): (String, Option<String>) = conn
            .query_row("SELECT version, min_os FROM releases", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((version.as_str(), min_os), ("1.0.0", None));
    }

    #[test]
    fn postgres_statements_are_idempotent() {
        assert_eq!(
            postgres(),
            "ALTER TABLE releases ADD COLUMN IF NOT EXISTS min_os TEXT;\n"
        );
    }
}
