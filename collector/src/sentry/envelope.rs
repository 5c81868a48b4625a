//! Parser of Sentry envelopes: a JSON header line, then items, each a JSON
//! header line and a payload that is either `length` bytes long or runs to
//! the next newline. A bad item does not spoil the ones before it: the
//! parser returns every good item and the first problem it met.

use serde_json::Value;

/// One envelope item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub ty: String,
    pub header: Value,
    pub payload: Vec<u8>,
}

/// Why (part of) an envelope could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope header is not a JSON object: {0}")]
    Header(String),
    #[error("item {index}: the item header is not a JSON object: {reason}")]
    ItemHeader { index: usize, reason: String },
    #[error(
        "item {index}: declared length {declared} but only {available} bytes follow (truncated envelope)"
    )]
    Truncated {
        index: usize,
        declared: usize,
        available: usize,
    },
    #[error("item {index}: {size} bytes exceed the limit of {limit}")]
    ItemTooLarge {
        index: usize,
        size: usize,
        limit: usize,
    },
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub header: Value,
    pub items: Vec<Item>,
    /// The first item-level problem, if any; items after it are lost only
    /// when the envelope cannot be re-synchronised (a wrong length).
    pub error: Option<EnvelopeError>,
    /// Items skipped for being too large (kept going after them).
    pub oversized: Vec<EnvelopeError>,
}

fn line(buf: &[u8], pos: usize) -> (&[u8], usize) {
    match buf[pos..].iter().position(|&b| b == b'\n') {
        Some(n) => (&buf[pos..pos + n], pos + n + 1),
        None => (&buf[pos..], buf.len()),
    }
}

/// Parses an envelope. `max_item` caps each payload (attachments may have
/// their own larger cap: `max_attachment`).
pub fn parse(
    buf: &[u8],
    max_item: usize,
    max_attachment: usize,
) -> Result<Envelope, EnvelopeError> {
    let (head, mut pos) = line(buf, 0);
    let header: Value =
        serde_json::from_slice(head).map_err(|e| EnvelopeError::Header(e.to_string()))?;
    if !header.is_object() {
        return Err(EnvelopeError::Header("expected an object".into()));
    }
    let mut env = Envelope {
        header,
        items: Vec::new(),
        error: None,
        oversized: Vec::new(),
    };
    let mut index = 0;
    while pos < buf.len() {
        let (h, next) = line(buf, pos);
        if h.iter().all(|b| b.is_ascii_whitespace()) {
            pos = next;
            continue;
        }
        let item_header: Value = match serde_json::from_slice(h) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => {
                env.error = Some(EnvelopeError::ItemHeader {
                    index,
                    reason: "expected an object".into(),
                });
                break;
            }
            Err(e) => {
                env.error = Some(EnvelopeError::ItemHeader {
                    index,
                    reason: e.to_string(),
                });
                break;
            }
        };
        pos = next;
        let ty = item_header
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let payload: &[u8] = match item_header.get("length").and_then(Value::as_u64) {
            Some(len) => {
                let len = len as usize;
                let available = buf.len().saturating_sub(pos);
                if len > available {
                    env.error = Some(EnvelopeError::Truncated {
                        index,
                        declared: len,
                        available,
                    });
                    break;
                }
                let p = &buf[pos..pos + len];
                pos += len;
                // The payload may be followed by a newline.
                if buf.get(pos) == Some(&b'\n') {
                    pos += 1;
                }
                p
            }
            None => {
                let (p, next) = line(buf, pos);
                pos = next;
                p
            }
        };
        let limit = if ty == "attachment" {
            max_attachment
        } else {
            max_item
        };
        if payload.len() > limit {
            env.oversized.push(EnvelopeError::ItemTooLarge {
                index,
                size: payload.len(),
                limit,
            });
        } else {
            env.items.push(Item {
                ty,
                header: item_header,
                payload: payload.to_vec(),
            });
        }
        index += 1;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_with_and_without_length() {
        let env = b"{\"event_id\":\"a\"}\n{\"type\":\"event\",\"length\":7}\n{\"x\":1}\n{\"type\":\"session\"}\n{\"sid\":\"s\"}\n";
        let e = parse(env, 1000, 1000).unwrap();
        assert_eq!(e.items.len(), 2);
        assert_eq!(e.items[0].payload, b"{\"x\":1}");
        assert_eq!(e.items[1].ty, "session");
        assert!(e.error.is_none());
    }

    #[test]
    fn binary_payload_with_newlines_uses_length() {
        let env = b"{}\n{\"type\":\"attachment\",\"length\":5}\na\nb\nc\n{\"type\":\"event\"}\n{}";
        let e = parse(env, 1000, 1000).unwrap();
        assert_eq!(e.items[0].payload, b"a\nb\nc");
        assert_eq!(e.items.len(), 2);
    }

    #[test]
    fn truncation_keeps_earlier_items() {
        let env = b"{}\n{\"type\":\"session\"}\n{\"sid\":\"s\"}\n{\"type\":\"event\",\"length\":500}\n{\"short\":true}";
        let e = parse(env, 1000, 1000).unwrap();
        assert_eq!(e.items.len(), 1);
        assert!(matches!(
            e.error,
            Some(EnvelopeError::Truncated {
                index: 1,
                declared: 500,
                ..
            })
        ));
    }

    #[test]
    fn oversized_items_are_skipped_not_fatal() {
        let env = b"{}\n{\"type\":\"event\"}\n0123456789\n{\"type\":\"session\"}\n{}";
        let e = parse(env, 5, 1000).unwrap();
        assert_eq!(e.items.len(), 1);
        assert_eq!(e.oversized.len(), 1);
        assert!(matches!(
            parse(b"not json\n", 5, 5),
            Err(EnvelopeError::Header(_))
        ));
    }
}
