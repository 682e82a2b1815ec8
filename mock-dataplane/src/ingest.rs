//! The gateway's request pipeline on raw bytes (after `http_input` found the write key and
//! inflated the body): JSON validation, the per-event checks and the enrichment rudder-server applies before storing (gw `handle.go`).
//!
//! This is the hot path (per event), so events are never turned into `serde_json::Value` unless
//! the gateway would rewrite a key in place: each event stays a borrowed `RawValue`, a small
//! borrowed struct reads the id fields, and the enrichment keys are spliced into the raw text
//! before its closing brace (which is where Go's `sjson.SetBytes` appends new keys).

use std::borrow::Cow;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::gjson;
use crate::json_text::push_json_str;
use crate::response::Reject;
use crate::splice::Splice;

/// Which route family a request came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{"batch":[...]}`: `/v1/batch`, `/v1/import`, `/beacon/v1/batch`, pixel.
    Batch,
    /// A single event object; the gateway forces `type` to this value and wraps it in a batch.
    Single(&'static str),
}

/// An event ready to store: its final JSON text plus the fields the inspection API filters on.
///
/// All six live in one buffer: this is built once per event on the hot path and freed once, so
/// one allocation instead of six matters (the SQLite writer thread is the serial part).
#[derive(Clone, Debug)]
pub struct NewEvent {
    buf: String,
    /// End offsets in `buf` of: json, type, userId, anonymousId, event, messageId.
    ends: [u32; 6],
}

impl NewEvent {
    /// An event from separate parts (the cold paths).
    pub fn new(json: &str, fields: [&str; 5]) -> NewEvent {
        let mut buf =
            String::with_capacity(json.len() + fields.iter().map(|f| f.len()).sum::<usize>());
        buf.push_str(json);
        NewEvent::finish(buf, fields)
    }

    /// Takes a buffer holding the event's JSON and appends the filter fields after it.
    fn finish(mut buf: String, fields: [&str; 5]) -> NewEvent {
        let mut ends = [0u32; 6];
        ends[0] = buf.len() as u32;
        for (i, f) in fields.iter().enumerate() {
            buf.push_str(f);
            ends[i + 1] = buf.len() as u32;
        }
        NewEvent { buf, ends }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }

    /// The event as stored (enriched JSON text).
    pub fn json(&self) -> &str {
        self.part(0)
    }
    pub fn r#type(&self) -> &str {
        self.part(1)
    }
    pub fn user_id(&self) -> &str {
        self.part(2)
    }
    pub fn anonymous_id(&self) -> &str {
        self.part(3)
    }
    pub fn event(&self) -> &str {
        self.part(4)
    }
    pub fn message_id(&self) -> &str {
        self.part(5)
    }
}

/// Per-request values the enrichment writes into every event.
pub struct EnrichCtx<'a> {
    /// `receivedAt`, already formatted like Go's `2006-01-02T15:04:05.000Z07:00` in UTC.
    pub received_at: &'a str,
    /// First `X-Forwarded-For` hop or the peer address.
    pub request_ip: &'a str,
}

/// The outcome of a rejected body: the gateway's reason and a detail naming what was wrong.
#[derive(Debug)]
pub struct Rejection {
    pub reason: Reject,
    pub detail: String,
}

fn reject(reason: Reject, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

/// The result of validating and enriching a body.
pub struct Prepared {
    pub events: Vec<NewEvent>,
    /// The first event holding a number beyond `float64` (`1e400`): gjson reads it as an
    /// infinity, which the gateway cannot encode when it writes the job, so it answers
    /// `invalid json` (after the size check, where the caller checks this).
    pub unencodable: Option<usize>,
    /// The size the gateway compares against the maximum request size.
    pub measured_len: usize,
    /// Body-level `sentAt` / `timestamp` next to `batch` (SDKs send them; the gateway does not
    /// store them, the journal records them).
    pub body_sent_at: Option<String>,
    pub body_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow, default)]
    batch: BatchField<'a>,
    #[serde(rename = "sentAt", borrow, default, deserialize_with = "present_raw")]
    sent_at: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    timestamp: Option<&'a RawValue>,
}

