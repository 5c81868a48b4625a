//! Session identity: every session is counted once, however often its
//! signals arrive (docs/METRICS.md, "Sessions").
//!
//! A session is identified by (app, install id, session id). Its signals are
//! its start, its end and any fatal crash event that names it. The store
//! keeps a small ledger per session key (`session_ledger`: counted, crashed,
//! abnormal) and, as each chunk of batches is written, marks on the rows
//! which signal first established each fact:
//!
//! - `s_new` on the first signal of the session (the session is counted);
//! - `s_crash` on the first crash signal: an end with status `crashed`, or a
//!   fatal crash event naming the session;
//! - `s_abn` on the first end with status `abnormal`.
//!
//! The rollups and the raw path count these flags, so a start re-sent in a
//! later batch, an end re-sent after a lost acknowledgement, or a crash whose
//! session never sent its end all count exactly once. A fatal crash event is
//! not a session row; when it establishes a fact (the session was not yet
//! counted or not yet crashed), the store writes one *derived* session row
//! for it (`session_phase = 'crash'`, sequence number with the high bit set,
//! no crash detail), so every session count reads session rows only.

use crate::row::EventRow;
use std::borrow::Cow;
use std::collections::HashMap;

/// `session_phase` of a derived row (a fatal crash naming the session).
pub const DERIVED_PHASE: &str = "crash";
/// Bit set in the `seq` of a derived row (client sequence numbers are
/// batch positions, far below it).
pub const DERIVED_SEQ_BIT: u32 = 1 << 31;

/// (app id, install id, session id).
pub(crate) type SessionKey = (String, String, String);

/// What the ledger knows of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SessionState {
    pub counted: bool,
    pub crashed: bool,
    pub abnormal: bool,
}

impl SessionState {
    fn merge(self, o: SessionState) -> SessionState {
        SessionState {
            counted: self.counted || o.counted,
            crashed: self.crashed || o.crashed,
            abnormal: self.abnormal || o.abnormal,
        }
    }
}

/// Merges ledger rows (several per key on ClickHouse) into one state each.
pub(crate) fn fold(
    rows: impl IntoIterator<Item = (SessionKey, SessionState)>,
) -> HashMap<SessionKey, SessionState> {
    let mut out: HashMap<SessionKey, SessionState> = HashMap::new();
    for (k, s) in rows {
        let e = out.entry(k).or_default();
        *e = e.merge(s);
    }
    out
}

fn signal_key(r: &EventRow<'_>) -> Option<SessionKey> {
    let is_signal = match r.kind {
        "session" => true,
        "crash" => r.fatal == 1,
        _ => false,
    };
    (is_signal && !r.session_id.is_empty()).then(|| {
        (
            r.app_id.to_string(),
            r.install_id.to_string(),
            r.session_id.to_string(),
        )
    })
}

