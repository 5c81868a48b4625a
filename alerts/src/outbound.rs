//! Where alerts may send requests (issue #22: SSRF through webhooks).
//!
//! An operator can put any URL into an alert rule, and vitals would POST
//! to it from inside the institution's network: the cloud metadata
//! service, an internal admin API, a database's HTTP port. So:
//!
//! * a webhook's host must be on `[alerts.webhooks] allow_hosts` (WeCom
//!   and DingTalk robots by default; `*.example.cn` allows sub-domains), or
//!   on `allow_internal`;
//! * every address it resolves to must be public — never loopback,
//!   private, link-local (which holds the metadata services), CGNAT,
//!   unique-local, multicast or reserved — unless an admin has listed the
//!   host in `allow_internal`;
//! * the request goes to exactly the addresses checked (no second DNS
//!   answer), no redirect is followed and no proxy is used;
//! * e-mail recipients must have an address's shape, with no CR / LF.
//!
//! Rules are checked statically when they are loaded or saved
//! ([`check_url`], [`check_email`]); the addresses at every delivery
//! ([`resolve`]).

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use vitals_i18n::{Lang, Msg};

/// `[alerts.webhooks]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Hosts webhooks may target: exact names or IP addresses, or
    /// `*.domain` for any sub-domain. Their addresses must be public.
    pub allow_hosts: Vec<String>,
    /// Hosts an admin allows although they are, or resolve to, internal
    /// addresses (an in-house alert gateway). Implies `allow_hosts`.
    pub allow_internal: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_hosts: vec!["qyapi.weixin.qq.com".into(), "oapi.dingtalk.com".into()],
            allow_internal: Vec::new(),
        }
    }
}

/// Why an outbound target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("webhook URL is not an http(s) URL with a host")]
    BadUrl,
    #[error("webhook host {host} is not in [alerts.webhooks] allow_hosts")]
    HostNotAllowed { host: String },
    #[error("webhook host {host} is (or resolves to) the internal address {addr}")]
    Internal { host: String, addr: IpAddr },
    #[error("webhook host {host} could not be resolved")]
    Unresolved { host: String },
    #[error("e-mail recipient {addr:?} is not an address (name@domain, no line breaks)")]
    BadEmail { addr: String },
}

impl Refusal {
    /// The reason in `lang` (catalogue).
    pub fn render(&self, lang: Lang) -> String {
        match self {
            Refusal::BadUrl => Msg::AlertWebhookBadUrl.text(lang),
            Refusal::HostNotAllowed { host } => {
                Msg::AlertWebhookHostNotAllowed.render(lang, &[("host", host)])
            }
            Refusal::Internal { host, addr } => {
                Msg::AlertWebhookInternal.render(lang, &[("host", host), ("addr", addr)])
            }
            Refusal::Unresolved { host } => {
                Msg::AlertWebhookUnresolved.render(lang, &[("host", host)])
            }
            Refusal::BadEmail { addr } => Msg::AlertBadEmail.render(
                lang,
                &[("addr", &addr.escape_default().to_string().as_str())],
            ),
        }
    }
}

/// A webhook URL that passed the static checks.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: reqwest::Url,
    /// Lower-case host without brackets.
    pub host: String,
    pub port: u16,
    /// The admin allowed internal addresses for this host.
    pub internal_ok: bool,
}

fn host_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim().trim_matches(['[', ']']).to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
        None => p == host,
    }
}

/// Parses `url` and checks its scheme and host against the settings.
/// IP-literal hosts are checked here too; names at delivery ([`resolve`]).
pub fn check_url(url: &str, s: &WebhookSettings) -> Result<Target, Refusal> {
    let u = reqwest::Url::parse(url.trim()).map_err(|_| Refusal::BadUrl)?;
    if !matches!(u.scheme(), "http" | "https") || url.chars().any(char::is_control) {
        return Err(Refusal::BadUrl);
    }
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(Refusal::BadUrl)?
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let port = u.port_or_known_default().ok_or(Refusal::BadUrl)?;
    let internal_ok = s.allow_internal.iter().any(|p| host_matches(p, &host));
    if !internal_ok && !s.allow_hosts.iter().any(|p| host_matches(p, &host)) {
        return Err(Refusal::HostNotAllowed { host });
    }
    if !internal_ok {
        if let Ok(ip) = host.parse::<IpAddr>()
            && is_internal(ip)
        {
            return Err(Refusal::Internal { host, addr: ip });
        }
        if host == "localhost" || host.ends_with(".localhost") {
            return Err(Refusal::Internal {
                host,
                addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            });
        }
    }
    Ok(Target {
        url: u,
        host,
        port,
        internal_ok,
    })
}

