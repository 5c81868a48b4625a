//! Who a user is (docs/METRICS.md, "Users"): the pseudonymous user id; rows
//! sent before anyone logged in on an install (user key `i:` + install id)
//! belong to the first user who logs in on that install, so a user's
//! pre-login sessions never make them two users.
//!
//! The store keeps `install_owner`: for each install that ever sent a user
//! id, the user ids it sent and the earliest time of each. Every exact user
//! count joins it: the *unit* counted is the row's user key, or, for an
//! anonymous key, the install's earliest user (ties: the smaller id) when
//! there is one. The join is computed per query, so a login that arrives
//! after the install's anonymous sessions re-attributes them at once, on
//! the raw path and on the rollups alike.
//!
//! Charts' approximate daily users (`UsersApprox`, ClickHouse day sketches)
//! count user keys as stored.

use crate::query::{Dialect, Filter, lit};
use crate::row::EventRow;
use std::collections::BTreeMap;

/// Prefix of the user key of a row sent without a user id.
pub const ANONYMOUS_PREFIX: &str = "i:";

/// The counted unit of a row, given the join of [`join`].
pub(crate) fn unit(d: Dialect) -> &'static str {
    match d {
        Dialect::ClickHouse => "if(owner_key = '', user_key, owner_key)",
        Dialect::Sqlite => "COALESCE(owner_key, user_key)",
    }
}

/// The join that brings `owner_key` to rows of `table` (`events` or a user
/// rollup) under filter `f`: only the anonymous keys that occur there.
pub(crate) fn join(d: Dialect, table: &str, f: &Filter) -> String {
    let mut w = vec![format!("app_id = {}", lit(d, &f.app_id))];
    if let Some(v) = &f.version {
        w.push(format!("version = {}", lit(d, v)));
    }
    let anon = match d {
        Dialect::ClickHouse => format!("startsWith(user_key, '{ANONYMOUS_PREFIX}')"),
        Dialect::Sqlite => format!("user_key >= '{ANONYMOUS_PREFIX}' AND user_key < 'i;'"),
    };
    w.push(anon);
    let occurring = format!("SELECT user_key FROM {table} WHERE {}", w.join(" AND "));
    let app = lit(d, &f.app_id);
    match d {
        // GLOBAL: on a cluster the owner table is read once, by the node
        // that asks, and shipped to the shards.
        Dialect::ClickHouse => format!(
            "GLOBAL ANY LEFT JOIN (
                SELECT anon_key AS user_key,
                    tupleElement(arraySort(groupArray((ts, owner)))[1], 2) AS owner_key
                FROM install_owner
                WHERE app_id = {app} AND anon_key GLOBAL IN ({occurring})
                GROUP BY anon_key) USING user_key"
        ),
        Dialect::Sqlite => format!(
            "LEFT JOIN (SELECT anon_key, owner AS owner_key FROM install_owner
                WHERE app_id = {app} AND anon_key IN ({occurring})) AS vitals_owner
             ON vitals_owner.anon_key = user_key"
        ),
    }
}

/// One (install, user) pair seen in written rows, at its earliest time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login<'a> {
    pub app_id: &'a str,
    pub anon_key: String,
    pub owner: &'a str,
    pub ts: u32,
}

/// The (install, user) pairs of `rows`, each at its earliest time.
pub(crate) fn logins<'a>(rows: &[EventRow<'a>]) -> Vec<Login<'a>> {
    let mut seen: BTreeMap<(&str, &str, &str), u32> = BTreeMap::new();
    for r in rows.iter().filter(|r| !r.user_id.is_empty()) {
        let ts = seen
            .entry((r.app_id, r.install_id, r.user_id))
            .or_insert(r.ts);
        *ts = (*ts).min(r.ts);
    }
    seen.into_iter()
        .map(|((app_id, install, owner), ts)| Login {
            app_id,
            anon_key: format!("{ANONYMOUS_PREFIX}{install}"),
            owner,
            ts,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_distinct_pairs_at_their_earliest_time() {
        let mut a = crate::row::tests::blank();
        a.user_id = "u1";
        a.ts = 50;
        let mut b = a.clone();
        b.ts = 40;
        let mut anon = a.clone();
        anon.user_id = "";
        anon.ts = 10;
        let l = logins(&[a, b, anon]);
        assert_eq!(
            l,
            vec![Login {
                app_id: "app",
                anon_key: "i:i1".into(),
                owner: "u1",
                ts: 40
            }]
        );
    }

    #[test]
    fn the_join_reads_only_the_app_and_its_anonymous_keys() {
        let f = Filter {
            app_id: "a'pp".into(),
            version: Some("1.0".into()),
            ..Default::default()
        };
        let ch = join(Dialect::ClickHouse, "rollup_users", &f);
        assert!(ch.starts_with("GLOBAL ANY LEFT JOIN"));
        assert!(ch.contains("startsWith(user_key, 'i:')"));
        assert!(ch.contains("version = '1.0'"));
        let sq = join(Dialect::Sqlite, "events", &f);
        assert!(sq.contains("app_id = 'a''pp'"), "{sq}");
    }
}
