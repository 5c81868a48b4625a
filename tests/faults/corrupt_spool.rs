//! A spool segment damaged on disk while vitals is down. With the store
//! unreachable (proxy cutting every connection) batches are acknowledged
//! into the spool, vitals is `kill -9`ed, and bytes are flipped inside one
//! record of a segment in the middle: in its payload (round 0, at the very
//! middle of the segment file), its length field (round 1), its magic
//! (round 2), then at random offsets. The next start must detect each
//! damaged record by its checksum, move exactly that record to
//! `spool/quarantine/` (metric `vitals_spool_quarantined_bytes_total`, an error
//! in the log) and replay every other record: each acknowledged event is
//! stored exactly once except those of the damaged records, which are
//! reported as "lost by corruption (detected)".
//!
//! `VITALS_FAULT_CORRUPT_ROUNDS` sets the rounds (default 1).

use crate::common::proxy::{Mode, Proxy};
use crate::common::*;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::Duration;

const APP: &str = "fault-corrupt";
const HEADER: usize = 12;

/// One record of a segment file: where it is and what it carries.
struct Rec {
    offset: usize,
    len: usize,
    batch_id: String,
    events: usize,
}

fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(spool)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .filter(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        .collect();
    v.sort();
    v
}

/// Parses a segment (`"VSP1" | len u32 LE | crc u32 LE | payload`).
fn records(bytes: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER <= bytes.len() && &bytes[pos..pos + 4] == b"VSP1" {
        let n = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let payload = &bytes[pos + HEADER..pos + HEADER + n];
        let v: serde_json::Value = serde_json::from_slice(payload).expect("a spooled batch");
        out.push(Rec {
            offset: pos,
            len: HEADER + n,
            batch_id: v["batch"]["batch_id"].as_str().unwrap().to_string(),
            events: v["batch"]["events"].as_array().unwrap().len(),
        });
        pos += HEADER + n;
    }
    out
}

/// Damages one record of a middle segment; returns it.
fn damage(spool: &Path, round: u64, rng: &mut impl Rng) -> Rec {
    let segs = segments(spool);
    assert!(segs.len() >= 3, "several segments to choose from: {segs:?}");
    let path = &segs[if round == 0 {
        segs.len() / 2
    } else {
        rng.gen_range(1..segs.len() - 1)
    }];
    let mut bytes = std::fs::read(path).unwrap();
    let recs = records(&bytes);
    let at = match round {
        0 => bytes.len() / 2,
        _ => rng.gen_range(0..bytes.len()),
    };
    let rec = recs
        .into_iter()
        .find(|r| r.offset <= at && at < r.offset + r.len)
        .expect("a record at the offset");
    let flip_at = match round {
        0 => at,
        1 => rec.offset + 5, // the length field
        2 => rec.offset + 1, // the magic
        _ => at,
    };
    for b in &mut bytes[flip_at..(flip_at + 4).min(rec.offset + rec.len)] {
        *b ^= 0x5a;
    }
    std::fs::write(path, &bytes).unwrap();
    eprintln!(
        "round {round}: flipped bytes at {flip_at} of {} (record at {}, {} bytes, batch {})",
        path.display(),
        rec.offset,
        rec.len,
        rec.batch_id
    );
    rec
}

fn quarantined_bytes(spool: &Path) -> u64 {
    std::fs::read_dir(spool.join("quarantine"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_spool_record_is_quarantined_and_the_rest_stored_once() {
    let Some(ch) = shared_clickhouse() else {
        return;
    };
    let rounds = env_num("VITALS_FAULT_CORRUPT_ROUNDS", 1).max(1);
    let db = db_name("vitals_fault_corrupt");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("vitals");
    let spool = data.join("spool");
    let key = create_key(&data, APP);
    let config = dir.path().join("vitals.toml");
    std::fs::write(&config, "[collector.spool]\nsegment_bytes = 32768\n").unwrap();
    let log = dir.path().join("serve.log");
    let opts = ServeOpts {
        config: Some(config),
        log: Some(log.clone()),
        log_level: None,
    };
    let proxy = Proxy::start(&ch).await;
    let store = proxy.url();
    let all = batches(APP, 150 * rounds as usize, 20, 31);
    let client = reqwest::Client::new();
    let mut rng = rand::thread_rng();
    let mut acked = Acked::default();
    let mut damaged: Vec<Rec> = Vec::new();

    for round in 0..rounds as usize {
        let v = Vitals::serve_opts(&data, Some((&store, &db)), &opts);
        if let Some(prev) = damaged.last() {
            assert_eq!(
                v.metric("vitals_spool_quarantined_bytes_total") as usize,
                prev.len,
                "exactly the damaged record quarantined"
            );
        }
        proxy.set(Mode::Down);
        for b in &all[round * 150..(round + 1) * 150] {
            assert_eq!(post(&client, &v.url, &key, b).await, 202);
            acked.add(b);
        }
        v.kill9();
        damaged.push(damage(&spool, round as u64, &mut rng));
        proxy.set(Mode::Pass);
    }
    proxy.set(Mode::Pass);
    let v = Vitals::serve_opts(&data, Some((&store, &db)), &opts);
    let last = damaged.last().map(|r| r.len).unwrap_or(0);
    assert_eq!(
        v.metric("vitals_spool_quarantined_bytes_total") as usize,
        last,
        "exactly the damaged record quarantined"
    );
    let excused: Vec<String> = damaged.iter().map(|r| r.batch_id.clone()).collect();
    let mut o = wait_stored(&ch, &db, APP, &acked, &excused, Duration::from_secs(90)).await;
    let mut missing = o.lost_batches.clone();
    missing.sort();
    let mut expected = excused.clone();
    expected.sort();
    let corrupted_events: usize = damaged.iter().map(|r| r.events).sum();
    let q_bytes = quarantined_bytes(&spool);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let logged = log_text.matches("failed its checksum").count();
    // Detected, quarantined, reported: not a silent loss.
    o.lost -= (corrupted_events as u64).min(o.lost);
    report(
        "corrupt_spool",
        &o,
        &format!(
            "rounds={rounds} lost_by_corruption_detected={corrupted_events} events in {} records, \
             quarantined_bytes={q_bytes}, checksum errors logged={logged}",
            damaged.len()
        ),
    );
    v.terminate();
    assert_eq!(
        missing, expected,
        "exactly the damaged batches are missing; every other acknowledged event is stored"
    );
    assert_eq!(o.duplicated, 0, "no event stored twice");
    assert_eq!(o.lost, 0);
    assert_eq!(
        q_bytes,
        damaged.iter().map(|r| r.len as u64).sum::<u64>(),
        "the quarantine holds exactly the damaged records"
    );
    assert!(logged >= damaged.len(), "each damage logged:\n{log_text}");
    let _ = query(&ch, &format!("DROP DATABASE IF EXISTS {db}"));
}
