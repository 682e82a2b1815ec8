//! Request bodies of executes and forms: read within the push limit and a hub-wide memory
//! budget, and their small parts (`type`, `data`, `form_params`, the scheduled plan's
//! `download_url` and `hidden_fields`) read without building a `serde_json::Value` of the body.
//!
//! # The body budget
//! Execute bodies are held whole while their action runs (a pushed attachment is unescaped from
//! the body in place), so concurrent executes add up. Every body is counted against
//! [`HubConfig::body_budget`](crate::HubConfig::body_budget) (default twice the 250 MB push
//! limit) from its first byte until its execute or form finishes: with a `Content-Length` the
//! whole length is reserved before reading, otherwise each chunk as it arrives. A body that
//! does not fit gets `503` with `Retry-After` at once, instead of the hub growing without bound
//! (its bytes are read and dropped first, so that a client that sends a whole body before
//! reading the answer sees the 503).
//! The bound is on body bytes; a body sent without `Content-Length` briefly needs twice its size
//! when its chunks are joined.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB, so that any size fits the semaphore's permits.
const UNIT: usize = 1024;

/// The bytes of request bodies the hub holds at once.
#[derive(Debug)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    bytes: usize,
}

/// A share of the budget; it returns when dropped.
#[derive(Debug)]
pub struct Reservation(Option<OwnedSemaphorePermit>);

impl BodyBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        let units = bytes
            .div_ceil(UNIT)
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            units: Arc::new(Semaphore::new(units)),
            bytes,
        }
    }

    /// Adds `bytes` more to `held`, if the budget has them now.
    fn grow(&self, held: &mut Reservation, bytes: usize) -> bool {
        let units = u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX);
        if units == 0 {
            return true;
        }
        match self.units.clone().try_acquire_many_owned(units) {
            Ok(p) => {
                match &mut held.0 {
                    Some(h) => h.merge(p),
                    None => held.0 = Some(p),
                }
                true
            }
            Err(_) => false,
        }
    }

    fn busy(&self) -> Response {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            axum::Json(serde_json::json!({
                "success": false,
                "error": format!(
                    "The hub is busy: the request bodies it holds would exceed its budget of {} bytes (--body-budget). Try again later.",
                    self.bytes
                ),
            })),
        )
            .into_response()
    }
}

/// Express's answer to a body that is not JSON or was cut.
pub(crate) fn express_html(status: StatusCode, text: &str) -> Response {
    let esc = html_escape::encode_text(text);
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>{esc}</pre>\n</body>\n</html>\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Reads a body up to `limit` bytes (above it, Express's 413 page), counted against `budget`
/// when given (503 when it is full). The reservation must live as long as the bytes are used.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    budget: Option<&BodyBudget>,
) -> Result<(Bytes, Reservation), Response> {
    let too_large = || {
        express_html(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError: request entity too large",
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut held = Reservation(None);
    let mut reserved = 0usize;
    if let (Some(b), Some(len)) = (budget, declared) {
        if !b.grow(&mut held, len as usize) {
            drain(body, limit).await;
            return Err(b.busy());
        }
        reserved = len as usize;
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut exact = Vec::new();
    let mut total = 0usize;
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            express_html(
                StatusCode::BAD_REQUEST,
                &format!("BadRequestError: request aborted ({e})"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            return Err(too_large());
        }
        if let Some(b) = budget
            && total > reserved
        {
            // Reserve ahead in steps of 64 KiB, so small chunks do not each take the lock.
            let want = (total - reserved).max(64 * UNIT).min(limit - reserved);
            if !b.grow(&mut held, want) {
                drop((chunks, exact, held));
                drain(body, limit - total).await;
                return Err(b.busy());
            }
            reserved += want;
        }
        match declared {
            Some(len) if total as u64 <= len => {
                if exact.capacity() == 0 {
                    exact.reserve_exact(len as usize);
                }
                exact.extend_from_slice(&data);
            }
            _ => chunks.push(data),
        }
    }
    let bytes = if chunks.is_empty() {
        Bytes::from(exact)
    } else if exact.is_empty() && chunks.len() == 1 {
        chunks.pop().expect("one chunk")
    } else {
        let mut all = Vec::with_capacity(total);
        all.extend_from_slice(&exact);
        drop(exact);
        for c in chunks {
            all.extend_from_slice(&c);
        }
        Bytes::from(all)
    };
    Ok((bytes, held))
}

/// Reads and drops the rest of a refused body (up to `limit` bytes), so that a client that
/// sends its whole body before reading the answer gets the 503 rather than a broken pipe. It
/// costs time, not memory.
async fn drain(mut body: Body, limit: usize) {
    let mut seen = 0usize;
    while seen <= limit {
        match body.frame().await {
            Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// The last member `key` of the JSON object `obj` (as `JSON.parse` keeps it), read without
/// keeping the other members. `None` when `obj` is not an object or has no such member.
pub(crate) fn member<'a>(obj: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    struct Find<'k>(&'k str);
    impl<'de> Visitor<'de> for Find<'_> {
        type Value = Option<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                if k == self.0 {
                    found = Some(m.next_value::<&'de RawValue>()?);
                } else {
                    m.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    impl<'de> DeserializeSeed<'de> for Find<'_> {
        type Value = Option<&'de RawValue>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    if !obj.get().starts_with('{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(obj.get());
    Find(key).deserialize(&mut de).ok().flatten()
}

/// The text of a JSON string value; `None` for anything else.
pub(crate) fn string(v: Option<&RawValue>) -> Option<String> {
    v.filter(|v| v.get().starts_with('"'))
        .and_then(|v| serde_json::from_str(v.get()).ok())
}

/// The string, number and boolean members of an object, as strings (`data`, `form_params`);
/// other members are skipped without being kept.
pub(crate) fn strings(v: Option<&RawValue>) -> HashMap<String, String> {
    struct Strings;
    impl<'de> Visitor<'de> for Strings {
        type Value = HashMap<String, String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = HashMap::new();
            while let Some(k) = m.next_key::<String>()? {
                let v: &'de RawValue = m.next_value()?;
                let t = v.get();
                let s = match t.as_bytes().first() {
                    // A string that is not Unicode (a lone surrogate) is left out.
                    Some(b'"') => match serde_json::from_str::<String>(t) {
                        Ok(s) => s,
                        Err(_) => continue,
                    },
                    Some(b't' | b'f') => t.to_owned(),
                    Some(b'{' | b'[' | b'n') | None => {
                        out.remove(&k);
                        continue;
                    }
                    // Numbers as serde_json writes them (it reads them as f64 or integers).
                    Some(_) => serde_json::from_str::<serde_json::Number>(t)
                        .map_err(de::Error::custom)?
                        .to_string(),
                };
                out.insert(k, s);
            }
            Ok(out)
        }
    }
    let Some(v) = v.filter(|v| v.get().starts_with('{')) else {
        return HashMap::new();
    };
    let mut de = serde_json::Deserializer::from_str(v.get());
    de.deserialize_map(Strings).unwrap_or_default()
}

/// The strings of a JSON array (`hidden_fields`); other elements are skipped.
pub(crate) fn string_list(v: Option<&RawValue>) -> Vec<String> {
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(v) = s.next_element::<&'de RawValue>()? {
                if let Some(t) = string(Some(v)) {
                    out.push(t);
                }
            }
            Ok(out)
        }
    }
    let Some(v) = v.filter(|v| v.get().starts_with('[')) else {
        return Vec::new();
    };
    let mut de = serde_json::Deserializer::from_str(v.get());
    de.deserialize_seq(List).unwrap_or_default()
}