/// The id fields of one event, borrowed. `deserialize_with` makes a JSON `null` count as present
/// (Go's `gjson.Exists`), which plain `Option` would turn into `None`.
#[derive(Deserialize, Default)]
struct EventFields<'a> {
    #[serde(rename = "userId", borrow, default, deserialize_with = "present_raw")]
    user_id: Option<&'a RawValue>,
    #[serde(
        rename = "anonymousId",
        borrow,
        default,
        deserialize_with = "present_raw"
    )]
    anonymous_id: Option<&'a RawValue>,
    #[serde(
        rename = "messageId",
        borrow,
        default,
        deserialize_with = "present_raw"
    )]
    message_id: Option<&'a RawValue>,
    #[serde(rename = "type", borrow, default, deserialize_with = "present_raw")]
    r#type: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    event: Option<&'a RawValue>,
    #[serde(rename = "rudderId", borrow, default, deserialize_with = "present_raw")]
    rudder_id: Option<&'a RawValue>,
    #[serde(
        rename = "receivedAt",
        borrow,
        default,
        deserialize_with = "present_raw"
    )]
    received_at: Option<&'a RawValue>,
    #[serde(
        rename = "request_ip",
        borrow,
        default,
        deserialize_with = "present_raw"
    )]
    request_ip: Option<&'a RawValue>,
}

/// The `batch` value, read in the same pass as the body: an array's items stay borrowed raw
/// text (one walk over the events instead of re-parsing the array).
#[derive(Default)]
enum BatchField<'a> {
    /// Absent or `null`: zero events.
    #[default]
    Missing,
    Items(Vec<&'a RawValue>),
    /// Any other value: gjson's `.Array()` makes it a one-element array; re-read as raw text.
    Single,
}

impl<'de: 'a, 'a> Deserialize<'de> for BatchField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = BatchField<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(item) = seq.next_element::<&'de RawValue>()? {
                    items.push(item);
                }
                Ok(BatchField::Items(items))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(BatchField::Missing)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(BatchField::Missing)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(BatchField::Single)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(BatchField::Single)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(BatchField::Single)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(BatchField::Single)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(BatchField::Single)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(BatchField::Single)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The rare shape `{"batch": <non-array>}`: the value as raw text.
#[derive(Deserialize)]
struct BatchRaw<'a> {
    #[serde(borrow)]
    batch: &'a RawValue,
}

fn present_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// [`stringify_raw`] of a borrowed raw value.
fn stringify(raw: Option<&RawValue>) -> Cow<'_, str> {
    stringify_raw(raw.map(RawValue::get))
}

/// rudder-go-kit `GetMD5UUID`: MD5 of the text, with UUID version 4 and the RFC 4122 variant.
pub fn md5_uuid(text: &str) -> uuid::Uuid {
    uuid_of_digest(Md5::digest(text.as_bytes()).into())
}

/// [`md5_uuid`] of `user_id:anonymous_id`, without building the joined string.
pub fn rudder_id(user_id: &str, anonymous_id: &str) -> uuid::Uuid {
    let mut h = Md5::new();
    h.update(user_id.as_bytes());
    h.update(b":");
    h.update(anonymous_id.as_bytes());
    uuid_of_digest(h.finalize().into())
}

