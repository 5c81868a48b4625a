//! Sentry envelopes as the collector's `/api/{project}/envelope/` reads
//! them after authentication and decompression: the envelope parser, then
//! every item through the mapper onto vitals batches, then the same
//! admission checks as a native batch (validation, privacy pass).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use vitals_collector::privacy::{self, Scrubber};
use vitals_collector::sentry::{SentryConfig, envelope, map};
use vitals_i18n::Lang;
use vitals_protocol::{Batch, Limits, validate};

/// Server time: near the captures' `sent_at`, so mapped seeds validate.
const NOW_MS: i64 = 1_795_917_600_000;

struct Fixture {
    cfg: SentryConfig,
    limits: Limits,
    scrubber: Scrubber,
    hosts: BTreeMap<String, String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let cfg = SentryConfig {
            // Smaller than production so one input stays fast.
            max_item_bytes: 256 << 10,
            max_attachment_bytes: 256 << 10,
            max_aggregate_sessions: 2_000,
            ..SentryConfig::default()
        };
        let mut hosts = BTreeMap::new();
        hosts.insert("trade.example.com".to_string(), "trade".to_string());
        hosts.insert("quote.example.com".to_string(), "quote".to_string());
        Fixture {
            cfg,
            limits: Limits::default(),
            scrubber: Scrubber::new(&[]).expect("built-in patterns compile"),
            hosts,
        }
    })
}

/// As `sentry::envelope_id` (private there; two lines).
fn envelope_id(header: &Value, body: &[u8]) -> String {
    header
        .get("event_id")
        .and_then(Value::as_str)
        .map(|s| s.replace('-', ""))
        .filter(|s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| hex::encode(&Sha256::digest(body)[..12]))
}

fn admit(f: &Fixture, mut batch: Batch) {
    match validate(&batch, &f.limits, NOW_MS) {
        Ok(()) => {
            privacy::apply(&mut batch, b"fuzz-pseudonym-secret", &f.scrubber);
            let _ = serde_json::to_vec(&batch);
        }
        Err(e) => {
            let _ = e.message(Lang::En);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Ok(env) = envelope::parse(data, f.cfg.max_item_bytes, f.cfg.max_attachment_bytes) else {
        return;
    };
    let _ = env.error.as_ref().map(ToString::to_string);
    let ctx = map::MapCtx {
        app_id: "fuzz-app",
        envelope_id: envelope_id(&env.header, data),
        header: &env.header,
        host_categories: &f.hosts,
        max_aggregate_sessions: f.cfg.max_aggregate_sessions,
    };
    let has_event = env.items.iter().any(|i| i.ty == "event");
    let attachment = env
        .items
        .iter()
        .any(|i| i.ty == "attachment")
        .then(|| "attachment:fuzz".to_string());
    for (index, it) in env.items.iter().enumerate() {
        let Ok(doc) = serde_json::from_slice::<Value>(&it.payload) else {
            continue;
        };
        let batches: Vec<Batch> = match it.ty.as_str() {
            "event" => vec![map::event(&ctx, index, &doc, attachment.clone())],
            "session" => map::session(&ctx, index, &doc).unwrap_or_default(),
            "sessions" => map::sessions(&ctx, index, &doc).unwrap_or_default(),
            "transaction" => map::transaction(&ctx, index, &doc).into_iter().collect(),
            "span" => map::spans(&ctx, index, &doc).into_iter().collect(),
            "client_report" => {
                let _ = map::client_report(&doc);
                Vec::new()
            }
            _ => Vec::new(),
        };
        for b in batches {
            admit(f, b);
        }
    }
    // A minidump without an event becomes a crash of its own.
    if !has_event && attachment.is_some() {
        let doc = serde_json::json!({
            "level": "fatal",
            "timestamp": env.header.get("sent_at").cloned().unwrap_or(Value::Null),
            "exception": {"values": [{"type": "Minidump", "mechanism": {"handled": false}}]}
        });
        admit(f, map::event(&ctx, env.items.len(), &doc, attachment));
    }
});
