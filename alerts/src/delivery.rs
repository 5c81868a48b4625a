//! Delivery: e-mail through SMTP (lettre; plain, STARTTLS or TLS, with
//! authentication, several recipients) with a plain-text part, an HTML part
//! and the chart as an inline PNG; JSON webhooks (generic, WeCom, DingTalk
//! robots) to allow-listed hosts only ([`crate::outbound`]). Failed
//! attempts are retried with exponential backoff; every attempt is recorded
//! (`alert_deliveries`) with its target's secrets masked and a bounded,
//! scrubbed excerpt of the failure.

use crate::notify::Rendered;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// SMTP settings (`[alerts.smtp]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// Empty: e-mail is off.
    pub host: String,
    pub port: u16,
    /// `none` (plain, loopback relays only), `starttls` or `tls`.
    pub tls: String,
    pub user: String,
    pub password: String,
    pub from: String,
    pub timeout_secs: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: String::new(),
            port: 587,
            tls: "starttls".into(),
            user: String::new(),
            password: String::new(),
            from: "vitals <vitals@localhost>".into(),
            timeout_secs: 30,
        }
    }
}

/// Builds the MIME message.
pub fn message(smtp: &SmtpSettings, to: &[String], r: &Rendered) -> Result<Message, String> {
    let from: Mailbox = smtp.from.parse().map_err(|e| format!("from: {e}"))?;
    let mut b = Message::builder().from(from).subject(r.subject.clone());
    for t in to {
        b = b.to(t.parse::<Mailbox>().map_err(|e| format!("to {t}: {e}"))?);
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(r.text.clone());
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .body(r.html.clone());
    let body = match &r.chart_png {
        Some(png) => {
            let png_type = ContentType::parse("image/png").map_err(|e| e.to_string())?;
            MultiPart::alternative().singlepart(text).multipart(
                MultiPart::related()
                    .singlepart(html)
                    .singlepart(Attachment::new_inline("chart".into()).body(png.clone(), png_type)),
            )
        }
        None => MultiPart::alternative().singlepart(text).singlepart(html),
    };
    b.multipart(body).map_err(|e| e.to_string())
}

/// Sends one message.
pub async fn send_email(smtp: &SmtpSettings, msg: Message) -> Result<(), String> {
    let builder = match smtp.tls.as_str() {
        "tls" => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| e.to_string())?
        }
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| e.to_string())?,
        _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if !smtp.user.is_empty() {
        builder = builder.credentials(Credentials::new(smtp.user.clone(), smtp.password.clone()));
    }
    builder
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why a delivery attempt failed: the text recorded with it, and whether
/// another attempt could help (a refused target cannot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub text: String,
    pub retry: bool,
}

impl From<String> for Failure {
    fn from(text: String) -> Self {
        Failure { text, retry: true }
    }
}

/// Longest excerpt of a failure kept in a delivery record, characters.
pub const EXCERPT_CHARS: usize = 300;
/// Most bytes of a webhook's answer read (its errcode, an excerpt).
const ANSWER_BYTES: usize = 64 << 10;

/// What a delivery record keeps of a failure text: secrets in URLs and
/// `key=` values masked, control characters as spaces, runs of white space
/// as one, at most [`EXCERPT_CHARS`] characters.
pub fn excerpt(text: &str) -> String {
    let masked = vitals_control::redact::mask_text(text);
    let flat: String = masked
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

/// Posts a webhook body to `url`, if [`outbound`](crate::outbound) allows
/// it: to the very addresses checked, without redirects or proxies,
/// reading at most 64 KiB of the answer. Refusals are rendered in `lang`.
pub async fn send_webhook(
    url: &str,
    allow: &crate::outbound::WebhookSettings,
    body: &serde_json::Value,
    timeout: Duration,
    lang: vitals_i18n::Lang,
) -> Result<(), Failure> {
    use crate::outbound::{check_url, resolve};
    let refused = |r: crate::outbound::Refusal| {
        tracing::warn!(url = %vitals_control::redact::mask_url(url), reason = %r, "webhook target refused");
        Failure {
            text: r.render(lang),
            retry: false,
        }
    };
    let target = check_url(url, allow).map_err(refused)?;
    let addrs = resolve(&target, timeout).await.map_err(refused)?;
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    if target.host.parse::<std::net::IpAddr>().is_err() {
        builder = builder.resolve_to_addrs(&target.host, &addrs);
    }
    let client = builder.build().map_err(|e| e.without_url().to_string())?;
    let mut r = client
        .post(target.url)
        .json(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = r.status();
    let mut answer = Vec::new();
    while answer.len() < ANSWER_BYTES {
        match r.chunk().await {
            Ok(Some(c)) => answer.extend_from_slice(&c),
            _ => break,
        }
    }
    answer.truncate(ANSWER_BYTES);
    let text = String::from_utf8_lossy(&answer);
    if !status.is_success() {
        // Redirects are not followed: a 3xx is a failure like a 5xx.
        return Err(format!("HTTP {}: {}", status.as_u16(), excerpt(&text)).into());
    }
    // WeCom and DingTalk answer 200 with {"errcode": n}; non-zero is a failure.
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    match v.get("errcode").and_then(|c| c.as_i64()) {
        Some(0) | None => Ok(()),
        Some(c) => Err(format!(
            "HTTP {}: errcode {c}: {}",
            status.as_u16(),
            excerpt(v.get("errmsg").and_then(|m| m.as_str()).unwrap_or(""))
        )
        .into()),
    }
}

/// Backoff before attempt `n` (1-based; none before the first).
pub fn backoff(base_ms: u64, n: u32) -> Duration {
    if n <= 1 {
        return Duration::ZERO;
    }
    Duration::from_millis(base_ms.saturating_mul(1 << (n - 2).min(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_and_scrubbed() {
        let long = format!(
            "upstream said\r\n\tno: see https://qyapi.weixin.qq.com/x?key=SECRET {}",
            "y".repeat(5000)
        );
        let e = excerpt(&long);
        assert!(e.chars().count() <= EXCERPT_CHARS + 1, "{}", e.len());
        assert!(
            !e.contains("SECRET") && !e.contains('\n') && !e.contains('\t'),
            "{e}"
        );
        assert!(e.starts_with("upstream said no: see https://qyapi.weixin.qq.com/x?key=***"));
        assert!(e.ends_with('…'));
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1000, 1), Duration::ZERO);
        assert_eq!(backoff(1000, 2), Duration::from_secs(1));
        assert_eq!(backoff(1000, 4), Duration::from_secs(4));
    }

    #[test]
    fn message_has_text_html_and_inline_png() {
        let r = Rendered {
            subject: "[5.1a] 告警".into(),
            text: "规则：x".into(),
            html: "<p>x</p>".into(),
            chart_png: Some(b"\x89PNG\r\n\x1a\nfake".to_vec()),
        };
        let smtp = SmtpSettings::default();
        let m = message(&smtp, &["a@example.cn".into(), "b@example.cn".into()], &r).unwrap();
        let raw = String::from_utf8_lossy(&m.formatted()).to_string();
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("multipart/related"));
        assert!(raw.contains("image/png"));
        assert!(raw.contains("Content-ID: <chart>"));
        assert!(raw.contains("b@example.cn"));
        assert!(message(&smtp, &["not an address".into()], &r).is_err());
    }
}