fn uuid_of_digest(mut bytes: [u8; 16]) -> uuid::Uuid {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// Validates and enriches a (decompressed) body in the gateway's order: valid JSON, then per
/// event "is an object" and "has an id". Rate limit, size and emptiness are checked by the
/// caller on the result, because their order relative to these checks matters.
pub fn prepare(body: &[u8], kind: Kind, ctx: &EnrichCtx<'_>) -> Result<Prepared, Rejection> {
    // Go's gjson validator accepts only UTF-8 documents here in practice; a non-UTF-8 body is
    // reported as invalid JSON with the offending byte offset.
    let text = std::str::from_utf8(body).map_err(|e| {
        reject(
            Reject::InvalidJson,
            format!("body is not UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    // gjson decodes lone surrogate escapes (to U+FFFD) where serde_json refuses them: rewrite
    // them first, so the body is read as the gateway reads it and stored as valid JSON.
    let normalized = gjson::normalize_surrogates(text);
    let mut prepared = match kind {
        Kind::Batch => prepare_batch(&normalized, ctx),
        Kind::Single(call_type) => prepare_single(&normalized, call_type, ctx),
    }?;
    // The size check measures the body as the client sent it.
    prepared.measured_len += text.len() - normalized.len();
    Ok(prepared)
}

fn first_non_ws(text: &str) -> Option<u8> {
    text.bytes().find(|b| !b.is_ascii_whitespace())
}

fn prepare_batch(text: &str, ctx: &EnrichCtx<'_>) -> Result<Prepared, Rejection> {
    let mut body_sent_at = None;
    let mut body_timestamp = None;
    let items: Vec<&RawValue> = if first_non_ws(text) == Some(b'{') {
        let body: BatchBody<'_> = serde_json::from_str(text)
            .map_err(|e| reject(Reject::InvalidJson, format!("body: {e}")))?;
        body_sent_at = body.sent_at.map(|r| stringify(Some(r)).into_owned());
        body_timestamp = body.timestamp.map(|r| stringify(Some(r)).into_owned());
        match body.batch {
            BatchField::Missing => Vec::new(),
            BatchField::Items(items) => items,
            // gjson's `.Array()` of a non-array value is a one-element array.
            BatchField::Single => {
                let raw: BatchRaw<'_> = serde_json::from_str(text)
                    .map_err(|e| reject(Reject::InvalidJson, format!("body: {e}")))?;
                vec![raw.batch]
            }
        }
    } else {
        // Valid JSON that is not an object has no `batch`: zero events.
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| reject(Reject::InvalidJson, format!("body: {e}")))?;
        Vec::new()
    };
    let mut events = Vec::with_capacity(items.len());
    let mut unencodable = None;
    for (index, item) in items.iter().enumerate() {
        events.push(enrich(item.get(), None, index, ctx)?);
        if unencodable.is_none() && gjson::has_infinite_number(item.get()) {
            unencodable = Some(index);
        }
    }
    Ok(Prepared {
        events,
        unencodable,
        measured_len: text.len(),
        body_sent_at,
        body_timestamp,
    })
}

fn prepare_single(
    text: &str,
    call_type: &'static str,
    ctx: &EnrichCtx<'_>,
) -> Result<Prepared, Rejection> {
    let raw: &RawValue = serde_json::from_str(text)
        .map_err(|e| reject(Reject::InvalidJson, format!("body: {e}")))?;
    let event = enrich(raw.get(), Some(call_type), 0, ctx)?;
    // The gateway measures the body after setting `type` and wrapping it in {"batch":[...]};
    // the enrichment keys are not part of that size.
    let typed_len = with_type(raw.get(), call_type).len();
    Ok(Prepared {
        unencodable: gjson::has_infinite_number(raw.get()).then_some(0),
        events: vec![event],
        measured_len: typed_len + r#"{"batch":[]}"#.len(),
        body_sent_at: None,
        body_timestamp: None,
    })
}

/// The event text after `sjson.SetBytes(body, "type", t)`.
fn with_type(text: &str, call_type: &str) -> String {
    match Splice::new(text) {
        Ok(mut edit) => {
            edit.set("type", call_type);
            edit.finish()
        }
        Err(_) => text.to_owned(),
    }
}

fn enrich(
    text: &str,
    force_type: Option<&'static str>,
    index: usize,
    ctx: &EnrichCtx<'_>,
) -> Result<NewEvent, Rejection> {
    if !text.starts_with('{') {
        return Err(reject(
            Reject::NotRudderEvent,
            format!("batch[{index}] is not a JSON object"),
        ));
    }
    // Duplicate keys make serde refuse the struct; gjson takes the first occurrence, and so
    // does the slow path.
    let fields: Option<EventFields<'_>> = serde_json::from_str(text).ok();
    let Some(fields) = fields else {
        return enrich_slow(text, force_type, index, ctx);
    };
    let user_id = gjson::id_text(fields.user_id.map(RawValue::get));
    let anonymous_id = gjson::id_text(fields.anonymous_id.map(RawValue::get));
    let exempt = force_type.is_none() && exempt_type(fields.r#type.map(RawValue::get));
    if user_id.is_empty() && anonymous_id.is_empty() && !exempt {
        return Err(no_ids(index));
    }
    let message_id = MessageId::of(fields.message_id.map(RawValue::get));
    let type_present = fields.r#type.is_some();
    if fields.rudder_id.is_some()
        || matches!(message_id, MessageId::Replace(_))
        || (force_type.is_some() && type_present)
    {
        // The gateway overwrites an existing key in place: edit this event's text like sjson.
        return enrich_slow(text, force_type, index, ctx);
    }
    let rudder_id = rudder_id(&user_id, &anonymous_id);
    let event_name = stringify(fields.event);
    let extra = user_id.len() + anonymous_id.len() + event_name.len() + 36 + 16;
    let mut out = String::with_capacity(text.len() + 200 + extra);
    out.push_str(&text[..text.len() - 1]);
    if let Some(t) = force_type {
        push_key(&mut out, "type", t);
    }
    if let MessageId::Add(id) = &message_id {
        push_key(&mut out, "messageId", id);
    }
    push_key(
        &mut out,
        "rudderId",
        rudder_id
            .hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    );
    if fields.received_at.is_none() {
        push_key(&mut out, "receivedAt", ctx.received_at);
    }
    if fields.request_ip.is_none() {
        push_key(&mut out, "request_ip", ctx.request_ip);
    }
    out.push('}');

    let client_type;
    let event_type = match force_type {
        Some(t) => t,
        None => {
            client_type = stringify(fields.r#type);
            &client_type
        }
    };
    Ok(NewEvent::finish(
        out,
        [
            event_type,
            &user_id,
            &anonymous_id,
            &event_name,
            message_id.value(),
        ],
    ))
}

fn no_ids(index: usize) -> Rejection {
    reject(
        Reject::NoIds,
        format!(
            "batch[{index}] has neither a non-empty userId nor anonymousId (after removing invisible characters and spaces, as the gateway does)"
        ),
    )
}

/// gw `isNonIdentifiable`: events whose `type` is the string `extract` or `record` (rETL)
/// need no id, on whatever route they arrive (single-event routes force their own type).
fn exempt_type(raw: Option<&str>) -> bool {
    matches!(
        gjson::string_value(raw).as_deref(),
        Some("extract" | "record")
    )
}

/// The gateway's `fillMessageID`: only a string counts (`event["messageId"].(string)`); it is
/// sanitised and trimmed and written back, and an empty one is replaced by a new UUID v4.
enum MessageId<'a> {
    /// The client's value is kept as sent (its text already is the cleaned string).
    Keep(Cow<'a, str>),
    /// No `messageId`: a new one is appended.
    Add(String),
    /// The event's `messageId` is overwritten with this value.
    Replace(String),
}

impl<'a> MessageId<'a> {
    fn of(raw: Option<&'a str>) -> MessageId<'a> {
        let Some(raw) = raw else {
            return MessageId::Add(uuid::Uuid::new_v4().to_string());
        };
        let Some(decoded) = gjson::string_value(Some(raw)) else {
            return MessageId::Replace(uuid::Uuid::new_v4().to_string());
        };
        let clean = gjson::trim_sanitized(decoded.clone());
        if clean.is_empty() {
            MessageId::Replace(uuid::Uuid::new_v4().to_string())
        } else if clean == decoded {
            MessageId::Keep(decoded)
        } else {
            MessageId::Replace(clean.into_owned())
        }
    }

    fn value(&self) -> &str {
        match self {
            MessageId::Keep(v) => v,
            MessageId::Add(v) | MessageId::Replace(v) => v,
        }
    }
}

/// Appends `,"key":"value"` (JSON-escaped) before the closing brace.
fn push_key(out: &mut String, key: &str, value: &str) {
    out.push(',');
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
    push_json_str(out, value);
}

/// The rare path, for events whose existing keys the gateway rewrites in place (a client
/// `rudderId`, a `messageId` it cleans or replaces, `type` on single-event routes) or that
/// have duplicate keys. Like `sjson.SetBytes`, it works on the raw text: the first occurrence
/// of a key has its value replaced where it stands, new keys are appended before the closing
/// brace, and every other byte of the client's event is kept as sent.
fn enrich_slow(
    text: &str,
    force_type: Option<&'static str>,
    index: usize,
    ctx: &EnrichCtx<'_>,
) -> Result<NewEvent, Rejection> {
    let mut edit = Splice::new(text).map_err(|e| {
        reject(
            Reject::NotRudderEvent,
            format!("batch[{index}] is not a JSON object: {e}"),
        )
    })?;
    let user_id = gjson::id_text(edit.get("userId")).into_owned();
    let anonymous_id = gjson::id_text(edit.get("anonymousId")).into_owned();
    let exempt = force_type.is_none() && exempt_type(edit.get("type"));
    if user_id.is_empty() && anonymous_id.is_empty() && !exempt {
        return Err(no_ids(index));
    }
    if let Some(t) = force_type {
        edit.set("type", t);
    }
    let message_id = match MessageId::of(edit.get("messageId")) {
        MessageId::Keep(v) => v.into_owned(),
        MessageId::Add(v) | MessageId::Replace(v) => {
            edit.set("messageId", &v);
            v
        }
    };
    edit.set("rudderId", &rudder_id(&user_id, &anonymous_id).to_string());
    if edit.get("receivedAt").is_none() {
        edit.set("receivedAt", ctx.received_at);
    }
    if edit.get("request_ip").is_none() {
        edit.set("request_ip", ctx.request_ip);
    }
    let event_type = match force_type {
        Some(t) => t.to_owned(),
        None => stringify_raw(edit.get("type")).into_owned(),
    };
    let event = stringify_raw(edit.get("event")).into_owned();
    let json = edit.finish_as_map();
    Ok(NewEvent::new(
        &json,
        [&event_type, &user_id, &anonymous_id, &event, &message_id],
    ))
}

/// The text the inspection filters match a field against (`type`, `event`) and the journal
/// shows (body-level `sentAt`): strings decoded, `null` and absent as "", anything else as its
/// JSON text.
pub(crate) fn stringify_raw(raw: Option<&str>) -> Cow<'_, str> {
    match raw {
        None | Some("null") => Cow::Borrowed(""),
        Some(t) => gjson::string_value(Some(t)).unwrap_or(Cow::Borrowed(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_input::{BodyError, basic_auth_user, gunzip_capped};
    use base64::Engine as _;

    fn ctx() -> EnrichCtx<'static> {
        EnrichCtx {
            received_at: "2026-01-01T00:00:00.000Z",
            request_ip: "10.0.0.1",
        }
    }

    #[test]
    fn basic_auth_requires_colon_and_username() {
        let enc = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            basic_auth_user(Some(enc("key:").as_bytes())).as_deref(),
            Some("key")
        );
        assert_eq!(
            basic_auth_user(Some(enc("key:pw").as_bytes())).as_deref(),
            Some("key")
        );
        assert_eq!(basic_auth_user(Some(enc("key").as_bytes())), None);
        assert_eq!(basic_auth_user(Some(enc(":pw").as_bytes())), None);
        assert_eq!(basic_auth_user(Some(b"Bearer abc")), None);
        assert_eq!(basic_auth_user(None), None);
        let lower = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("k:")
        );
        assert_eq!(
            basic_auth_user(Some(lower.as_bytes())).as_deref(),
            Some("k")
        );
    }

    #[test]
    fn rudder_id_is_md5_uuid_v4() {
        // md5("u1:") = 8e9c9b3b...; the version nibble becomes 4 and the variant 10xx.
        let id = md5_uuid("u1:");
        let s = id.to_string();
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
        let digest: [u8; 16] = Md5::digest(b"u1:").into();
        assert_eq!(id.as_bytes()[0], digest[0]);
        assert_eq!(id.as_bytes()[15], digest[15]);
    }

    #[test]
    fn fast_path_splices_enrichment_and_keeps_client_text() {
        let body = br#"{"batch":[{"type":"track","userId":"u1","event":"E","messageId":"m1","sentAt":"x"}]}"#;
        let p = prepare(body, Kind::Batch, &ctx()).unwrap();
        let e = &p.events[0];
        assert!(e.json().starts_with(r#"{"type":"track","userId":"u1","event":"E","messageId":"m1","sentAt":"x","rudderId":""#));
        let v: serde_json::Value = serde_json::from_str(e.json()).unwrap();
        assert_eq!(v["rudderId"], md5_uuid("u1:").to_string());
        assert_eq!(v["receivedAt"], "2026-01-01T00:00:00.000Z");
        assert_eq!(v["request_ip"], "10.0.0.1");
        assert_eq!(e.message_id(), "m1");
        assert_eq!(e.event(), "E");
    }

    #[test]
    fn slow_path_overwrites_in_place() {
        let body = br#"{"type":"identify","anonymousId":"a","messageId":"  ","rudderId":"x","receivedAt":"r"}"#;
        let p = prepare(body, Kind::Single("track"), &ctx()).unwrap();
        let v: serde_json::Value = serde_json::from_str(p.events[0].json()).unwrap();
        assert_eq!(v["type"], "track");
        assert_eq!(v["receivedAt"], "r");
        assert_eq!(v["rudderId"], md5_uuid(":a").to_string());
        assert_eq!(
            uuid::Uuid::parse_str(v["messageId"].as_str().unwrap())
                .unwrap()
                .get_version_num(),
            4
        );
        assert!(p.events[0].json().starts_with(r#"{"type":"track","#));
    }

    #[test]
    fn gjson_array_semantics_for_batch_key() {
        let c = ctx();
        assert_eq!(prepare(b"{}", Kind::Batch, &c).unwrap().events.len(), 0);
        assert_eq!(
            prepare(br#"{"batch":null}"#, Kind::Batch, &c)
                .unwrap()
                .events
                .len(),
            0
        );
        assert_eq!(prepare(b"[1]", Kind::Batch, &c).unwrap().events.len(), 0);
        let one = prepare(br#"{"batch":{"userId":"u"}}"#, Kind::Batch, &c).unwrap();
        assert_eq!(one.events.len(), 1);
        let err = prepare(br#"{"batch":[{"userId":"u"}, 5]}"#, Kind::Batch, &c)
            .err()
            .unwrap();
        assert_eq!(err.reason, Reject::NotRudderEvent);
        assert!(err.detail.contains("batch[1]"));
        let err = prepare(
            br#"{"batch":[{"userId":"  ","anonymousId":null}]}"#,
            Kind::Batch,
            &c,
        )
        .err()
        .unwrap();
        assert_eq!(err.reason, Reject::NoIds);
        let err = prepare(b"", Kind::Batch, &c).err().unwrap();
        assert_eq!(err.reason, Reject::InvalidJson);
        let ok = prepare(br#"{"batch":[{"userId":5}]}"#, Kind::Batch, &c).unwrap();
        assert_eq!(ok.events[0].user_id(), "5");
    }

    #[test]
    fn gzip_cap_is_enforced_while_decompressing() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b' '; 1_000_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert!(matches!(gunzip_capped(&gz, 1000), Err(BodyError::TooLarge)));
        assert_eq!(gunzip_capped(&gz, 2_000_000).unwrap().len(), 1_000_000);
        assert!(matches!(
            gunzip_capped(&gz[..gz.len() / 2], 2_000_000),
            Err(BodyError::Corrupt(_))
        ));
    }

    #[test]
    fn slow_path_edits_the_raw_text_like_sjson() {
        let c = ctx();
        // A client rudderId is replaced where it stands; numbers and spacing stay as sent.
        let body = br#"{"batch":[{"rudderId":"mine", "userId":"u","n":1e3,"big":123456789012345678901234,"f":1.0}]}"#;
        let e = &prepare(body, Kind::Batch, &c).unwrap().events[0];
        let rid = rudder_id("u", "").to_string();
        assert!(e.json().starts_with(&format!(
            r#"{{"rudderId":"{rid}", "userId":"u","n":1e3,"big":123456789012345678901234,"f":1.0,"messageId":""#
        )), "{}", e.json());
        assert!(
            e.json()
                .ends_with(r#","receivedAt":"2026-01-01T00:00:00.000Z","request_ip":"10.0.0.1"}"#)
        );
        // Duplicate keys: the first occurrence counts and is the one rewritten; the later
        // ones go, as in the Go map the gateway encodes.
        let body = br#"{"batch":[{"userId":"first","messageId":"" , "userId":"second","x":1,"messageId":"m2"}]}"#;
        let e = &prepare(body, Kind::Batch, &c).unwrap().events[0];
        assert_eq!(e.user_id(), "first");
        let v = e.json();
        assert!(v.starts_with(r#"{"userId":"first","messageId":""#), "{v}");
        assert!(v.contains(r#"","x":1,"rudderId""#), "{v}");
        assert!(!v.contains("second") && !v.contains("m2"), "{v}");
        assert_ne!(e.message_id(), "m2");
        assert_eq!(e.message_id().len(), 36);
        let parsed: serde_json::Value = serde_json::from_str(v).unwrap();
        assert_eq!(parsed["messageId"], e.message_id());
        // Single-event routes force `type` in place.
        let e = &prepare(
            br#"{"type":"x", "userId":"u"}"#,
            Kind::Single("identify"),
            &c,
        )
        .unwrap()
        .events[0];
        assert!(
            e.json()
                .starts_with(r#"{"type":"identify", "userId":"u","messageId""#),
            "{}",
            e.json()
        );
        assert_eq!(e.r#type(), "identify");
    }
}
