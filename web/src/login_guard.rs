//! What stands between a sign-in attempt and the password hash (issue #22:
//! sign-in that cannot be turned against the service).
//!
//! * **Hashing is a scarce resource.** One Argon2id check takes 19 MiB and
//!   tens of milliseconds of a core; unbounded, a burst of sign-ins (known
//!   names or not: unknown ones cost the same, on purpose) exhausts memory
//!   and CPU. Checks run behind [`HashGate`]: a few at a time, a bounded
//!   queue, and `429` + `Retry-After` beyond it. Attempts from a trusted
//!   device (below) have a lane of their own, so a flood cannot keep a
//!   known user out.
//! * **Throttles** ([`Throttles`]): failures counted per (name, client IP),
//!   per client IP and per name, each with a few free failures and then a
//!   progressive delay (2, 4, 8 … s, capped); an attempt is counted before
//!   its password is checked, so concurrent guesses cannot slip past. No
//!   hard lock: a delay always ends.
//! * **Trusted devices.** A successful sign-in gives the browser a signed
//!   cookie naming the user. Attempts with it skip the per-name throttle
//!   and use the trusted lane, so an outsider guessing one name from many
//!   addresses delays only strangers, never the right password from the
//!   user's own browser (OWASP's "device cookies").
//! * **Client IP** is the peer's address, or, when the peer is one of the
//!   configured trusted proxies, the last address in the configured header
//!   (`X-Forwarded-For`) that is not itself a trusted proxy.
//! * **Bounded memory.** Every table has a capacity; entries expire.

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// `[web]` sign-in settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// Password checks running at once (each holds 19 MiB while it runs).
    pub hash_concurrency: usize,
    /// Attempts waiting for a check; more are refused with 429.
    pub hash_queue: usize,
    /// Longest an attempt waits for a check before 429, ms.
    pub hash_wait_ms: u64,
    /// Free failures per (name, client IP), per client IP and per name
    /// before the delays start.
    pub free_per_name_ip: u32,
    pub free_per_ip: u32,
    pub free_per_name: u32,
    /// Longest delay, seconds: per (name, IP) and per IP, and per name
    /// (which strangers share, so it is kept short).
    pub max_delay_secs: u64,
    pub max_name_delay_secs: u64,
    /// Addresses or networks (`10.0.0.0/8`) of reverse proxies whose
    /// client-address header is believed. Empty: the peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies put the client's address in.
    pub client_ip_header: String,
    /// Lifetime of the trusted-device cookie, days.
    pub device_days: u32,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            hash_concurrency: 2,
            hash_queue: 8,
            hash_wait_ms: 3_000,
            free_per_name_ip: 3,
            free_per_ip: 20,
            free_per_name: 10,
            max_delay_secs: 300,
            max_name_delay_secs: 60,
            trusted_proxies: Vec::new(),
            client_ip_header: "x-forwarded-for".into(),
            device_days: 90,
        }
    }
}

/// An address or a network (`a.b.c.d/n`, `x::/n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let (a, bits) = match s.trim().split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Net { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client's address: the peer, or — when the peer is a trusted proxy —
/// the right-most address of `header` that is not a trusted proxy (the
/// left part of the header is whatever the client wrote).
pub fn client_ip(peer: Option<IpAddr>, header: Option<&str>, proxies: &[Net]) -> String {
    let Some(peer) = peer else {
        return String::new();
    };
    let trusted = |ip: IpAddr| proxies.iter().any(|n| n.contains(ip));
    if !trusted(peer) {
        return peer.to_string();
    }
    let Some(h) = header else {
        return peer.to_string();
    };
    let mut last = peer;
    for part in h.rsplit(',') {
        let Ok(ip) = part.trim().parse::<IpAddr>() else {
            break;
        };
        last = ip;
        if !trusted(ip) {
            break;
        }
    }
    last.to_string()
}

/// Why an attempt may not be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many failures: wait this many seconds.
    Throttled(u64),
    /// Every password check slot is taken: retry in a second.
    Busy,
}

/// Failures of one key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    until: Instant,
    last: Instant,
}

/// Failure counts per key with a capacity; an entry is forgotten a
/// quarter of an hour after its delay ended.
struct Table {
    map: HashMap<String, Entry>,
    cap: usize,
    free: u32,
    max_delay: Duration,
}

const FORGET_AFTER: Duration = Duration::from_secs(900);

impl Table {
    fn new(cap: usize, free: u32, max_delay_secs: u64) -> Table {
        Table {
            map: HashMap::new(),
            cap,
            free,
            max_delay: Duration::from_secs(max_delay_secs.max(1)),
        }
    }

