//! Harness of the security suite: a real `vitals serve` whose whole output
//! goes to a log file, CLI helpers, signed and raw HTTP requests, dashboard
//! sign-in, and hostile payloads (zips, compression bombs) built in memory.

use crate::common::{Key, bin};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use vitals_protocol::sign;

/// A running `vitals serve` (SQLite backend) with its log captured.
pub struct Server {
    pub url: String,
    /// `127.0.0.1:port`
    pub addr: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    child: Child,
}

impl Server {
    /// Starts the server on a free loopback port with `VITALS_LOG=level`,
    /// stdout and stderr into `<dir>/server.log`.
    pub fn start(dir: &Path, level: &str) -> Server {
        Self::start_with(dir, level, None)
    }

    /// [`Server::start`] with a config file (`--config`).
    pub fn start_with(dir: &Path, level: &str, config: Option<&Path>) -> Server {
        Self::spawn(dir, level, config, None)
    }

    /// [`Server::start`] under `umask` (e.g. `000`), set by a shell.
    pub fn start_with_umask(dir: &Path, level: &str, umask: &str) -> Server {
        Self::spawn(dir, level, None, Some(umask))
    }

    fn spawn(dir: &Path, level: &str, config: Option<&Path>, umask: Option<&str>) -> Server {
        std::fs::create_dir_all(dir).expect("create data dir");
        let log = dir.join("server.log");
        // Private like everything vitals writes (at_rest.rs checks).
        let f = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&log)
                .expect("create log file")
        };
        let mut cmd = match umask {
            Some(u) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("umask {u} && exec \"$0\" \"$@\""))
                    .arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let child = cmd
            .env("VITALS_LOG", level)
            .env_remove("VITALS_LANG")
            .env_remove("VITALS_CONFIG")
            .stdout(Stdio::from(f.try_clone().expect("dup log file")))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start vitals serve");
        // Owned at once, so a failed start still kills the child (Drop).
        let mut srv = Server {
            url: String::new(),
            addr: String::new(),
            dir: dir.to_path_buf(),
            log,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&srv.log).unwrap_or_default();
            // The banner line, not a log line naming ClickHouse's address.
            let banner = text
                .lines()
                .find(|l| l.starts_with("vitals ") && l.contains("http://127.0.0.1:"));
            if let Some(line) = banner {
                let i = line.find("http://127.0.0.1:").unwrap_or_default();
                let rest = &line[i + "http://".len()..];
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ':'))
                    .collect();
                // The line must be complete (not cut mid-port).
                if addr.len() > "127.0.0.1:".len() && rest.len() > addr.len() {
                    srv.url = format!("http://{addr}");
                    srv.addr = addr;
                    return srv;
                }
            }
            assert!(Instant::now() < deadline, "no banner in the log:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).to_string()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory of the server process so far, KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// The control-plane database (read-only) for checking stored state.
    pub fn control_db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir.join("control.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open control.sqlite")
    }

    /// One integer from the control plane.
    pub fn count(&self, sql: &str) -> i64 {
        self.control_db()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// One optional text from the control plane.
    pub fn text(&self, sql: &str) -> Option<String> {
        use rusqlite::OptionalExtension;
        self.control_db()
            .query_row(sql, [], |r| r.get(0))
            .optional()
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI on `dir` (English output), optionally feeding stdin.
pub fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .args(["--lang", "en", "--data-dir"])
        .arg(dir)
        .env("VITALS_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vitals");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("wait for vitals")
}

/// `vitals users create` with the password on stdin.
pub fn create_user(dir: &Path, name: &str, role: &str, password: &str) {
    let out = cli(
        dir,
        &[
            "users",
            "create",
            "--name",
            name,
            "--role",
            role,
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(
        out.status.success(),
        "users create {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `vitals tokens create --role R --name N`; returns the token.
pub fn named_token(dir: &Path, role: &str, name: &str) -> String {
    let out = cli(
        dir,
        &["tokens", "create", "--role", role, "--name", name],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(token.starts_with("vt_"), "token {token}");
    token
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn fresh_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// One simulated batch for `app` as JSON; returns (body, events).
pub fn batch_body(app: &str, seed: u64) -> (Vec<u8>, usize) {
    let b = crate::common::batches(app, 1, 5, seed)
        .pop()
        .expect("one batch");
    (serde_json::to_vec(&b).expect("serialise"), b.events.len())
}

/// The four signing headers for `body` (signed with `secret`, which may be
/// the wrong one on purpose).
pub fn sig_headers(
    key_id: &str,
    secret: &str,
    body: &[u8],
    ts: i64,
    nonce: &str,
) -> Vec<(String, String)> {
    let sig = sign::sign(secret.as_bytes(), "POST", "/api/v1/batch", ts, nonce, body);
    vec![
        (sign::HEADER_KEY.to_string(), key_id.to_string()),
        (sign::HEADER_TIMESTAMP.to_string(), ts.to_string()),
        (sign::HEADER_NONCE.to_string(), nonce.to_string()),
        (sign::HEADER_SIGNATURE.to_string(), sig),
    ]
}

/// A signed `POST /api/v1/batch` of `body` (not sent yet).
pub fn signed(
    c: &reqwest::Client,
    url: &str,
    key: &Key,
    body: Vec<u8>,
    ts: i64,
    nonce: &str,
) -> reqwest::RequestBuilder {
    let mut rb = c
        .post(format!("{url}/api/v1/batch"))
        .header("content-type", "application/json");
    for (k, v) in sig_headers(&key.key_id, &key.secret, &body, ts, nonce) {
        rb = rb.header(k, v);
    }
    rb.body(body)
}

/// Status, `error.code`, `error.message` and `Content-Language` of a
/// refused request.
pub async fn refusal(r: reqwest::Response) -> (u16, String, String, String) {
    let status = r.status().as_u16();
    let lang = r
        .headers()
        .get("content-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = r.json().await.expect("JSON error body");
    let s = |p: &str| {
        v.pointer(p)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    (status, s("/error/code"), s("/error/message"), lang)
}

/// Sum of a Prometheus counter over all its labels.
pub async fn metric(c: &reqwest::Client, url: &str, name: &str) -> f64 {
    let text = c
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until exactly `expected` events are stored, then checks that no
/// more arrive (a refused batch that slipped into the spool would).
pub async fn assert_stored_exactly(c: &reqwest::Client, url: &str, expected: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = metric(c, url, "vitals_events_stored_total").await;
        if n >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {expected} events stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = metric(c, url, "vitals_events_stored_total").await;
    assert_eq!(n, expected, "events stored");
    let a = metric(c, url, "vitals_events_accepted_total").await;
    assert_eq!(a, expected, "events accepted");
}

/// The value of cookie `name` in the response's `Set-Cookie` headers.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=')?;
            (k.trim() == name).then(|| (val.trim().to_string(), attrs.to_string()))
        })
}

/// The first hidden `_csrf` field of an HTML page.
pub fn csrf_field(html: &str) -> Option<String> {
    let i = html.find("name=\"_csrf\" value=\"")?;
    let rest = &html[i + "name=\"_csrf\" value=\"".len()..];
    Some(rest.chars().take_while(|c| *c != '"').collect())
}

/// A dashboard session: cookie value and its CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl Session {
    pub fn header(&self) -> String {
        format!("vitals_session={}", self.cookie)
    }
}

/// `GET /ui/login`: the double-submit cookie and the form's token.
pub async fn login_form(c: &reqwest::Client, url: &str) -> (String, String) {
    let r = c
        .get(format!("{url}/ui/login"))
        .send()
        .await
        .expect("GET /ui/login");
    assert_eq!(r.status().as_u16(), 200);
    let (cookie, _) = set_cookie(&r, "vitals_login").expect("login CSRF cookie");
    let html = r.text().await.expect("login page");
    let field = csrf_field(&html).expect("login CSRF field");
    assert_eq!(cookie, field, "double-submit token");
    (cookie, field)
}

/// Posts the login form (fresh CSRF pair), with `extra_cookie` also sent.
pub async fn try_login(
    c: &reqwest::Client,
    url: &str,
    name: &str,
    password: &str,
    extra_cookie: Option<&str>,
) -> reqwest::Response {
    let (cookie, field) = login_form(c, url).await;
    let mut cookies = format!("vitals_login={cookie}");
    if let Some(x) = extra_cookie {
        cookies = format!("{x}; {cookies}");
    }
    c.post(format!("{url}/ui/login"))
        .header("cookie", cookies)
        .form(&[
            ("name", name),
            ("password", password),
            ("_csrf", field.as_str()),
            ("next", "/ui/"),
        ])
        .send()
        .await
        .expect("POST /ui/login")
}

/// Signs in through the real form; returns the session and its CSRF token.
pub async fn login(c: &reqwest::Client, url: &str, name: &str, password: &str) -> Session {
    let r = try_login(c, url, name, password, None).await;
    assert_eq!(r.status().as_u16(), 303, "login of {name}");
    let (cookie, attrs) = set_cookie(&r, "vitals_session").expect("session cookie");
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
        "{attrs}"
    );
    let csrf = page_csrf(c, url, &cookie).await.expect("a signed-in page");
    Session { cookie, csrf }
}

/// The CSRF token on the overview page for session `cookie`; `None` if the
/// cookie is not a session (redirect to the login page).
pub async fn page_csrf(c: &reqwest::Client, url: &str, cookie: &str) -> Option<String> {
    let r = c
        .get(format!("{url}/ui/"))
        .header("cookie", format!("vitals_session={cookie}"))
        .send()
        .await
        .expect("GET /ui/");
    if r.status().as_u16() != 200 {
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(loc.starts_with("/ui/login"), "{} {loc}", r.status());
        return None;
    }
    csrf_field(&r.text().await.expect("overview")).filter(|t| !t.is_empty())
}

/// Posts a dashboard form with the session cookie (if any) and headers.
pub async fn post_form(
    c: &reqwest::Client,
    url: &str,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = c.post(format!("{url}{path}")).form(fields);
    if let Some(ck) = cookie {
        rb = rb.header("cookie", ck);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("POST form")
}

/// A raw HTTP/1.1 exchange: writes `head` then `body` (from another thread,
/// ignoring write errors: the server may refuse early), reads the response
/// head and body. Returns (status, head, body).
pub fn raw(addr: &str, head: Vec<u8>, body: Vec<u8>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone socket");
    let writer = std::thread::spawn(move || {
        if w.write_all(&head).is_ok() {
            for chunk in body.chunks(64 << 10) {
                if w.write_all(chunk).is_err() {
                    break;
                }
            }
        }
    });
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 << 10];
    let started = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                let _ = s.shutdown(std::net::Shutdown::Both);
                let _ = writer.join();
                return (status, head, body);
            }
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no response");
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    panic!(
        "incomplete response: {:?}",
        String::from_utf8_lossy(&buf)
            .chars()
            .take(500)
            .collect::<String>()
    );
}

/// CRC-32 of `mib` MiB of zeros (by combining, not hashing GiBs).
pub fn crc_of_zero_mib(mib: u64) -> u32 {
    let mut unit = flate2::Crc::new();
    unit.update(&vec![0u8; 1 << 20]);
    let mut acc = flate2::Crc::new();
    let mut pow = unit;
    let mut n = mib;
    while n > 0 {
        if n & 1 == 1 {
            acc.combine(&pow);
        }
        let mut double = flate2::Crc::new();
        double.combine(&pow);
        double.combine(&pow);
        pow = double;
        n >>= 1;
    }
    acc.sum()
}

/// A raw deflate stream of `mib` MiB of zeros: one sync-flushed block of
/// 1 MiB repeated (its back-references only reach zeros), then an empty
/// final block. About 1 KiB per MiB.
pub fn deflate_zeros(mib: u64) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(64 << 10);
    c.compress_vec(&vec![0u8; 1 << 20], &mut block, flate2::FlushCompress::Sync)
        .expect("deflate");
    assert_eq!(c.total_in(), 1 << 20, "whole MiB compressed");
    let mut out = Vec::with_capacity(block.len() * mib as usize + 2);
    for _ in 0..mib {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

/// A gzip body of `mib` MiB of zeros.
pub fn gzip_zeros(mib: u64) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(&deflate_zeros(mib));
    out.extend_from_slice(&crc_of_zero_mib(mib).to_le_bytes());
    out.extend_from_slice(&(((mib << 20) & 0xffff_ffff) as u32).to_le_bytes());
    out
}

/// One zip entry as stored in the archive.
pub struct ZipEntry {
    pub name: String,
    /// 0 stored, 8 deflated.
    pub method: u16,
    pub data: Vec<u8>,
    pub crc: u32,
    /// The uncompressed size the headers declare.
    pub size: u32,
}

impl ZipEntry {
    pub fn stored(name: &str, data: &[u8]) -> ZipEntry {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        ZipEntry {
            name: name.to_string(),
            method: 0,
            data: data.to_vec(),
            crc: crc.sum(),
            size: data.len() as u32,
        }
    }

    /// `mib` MiB of zeros, deflated, declaring `declared` bytes.
    pub fn zeros(name: &str, mib: u64, declared: u32) -> ZipEntry {
        ZipEntry {
            name: name.to_string(),
            method: 8,
            data: deflate_zeros(mib),
            crc: crc_of_zero_mib(mib),
            size: declared,
        }
    }
}

/// A zip archive of `entries`, written byte by byte (names unchecked, so
/// hostile ones go through).
pub fn zip(entries: &[ZipEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        let fixed = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&e.method.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
            v.extend_from_slice(&e.crc.to_le_bytes());
            v.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            v.extend_from_slice(&e.size.to_le_bytes());
            v.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra length
        };
        out.extend_from_slice(&0x04034b50u32.to_le_bytes());
        fixed(&mut out);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.data);
        central.extend_from_slice(&0x02014b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        fixed(&mut central);
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x06054b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // disk numbers
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A multipart/form-data body with one file part; returns (content type,
/// body).
pub fn multipart(filename: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("vitals-sec-{}", fresh_nonce());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Every file under `root`, recursively.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
