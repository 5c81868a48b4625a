//! Clients with wrong clocks, against the real binary (shared ClickHouse).
//!
//! 1. Event times hours or days off, the request signed with the right
//!    time: within the protocol's window (`limits.max_event_age_days` = 30
//!    days back, `limits.max_future_skew_secs` = 600 s ahead) the batch is
//!    accepted and every event stored with its device time to the
//!    millisecond (no clamping); beyond it the batch is refused as the
//!    protocol defines (`400 validate.too_old` / `validate.in_future`) and
//!    nothing of it is stored.
//! 2. The signing timestamp off: within ±300 s accepted; beyond it `401
//!    auth.stale_timestamp` with a `Date` header, and the SDK's recovery
//!    (`docs/sdk-js.md`: clock offset from `Date`, re-sign with server time,
//!    shift event times by the offset when it is over a minute) is accepted
//!    and stores the events at server time.
//!
//! `VITALS_FAULT_SKEW_BATCHES` sets the batches per case (default 3).

use crate::common::*;
use std::collections::HashMap;
use std::time::Duration;
use vitals_protocol::{Batch, Event};

const APP: &str = "fault-skew";
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

fn set_ts(e: &mut Event, ts: i64) {
    match e {
        Event::Session(e) => e.ts = ts,
        Event::Crash(e) => e.ts = ts,
        Event::ColdStart(e) => e.ts = ts,
        Event::Perf(e) => e.ts = ts,
        Event::Install(e) => e.ts = ts,
        Event::Network(e) => e.ts = ts,
        Event::HotUpdate(e) => e.ts = ts,
        Event::UpgradePrompt(e) => e.ts = ts,
        Event::Custom(e) => e.ts = ts,
    }
}

