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

    // Zip bombs, refused without the memory their content would take.
    let before = srv.peak_rss_kib();
    let honest = zip(&[ZipEntry::zeros("libbomb.so", 2047, 2047 << 20)]);
    assert!(honest.len() < 4 << 20, "bomb is {} bytes", honest.len());
    let started = Instant::now();
    let (status, body) = upload(&c, &url, &ci, "honest.zip", &honest).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["code"], "symbolicator.archive_rejected",
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let liar = zip(&[ZipEntry::zeros("libliar.so", 256, 4096)]);
    let (status, body) = upload(&c, &url, &ci, "liar.zip", &liar).await;
    assert_eq!(status, 422, "{body}");
    let grown = srv.peak_rss_kib().saturating_sub(before);
    assert!(grown < 200 << 10, "peak RSS grew by {grown} KiB");

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
    assert!(body.contains("request.too_large"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // Nothing was added to the store; the server is fine.
    assert_eq!(files_under(&data.join("symbols")).len(), on_disk);
    nowhere(tmp.path(), &marker);
    let r = c
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
}