/// The addresses to connect to for `t`, every one checked; refused when
/// any is internal (one bad answer is enough to reach inside) unless the
/// host is in `allow_internal`.
pub async fn resolve(t: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> = match t.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, t.port)],
        Err(_) => {
            let unresolved = || Refusal::Unresolved {
                host: t.host.clone(),
            };
            tokio::time::timeout(timeout, tokio::net::lookup_host((t.host.as_str(), t.port)))
                .await
                .map_err(|_| unresolved())?
                .map_err(|_| unresolved())?
                .collect()
        }
    };
    if addrs.is_empty() {
        return Err(Refusal::Unresolved {
            host: t.host.clone(),
        });
    }
    if !t.internal_ok
        && let Some(a) = addrs.iter().find(|a| is_internal(a.ip()))
    {
        return Err(Refusal::Internal {
            host: t.host.clone(),
            addr: a.ip(),
        });
    }
    Ok(addrs)
}

/// Loopback, private, link-local (metadata services: 169.254.169.254,
/// fd00:ec2::254), CGNAT (Alibaba Cloud's 100.100.100.200), unique-local,
/// multicast, benchmarking, documentation, reserved and unspecified
/// addresses; IPv4-mapped, -compatible and NAT64 IPv6 addresses by the
/// IPv4 address inside.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::/96).
    if (s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return internal_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
}

/// Checks an e-mail recipient: `local@domain`, printable ASCII without
/// spaces, angle brackets, commas, quotes or line breaks (nothing that
/// could add a header or a recipient), a dot-atom local part of at most 64
/// characters, a domain of letter / digit / hyphen labels with at least
/// one dot.
pub fn check_email(addr: &str) -> Result<(), Refusal> {
    let bad = || Refusal::BadEmail {
        addr: addr.to_string(),
    };
    if addr.len() > 254 {
        return Err(bad());
    }
    let (local, domain) = addr.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip(a)), "{a}");
        }
        for a in ["8.8.8.8", "101.226.1.1", "2400:3200::1", "::ffff:8.8.8.8"] {
            assert!(!is_internal(ip(a)), "{a}");
        }
    }

    #[test]
    fn hosts_are_allow_listed_and_internal_ones_need_an_admin() {
        let s = WebhookSettings::default();
        let wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k";
        assert!(check_url(wecom, &s).is_ok());
        for (url, want) in [
            ("http://evil.example/x", "not in"),
            ("http://169.254.169.254/latest/meta-data/", "not in"),
            ("file:///etc/passwd", "http(s)"),
            ("gopher://qyapi.weixin.qq.com/", "http(s)"),
            ("http:///nohost", "not in"),
        ] {
            let e = check_url(url, &s).unwrap_err().to_string();
            assert!(e.contains(want), "{url}: {e}");
        }
        // An IP on the list is still internal unless an admin says so.
        let mut s = WebhookSettings {
            allow_hosts: vec![
                "169.254.169.254".into(),
                "*.bank.example".into(),
                "[::1]".into(),
            ],
            allow_internal: vec![],
        };
        assert!(matches!(
            check_url("http://169.254.169.254/", &s),
            Err(Refusal::Internal { .. })
        ));
        assert!(matches!(
            check_url("http://[::1]:9/", &s),
            Err(Refusal::Internal { .. })
        ));
        assert!(check_url("https://hooks.bank.example/a", &s).is_ok());
        assert!(
            check_url("https://bank.example/a", &s).is_err(),
            "sub-domains only"
        );
        s.allow_internal = vec!["127.0.0.1".into()];
        let t = check_url("http://127.0.0.1:8080/hook", &s).unwrap();
        assert!(t.internal_ok && t.port == 8080);
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused_at_delivery() {
        let s = WebhookSettings {
            allow_hosts: vec!["localhost".into(), "127.0.0.1.nip.example".into()],
            allow_internal: vec![],
        };
        assert!(matches!(
            check_url("http://localhost:1/", &s),
            Err(Refusal::Internal { .. })
        ));
        let t = Target {
            url: reqwest::Url::parse("http://localhost:1/").unwrap(),
            host: "localhost".into(),
            port: 1,
            internal_ok: false,
        };
        assert!(matches!(
            resolve(&t, Duration::from_secs(2)).await,
            Err(Refusal::Internal { .. })
        ));
        let ok = Target {
            internal_ok: true,
            ..t
        };
        assert!(resolve(&ok, Duration::from_secs(2)).await.is_ok());
    }

    #[test]
    fn email_recipients_have_an_address_shape() {
        for ok in ["ops@example.cn", "zhang.san+alerts@broker.example.com"] {
            assert!(check_email(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ops@example.cn\r\nBcc: all@evil.example",
            "ops@example.cn\nx",
            "Ops <ops@example.cn>",
            "ops@example.cn, other@example.cn",
            "ops",
            "@example.cn",
            "ops@localhost",
            "ops@-bad.example",
            "o..ps@example.cn",
            "ops@exa mple.cn",
            "\"ops\"@example.cn",
            "ops@example.123",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
        let e = check_email("a@b.cn\r\nBcc: x@y.cn").unwrap_err();
        assert!(!e.render(Lang::En).contains('\n'), "{}", e.render(Lang::En));
    }
}