/// Places the batch's events at `at_ms` + 7 ms per event (odd
/// milliseconds, so a lost millisecond column would show).
fn stamp(b: &mut Batch, at_ms: i64) {
    for (i, e) in b.events.iter_mut().enumerate() {
        set_ts(e, at_ms + 7 * i as i64 + 3);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Stored event times per batch (ms, sorted).
fn stored_times(url: &str, db: &str) -> HashMap<String, Vec<i64>> {
    let text = query(
        url,
        &format!(
            "SELECT batch_id, toUInt64(ts) * 1000 + ts_ms FROM {db}.events \
             WHERE app_id = '{APP}' FORMAT TabSeparated"
        ),
    )
    .unwrap_or_else(|e| panic!("read stored times: {e}"));
    let mut m: HashMap<String, Vec<i64>> = HashMap::new();
    for l in text.lines() {
        if let Some((id, t)) = l.split_once('\t') {
            m.entry(id.to_string())
                .or_default()
                .push(t.parse().unwrap_or(0));
        }
    }
    for v in m.values_mut() {
        v.sort_unstable();
    }
    m
}

fn code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_are_accepted_or_refused_as_the_protocol_defines() {
    let Some(ch) = shared_clickhouse() else {
        return;
    };
    let per_case = env_num("VITALS_FAULT_SKEW_BATCHES", 3).max(1) as usize;
    let db = db_name("vitals_fault_skew");
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), APP);
    let v = Vitals::serve(dir.path(), Some((&ch, &db)));
    let client = reqwest::Client::new();
    let mut pool = batches(APP, per_case * 20, 10, 53).into_iter();
    let mut acked = Acked::default();
    // batch id → event times expected in the store.
    let mut expect: HashMap<String, Vec<i64>> = HashMap::new();
    let mut refused: Vec<String> = Vec::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();

    // 1. Event times off, signed with the right time.
    let event_cases: [(&str, i64, Option<&str>); 8] = [
        ("past_1h", -HOUR, None),
        ("past_6h", -6 * HOUR, None),
        ("past_3d", -3 * DAY, None),
        ("past_29d", -29 * DAY, None),
        ("future_5min", 5 * MIN, None),
        ("future_2h", 2 * HOUR, Some("validate.in_future")),
        ("future_1d", DAY, Some("validate.in_future")),
        ("past_31d", -31 * DAY, Some("validate.too_old")),
    ];
    for (name, offset, refusal) in event_cases {
        for _ in 0..per_case {
            let mut b = pool.next().expect("enough batches");
            stamp(&mut b, now_ms() + offset);
            let r = post_at(&client, &v.url, &key, &b, now_secs()).await;
            match refusal {
                None => {
                    assert_eq!(r.status, 202, "{name}: {}", r.body);
                    let mut t: Vec<i64> = b.events.iter().map(Event::ts).collect();
                    t.sort_unstable();
                    expect.insert(b.batch_id.clone(), t);
                    acked.add(&b);
                    *counts.entry("events_skewed_accepted").or_default() += 1;
                }
                Some(c) => {
                    assert_eq!(r.status, 400, "{name}: {}", r.body);
                    assert_eq!(code(&r.body), c, "{name}: {}", r.body);
                    refused.push(b.batch_id.clone());
                    *counts.entry("events_out_of_window_400").or_default() += 1;
                }
            }
        }
    }

    // 2. The device clock itself off: signing time and event times.
    let clock_cases: [(&str, i64); 7] = [
        ("sign_-250s", -250_000),
        ("sign_+250s", 250_000),
        ("clock_+400s", 400_000),
        ("clock_-400s", -400_000),
        ("clock_+2h", 2 * HOUR),
        ("clock_-6h", -6 * HOUR),
        ("clock_-3d", -3 * DAY),
    ];
    for (name, skew) in clock_cases {
        for _ in 0..per_case {
            let mut b = pool.next().expect("enough batches");
            let device_now = now_ms() + skew;
            // The events happened 1 s before "now" on the device.
            stamp(&mut b, device_now - 1000);
            let in_window = skew.abs() <= 300_000;
            if in_window {
                // Event times ahead by 250 s are within the 600 s allowance.
                let r = post_at(&client, &v.url, &key, &b, device_now / 1000).await;
                assert_eq!(r.status, 202, "{name}: {}", r.body);
                *counts.entry("sign_in_window_accepted").or_default() += 1;
            } else {
                let r = post_at(&client, &v.url, &key, &b, device_now / 1000).await;
                assert_eq!(r.status, 401, "{name}: {}", r.body);
                assert_eq!(code(&r.body), "auth.stale_timestamp", "{name}: {}", r.body);
                *counts.entry("stale_401").or_default() += 1;
                // The SDK: offset from Date, re-sign with server time and
                // move the events by the offset (over a minute).
                let server = r.date.expect("a Date header on the 401") * 1000;
                let offset = server - device_now;
                assert!(
                    (offset + skew).abs() <= 2000,
                    "{name}: Date gives the offset ({offset} vs {skew})"
                );
                if offset.abs() > MIN {
                    let times: Vec<i64> = b.events.iter().map(Event::ts).collect();
                    for (e, t) in b.events.iter_mut().zip(times) {
                        set_ts(e, t + offset);
                    }
                }
                let r = post_at(&client, &v.url, &key, &b, (device_now + offset) / 1000).await;
                assert_eq!(r.status, 202, "{name} after the SDK's retry: {}", r.body);
                *counts.entry("sdk_retry_accepted").or_default() += 1;
            }
            let mut t: Vec<i64> = b.events.iter().map(Event::ts).collect();
            t.sort_unstable();
            expect.insert(b.batch_id.clone(), t);
            acked.add(&b);
        }
    }

    let o = wait_stored(&ch, &db, APP, &acked, &[], Duration::from_secs(60)).await;
    let stored = stored_times(&ch, &db);
    let mut wrong_time = 0;
    for (id, t) in &expect {
        if stored.get(id).is_some_and(|s| s != t) {
            wrong_time += 1;
            eprintln!("batch {id}: stored {:?}, sent {:?}", stored.get(id), t);
        }
    }
    let refused_stored = refused.iter().filter(|id| stored.contains_key(*id)).count();
    let mut extra: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
    extra.sort();
    extra.push(format!("stored_with_other_time={wrong_time}"));
    extra.push(format!("refused_but_stored={refused_stored}"));
    report("clock_skew", &o, &extra.join(" "));
    v.terminate();
    assert_eq!(o.duplicated, 0, "no event stored twice");
    assert_eq!(
        o.lost, 0,
        "every acknowledged event stored: {:?}",
        o.lost_batches
    );
    assert_eq!(wrong_time, 0, "events stored with the times sent");
    assert_eq!(refused_stored, 0, "nothing of a refused batch stored");
    let _ = query(&ch, &format!("DROP DATABASE IF EXISTS {db}"));
}
