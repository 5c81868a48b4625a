//! Values are never SQL text: every string the store writes into a query
//! (app ids, versions, builds, fingerprints, time zones) comes back from both
//! engines exactly as it went in, whatever its characters.
//!
//! Each release below is named after one code point from 0 to 255 (NUL and
//! every other control character included) or a hostile or multi-byte text;
//! the test stores one session per release, then reads every release's
//! session count back with a query filtered by that exact version — through
//! the rollups (`aggregate`) and over raw rows (`aggregate_raw`) — and the list
//! of releases. A mis-escaped value fails the query, matches another release
//! or comes back altered.
//!
//! ClickHouse comes from `VITALS_TEST_CLICKHOUSE_URL` (`.ci/run` starts one);
//! without it the ClickHouse half is skipped locally and fails under CI.

mod support;

use std::collections::HashSet;
use support::device;
use vitals_protocol::*;
use vitals_store::query::{Cond, Filter, Measure, Query};
use vitals_store::*;

const NOW_MS: i64 = 1_764_000_000_000;

fn hostile_versions() -> Vec<String> {
    let mut v: Vec<String> = (0u32..=255)
        .map(|c| format!("1.{c}{}x", char::from_u32(c).unwrap()))
        .collect();
    v.extend(
        [
            "' OR 1=1--",
            "5.2.99\u{0}",
            "\\'; DROP TABLE events; --",
            "\\",
            "''",
            "\\x00",
            "版本\u{202E}gnp.exe",
            "emoji 📈\u{2028}",
            "\"quoted\"",
        ]
        .map(String::from),
    );
    v
}

fn batch(i: usize, version: &str) -> AcceptedBatch {
    let sid = format!("s{i}");
    let session = |phase, status| {
        Event::Session(SessionEvent {
            ts: NOW_MS - 3_600_000,
            session_id: sid.clone(),
            phase,
            status,
            duration_ms: 0,
            foreground_ms: 0,
        })
    };
    AcceptedBatch {
        app_id: "hostile".into(),
        received_at_ms: NOW_MS,
        client_ip: None,
        batch: Batch {
            v: 1,
            batch_id: format!("b{i}"),
            app_id: "hostile".into(),
            release: Release {
                version: version.into(),
                build: version.into(),
            },
            platform: Platform::Android,
            device: device(),
            network: Network {
                ip_family: IpFamily::Dual,
                carrier: "wifi".into(),
            },
            install_id: format!("inst-{i}"),
            user_id: Some(format!("user{i}")),
            consent: Consent::default(),
            environment: None,
            sent_at: None,
            events: vec![
                session(SessionPhase::Start, None),
                session(SessionPhase::End, Some(SessionStatus::Ok)),
            ],
        },
    }
}

async fn check(store: &dyn Store) {
    store.migrate().await.expect("migrate");
    let versions = hostile_versions();
    let batches: Vec<_> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| batch(i, v))
        .collect();
    store
        .insert(&batches, &HashSet::new(), false)
        .await
        .expect("insert");

    let mut listed: Vec<String> = store
        .release_summaries("hostile")
        .await
        .expect("release summaries")
        .into_iter()
        .map(|s| s.version)
        .collect();
    listed.sort();
    let mut want = versions.clone();
    want.sort();
    assert_eq!(
        listed,
        want,
        "{}: versions come back unchanged",
        store.backend()
    );

    for v in &versions {
        let q = Query {
            filter: Filter {
                app_id: "hostile".into(),
                version: Some(v.clone()),
                build: Some(v.clone()),
                ..Default::default()
            },
            measures: vec![
                Measure::Count(Some(Cond::SessionStart)),
                Measure::Users(None),
            ],
            ..Default::default()
        };
        for (how, rows) in [
            ("rollups", store.aggregate(&q).await),
            ("raw rows", store.aggregate_raw(&q).await),
        ] {
            let rows = rows.unwrap_or_else(|e| {
                panic!(
                    "{} {how}: version {v:?} broke the query: {e}",
                    store.backend()
                )
            });
            assert_eq!(rows.len(), 1, "{} {how}: {v:?}", store.backend());
            assert_eq!(
                (rows[0].count(0), rows[0].count(1)),
                (1, 1),
                "{} {how}: version {v:?} matched exactly its own session",
                store.backend()
            );
        }
    }
}

#[tokio::test]
async fn every_character_round_trips_through_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(dir.path().join("h.sqlite")).unwrap();
    check(&sqlite).await;
    match std::env::var("VITALS_TEST_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => {
            let ch = ClickHouseStore::new(ClickHouseConfig {
                url,
                database: format!("vitals_hostile_{}", std::process::id()),
                ..Default::default()
            });
            check(&ch).await;
            ch.drop_database().await.unwrap();
        }
        _ => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but VITALS_TEST_CLICKHOUSE_URL is not set"
            );
            eprintln!("VITALS_TEST_CLICKHOUSE_URL not set: skipping ClickHouse");
        }
    }
}