    fn wait(&self, key: &str, now: Instant) -> Option<u64> {
        let e = self.map.get(key)?;
        (e.until > now).then(|| secs_until(e.until, now))
    }

    /// Makes room for one more key: forgets stale entries, then those
    /// below their free failures. False when still full (the key is then
    /// not tracked: the other tables still are).
    fn room(&mut self, now: Instant) -> bool {
        if self.map.len() < self.cap {
            return true;
        }
        self.map
            .retain(|_, e| e.until > now || now.duration_since(e.last) < FORGET_AFTER);
        if self.map.len() >= self.cap {
            let free = self.free;
            self.map.retain(|_, e| e.count >= free);
        }
        self.map.len() < self.cap
    }

    /// Counts an attempt for `key` (before its check).
    fn count(&mut self, key: &str, now: Instant) {
        if !self.map.contains_key(key) && !self.room(now) {
            return;
        }
        let e = self.map.entry(key.to_string()).or_insert(Entry {
            count: 0,
            until: now,
            last: now,
        });
        if e.until <= now && now.duration_since(e.last) >= FORGET_AFTER {
            e.count = 0;
        }
        e.count += 1;
        e.last = now;
        if let Some(d) = delay_after(e.count, self.free, self.max_delay) {
            e.until = now + d;
        }
    }

    /// The attempt failed: its delay runs from now.
    fn failed(&mut self, key: &str, now: Instant) {
        if let Some(e) = self.map.get_mut(key) {
            e.last = now;
            if let Some(d) = delay_after(e.count, self.free, self.max_delay) {
                e.until = now + d;
            }
        }
    }

    /// The attempt was not checked after all (no slot): uncount it.
    fn uncount(&mut self, key: &str) {
        if let Some(e) = self.map.get_mut(key) {
            e.count = e.count.saturating_sub(1);
        }
    }

    fn clear(&mut self, key: &str) {
        self.map.remove(key);
    }
}

/// The delay after `count` counted failures with `free` free ones: 2, 4,
/// 8 … s, at most `max`.
fn delay_after(count: u32, free: u32, max: Duration) -> Option<Duration> {
    (count >= free).then(|| {
        let exp = (count - free + 1).min(20);
        Duration::from_secs(1u64 << exp).min(max)
    })
}

/// Whole seconds left until `until`, rounded up (a client that waits
/// `Retry-After` seconds is not refused again), at least 1.
fn secs_until(until: Instant, now: Instant) -> u64 {
    let left = until - now;
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1)
}

/// The three failure tables, under one lock so that checking and counting
/// an attempt is one step.
pub struct Throttles {
    inner: Mutex<[Table; 3]>,
}

const PAIR: usize = 0;
const IP: usize = 1;
const NAME: usize = 2;
/// Keys per table at most (≈ 200 bytes each).
const CAPACITY: usize = 20_000;

/// The keys of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pair: String,
    ip: String,
    /// `None` for a trusted device (the per-name throttle is skipped).
    name: Option<String>,
}

impl Attempt {
    pub fn new(name: &str, ip: &str, trusted_device: bool) -> Attempt {
        // Names are at most 64 characters; longer input is cut (it names
        // nobody, and must not make the tables grow).
        let name: String = name.to_lowercase().chars().take(64).collect();
        Attempt {
            pair: format!("{name}\u{0}{ip}"),
            ip: ip.to_string(),
            name: (!trusted_device).then_some(name),
        }
    }

    fn keys(&self) -> impl Iterator<Item = (usize, &str)> {
        [
            (PAIR, Some(self.pair.as_str())),
            (IP, Some(self.ip.as_str())),
            (NAME, self.name.as_deref()),
        ]
        .into_iter()
        .filter_map(|(t, k)| k.map(|k| (t, k)))
    }
}

impl Throttles {
    pub fn new(s: &LoginSettings) -> Throttles {
        Throttles {
            inner: Mutex::new([
                Table::new(CAPACITY, s.free_per_name_ip, s.max_delay_secs),
                Table::new(CAPACITY, s.free_per_ip, s.max_delay_secs),
                Table::new(CAPACITY, s.free_per_name, s.max_name_delay_secs),
            ]),
        }
    }

    /// Starts an attempt: `Err(seconds)` while any of its keys is delayed,
    /// else it is counted at once, before the password is checked.
    pub fn begin(&self, a: &Attempt) -> Result<(), u64> {
        // A poisoned lock fails closed.
        let Ok(mut t) = self.inner.lock() else {
            return Err(1);
        };
        let now = Instant::now();
        if let Some(wait) = a.keys().filter_map(|(i, k)| t[i].wait(k, now)).max() {
            return Err(wait);
        }
        for (i, k) in a.keys() {
            t[i].count(k, now);
        }
        Ok(())
    }

