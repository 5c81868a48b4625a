//! A real SMTP server on loopback for end-to-end tests: Python's
//! `aiosmtpd` (installed by `.ci/run`) writing every message it receives
//! into a maildir, and the headers of what arrived.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running aiosmtpd; killed when dropped.
pub struct Smtp {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    /// Starts aiosmtpd on a free loopback port with a maildir under `dir`;
    /// `None` (skip) when it is not installed, except under CI where it
    /// must be.
    pub fn start(dir: &Path) -> Option<Smtp> {
        let port = super::free_port();
        let maildir = dir.join("maildir");
        let child = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                assert_ne!(
                    std::env::var("CI").as_deref(),
                    Ok("true"),
                    "python3 missing under CI: {e}"
                );
                eprintln!("python3 not available ({e}): skipping");
                return None;
            }
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Smtp {
                    child,
                    port,
                    maildir,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                assert_ne!(
                    std::env::var("CI").as_deref(),
                    Ok("true"),
                    "aiosmtpd did not start ({status}); pip install aiosmtpd"
                );
                eprintln!("aiosmtpd not available ({status}): skipping");
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("aiosmtpd did not listen on port {port} within 10 s");
    }

    /// Every message received so far, in no particular order.
    pub fn mails(&self) -> Vec<Mail> {
        std::fs::read_dir(self.maildir.join("new"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let raw = std::fs::read_to_string(e.path()).ok()?;
                        let file = e.file_name().to_string_lossy().to_string();
                        Some(Mail { file, raw })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One received message, as aiosmtpd stored it (with its `X-MailFrom`,
/// `X-RcptTo` and `X-Peer` headers).
#[derive(Debug, Clone)]
pub struct Mail {
    /// The file name in the maildir (unique per message).
    pub file: String,
    pub raw: String,
}

impl Mail {
    /// The first header `name` (case-insensitive), unfolded; None if absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut lines = self
            .raw
            .lines()
            .take_while(|l| !l.trim_end_matches('\r').is_empty());
        let prefix = format!("{}:", name.to_ascii_lowercase());
        let first = lines
            .by_ref()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))?;
        let mut v = first[prefix.len()..].trim().to_string();
        for l in lines {
            if l.starts_with(' ') || l.starts_with('\t') {
                v.push(' ');
                v.push_str(l.trim());
            } else {
                break;
            }
        }
        Some(v)
    }

    /// The envelope sender (`MAIL FROM`).
    pub fn mail_from(&self) -> String {
        self.header("X-MailFrom").unwrap_or_default()
    }

    /// The `Date` header as Unix seconds (`Sun, 29 Nov 2026 11:40:55
    /// +0000`, as lettre writes it).
    pub fn date(&self) -> Option<i64> {
        let d = self.header("Date")?;
        let d = d.strip_suffix("+0000").map(|s| format!("{s}GMT"))?;
        super::parse_http_date(&d)
    }
}
