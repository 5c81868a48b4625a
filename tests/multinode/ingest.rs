//! 1 + 2: batches through either node are stored once and counted alike;
//! a batch re-sent to the other node is answered as a duplicate (the
//! shared replay ledger) and stored once; keys created or
//! revoked later reach both nodes.

use crate::cluster::*;
use crate::common::*;
use serde_json::{Value, json};
use std::path::Path;

const APP: &str = "mn-ingest";
const VERSION: &str = "4.2.0";
const USERS: u64 = 40;
const CRASHED: u64 = 5;
/// Every user has two sessions (one batch each), one sent to each node.
const SESSIONS: u64 = 2 * USERS;
/// Per session a start and an end; per crashed session a crash too.
const EVENTS: u64 = 2 * SESSIONS + CRASHED;

fn batch(id: &str, version: &str, user: u64, events: Vec<Value>) -> vitals_protocol::Batch {
    serde_json::from_value(json!({
        "v": 1, "batch_id": id, "app_id": APP,
        "release": {"version": version, "build": "420"}, "platform": "android",
        "device": {"model": "SM-S9180", "os_version": "14",
                   "screen": {"width": 1080, "height": 2340, "density": 2.75}},
        "install_id": format!("inst-{user}"), "user_id": format!("user-{user}"),
        "events": events
    }))
    .expect("valid batch")
}

/// (node, batch): user u's first session goes to node u % 2, the second
/// to the other node; the first `CRASHED` users' second session crashes.
fn fleet() -> Vec<(usize, vitals_protocol::Batch)> {
    let ts = (now_secs() - 600) * 1000;
    let mut out = Vec::new();
    for u in 0..USERS {
        for s in 0..2u64 {
            let sid = format!("{VERSION}-u{u}-s{s}");
            let t = ts + (s as i64) * 60_000;
            let mut ev =
                vec![json!({"type": "session", "ts": t, "session_id": sid, "phase": "start"})];
            if s == 1 && u < CRASHED {
                ev.push(
                    json!({"type": "session", "ts": t + 5000, "session_id": sid, "phase": "end",
                    "status": "crashed", "duration_ms": 5000}),
                );
                ev.push(json!({"type": "crash", "ts": t + 5000, "crash_id": format!("c-{sid}"),
                    "session_id": sid, "exception_type": "java.lang.IllegalStateException",
                    "threads": [{"crashed": true, "frames": [
                        {"module": "com.broker.trade.OrderBook", "function": "submit", "line": 88}]}]}));
            } else {
                ev.push(
                    json!({"type": "session", "ts": t + 5000, "session_id": sid, "phase": "end",
                    "status": "ok", "duration_ms": 5000}),
                );
            }
            let node = ((u + s) % 2) as usize;
            out.push((node, batch(&format!("b-{sid}"), VERSION, u, ev)));
        }
    }
    out
}

