//! Re-symbolication storage on both backends: crash rows whose payload
//! names a missing file are found page by page (keyset paging survives
//! rows rewritten between pages), a rewrite replaces payload, fingerprint,
//! exception type and message of exactly those rows, and per-release
//! figures (raw and rollup-routed) do not move.
//!
//! ClickHouse comes from `VITALS_TEST_CLICKHOUSE_URL`; without it that half
//! is skipped locally.

use std::collections::HashSet;
use vitals_protocol::*;
use vitals_store::query::{Dim, Filter, Measure, Query};
use vitals_store::*;

const APP: &str = "resym";
const NOW_MS: i64 = 1_764_000_000_000;

fn clickhouse() -> Option<ClickHouseStore> {
    match std::env::var("VITALS_TEST_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() % 1_000_000_007)
                .unwrap_or(0);
            Some(ClickHouseStore::new(ClickHouseConfig {
                url,
                database: format!("vitals_rewrite_{}_{n}", std::process::id()),
                ..Default::default()
            }))
        }
        _ => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but VITALS_TEST_CLICKHOUSE_URL is not set"
            );
            eprintln!("VITALS_TEST_CLICKHOUSE_URL not set: skipping ClickHouse");
            None
        }
    }
}

fn crash(i: usize, missing: bool) -> Event {
    let mut notes = vec!["symbolicated: partial".to_string()];
    if missing {
        notes.push(format!(
            "{MISSING_FILE_NOTE}{{\"kind\":\"native\",\"label\":\"dSYM\",\"debug_id\":\"id-{i}\",\"name\":\"App?\",\"in_app\":true}}"
        ));
    }
    Event::Crash(CrashEvent {
        ts: NOW_MS - 3_600_000 + (i as i64 / 2) * 1000,
        crash_id: format!("c{i}"),
        session_id: None,
        exception_type: "Minidump".into(),
        message: String::new(),
        fatal: true,
        handled: false,
        threads: Vec::new(),
        images: Vec::new(),
        raw: Some("attachment:minidump:x/y".into()),
        fingerprint: Some(format!("old-{}", i % 3)),
        notes,
    })
}

fn batch(id: &str, user: usize, events: Vec<Event>) -> AcceptedBatch {
    AcceptedBatch {
        app_id: APP.into(),
        received_at_ms: NOW_MS,
        client_ip: None,
        batch: Batch {
            v: 1,
            batch_id: id.into(),
            app_id: APP.into(),
            release: Release {
                version: "1.0.0".into(),
                build: "7".into(),
            },
            platform: Platform::Ios,
            device: Device {
                model: "iPhone15,2".into(),
                class: DeviceClass::Phone,
                os_version: "17.1".into(),
                screen: Screen {
                    width: 1179,
                    height: 2556,
                    density: 3.0,
                },
                abi: "arm64".into(),
                rooted: false,
                emulator: false,
                device_id: None,
            },
            network: Network {
                ip_family: IpFamily::Dual,
                carrier: "wifi".into(),
            },
            install_id: format!("inst-{user}"),
            user_id: Some(format!("user{user}")),
            consent: Consent::default(),
            environment: None,
            sent_at: None,
            events,
        },
    }
}

fn groups_query() -> Query {
    Query {
        filter: Filter {
            app_id: APP.into(),
            kinds: vec!["crash".into()],
            ..Default::default()
        },
        group_by: vec![Dim::Fingerprint],
        measures: vec![Measure::Count(None)],
        ..Default::default()
    }
}

async fn groups(store: &dyn Store) -> Vec<(String, u64)> {
    let mut g: Vec<(String, u64)> = store
        .aggregate(&groups_query())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.dims[0].clone(), r.count(0)))
        .collect();
    g.sort();
    g
}

