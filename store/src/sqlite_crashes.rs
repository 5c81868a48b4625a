//! SQLite side of re-symbolication: finding crash rows that name a missing
//! debug file, and rewriting them in one transaction. The rollup triggers
//! fire on INSERT and DELETE only, and no rollup reads the columns an
//! update changes, so the rollups stay exact.

use crate::{CrashRewrite, CrashRowKey, Result, StoredCrash, missing_file_needle};
use rusqlite::{Connection, params};

/// See [`crate::Store::crashes_missing_files`].
pub(crate) fn missing_files(
    c: &mut Connection,
    app_id: &str,
    after: Option<&CrashRowKey>,
    limit: u32,
) -> Result<Vec<StoredCrash>> {
    // No cursor: every row is after ts -1.
    let (ts, batch, seq) = after.map_or((-1i64, "", -1i64), |k| {
        (i64::from(k.ts), k.batch_id.as_str(), i64::from(k.seq))
    });
    let mut st = c.prepare_cached(
        "SELECT batch_id, seq, ts, version, build, crash_id, exception_type, message,
                fingerprint, payload
         FROM events
         WHERE app_id = ?1 AND kind = 'crash' AND instr(payload, ?2) > 0
           AND (ts > ?3 OR (ts = ?3 AND (batch_id > ?4 OR (batch_id = ?4 AND seq > ?5))))
         ORDER BY ts, batch_id, seq
         LIMIT ?6",
    )?;
    let rows = st
        .query_map(
            params![
                app_id,
                missing_file_needle(),
                ts,
                batch,
                seq,
                i64::from(limit)
            ],
            |r| {
                Ok(StoredCrash {
                    key: CrashRowKey {
                        batch_id: r.get(0)?,
                        seq: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                        ts: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                        version: r.get(3)?,
                        build: r.get(4)?,
                    },
                    crash_id: r.get(5)?,
                    exception_type: r.get(6)?,
                    message: r.get(7)?,
                    fingerprint: r.get(8)?,
                    payload: r.get(9)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// See [`crate::Store::rewrite_crashes`]: all rows or none.
pub(crate) fn rewrite(c: &mut Connection, app_id: &str, rewrites: &[CrashRewrite]) -> Result<()> {
    if rewrites.is_empty() {
        return Ok(());
    }
    let tx = c.transaction()?;
    {
        // Every key column of the `events_release` index is given, so each
        // update is an index lookup.
        let mut up = tx.prepare_cached(
            "UPDATE events SET payload = ?, fingerprint = ?, exception_type = ?, message = ?
             WHERE app_id = ? AND kind = 'crash' AND version = ? AND build = ? AND ts = ?
               AND batch_id = ? AND seq = ?",
        )?;
        for w in rewrites {
            up.execute(params![
                w.payload,
                w.fingerprint,
                w.exception_type,
                w.message,
                app_id,
                w.key.version,
                w.key.build,
                i64::from(w.key.ts),
                w.key.batch_id,
                i64::from(w.key.seq),
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
