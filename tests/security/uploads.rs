//! Debug-file uploads (`POST /api/v1/apps/{app}/debug-files`, operator /
//! CI token): path traversal in archives and file names, zip bombs (honest
//! and lying headers) and oversized bodies.

use crate::APP;
use crate::common::create_app_key;
use crate::harness::*;
use std::path::Path;
use std::time::{Duration, Instant};

const MAPPING: &[u8] = b"com.example.Main -> a:\n    void run() -> b\n";

async fn upload(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    filename: &str,
    data: &[u8],
) -> (u16, serde_json::Value) {
    let (ctype, body) = multipart(filename, data);
    let r = c
        .post(format!("{url}/api/v1/apps/{APP}/debug-files"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

async fn listed(c: &reqwest::Client, url: &str, token: &str) -> Vec<String> {
    let v: serde_json::Value = c
        .get(format!("{url}/api/v1/apps/{APP}/debug-files"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("JSON");
    v["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `n` entries `DIR/i.so` of 1 MiB of zeros each (deflated once).
fn mib_of_zeros_each(n: usize, dir: &str) -> Vec<ZipEntry> {
    let one = ZipEntry::zeros("one", 1, 1 << 20);
    (0..n)
        .map(|i| ZipEntry {
            name: format!("{dir}/{i}.so"),
            method: one.method,
            data: one.data.clone(),
            crc: one.crc,
            size: one.size,
        })
        .collect()
}

/// No file called `marker` anywhere under `root` or in any of its ancestors.
fn nowhere(root: &Path, marker: &str) {
    let found: Vec<_> = files_under(root)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(marker))
        .collect();
    assert!(found.is_empty(), "written: {found:?}");
    for a in root.ancestors() {
        assert!(
            !a.join(marker).exists(),
            "written at {}",
            a.join(marker).display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_file_uploads_refuse_traversal_bombs_and_oversize() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    create_app_key(&data, APP);
    let ci = named_token(&data, "operator", "ci-bot");
    let srv = Server::start(&data, "info");
    let (c, url) = (client(), srv.url.clone());
    let marker = format!("escape-{}", fresh_nonce());

    // Entries climbing out of the store: the whole archive is refused,
    // its good entry included, and nothing lands outside.
    for evil in [
        format!("../../{marker}"),
        format!("ok/../../../{marker}"),
        format!("..\\..\\{marker}"),
    ] {
        let z = zip(&[
            ZipEntry::stored("good/mapping.txt", MAPPING),
            ZipEntry::stored(&evil, MAPPING),
        ]);
        let (status, body) = upload(&c, &url, &ci, "symbols.zip", &z).await;
        assert_eq!(status, 400, "{evil}: {body}");
        assert_eq!(
            body["error"]["code"], "symbolicator.bad_file_name",
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("路径穿越"))
        );
    }
    // A traversal in the multipart file name itself.
    let (status, body) = upload(&c, &url, &ci, &format!("../../{marker}"), MAPPING).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(listed(&c, &url, &ci).await, Vec::<String>::new());
    nowhere(tmp.path(), &marker);

    // An absolute entry path is made relative, never written where it
    // points.
    let abs = tmp.path().join(format!("abs-{marker}")).join("mapping.txt");
    let z = zip(&[ZipEntry::stored(&abs.to_string_lossy(), MAPPING)]);
    let (status, body) = upload(&c, &url, &ci, "abs.zip", &z).await;
    assert!(matches!(status, 200 | 400), "{status} {body}");
    assert!(!abs.exists(), "absolute entry written at {}", abs.display());
    for name in listed(&c, &url, &ci).await {
        assert!(
            !name.starts_with('/') && !name.contains(".."),
            "stored as {name}"
        );
    }
    let on_disk = files_under(&data.join("symbols")).len();

    // Zip bombs, refused without the memory (or disk) their content would
    // take: 413 naming the ratio bound and its key.
    let before = srv.peak_rss_kib();
    let honest = zip(&[ZipEntry::zeros("libbomb.so", 2047, 2047 << 20)]);
    assert!(honest.len() < 4 << 20, "bomb is {} bytes", honest.len());
    let started = Instant::now();
    let (status, body) = upload(&c, &url, &ci, "honest.zip", &honest).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "symbolicator.zip_ratio", "{body}");
    assert_eq!(
        body["error"]["config_key"],
        "symbolicator.uploads.max_zip_ratio"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let liar = zip(&[ZipEntry::zeros("libliar.so", 256, 4096)]);
    let (status, body) = upload(&c, &url, &ci, "liar.zip", &liar).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "symbolicator.zip_ratio", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("libliar.so") && m.contains("200")),
        "{body}"
    );
    // The bomb: 600 entries of 1 MiB of zeros each, every one
    // under the per-entry ratio floor; the archive's own ratio stops it.
    let entries = mib_of_zeros_each(600, "z");
    let many = zip(&entries);
    assert!(many.len() < 1 << 20, "bomb is {} bytes", many.len());
    let (status, body) = upload(&c, &url, &ci, "many.zip", &many).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["error"]["code"], "symbolicator.zip_archive_ratio",
        "{body}"
    );
    let grown = srv.peak_rss_kib().saturating_sub(before);
    assert!(grown < 200 << 10, "peak RSS grew by {grown} KiB");

    // More entries than an upload may hold: refused from the archive's end
    // record, before any entry is read.
    let tiny: Vec<ZipEntry> = (0..10_001)
        .map(|i| ZipEntry::stored(&format!("m/{i}.txt"), b"x"))
        .collect();
    let (status, body) = upload(&c, &url, &ci, "entries.zip", &zip(&tiny)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["error"]["code"], "symbolicator.zip_too_many_entries",
        "{body}"
    );
    assert_eq!(body["error"]["limit"], 10_000, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("10000")
                && m.contains("symbolicator.uploads.max_zip_entries")
                && m.contains("上传的文件数")),
        "{body}"
    );

    // A body declared over the 4 GiB upload limit: refused before it is
    // received.
    let (ctype, _) = multipart("big.so", b"");
    let head = format!(
        "POST /api/v1/apps/{APP}/debug-files HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ci}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        srv.addr,
        5u64 << 30
    );
    let started = Instant::now();
    let (status, _, body) = raw(&srv.addr, head.into_bytes(), vec![0u8; 1 << 20]);
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("symbolicator.upload_too_large")
            && body.contains("symbolicator.uploads.max_request_bytes"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Nothing was added to the store, nothing is left of the uploads in
    // their temporary folder; the server is fine.
    assert_eq!(files_under(&data.join("symbols")).len(), on_disk);
    assert_eq!(
        files_under(&data.join("tmp/uploads")),
        Vec::<std::path::PathBuf>::new()
    );
    nowhere(tmp.path(), &marker);
    let r = c
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
}

/// A multipart body sent in chunks (no Content-Length, so only the
/// streaming check can stop it) with one file part of `len` bytes of
/// `byte`; returns (status, body).
fn chunked_upload(addr: &str, token: &str, filename: &str, len: usize, byte: u8) -> (u16, String) {
    let (ctype, _) = multipart(filename, b"");
    let boundary = ctype.rsplit('=').next().unwrap_or_default().to_string();
    let head = format!(
        "POST /api/v1/apps/{APP}/debug-files HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\nAccept-Language: en\r\n\r\n"
    );
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.resize(body.len() + len, byte);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut chunked = Vec::with_capacity(body.len() + (body.len() >> 10));
    for part in body.chunks(256 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, _, body) = raw(addr, head.into_bytes(), chunked);
    (status, body)
}

/// Samples a process's anonymous resident memory (heap, not the file
/// pages it maps) every few milliseconds until stopped; returns the most
/// seen, KiB. `VmHWM` counts mapped file pages too, which the store reads
/// a debug file through.
struct AnonPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl AnonPeak {
    fn start(pid: u32) -> AnonPeak {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let kib = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("RssAnon:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0);
                peak = peak.max(kib);
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        });
        AnonPeak { stop, thread }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("sampler")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_bounds_come_from_the_config_and_bodies_stream_to_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    create_app_key(&data, APP);
    let ci = named_token(&data, "operator", "ci-bot");
    // Lower bounds than the defaults, and no ratio limit to speak of, so
    // each bound is met on its own.
    let config = tmp.path().join("vitals.toml");
    std::fs::write(
        &config,
        "[symbolicator.uploads]\nmax_request_bytes = 268435456\nmax_zip_total_bytes = 8388608\nmax_zip_entry_bytes = 4194304\nmax_zip_ratio = 1000000\n",
    )
    .expect("config");
    let srv = Server::start_with(&data, "info", Some(&config));
    let (c, url) = (client(), srv.url.clone());
    let uploads = data.join("tmp/uploads");

    // A zip expanding past the total bound, 1 MiB at a time.
    let entries = mib_of_zeros_each(12, "t");
    let (status, body) = upload(&c, &url, &ci, "total.zip", &zip(&entries)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["error"]["code"], "symbolicator.zip_too_large",
        "{body}"
    );
    assert_eq!(body["error"]["limit"], 8_388_608, "{body}");
    assert_eq!(
        body["error"]["config_key"],
        "symbolicator.uploads.max_zip_total_bytes"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("8388608") && m.contains("max_zip_total_bytes")),
        "{body}"
    );
    // One entry past the entry bound, its header lying about its size.
    let (status, body) = upload(
        &c,
        &url,
        &ci,
        "entry.zip",
        &zip(&[ZipEntry::zeros("big.so", 5, 1024)]),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["error"]["code"], "symbolicator.zip_entry_too_large",
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("big.so") && m.contains("4194304")),
        "{body}"
    );

    // A 200 MiB file part under the 256 MiB request bound streams to disk:
    // the server's memory does not grow with it (it is no debug file, so
    // it is refused after being read).
    let sampler = AnonPeak::start(srv.pid());
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let (status, body) = chunked_upload(&srv.addr, &ci, "blob.bin", 200 << 20, 0x5a);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("symbolicator.unknown_format"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(60));
    // Past the request bound, chunked: stopped while streaming.
    let (status, body) = chunked_upload(&srv.addr, &ci, "huge.bin", 300 << 20, 0x5a);
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("symbolicator.upload_too_large") && body.contains("268435456"),
        "{body}"
    );
    let peak = sampler.finish();
    eprintln!("anonymous memory peak during 500 MiB of uploads: {peak} KiB");
    assert!(peak < 96 << 10, "anonymous memory reached {peak} KiB");
    assert_eq!(files_under(&uploads), Vec::<std::path::PathBuf>::new());

    // Within the bounds, a zipped mapping is stored as before.
    let (status, body) = upload(
        &c,
        &url,
        &ci,
        "ok.zip",
        &zip(&[ZipEntry::stored("app/mapping.txt", MAPPING)]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed(&c, &url, &ci).await, vec!["mapping.txt".to_string()]);
    assert_eq!(files_under(&uploads), Vec::<std::path::PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minidump_uploads_stream_to_disk_under_their_bound() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let key = create_app_key(&data, APP);
    let project = crate::common::enable_sentry(&data, APP);
    let config = tmp.path().join("vitals.toml");
    std::fs::write(
        &config,
        "[collector.sentry]\nmax_attachment_bytes = 1048576\n",
    )
    .expect("config");
    let srv = Server::start_with(&data, "info", Some(&config));
    let attachments = data.join("attachments");
    let path = format!("/api/{project}/minidump/?sentry_key={}", key.key_id);
    let form = |dump: &[u8]| {
        let mut body =
            b"--vitalsB\r\nContent-Disposition: form-data; name=\"sentry\"\r\n\r\n".to_vec();
        body.extend_from_slice(
            format!(
                "{{\"release\":\"{APP}@1.0.0+1\",\"timestamp\":{},\"user\":{{\"id\":\"u1\"}}}}",
                now_secs()
            )
            .as_bytes(),
        );
        body.extend_from_slice(b"\r\n--vitalsB\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; filename=\"c.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n");
        body.extend_from_slice(dump);
        body.extend_from_slice(b"\r\n--vitalsB--\r\n");
        body
    };
    let head = |extra: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=vitalsB\r\nAccept-Language: en\r\n{extra}\r\n",
            srv.addr
        )
        .into_bytes()
    };
    let big = form(&vec![0x4d; 2 << 20]);
    // Declared over the bound: refused before the body is read.
    let (status, _, body) = raw(
        &srv.addr,
        head(&format!("Content-Length: {}\r\n", big.len())),
        big.clone(),
    );
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("sentry.attachment_too_large")
            && body.contains("1048576")
            && body.contains("collector.sentry.max_attachment_bytes"),
        "{body}"
    );
    // Sent in chunks: stopped while it streams to disk.
    let mut chunked = Vec::new();
    for part in big.chunks(64 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, _, body) = raw(&srv.addr, head("Transfer-Encoding: chunked\r\n"), chunked);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("sentry.attachment_too_large"), "{body}");
    assert_eq!(files_under(&attachments), Vec::<std::path::PathBuf>::new());

    // A real minidump under the bound is kept, and only it.
    let dump = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minidump/mini-dumps/linux.dmp"
    ))
    .expect("fixture");
    let ok = form(&dump);
    let (status, _, body) = raw(
        &srv.addr,
        head(&format!("Content-Length: {}\r\n", ok.len())),
        ok,
    );
    assert_eq!(status, 200, "{body}");
    let kept = files_under(&attachments);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).expect("kept dump"), dump);
    assert!(
        !kept[0].to_string_lossy().contains(".incoming-"),
        "{kept:?}"
    );
}