/// `vitals gate` of the test release with `config`.
fn gate_json(config: &Path) -> (i32, String, String) {
    gate_json_with_config(config, APP, &format!("{VERSION}+420"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_through_either_node_are_stored_once_and_counted_alike() {
    let Some(mut c) = Cluster::new("ingest") else {
        return;
    };
    // The app and its key are made once, through node A's configuration;
    // the viewer token through node B's: one control plane.
    let k = create_app_key_with_config(c.config(0), APP);
    let key = (k.key_id.clone(), k.secret.clone());
    let viewer = create_named_token_with_config(c.config(1), "viewer", "vera");
    c.start_both();
    let client = reqwest::Client::new();

    // 1. Batches alternately to A and B: all accepted, as new.
    let fleet = fleet();
    assert_eq!(fleet.len() as u64, SESSIONS);
    let mut sent_events = [0u64; 2];
    for (node, b) in &fleet {
        let r = post_at(&client, &c.url(*node), &key, b, now_secs()).await;
        assert_eq!(r.status, 202, "{} to node {node}: {}", b.batch_id, r.body);
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["duplicate"], false, "{}", r.body);
        assert_eq!(body["accepted"], b.events.len(), "{}", r.body);
        sent_events[*node] += b.events.len() as u64;
    }
    assert_eq!(sent_events[0] + sent_events[1], EVENTS);
    assert!(sent_events[0] > 0 && sent_events[1] > 0);

    // Each node stores what it accepted (its own spool, its own writer).
    let stored = eventually("both nodes stored what they accepted", PATIENCE, || {
        let s = per_node(&c, "vitals_events_stored_total", "");
        async move {
            if s == sent_events.map(|n| n as f64) {
                Ok(s)
            } else {
                Err(format!("stored {s:?}, sent {sent_events:?}"))
            }
        }
    })
    .await;
    let accepted: [f64; 2] = [0, 1].map(|i| {
        let t = c.node(i).metrics_text().unwrap_or_default();
        ["session", "crash"]
            .iter()
            .filter_map(|k| {
                metric_sample(&t, "vitals_events_accepted_total", &format!("kind=\"{k}\""))
            })
            .sum()
    });
    assert_eq!(accepted, stored, "accepted = stored on each node");
    assert_eq!(
        per_node(&c, "vitals_batches_stored_total", ""),
        [SESSIONS as f64 / 2.0; 2],
        "each node stored half of the batches"
    );

    // ClickHouse through the Distributed tables, asked on either node.
    for i in 0..2 {
        let app = format!("app_id = '{APP}'");
        assert_eq!(
            c.ch_u64(i, &format!("SELECT count() FROM {{db}}.events WHERE {app}")),
            EVENTS,
            "events via node {i}"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.batches WHERE {app}")
            ),
            SESSIONS,
            "ledger via node {i}"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT uniqExact(user_key) FROM {{db}}.events WHERE {app}")
            ),
            USERS,
            "one pseudonym per user whichever node received the batch (via node {i})"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!(
                    "SELECT count() FROM (SELECT batch_id, seq FROM {{db}}.events WHERE {app} \
                     GROUP BY batch_id, seq HAVING count() > 1)"
                )
            ),
            0,
            "no event stored twice"
        );
    }
    // Rows are on both shards: the local tables split the total.
    let local: Vec<u64> = (0..2)
        .map(|i| {
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.events_local WHERE app_id = '{APP}'"),
            )
        })
        .collect();
    assert!(
        local.iter().all(|&n| n > 0),
        "rows on both shards: {local:?}"
    );
    assert_eq!(local.iter().sum::<u64>(), EVENTS, "{local:?}");
    // One user's rows live on one shard (sharded by app and user).
    let users_local: Vec<u64> = (0..2)
        .map(|i| {
            c.ch_u64(
                i,
                &format!(
                    "SELECT uniqExact(user_key) FROM {{db}}.events_local WHERE app_id = '{APP}'"
                ),
            )
        })
        .collect();
    assert_eq!(users_local.iter().sum::<u64>(), USERS, "{users_local:?}");

    // Both nodes answer the dashboard's release list alike, with the
    // numbers sent.
    let mut answers = Vec::new();
    for i in 0..2 {
        let (status, body) = get_json(
            &client,
            &format!("{}/api/v1/apps/{APP}/releases", c.url(i)),
            &viewer,
        )
        .await;
        assert_eq!(status, 200, "node {i}: {body}");
        answers.push(body);
    }
    assert_eq!(
        answers[0], answers[1],
        "both nodes give the same release list"
    );
    let rel = answers[0]["releases"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["version"] == VERSION))
        .unwrap_or_else(|| panic!("release {VERSION} listed: {}", answers[0]))
        .clone();
    assert_eq!(rel["build"], "420");
    assert_eq!(rel["sessions"], SESSIONS, "{rel}");
    assert_eq!(rel["crashed_sessions"], CRASHED, "{rel}");
    assert_eq!(rel["users"], USERS, "{rel}");
    assert_eq!(rel["crashed_users"], CRASHED, "{rel}");
    assert_eq!(rel["fatal_crashes"], CRASHED, "{rel}");

    // The release's health (analyzer facts) alike on both nodes.
    let mut health = Vec::new();
    for i in 0..2 {
        let (status, body) = get_json(
            &client,
            &format!(
                "{}/api/v1/apps/{APP}/releases/{VERSION}+420/health",
                c.url(i)
            ),
            &viewer,
        )
        .await;
        assert_eq!(status, 200, "node {i}: {body}");
        health.push(body);
    }
    assert_eq!(
        health[0], health[1],
        "same facts and verdicts on both nodes"
    );
    assert_eq!(health[0]["sessions"], SESSIONS, "{}", health[0]);
    assert_eq!(health[0]["crashed_sessions"], CRASHED, "{}", health[0]);
    assert_eq!(health[0]["users"], USERS, "{}", health[0]);

    // `vitals gate` from either node's configuration: the same JSON.
    let (code_a, out_a, err_a) = gate_json(c.config(0));
    let (code_b, out_b, err_b) = gate_json(c.config(1));
    let gate: Value = serde_json::from_str(&out_a)
        .unwrap_or_else(|e| panic!("gate JSON ({e}): {out_a}\n{err_a}"));
    assert_eq!(
        (code_a, &out_a),
        (code_b, &out_b),
        "gate via A and B\n{err_a}\n{err_b}"
    );
    // 5 crashed of 80 sessions is below the minimum sample, but even the
    // Wilson interval's lower end (2.7 %) is over 0.05 %: a proven failure.
    assert_eq!(
        code_a, 1,
        "{CRASHED} of {SESSIONS} sessions crashed is a proven failure: {out_a}"
    );
    assert_eq!(gate["decision"], "no_go", "{out_a}");
    let rate = gate["results"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["id"] == "5.1a/crash_rate_per_session"))
        .expect("the 5.1a rule");
    assert_eq!(
        (&rate["verdict"], &rate["reason"]["kind"]),
        (&json!("fail"), &json!("proven_over")),
        "{rate}"
    );
    let facts = &gate["facts"];
    assert_eq!(
        [
            &facts["sessions"],
            &facts["crashed_sessions"],
            &facts["users"],
            &facts["crashed_users"],
            &facts["fatal_crashes"]
        ],
        [
            &json!(SESSIONS),
            &json!(CRASHED),
            &json!(USERS),
            &json!(CRASHED),
            &json!(CRASHED)
        ],
        "{out_a}"
    );
    // One crash group: the crashes share a stack, whichever node took them.
    assert_eq!(facts["groups"].as_array().map(Vec::len), Some(1), "{out_a}");
    assert_eq!(
        (&facts["groups"][0]["events"], &facts["groups"][0]["users"]),
        (&json!(CRASHED), &json!(CRASHED)),
        "{out_a}"
    );

    // 2. A batch re-sent to the other node is a duplicate: the nodes share
    // the replay ledger in the PostgreSQL control plane (issue #22), so the
    // other node answers `duplicate: true` and does not spool it again.
    let (to_a, to_b) = (
        fleet.iter().find(|(n, _)| *n == 0).unwrap(),
        fleet
            .iter()
            .find(|(n, b)| *n == 1 && b.events.len() == 3)
            .unwrap(),
    );
    let accepted_before = per_node(&c, "vitals_batches_accepted_total", "");
    for (node, b, what) in [
        (1, &to_a.1, "acknowledged by node 0, re-sent to node 1"),
        (0, &to_b.1, "acknowledged by node 1, re-sent to node 0"),
        (0, &to_a.1, "re-sent to the node that acknowledged it"),
    ] {
        let r = post_at(&client, &c.url(node), &key, b, now_secs()).await;
        assert_eq!(r.status, 202, "{what}: {}", r.body);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap()["duplicate"],
            true,
            "{what}: {}",
            r.body
        );
    }
    assert_eq!(
        per_node(&c, "vitals_batches_accepted_total", ""),
        accepted_before,
        "no re-sent batch spooled again"
    );
    assert_eq!(
        per_node(&c, "vitals_events_dropped_total", "reason=\"duplicate\""),
        [0.0, 0.0],
        "nothing for the store to drop"
    );
    assert_eq!(
        per_node(&c, "vitals_events_stored_total", ""),
        stored,
        "nothing more stored"
    );
    for i in 0..2 {
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.events WHERE app_id = '{APP}'")
            ),
            EVENTS,
            "still every event once (via node {i})"
        );
        assert_eq!(
            c.ch_u64(
                i,
                &format!("SELECT count() FROM {{db}}.batches WHERE app_id = '{APP}'")
            ),
            SESSIONS
        );
    }
    let (_, after) = get_json(
        &client,
        &format!("{}/api/v1/apps/{APP}/releases", c.url(1)),
        &viewer,
    )
    .await;
    assert_eq!(after, answers[0], "the numbers did not move");

    // A key made while the nodes run reaches both (key cache refresh), and
    // its revocation too.
    let k2 = create_app_key_with_config(c.config(1), APP);
    let key2 = (k2.key_id.clone(), k2.secret.clone());
    for i in 0..2 {
        let mut n = 0;
        eventually(&format!("new key accepted by node {i}"), PATIENCE, || {
            n += 1;
            let b = batch(&format!("k2-{i}-{n}"), "4.3.0", 1000 + i as u64, vec![
                json!({"type": "session", "ts": (now_secs() - 60) * 1000, "session_id": format!("k2-{i}-{n}"), "phase": "start"}),
            ]);
            let (client, url, key2) = (client.clone(), c.url(i), key2.clone());
            async move {
                let r = post_at(&client, &url, &key2, &b, now_secs()).await;
                if r.status == 202 {
                    Ok(())
                } else {
                    Err(format!("{} {}", r.status, r.body))
                }
            }
        })
        .await;
    }
    cli_with_config(c.config(0), &["keys", "revoke", &k2.key_id]);
    for i in 0..2 {
        let mut n = 0;
        eventually(&format!("revoked key refused by node {i}"), PATIENCE, || {
            n += 1;
            let b = batch(&format!("k2r-{i}-{n}"), "4.3.0", 2000 + i as u64, vec![
                json!({"type": "session", "ts": (now_secs() - 60) * 1000, "session_id": format!("k2r-{i}-{n}"), "phase": "start"}),
            ]);
            let (client, url, key2) = (client.clone(), c.url(i), key2.clone());
            async move {
                let r = post_at(&client, &url, &key2, &b, now_secs()).await;
                if r.status == 401 && r.body.contains("auth.revoked_key") {
                    Ok(())
                } else {
                    Err(format!("{} {}", r.status, r.body))
                }
            }
        })
        .await;
    }
    // The first key still works on both.
    for i in 0..2 {
        let b = batch(
            &format!("k1-after-{i}"),
            "4.3.0",
            3000 + i as u64,
            vec![
                json!({"type": "session", "ts": (now_secs() - 60) * 1000, "session_id": format!("k1-after-{i}"), "phase": "start"}),
            ],
        );
        assert_eq!(post(&client, &c.url(i), &key, &b).await, 202, "node {i}");
    }
}

// ---------------------------------------------------------------------------
