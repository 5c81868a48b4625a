//! Sending tests against a small in-process HTTP/1.1 collector stand-in on
//! the loopback interface.

use super::*;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vitals_protocol::{Limits, sign};

const SECRET: &str = "s3cret-0123456789abcdef";

/// How the stand-in answers a correctly signed, valid batch.
#[derive(Clone, Copy)]
enum Mode {
    /// 202, except a batch's first attempt: 503 + `Retry-After: 0` for ids
    /// starting with 0–3, 500 for ids starting with 4–5.
    Flaky,
    /// Always this status, optionally with `Retry-After`.
    Always(u16, Option<&'static str>),
}

#[derive(Default)]
struct Seen {
    attempts: HashMap<String, u32>,
    nonces: HashSet<String>,
    batches: HashMap<String, vitals_protocol::Batch>,
    bad_signatures: u32,
    invalid: u32,
    stale: u32,
    responses: HashMap<u16, u32>,
}

struct Stub {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

async fn stub(mode: Mode) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(connection(sock, s.clone(), mode));
        }
    });
    Stub {
        url: format!("http://{addr}"),
        seen,
    }
}

async fn connection(mut sock: TcpStream, seen: Arc<Mutex<Seen>>, mode: Mode) {
    let mut buf: Vec<u8> = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("").to_string();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + len {
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let body: Vec<u8> = buf[head_end + 4..head_end + 4 + len].to_vec();
        buf.drain(..head_end + 4 + len);
        let (status, extra) = answer(&request_line, &headers, &body, &seen, mode);
        let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n{extra}\r\n");
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn answer(
    request_line: &str,
    h: &HashMap<String, String>,
    body: &[u8],
    seen: &Mutex<Seen>,
    mode: Mode,
) -> (u16, String) {
    let mut seen = seen.lock().expect("lock");
    let status_of = |seen: &mut Seen, s: u16| {
        *seen.responses.entry(s).or_default() += 1;
        s
    };
    if request_line != "POST /api/v1/batch HTTP/1.1" {
        return (status_of(&mut seen, 404), String::new());
    }
    let get = |k: &str| h.get(k).cloned().unwrap_or_default();
    let ts: i64 = get(sign::HEADER_TIMESTAMP).parse().unwrap_or(0);
    let nonce = get(sign::HEADER_NONCE);
    if (ts - send::unix_secs()).abs() > 5 {
        seen.stale += 1;
    }
    assert_eq!(nonce.len(), 32, "nonce is 32 hex chars");
    assert!(seen.nonces.insert(nonce.clone()), "nonce reused");
    if get(sign::HEADER_KEY) != "key-1"
        || !sign::verify(
            SECRET.as_bytes(),
            "POST",
            "/api/v1/batch",
            ts,
            &nonce,
            body,
            &get(sign::HEADER_SIGNATURE),
        )
    {
        seen.bad_signatures += 1;
        return (status_of(&mut seen, 401), String::new());
    }
    let json = if get("content-encoding") == "gzip" {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .is_err()
        {
            return (status_of(&mut seen, 400), String::new());
        }
        out
    } else {
        body.to_vec()
    };
    let batch = match vitals_protocol::decode(&json) {
        Ok(b) if vitals_protocol::validate(&b, &Limits::default(), now_ms()).is_ok() => b,
        _ => {
            seen.invalid += 1;
            return (status_of(&mut seen, 400), String::new());
        }
    };
    let attempt = {
        let a = seen.attempts.entry(batch.batch_id.clone()).or_default();
        *a += 1;
        *a
    };
    let first = batch.batch_id.as_bytes()[0];
    let (status, extra) = match mode {
        Mode::Always(s, ra) => (
            s,
            ra.map(|v| format!("retry-after: {v}\r\n"))
                .unwrap_or_default(),
        ),
        Mode::Flaky if attempt == 1 && (b'0'..=b'3').contains(&first) => {
            (503, "retry-after: 0\r\n".to_string())
        }
        Mode::Flaky if attempt == 1 && (b'4'..=b'5').contains(&first) => (500, String::new()),
        Mode::Flaky => (202, String::new()),
    };
    if status == 202 {
        seen.batches.insert(batch.batch_id.clone(), batch);
    }
    (status_of(&mut seen, status), extra)
}

fn run_cfg(url: &str) -> SimConfig {
    SimConfig {
        target: url.to_string(),
        key_id: "key-1".into(),
        key_secret: SECRET.into(),
        devices: 40,
        batches: 60,
        events_per_batch: 50,
        concurrency: 8,
        now_ms: Some(now_ms()),
        progress_secs: 0,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_signed_batches_retries_and_reports_ground_truth() {
    let s = stub(Mode::Flaky).await;
    let cfg = run_cfg(&s.url);
    let report = run(cfg.clone()).await.expect("run");
    let seen = s.seen.lock().expect("lock");
    assert_eq!(report.batches_sent, 60);
    assert_eq!(report.batches_accepted, 60, "{report:?}");
    assert_eq!(report.failed, 0);
    assert!(report.batches_rejected.is_empty());
    assert_eq!(report.events_sent, 60 * 50);
    assert_eq!(report.events_accepted, 60 * 50);
    assert_eq!(seen.bad_signatures + seen.invalid + seen.stale, 0);
    let retried = seen.responses.get(&503).copied().unwrap_or(0)
        + seen.responses.get(&500).copied().unwrap_or(0);
    assert!(retried > 0, "the stub asked for retries");
    assert_eq!(report.retries, u64::from(retried));
    // A retry re-sends the same batch (same id), with a fresh nonce.
    assert_eq!(seen.attempts.len(), 60);
    assert_eq!(
        seen.nonces.len() as u32,
        seen.attempts.values().sum::<u32>()
    );
    // What was accepted is exactly what generate_batches builds, and the
    // report's truth matches it.
    let expected = generate_batches(&cfg, 60);
    for b in &expected {
        assert_eq!(seen.batches.get(&b.batch_id), Some(b));
    }
    assert_eq!(report.truth, ground_truth(&expected));
    assert!(
        report
            .render(vitals_i18n::Lang::En)
            .contains("60 batches sent")
    );
}

#[tokio::test]
async fn uncompressed_bodies_work_too() {
    let s = stub(Mode::Always(202, None)).await;
    let cfg = SimConfig {
        gzip: false,
        batches: 10,
        ..run_cfg(&s.url)
    };
    let report = run(cfg).await.expect("run");
    assert_eq!(report.batches_accepted, 10);
    assert_eq!(s.seen.lock().expect("lock").batches.len(), 10);
}

#[tokio::test]
async fn wrong_secret_is_rejected_without_retry() {
    let s = stub(Mode::Flaky).await;
    let cfg = SimConfig {
        key_secret: "wrong".into(),
        batches: 12,
        ..run_cfg(&s.url)
    };
    let report = run(cfg).await.expect("run");
    assert_eq!(report.batches_rejected.get(&401), Some(&12));
    assert_eq!(
        (report.batches_accepted, report.retries, report.failed),
        (0, 0, 0)
    );
    assert!(report.truth.is_empty());
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let s = stub(Mode::Always(503, None)).await;
    let cfg = SimConfig {
        batches: 4,
        max_retries: 3,
        ..run_cfg(&s.url)
    };
    let report = run(cfg).await.expect("run");
    assert_eq!(
        (report.failed, report.retries, report.batches_accepted),
        (4, 12, 0)
    );
    assert_eq!(
        s.seen.lock().expect("lock").attempts.values().sum::<u32>(),
        16
    );
}

#[tokio::test]
async fn honours_retry_after() {
    let s = stub(Mode::Always(429, Some("1"))).await;
    let cfg = SimConfig {
        batches: 1,
        max_retries: 1,
        ..run_cfg(&s.url)
    };
    let t = Instant::now();
    let report = run(cfg).await.expect("run");
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "waited {:?}",
        t.elapsed()
    );
    assert_eq!((report.failed, report.retries), (1, 1));
}

#[tokio::test]
async fn connection_errors_count_as_failed() {
    // Bind and drop to get a loopback port with nothing listening.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let cfg = SimConfig {
        batches: 3,
        max_retries: 2,
        ..run_cfg(&format!("http://127.0.0.1:{port}"))
    };
    let report = run(cfg).await.expect("run");
    assert_eq!(
        (report.batches_sent, report.failed, report.retries),
        (3, 3, 6)
    );
}

#[tokio::test]
async fn stops_on_signal_and_on_duration() {
    let s = stub(Mode::Always(202, None)).await;
    let (tx, rx) = watch::channel(false);
    let cfg = SimConfig {
        batches: 0,
        rate: 40.0,
        ..run_cfg(&s.url)
    };
    let handle = tokio::spawn(run_until(cfg, rx));
    tokio::time::sleep(Duration::from_millis(400)).await;
    tx.send(true).expect("send stop");
    let report = tokio::time::timeout(Duration::from_secs(10), handle)
        .await
        .expect("stops promptly")
        .expect("task")
        .expect("run");
    assert!((5..=30).contains(&report.batches_accepted), "{report:?}");

    let cfg = SimConfig {
        batches: 0,
        duration_secs: 1,
        rate: 20.0,
        ..run_cfg(&s.url)
    };
    let t = Instant::now();
    let report = run(cfg).await.expect("run");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!((15..=25).contains(&report.batches_accepted), "{report:?}");

    // The batch limit wins when it comes first.
    let cfg = SimConfig {
        batches: 5,
        duration_secs: 60,
        ..run_cfg(&s.url)
    };
    assert_eq!(run(cfg).await.expect("run").batches_accepted, 5);
}

#[test]
fn retry_timing_helpers() {
    assert_eq!(send::parse_retry_after(" 3 "), Some(3.0));
    assert_eq!(send::parse_retry_after("1.5"), Some(1.5));
    assert_eq!(
        send::parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
        None
    );
    assert_eq!(send::parse_retry_after("-1"), None);
    assert_eq!(send::parse_retry_after("100000"), Some(300.0));
    for r in 0..20 {
        let d = send::backoff(r).as_millis() as u64;
        let step = (100u64 << r.min(16)).min(5000);
        assert!(d >= step / 2 && d <= step, "retry {r}: {d} ms");
    }
    let w = send::retry_after_wait(2.0).as_millis();
    assert!((2000..=2200).contains(&w));
    let a = send::new_nonce();
    assert_eq!(a.len(), 32);
    assert_ne!(a, send::new_nonce());
}

#[tokio::test]
async fn invalid_config_is_refused_before_sending() {
    let cfg = SimConfig {
        key_id: String::new(),
        ..SimConfig::default()
    };
    assert!(matches!(run(cfg).await, Err(SimError::Config(_))));
}
