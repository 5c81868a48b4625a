//! Glue between the collector's writer and the symbolicator: every crash
//! event is symbolicated on the symbolicator's own CPU pool before it is
//! stored, so stored stacks are readable and grouped by the symbolicated
//! fingerprint. A crash that cannot be processed keeps its raw frames and
//! says why (`notes`), including the debug files it lacks.

use base64::Engine;
use std::path::PathBuf;
use std::sync::Arc;
use vitals_i18n::Lang;
use vitals_protocol::{AcceptedBatch, Event, Frame, Thread};
use vitals_store::Enricher;
use vitals_symbolicator::{Status, Symbolicator};

pub struct SymbolEnricher {
    pub symbolicator: Arc<Symbolicator>,
    /// Where the collector keeps attachments (`attachment:` references).
    pub attachments_dir: PathBuf,
}

impl SymbolEnricher {
    /// Resolves an `attachment:<kind>:<path>` reference to the payload form
    /// the symbolicator reads (`minidump:<base64>`, or the report text).
    fn load_attachment(&self, raw: &str) -> Option<String> {
        let rest = raw.strip_prefix("attachment:")?;
        let (kind, rel) = rest.split_once(':')?;
        if rel.contains("..") {
            return None;
        }
        let bytes = std::fs::read(self.attachments_dir.join(rel)).ok()?;
        if kind.contains("minidump") {
            Some(format!(
                "minidump:{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ))
        } else {
            String::from_utf8(bytes).ok()
        }
    }
}

#[async_trait::async_trait]
impl Enricher for SymbolEnricher {
    async fn enrich(&self, b: &mut AcceptedBatch) {
        let release = b.batch.release.version.clone();
        for ev in b.batch.events.iter_mut() {
            let Event::Crash(c) = ev else { continue };
            let stored_raw = c.raw.clone();
            let mut input = c.clone();
            if let Some(r) = stored_raw
                .as_deref()
                .filter(|r| r.starts_with("attachment:"))
            {
                input.raw = self.load_attachment(r);
                if input.raw.is_none() {
                    c.notes.push(format!("raw: attachment {r} unreadable"));
                    continue;
                }
            }
            let out = self
                .symbolicator
                .symbolicate(&b.app_id, Some(&release), &input)
                .await;
            match &out.status {
                Status::Raw { reason } => c.notes.push(format!("raw: {reason}")),
                status => {
                    c.threads = out
                        .threads
                        .iter()
                        .map(|t| Thread {
                            id: t.id,
                            name: t.name.clone(),
                            crashed: t.crashed,
                            frames: t
                                .frames
                                .iter()
                                .map(|f| Frame {
                                    addr: f.addr.clone(),
                                    function: f.function.clone().or_else(|| f.raw_function.clone()),
                                    module: f.module.clone().or_else(|| f.image.clone()),
                                    file: f.file.clone(),
                                    line: f.line,
                                    col: f.col,
                                    in_app: Some(f.in_app),
                                    inlined: f.inlined.then_some(true),
                                })
                                .collect(),
                        })
                        .collect();
                    if !out.exception_type.is_empty()
                        && (c.exception_type == "Minidump" || c.exception_type.is_empty())
                    {
                        c.exception_type = out.exception_type.chars().take(256).collect();
                        c.message = out.message.chars().take(8000).collect();
                    }
                    c.notes.push(format!(
                        "symbolicated: {}",
                        if matches!(status, Status::Complete) {
                            "complete"
                        } else {
                            "partial"
                        }
                    ));
                }
            }
            for m in &out.missing {
                c.notes.push(format!("missing: {}", m.message(Lang::En)));
            }
            if c.fingerprint.is_none() && !out.fingerprint.is_empty() {
                c.fingerprint = Some(out.fingerprint.clone());
            }
            c.raw = stored_raw;
        }
    }
}