    pub fn failed(&self, a: &Attempt) {
        if let Ok(mut t) = self.inner.lock() {
            let now = Instant::now();
            for (i, k) in a.keys() {
                t[i].failed(k, now);
            }
        }
    }

    /// The attempt got no check (every slot busy): it does not count.
    pub fn not_checked(&self, a: &Attempt) {
        if let Ok(mut t) = self.inner.lock() {
            for (i, k) in a.keys() {
                t[i].uncount(k);
            }
        }
    }

    /// A success clears the name's counts (the client IP's stay: one
    /// good password must not launder guesses at other names).
    pub fn succeeded(&self, a: &Attempt) {
        if let Ok(mut t) = self.inner.lock() {
            t[PAIR].clear(&a.pair);
            if let Some(n) = &a.name {
                t[NAME].clear(n);
            }
        }
    }

    /// Keys held, per table (tests).
    #[cfg(test)]
    fn sizes(&self) -> [usize; 3] {
        let t = self.inner.lock().expect("lock");
        [t[0].map.len(), t[1].map.len(), t[2].map.len()]
    }
}

/// Password checks at most `n` at a time, with a bounded queue.
pub struct HashGate {
    sem: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    wait: Duration,
}

impl HashGate {
    pub fn new(permits: usize, queue: usize, wait: Duration) -> HashGate {
        HashGate {
            sem: std::sync::Arc::new(Semaphore::new(permits.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
            wait,
        }
    }

    /// A slot for one check, or [`Refused::Busy`] when the queue is full
    /// or the wait runs out.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refused> {
        if let Ok(p) = self.sem.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Refused::Busy);
        }
        let r = tokio::time::timeout(self.wait, self.sem.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match r {
            Ok(Ok(p)) => Ok(p),
            _ => Err(Refused::Busy),
        }
    }
}

/// Everything the login handler consults.
pub struct Guard {
    pub settings: LoginSettings,
    pub throttles: Throttles,
    /// Strangers' checks.
    pub general: HashGate,
    /// Checks of attempts from a trusted device.
    pub trusted: HashGate,
    proxies: Vec<Net>,
    /// Key of the device cookies (per process: a restart asks every
    /// device to sign in once more before it is trusted again).
    device_key: [u8; 32],
}

type HmacSha256 = Hmac<Sha256>;

