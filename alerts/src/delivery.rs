//! Delivery: e-mail through SMTP (lettre; plain, STARTTLS or TLS, with
//! authentication, several recipients) with a plain-text part, an HTML part
//! and the chart as an inline PNG; JSON webhooks (generic, WeCom, DingTalk
//! robots). Failed attempts are retried with exponential backoff; every
//! attempt is recorded (`alert_deliveries`).

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

/// Posts a webhook body.
pub async fn send_webhook(
    url: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("HTTP {}", r.status().as_u16()));
    }
    // WeCom and DingTalk answer 200 with {"errcode": n}; non-zero is a failure.
    let v: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    match v.get("errcode").and_then(|c| c.as_i64()) {
        Some(0) | None => Ok(()),
        Some(c) => Err(format!(
            "errcode {c}: {}",
            v.get("errmsg").and_then(|m| m.as_str()).unwrap_or("")
        )),
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
