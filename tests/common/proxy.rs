//! A TCP proxy on loopback for fault tests: forwards bytes to an upstream
//! (a ClickHouse server) and can slow the traffic down (a delay per chunk
//! and a bandwidth cap, both directions) or cut it off (every connection,
//! open or new, is closed at once: the store is "down").

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Forward at full speed.
    Pass,
    /// Forward in chunks of at most `bytes_per_sec / 10` bytes, waiting
    /// `delay` plus the chunk's share of the bandwidth after each.
    Throttle { delay: Duration, bytes_per_sec: u64 },
    /// Close every connection.
    Down,
}

pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Bytes forwarded upstream → client and client → upstream.
    forwarded: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `upstream`
    /// (`http://host:port` or `host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let target: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("upstream is host:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (mode, rx) = watch::channel(Mode::Pass);
        let forwarded = Arc::new(AtomicU64::new(0));
        let fwd = forwarded.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rx = rx.clone();
                if *rx.borrow() == Mode::Down {
                    drop(client);
                    continue;
                }
                tokio::spawn(connection(client, target, rx, fwd.clone()));
            }
        });
        Proxy {
            port,
            mode,
            forwarded,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn forwarded_bytes(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mut rx: watch::Receiver<Mode>,
    forwarded: Arc<AtomicU64>,
) {
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let (up_rx, down_rx) = (rx.clone(), rx.clone());
    let down = async {
        while rx.changed().await.is_ok() {
            if *rx.borrow() == Mode::Down {
                return;
            }
        }
    };
    // Whichever ends first (a side closed, or the proxy went down) drops
    // both sockets.
    tokio::select! {
        _ = pump(cr, uw, up_rx, forwarded.clone()) => {}
        _ = pump(ur, cw, down_rx, forwarded) => {}
        _ = down => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    rx: watch::Receiver<Mode>,
    forwarded: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let mode = *rx.borrow();
        let cap = match mode {
            Mode::Throttle { bytes_per_sec, .. } => {
                ((bytes_per_sec / 10).max(1) as usize).min(buf.len())
            }
            _ => buf.len(),
        };
        let n = match from.read(&mut buf[..cap]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mode = *rx.borrow();
        if let Mode::Throttle {
            delay,
            bytes_per_sec,
        } = mode
        {
            let share = Duration::from_secs_f64(n as f64 / bytes_per_sec.max(1) as f64);
            tokio::time::sleep(delay + share).await;
        }
        let mode = *rx.borrow();
        if mode == Mode::Down || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        forwarded.fetch_add(n as u64, Ordering::Relaxed);
    }
}