impl Guard {
    pub fn new(settings: LoginSettings) -> Guard {
        let wait = Duration::from_millis(settings.hash_wait_ms);
        let proxies = settings
            .trusted_proxies
            .iter()
            .filter_map(|p| {
                let n = Net::parse(p);
                if n.is_none() {
                    tracing::warn!(proxy = %p, "trusted proxy is not an address or network; ignored");
                }
                n
            })
            .collect();
        let mut device_key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut device_key);
        Guard {
            throttles: Throttles::new(&settings),
            general: HashGate::new(settings.hash_concurrency, settings.hash_queue, wait),
            trusted: HashGate::new(1, settings.hash_queue, wait),
            proxies,
            device_key,
            settings,
        }
    }

    pub fn client_ip(&self, peer: Option<IpAddr>, header: Option<&str>) -> String {
        client_ip(peer, header, &self.proxies)
    }

    fn mac(&self, name: &str, expires: i64) -> String {
        let mut m = HmacSha256::new_from_slice(&self.device_key).expect("any key length");
        m.update(name.as_bytes());
        m.update(b"\0");
        m.update(expires.to_string().as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// A device cookie value for `name`, valid until `now + device_days`.
    pub fn device_cookie(&self, name: &str, now: i64) -> String {
        let expires = now + i64::from(self.settings.device_days) * 86_400;
        format!(
            "{}.{expires}.{}",
            hex::encode(name),
            self.mac(name, expires)
        )
    }

    /// Whether `cookie` is a live device cookie for `name`.
    pub fn trusts(&self, cookie: Option<&str>, name: &str, now: i64) -> bool {
        let Some(c) = cookie else {
            return false;
        };
        let mut parts = c.splitn(3, '.');
        let (Some(n), Some(exp), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(exp) = exp.parse::<i64>() else {
            return false;
        };
        hex::decode(n).ok().as_deref() == Some(name.as_bytes())
            && exp > now
            && crate::auth::ct_eq(mac, &self.mac(name, exp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LoginSettings {
        LoginSettings::default()
    }

    #[test]
    fn delays_grow_after_free_failures_and_concurrent_attempts_are_counted() {
        let t = Throttles::new(&settings());
        let a = Attempt::new("ops-a", "10.0.0.1", false);
        // Many attempts begun before any failed: only the free ones pass.
        let passed = (0..20).filter(|_| t.begin(&a).is_ok()).count();
        assert_eq!(passed, 3);
        let w1 = t.begin(&a).unwrap_err();
        assert!((1..=2).contains(&w1), "{w1}");
        // Another name from that address is not delayed by it.
        assert!(t.begin(&Attempt::new("ops-b", "10.0.0.1", false)).is_ok());
        t.succeeded(&a);
        assert!(t.begin(&a).is_ok(), "a success clears the name's delay");
    }

    #[test]
    fn one_address_guessing_many_names_is_delayed() {
        let t = Throttles::new(&settings());
        let mut refused = 0;
        for i in 0..40 {
            let a = Attempt::new(&format!("user{i}"), "203.0.113.9", false);
            match t.begin(&a) {
                Ok(()) => t.failed(&a),
                Err(_) => refused += 1,
            }
        }
        assert_eq!(refused, 20, "20 free failures per address");
        assert!(t.begin(&Attempt::new("x", "198.51.100.1", false)).is_ok());
    }

    #[test]
    fn a_name_guessed_from_many_addresses_delays_strangers_only() {
        let t = Throttles::new(&settings());
        for i in 0..10 {
            let a = Attempt::new("admin", &format!("203.0.113.{i}"), false);
            t.begin(&a).unwrap();
            t.failed(&a);
        }
        let stranger = Attempt::new("admin", "198.51.100.7", false);
        let w = t.begin(&stranger).unwrap_err();
        assert!(w <= 60, "capped: {w}");
        let device = Attempt::new("admin", "198.51.100.7", true);
        assert!(t.begin(&device).is_ok(), "a trusted device is not delayed");
    }

    #[test]
    fn tables_stay_bounded() {
        let t = Throttles::new(&settings());
        for i in 0..(CAPACITY + 5000) {
            let a = Attempt::new(&format!("nobody-{i}"), "203.0.113.1", false);
            let _ = t.begin(&a);
        }
        let s = t.sizes();
        assert!(s.iter().all(|n| *n <= CAPACITY), "{s:?}");
    }

    #[test]
    fn client_ip_believes_only_trusted_proxies() {
        let proxies = vec![
            Net::parse("127.0.0.1").unwrap(),
            Net::parse("10.0.0.0/8").unwrap(),
        ];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("203.0.113.5"), &proxies),
            "203.0.113.5"
        );
        // The client wrote the left part; the last proxy appended its peer.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                Some("1.2.3.4, 203.0.113.5, 10.1.1.1"),
                &proxies
            ),
            "203.0.113.5"
        );
        assert_eq!(
            client_ip(ip("198.51.100.1"), Some("1.2.3.4"), &proxies),
            "198.51.100.1"
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("garbage"), &proxies),
            "127.0.0.1"
        );
        assert!(Net::parse("10.0.0.0/33").is_none());
        assert!(Net::parse("::ffff:10.1.2.3").is_some());
        assert!(
            Net::parse("10.0.0.0/8")
                .unwrap()
                .contains("::ffff:10.9.9.9".parse().unwrap())
        );
    }

    #[test]
    fn device_cookies_are_bound_to_the_name_and_expire() {
        let g = Guard::new(settings());
        let c = g.device_cookie("admin", 1_000);
        assert!(g.trusts(Some(&c), "admin", 2_000));
        assert!(!g.trusts(Some(&c), "ops-a", 2_000));
        assert!(!g.trusts(Some(&c), "admin", 1_000 + 91 * 86_400));
        let forged = c.replace(".", ".9");
        assert!(!g.trusts(Some(&forged), "admin", 2_000));
        assert!(
            !Guard::new(settings()).trusts(Some(&c), "admin", 2_000),
            "another key"
        );
    }

    #[tokio::test]
    async fn the_gate_admits_a_few_and_queues_a_few() {
        let g = HashGate::new(2, 1, Duration::from_millis(50));
        let a = g.enter().await.unwrap();
        let _b = g.enter().await.unwrap();
        // The third waits (queue of 1) and times out; meanwhile a fourth is
        // refused at once.
        let (c, d) = tokio::join!(g.enter(), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            g.enter().await
        });
        assert_eq!(c.err(), Some(Refused::Busy));
        assert_eq!(d.err(), Some(Refused::Busy));
        drop(a);
        assert!(g.enter().await.is_ok());
    }
}
