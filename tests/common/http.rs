//! Small HTTP and polling helpers for end-to-end tests: wait until
//! something is true (with a limit only so nothing hangs), JSON requests
//! with a bearer token.

use serde_json::Value;
use std::time::{Duration, Instant};

/// Polls `f` until it returns Ok, for at most `limit`; panics with `what`
/// and the last observation (the Err) otherwise.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {limit:?}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// `GET url` with a bearer token: (status, JSON body or Null).
pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = client
        .get(url)
        .bearer_auth(token)
        .header("accept-language", "en")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A request with a JSON body and a bearer token: (status, JSON body or
/// Null).
pub async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: &Value,
) -> (u16, Value) {
    let r = client
        .request(method, url)
        .bearer_auth(token)
        .header("accept-language", "en")
        .json(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Where two JSON documents differ: the paths (`.facts.groups[0].users`)
/// of differing values, empty when they are equal.
pub fn json_differences(a: &Value, b: &Value) -> Vec<String> {
    json_differences_within(a, b, 0.0).0
}

/// Like [`json_differences`], but two numbers that are not both integers
/// count as equal when they differ by at most `rel` of the larger one:
/// (differences, such near-equal numbers).
pub fn json_differences_within(a: &Value, b: &Value, rel: f64) -> (Vec<String>, Vec<String>) {
    fn walk(a: &Value, b: &Value, path: String, rel: f64, out: &mut (Vec<String>, Vec<String>)) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => walk(p, q, format!("{path}.{k}"), rel, out),
                        _ => out.0.push(format!("{path}.{k} (only on one side)")),
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, format!("{path}[{i}]"), rel, out);
                }
            }
            _ if a == b => {}
            (Value::Number(x), Value::Number(y)) if !(x.is_f64() || y.is_f64()) || rel <= 0.0 => {
                out.0.push(format!("{path}: {a} vs {b}"))
            }
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                if (x - y).abs() <= rel * x.abs().max(y.abs()) {
                    out.1.push(format!("{path}: {a} vs {b}"));
                } else {
                    out.0.push(format!("{path}: {a} vs {b}"));
                }
            }
            _ => out.0.push(format!("{path}: {a} vs {b}")),
        }
    }
    let mut out = (Vec::new(), Vec::new());
    walk(a, b, String::new(), rel, &mut out);
    out
}