async fn exercise(store: &dyn Store) {
    store.migrate().await.unwrap();
    // 3 batches × 4 crashes; every other crash names a missing file.
    let batches: Vec<AcceptedBatch> = (0..3)
        .map(|b| {
            batch(
                &format!("b{b}"),
                b,
                (0..4).map(|i| crash(b * 4 + i, i % 2 == 0)).collect(),
            )
        })
        .collect();
    store
        .insert(&batches, &HashSet::new(), false)
        .await
        .unwrap();
    let before = store.release_summaries(APP).await.unwrap();

    // Paging: 2 per page, the first page rewritten before the second is read.
    let page1 = store.crashes_missing_files(APP, None, 2).await.unwrap();
    assert_eq!(page1.len(), 2);
    assert!(page1.iter().all(|c| c.payload.contains(MISSING_FILE_NOTE)));
    let rewrite = |c: &StoredCrash| CrashRewrite {
        key: c.key.clone(),
        payload: format!(
            "{{\"threads\":[],\"notes\":[\"symbolicated: complete\",\"it's ok? \\\\ {}\"]}}",
            c.crash_id
        ),
        fingerprint: format!("new-{}", c.crash_id),
        exception_type: "SIGSEGV".into(),
        message: "Segfault at 0x45".into(),
    };
    let rewrites: Vec<CrashRewrite> = page1.iter().map(rewrite).collect();
    store.rewrite_crashes(APP, &rewrites).await.unwrap();
    let mut seen: Vec<String> = page1.iter().map(|c| c.crash_id.clone()).collect();
    let mut after = page1.last().map(|c| c.key.clone());
    loop {
        let page = store
            .crashes_missing_files(APP, after.as_ref(), 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.key.clone());
        seen.extend(page.iter().map(|c| c.crash_id.clone()));
    }
    seen.sort();
    let mut expected: Vec<String> = (0..12)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("c{i}"))
        .collect();
    expected.sort();
    assert_eq!(seen, expected, "each candidate exactly once");

    // The rewritten rows are no longer candidates and read anew.
    let left = store.crashes_missing_files(APP, None, 100).await.unwrap();
    assert_eq!(left.len(), 4);
    assert!(left.iter().all(|c| !page1.iter().any(|p| p.key == c.key)));
    for c in &page1 {
        let s = store
            .crash(APP, CrashKey::Id(&c.crash_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.exception_type, "SIGSEGV");
        assert_eq!(s.message, "Segfault at 0x45");
        assert!(s.payload.contains("it's ok? \\\\"), "{}", s.payload);
        let by_group = store
            .crash_sample(APP, &format!("new-{}", c.crash_id), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_group.payload, s.payload);
    }
    // Untouched rows keep everything.
    let other = store.crash(APP, CrashKey::Id("c1")).await.unwrap().unwrap();
    assert_eq!(other.exception_type, "Minidump");

    // Groups: the two rewritten crashes left their old groups.
    let g = groups(store).await;
    let total: u64 = g.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 12);
    for c in &page1 {
        assert!(g.contains(&(format!("new-{}", c.crash_id), 1)), "{g:?}");
    }
    // Per-release figures (rollup-routed) are unchanged.
    assert_eq!(store.release_summaries(APP).await.unwrap(), before);
    assert!(store.rewrite_crashes(APP, &[]).await.is_ok());
}

#[tokio::test]
async fn sqlite_finds_and_rewrites_crashes_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("t.sqlite")).unwrap();
    exercise(&store).await;
}

#[tokio::test]
async fn clickhouse_finds_and_rewrites_crashes_missing_files() {
    let Some(ch) = clickhouse() else { return };
    exercise(&ch).await;
    ch.drop_database().await.unwrap();
}

/// The same on the two-shard cluster (`VITALS_TEST_CLICKHOUSE_CLUSTER_URL`):
/// the mutations run on every shard's local table.
#[tokio::test]
async fn clickhouse_cluster_finds_and_rewrites_crashes_missing_files() {
    let url = match std::env::var("VITALS_TEST_CLICKHOUSE_CLUSTER_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI=true but VITALS_TEST_CLICKHOUSE_CLUSTER_URL is not set"
            );
            return;
        }
    };
    let ch = ClickHouseStore::new(ClickHouseConfig {
        url,
        database: format!("vitals_rewrite_cluster_{}", std::process::id()),
        cluster: "vitals_local".into(),
        ..Default::default()
    });
    ch.drop_database().await.unwrap();
    exercise(&ch).await;
    ch.drop_database().await.unwrap();
}
