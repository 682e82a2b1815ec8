//! `DIR/exchanges/NNNN_<kind>[_<action>].json`: each request and answer as it passed, with
//! Looker's headers that matter, secrets masked and the Look itself left to its Look file.

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::proxy::{Route, json_of};
use super::redact::MASK;
use super::session::Session;

/// Looker's headers worth keeping (never `Authorization`).
const KEPT_HEADERS: [&str; 4] = [
    "user-agent",
    "x-looker-instance",
    "x-looker-webhook-id",
    "content-type",
];

/// One request as Looker sent it.
#[derive(Debug)]
pub struct Exchange {
    pub route: Route,
    pub method: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub request: axum::body::Bytes,
    /// The scenario an execute became.
    pub scenario: Option<u64>,
}

/// The request body as it may be kept: sensitive `data` values masked, and an inline Look
/// replaced by a note (it is in the Look file).
fn request_body(s: &Session, ex: &Exchange) -> Value {
    let Some(mut v) = json_of(&ex.request) else {
        return if ex.request.is_empty() {
            Value::Null
        } else {
            json!(String::from_utf8_lossy(
                &ex.request[..ex.request.len().min(64 * 1024)]
            ))
        };
    };
    let sensitive = ex
        .route
        .action()
        .and_then(|a| s.lock().params.get(a).cloned())
        .unwrap_or_default();
    if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
        for (k, val) in data.iter_mut() {
            let secret = k.starts_with("state_")
                || k == "rudder_write_key"
                || (k != "value" && sensitive.get(k).copied().unwrap_or(true));
            if secret {
                *val = json!(MASK);
            }
        }
    }
    if let Some(att) = v.get_mut("attachment").and_then(Value::as_object_mut)
        && att.contains_key("data")
    {
        let note = match ex.scenario {
            Some(n) => format!("(the Look: see the Look file of scenario {n:03})"),
            None => "(the Look, not kept)".into(),
        };
        att.insert("data".into(), json!(note));
    }
    if let Some(u) = v.pointer_mut("/scheduled_plan/download_url") {
        *u = json!(MASK);
    }
    if let Some(st) = v.get_mut("state") {
        *st = json!(MASK);
    }
    v
}

/// Writes the exchange file; errors are logged, never fatal to the proxying.
pub fn record_exchange(
    s: &Session,
    ex: &Exchange,
    status: Option<u16>,
    answer: &[u8],
    failure: Option<&str>,
) {
    let mut headers = Map::new();
    for name in KEPT_HEADERS {
        if let Some(v) = ex.headers.get(name).and_then(|v| v.to_str().ok()) {
            headers.insert(name.into(), json!(v));
        }
    }
    let answer_value =
        json_of(answer).unwrap_or_else(|| json!(String::from_utf8_lossy(answer).into_owned()));
    let mut v = json!({
        "method": ex.method,
        "path": ex.path_and_query,
        "headers": headers,
        "request": request_body(s, ex),
        "status": status,
        "answer": answer_value,
    });
    if let Some(f) = failure {
        v["failure"] = json!(f);
    }
    if s.cfg.redact_pii {
        s.lock().pii.value(&mut v);
    }
    let n = {
        let mut st = s.lock();
        st.exchanges += 1;
        st.exchanges
    };
    let mut name = format!("exchanges/{n:04}_{}", ex.route.kind());
    if let Some(a) = ex.route.action() {
        name.push('_');
        name.push_str(&super::writer::stem(0, a)[4..]);
    }
    name.push_str(".json");
    let text = serde_json::to_string_pretty(&v).unwrap_or_default();
    if let Err(e) = s.write(std::path::Path::new(&name), &text) {
        tracing::warn!(error = %format!("{e:#}"), "writing an exchange file failed");
    }
}