/// The distinct session keys the rows carry signals for.
pub(crate) fn keys(rows: &[EventRow<'_>]) -> Vec<SessionKey> {
    let mut seen = std::collections::HashSet::new();
    rows.iter()
        .filter_map(signal_key)
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

/// Sets the counting flags on `rows` (in order) from the stored `states`,
/// which it updates. Returns the derived rows to write with them and the
/// states that changed (to append to the ledger).
pub(crate) fn assign<'a>(
    rows: &mut [EventRow<'a>],
    states: &mut HashMap<SessionKey, SessionState>,
) -> (Vec<EventRow<'a>>, Vec<Changed<'a>>) {
    let mut derived = Vec::new();
    let mut changed: HashMap<SessionKey, (SessionState, &'a str)> = HashMap::new();
    for r in rows.iter_mut() {
        let Some(key) = signal_key(r) else { continue };
        let st = states.entry(key.clone()).or_default();
        let before = *st;
        if r.kind == "session" {
            r.s_new = u8::from(!st.counted);
            st.counted = true;
            let crashed = r.session_status == "crashed";
            r.s_crash = u8::from(crashed && !st.crashed);
            st.crashed |= crashed;
            let abnormal = r.session_status == "abnormal";
            r.s_abn = u8::from(abnormal && !st.abnormal);
            st.abnormal |= abnormal;
        } else if !(st.counted && st.crashed) {
            let mut d = r.clone();
            d.kind = "session";
            d.seq = r.seq | DERIVED_SEQ_BIT;
            d.session_phase = DERIVED_PHASE;
            d.session_status = "crashed";
            d.crash_id = "";
            d.exception_type = "";
            d.message = "";
            d.fatal = 0;
            d.handled = 0;
            d.payload = Cow::Borrowed("");
            d.fingerprint = Cow::Borrowed("");
            d.bucket_a = crate::row::BUCKET_NONE;
            d.bucket_b = crate::row::BUCKET_NONE;
            d.s_new = u8::from(!st.counted);
            d.s_crash = 1;
            d.s_abn = 0;
            st.counted = true;
            st.crashed = true;
            derived.push(d);
        }
        if *st != before {
            changed.insert(key, (*st, r.batch_id));
        }
    }
    let changed = changed
        .into_iter()
        .map(|(key, (state, batch_id))| Changed {
            key,
            state,
            batch_id,
        })
        .collect();
    (derived, changed)
}

/// A session whose state a chunk changed, and the batch that last did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changed<'a> {
    pub key: SessionKey,
    pub state: SessionState,
    pub batch_id: &'a str,
}

/// Whether a stored row is one the store derived (not a client event).
pub fn is_derived(seq: u32) -> bool {
    seq & DERIVED_SEQ_BIT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(
        kind: &'static str,
        sid: &'a str,
        phase: &'static str,
        status: &'static str,
    ) -> EventRow<'a> {
        let mut r = crate::row::tests::blank();
        r.kind = kind;
        r.session_id = sid;
        r.session_phase = phase;
        r.session_status = status;
        r
    }

    #[test]
    fn a_resent_start_counts_once_and_a_crash_alone_counts_a_crashed_session() {
        let mut states = HashMap::new();
        let mut first = vec![row("session", "s1", "start", "")];
        let (d, ch) = assign(&mut first, &mut states);
        assert!(d.is_empty());
        assert_eq!(ch.len(), 1);
        assert_eq!(first[0].s_new, 1);
        // The same start again (a later batch), then the end that crashed.
        let mut again = vec![
            row("session", "s1", "start", ""),
            row("session", "s1", "end", "crashed"),
            row("session", "s1", "end", "crashed"),
        ];
        let (d, _) = assign(&mut again, &mut states);
        assert!(d.is_empty());
        let flags: Vec<(u8, u8)> = again.iter().map(|r| (r.s_new, r.s_crash)).collect();
        assert_eq!(flags, vec![(0, 0), (0, 1), (0, 0)]);
        // A fatal crash naming a session with no start and no end: one
        // derived row counts the session and its crash.
        let mut c = row("crash", "s2", "", "");
        c.fatal = 1;
        c.seq = 4;
        let mut crash = vec![c.clone()];
        let (d, _) = assign(&mut crash, &mut states);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].kind, d[0].s_new, d[0].s_crash), ("session", 1, 1));
        assert!(is_derived(d[0].seq));
        assert_eq!(d[0].seq & !DERIVED_SEQ_BIT, 4);
        // Its start arriving later is not a second session, and a second
        // fatal crash in it is not a second crashed session.
        let mut late = vec![row("session", "s2", "start", ""), c];
        let (d, _) = assign(&mut late, &mut states);
        assert!(d.is_empty());
        assert_eq!((late[0].s_new, late[0].s_crash), (0, 0));
    }

    #[test]
    fn handled_events_and_other_kinds_are_not_signals() {
        let mut states = HashMap::new();
        let mut handled = row("crash", "s1", "", "");
        handled.fatal = 0;
        let mut rows = vec![handled, row("perf", "s1", "", "")];
        let (d, ch) = assign(&mut rows, &mut states);
        assert!(d.is_empty() && ch.is_empty());
        assert!(keys(&rows).is_empty());
    }

    #[test]
    fn fold_merges_ledger_rows() {
        let k: SessionKey = ("a".into(), "i".into(), "s".into());
        let m = fold([
            (
                k.clone(),
                SessionState {
                    counted: true,
                    ..Default::default()
                },
            ),
            (
                k.clone(),
                SessionState {
                    crashed: true,
                    ..Default::default()
                },
            ),
        ]);
        assert_eq!(
            m[&k],
            SessionState {
                counted: true,
                crashed: true,
                abnormal: false
            }
        );
    }
}
