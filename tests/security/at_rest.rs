//! Secrets at rest (issue #22): whatever umask vitals starts with (here
//! `000`, which would make every file world-writable), what it writes is
//! private — files `0600`, directories `0700` — and a data directory left
//! open is closed at start. The demo's passwords are printed, never stored
//! in clear.

use crate::APP;
use crate::common::bin;
use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `vitals ARGS --data-dir DIR` under `umask 000`.
fn open_umask(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args(args)
        .args(["--lang", "en", "--data-dir"])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vitals");
    if let Some(s) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every path under `root` (itself included) with a group or other
/// permission bit, with its mode.
fn open_to_others(root: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).expect("stat");
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push((p.display().to_string(), mode));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir").flatten() {
                stack.push(e.path());
            }
        }
    }
    out
}

fn files(root: &Path) -> Vec<String> {
    files_under(root)
        .iter()
        .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_private_whatever_the_umask() {
    let t = tempfile::tempdir().expect("tempdir");
    let data = t.path().join("data");
    let out = open_umask(&data, &["keys", "create", "--app", APP], None);
    let key = crate::common::parse_key_output(&String::from_utf8_lossy(&out.stdout));
    open_umask(
        &data,
        &[
            "users",
            "create",
            "--name",
            "ops-a",
            "--role",
            "operator",
            "--password-stdin",
        ],
        Some("Pa55word-for-tests\n"),
    );
    // The server under umask 000: ingest goes through the spool into the
    // embedded store.
    let srv = Server::start_with_umask(&data, "info", "000");
    let c = client();
    let (body, n) = batch_body(APP, 7);
    let r = signed(&c, &srv.url, &key, body, now_secs(), &fresh_nonce())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 202);
    assert_stored_exactly(&c, &srv.url, n as f64).await;
    let _ = login(&c, &srv.url, "ops-a", "Pa55word-for-tests").await;
    drop(srv);
    let names = files(&data);
    for want in ["control.sqlite", "telemetry.sqlite", "spool/checkpoint"] {
        assert!(names.iter().any(|f| f == want), "{want} in {names:?}");
    }
    assert!(names.iter().any(|f| f.ends_with(".seg")), "{names:?}");
    let open = open_to_others(&data);
    assert!(open.is_empty(), "open to others: {open:?}");

    // A data directory an older version left open is closed at start.
    for (p, mode) in [("", 0o755), ("control.sqlite", 0o644), ("spool", 0o755)] {
        std::fs::set_permissions(data.join(p), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
    }
    let srv = Server::start_with_umask(&data, "info", "000");
    assert_eq!(
        open_to_others(&data),
        Vec::new(),
        "{}",
        srv.log_text()
            .lines()
            .filter(|l| l.contains("permissions"))
            .collect::<String>()
    );
}

/// Starts `vitals demo` under umask 000; returns the child, its URL and
/// the printed accounts (name, password).
fn demo(dir: &Path) -> (std::process::Child, String, Vec<(String, String)>) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--lang",
            "en",
            "--devices",
            "5",
            "--rate",
            "1",
            "--data-dir",
        ])
        .arg(dir)
        .env("VITALS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vitals demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut url, mut accounts) = (String::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while accounts.len() < 4 {
        assert!(Instant::now() < deadline, "demo printed no accounts");
        let Some(Ok(l)) = lines.next() else {
            panic!("demo ended early");
        };
        if url.is_empty()
            && let Some(u) = l.split_whitespace().find(|w| w.starts_with("http://"))
        {
            url = u.trim_end_matches("/ui/").trim_end_matches('/').to_string();
        }
        let parts: Vec<&str> = l.trim().split(" / ").collect();
        if parts.len() == 3 && l.starts_with("  ") {
            accounts.push((parts[0].to_string(), parts[1].to_string()));
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (child, url, accounts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_passwords_are_printed_never_stored_in_clear() {
    let t = tempfile::tempdir().expect("tempdir");
    let data = t.path().join("demo");
    std::fs::create_dir_all(&data).expect("mkdir");
    // What an older demo left: its passwords in clear.
    std::fs::write(data.join("demo-users"), "admin 0123456789abcdef0123\n").expect("write");
    let (mut child, url, first) = demo(&data);
    let c = client();
    let admin = first
        .iter()
        .find(|(n, _)| n == "admin")
        .expect("admin account");
    let _ = login(&c, &url, "admin", &admin.1).await;
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !data.join("demo-users").exists(),
        "clear-text password file kept"
    );
    for path in files_under(&data) {
        let bytes = std::fs::read(&path).unwrap_or_default();
        for (name, pw) in &first {
            assert!(
                !bytes.windows(pw.len()).any(|w| w == pw.as_bytes()),
                "{name}'s password in clear in {}",
                path.display()
            );
        }
    }
    let open = open_to_others(&data);
    assert!(open.is_empty(), "open to others: {open:?}");
    // Started again: new passwords, printed once more; the old ones are gone.
    let (mut child, url, second) = demo(&data);
    assert!(
        first
            .iter()
            .zip(&second)
            .all(|(a, b)| a.0 == b.0 && a.1 != b.1)
    );
    let r = try_login(&c, &url, "admin", &admin.1, None).await;
    assert_eq!(r.status().as_u16(), 401, "the old password still works");
    let _ = child.kill();
    let _ = child.wait();
}
