//! What the proxy does around an execute: the Look saved (inline or fetched from the download
//! URL), secrets noted, the body rewritten where it must be, and once the hub has answered,
//! the data plane's events read and the scenario written. Also the list/form side: params'
//! sensitivity and the hub's URLs learnt from its answers.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

use super::look::{format_of, look_def};
use super::proxy::{Route, json_of, without_url};
use super::session::{Download, Session};
use super::writer::{Recorded, scenario, stem};

/// The largest Look a recording keeps as a Look file: parsed, a Look takes several times its
/// size in memory. A larger one is still passed to the hub whole; its scenario says why it has
/// no Look.
const LOOK_CAP: usize = 64 << 20;

fn too_large(size: usize) -> String {
    format!(
        "the Look is {size} bytes, more than the {} MiB a recording keeps as a Look file",
        LOOK_CAP >> 20
    )
}

/// `data` keys Looker adds itself whose values are credentials (OAuth state, state URL).
fn lookers_secret(key: &str) -> bool {
    key.starts_with("state_")
}

/// The version in `User-Agent: LookerOutgoingWebhook/<version>`.
fn looker_version(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?.to_str().ok()?;
    ua.strip_prefix("LookerOutgoingWebhook/")
        .map(|v| v.trim().to_owned())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Replaces the JSON string `old` by `new` in a raw body, keeping every other byte; `None` when
/// `old` does not appear as written.
fn replace_json_string(raw: &[u8], old: &str, new: &str) -> Option<Vec<u8>> {
    let enc = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let (old_enc, new_enc) = (enc(old), enc(new));
    let candidates = [old_enc.clone(), old_enc.replace('/', "\\/")];
    let needle = candidates
        .iter()
        .find(|c| memfind(raw, c.as_bytes()).is_some())?;
    let mut out = Vec::with_capacity(raw.len() + new_enc.len());
    let mut rest = raw;
    while let Some(i) = memfind(rest, needle.as_bytes()) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(new_enc.as_bytes());
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    Some(out)
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Replaces a string at `pointer` in the body: in the raw bytes when it appears there as
/// written, else by re-serialising the parsed body.
fn rewrite(raw: &[u8], parsed: &Value, pointer: &str, old: &str, new: &str) -> Vec<u8> {
    if let Some(out) = replace_json_string(raw, old, new) {
        return out;
    }
    let mut v = parsed.clone();
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = Value::String(new.to_owned());
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| raw.to_vec())
}

/// With `--dataplane-via`: the body with `data.rudder_server_url` pointed at the forwarding
/// mock data plane (same path), and the original URL.
pub fn rewrite_server_url(s: &Session, raw: &Bytes, action: &str) -> (Bytes, Option<String>) {
    let Some(parsed) = json_of(raw) else {
        return (raw.clone(), None);
    };
    note_secrets(s, &parsed, action);
    let (Some(via), Some(original)) = (
        s.via_url.as_deref(),
        parsed
            .pointer("/data/rudder_server_url")
            .and_then(Value::as_str),
    ) else {
        return (raw.clone(), None);
    };
    let path = url::Url::parse(original.trim())
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let new = format!("{via}{path}");
    let out = rewrite(raw, &parsed, "/data/rudder_server_url", original, &new);
    (Bytes::from(out), Some(original.to_owned()))
}

/// Sensitive params, the write key and Looker's OAuth state of a form or execute body become
/// secrets of the session.
fn note_secrets(s: &Session, body: &Value, action: &str) {
    let Some(data) = body.get("data").and_then(Value::as_object) else {
        return;
    };
    let mut st = s.lock();
    let sensitive = st.params.get(action).cloned().unwrap_or_default();
    for (k, v) in data {
        let secret = lookers_secret(k)
            || k == "rudder_write_key"
            || (k != "value" && sensitive.get(k).copied().unwrap_or(true));
        if secret && let Some(v) = v.as_str() {
            st.secrets.add(v);
        }
    }
}

/// The hub's action list (for `sensitive`), asked once if Looker's own list request was not
/// seen (the proxy started after the hub was registered).
async fn ensure_params(s: &Session, action: &str, headers: &HeaderMap) {
    if s.lock().params.contains_key(action) {
        return;
    }
    let mut rq = s.client.post(format!("{}/", s.hub_base));
    if let Some(ua) = headers.get(header::USER_AGENT) {
        rq = rq.header(header::USER_AGENT, ua);
    }
    match (&s.cfg.hub_token, headers.get(header::AUTHORIZATION)) {
        (Some(t), _) => rq = rq.header(header::AUTHORIZATION, format!("Token token=\"{t}\"")),
        (None, Some(a)) => rq = rq.header(header::AUTHORIZATION, a),
        (None, None) => {}
    }
    let answer = async { rq.send().await?.bytes().await };
    if let Ok(Ok(body)) = tokio::time::timeout(Duration::from_secs(30), answer).await {
        learn_and_rewrite(s, &Route::List, &body);
    }
}

/// From a list, action or form answer: each action's params' sensitivity and the origins of
/// its URLs; returns the answer with those origins replaced by the proxy's.
pub fn learn_and_rewrite(s: &Session, route: &Route, body: &[u8]) -> Vec<u8> {
    let parsed = json_of(body);
    let mut st = s.lock();
    if let Some(v) = &parsed {
        let actions: Vec<&Value> = match route {
            Route::List => v
                .get("integrations")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            Route::Action(_) => vec![v],
            _ => Vec::new(),
        };
        for a in actions {
            let Some(name) = a.get("name").and_then(Value::as_str) else {
                continue;
            };
            let params: HashMap<String, bool> = a
                .get("params")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    let n = p.get("name")?.as_str()?.to_owned();
                    // Looker's default for a param is sensitive.
                    let sensitive = p.get("sensitive").and_then(Value::as_bool).unwrap_or(true);
                    Some((n, sensitive))
                })
                .collect();
            st.params.insert(name.to_owned(), params);
            for key in ["url", "form_url", "token_url"] {
                if let Some(u) = a.get(key).and_then(Value::as_str)
                    && let Ok(u) = url::Url::parse(u)
                {
                    let origin = u.origin().ascii_serialization();
                    if origin != "null" {
                        st.hub_origins.insert(origin);
                    }
                }
            }
        }
        if let (Route::Form(action), Some(_)) = (route, v.get("fields")) {
            st.forms.insert(action.clone(), v.clone());
        }
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    let mut origins: Vec<String> = st.hub_origins.iter().cloned().collect();
    if let Ok(u) = url::Url::parse(&s.hub_base) {
        origins.push(u.origin().ascii_serialization());
    }
    drop(st);
    let mut out = text.to_owned();
    for o in origins.iter().filter(|o| o.as_str() != s.proxy_url) {
        for (from, to) in [
            (o.clone(), s.proxy_url.clone()),
            (o.replace('/', "\\/"), s.proxy_url.replace('/', "\\/")),
        ] {
            // Only the whole origin: `http://h:80` must not match inside `http://h:8080`.
            let re = regex::Regex::new(&format!("{}([/\"?])", regex::escape(&from)));
            if let Ok(re) = re {
                out = re
                    .replace_all(&out, |c: &regex::Captures<'_>| format!("{to}{}", &c[1]))
                    .into_owned();
            }
        }
    }
    out.into_bytes()
}

/// Fetches Looker's one-time download URL into the session's scratch directory and registers
/// a one-time URL of the proxy serving it; the proxy URL and the document (when it is JSON).
async fn fetch_download(s: &Session, url: &str) -> anyhow::Result<(String, Result<Value, String>)> {
    let token = uuid_like();
    let path = s.scratch.path().join(&token);
    let mut resp = s
        .client
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("fetching the download URL: {}", without_url(&e)))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut file = tokio::fs::File::create(&path).await?;
    let mut size = 0usize;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("reading the download URL: {}", without_url(&e)))?
    {
        size += chunk.len();
        anyhow::ensure!(
            size <= s.cfg.max_body_bytes,
            "the Look behind the download URL exceeds {} bytes (--max-body-bytes)",
            s.cfg.max_body_bytes
        );
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    drop(file);
    let doc = if status != 200 {
        Err(format!("Looker's download URL answered {status}"))
    } else if size > LOOK_CAP {
        Err(too_large(size))
    } else {
        let bytes = tokio::fs::read(&path).await?;
        json_of(&bytes).ok_or_else(|| "the download URL did not answer a JSON document".into())
    };
    s.lock().downloads.insert(
        token.clone(),
        Download {
            path,
            status,
            content_type,
            used: false,
        },
    );
    Ok((format!("{}/_record/downloads/{token}", s.proxy_url), doc))
}

/// A one-time download token: 128 random bits, as unguessable as Looker's own.
fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Before the execute goes to the hub: the Look saved, the secrets noted, the body rewritten
/// (download URL, server URL); the body to forward and what the scenario needs so far.
pub async fn prepare_execute(
    s: &Session,
    headers: &HeaderMap,
    raw: &Bytes,
    action: &str,
) -> (Bytes, Recorded) {
    ensure_params(s, action, headers).await;
    let number = {
        let mut st = s.lock();
        st.scenarios += 1;
        st.scenarios
    };
    let mut rec = Recorded {
        number,
        action: action.to_owned(),
        looker_version: looker_version(headers),
        instance: header_text(headers, "x-looker-instance"),
        webhook_id: header_text(headers, "x-looker-webhook-id"),
        ..Recorded::default()
    };
    let Some(parsed) = json_of(raw) else {
        rec.look = Err("the execute body is not JSON".into());
        return (raw.clone(), rec);
    };
    let (mut out, server_url) = rewrite_server_url(s, raw, action);
    rec.server_url = server_url;
    {
        let st = s.lock();
        rec.sensitive = st.params.get(action).cloned().unwrap_or_default();
        rec.form_answer = st.forms.get(action).cloned();
    }
    let plan = parsed.get("scheduled_plan").cloned().unwrap_or(Value::Null);
    let data: Result<Value, String> = if let Some(url) =
        plan.get("download_url").and_then(Value::as_str)
    {
        rec.download = true;
        s.lock().secrets.add(url);
        match fetch_download(s, url).await {
            Ok((proxied, doc)) => {
                out = Bytes::from(rewrite(
                    &out,
                    &parsed,
                    "/scheduled_plan/download_url",
                    url,
                    &proxied,
                ));
                doc
            }
            // The hub gets Looker's own URL, still unused.
            Err(e) => Err(format!("{e:#}")),
        }
    } else {
        match parsed.get("attachment") {
            Some(a) if a.get("mimetype").and_then(Value::as_str) == Some("application/json") => a
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| "attachment.data is not a string".to_owned())
                .and_then(|d| {
                    if d.len() > LOOK_CAP {
                        Err(too_large(d.len()))
                    } else {
                        Ok(d)
                    }
                })
                .and_then(|d| {
                    serde_json::from_str(d).map_err(|e| format!("attachment.data is not JSON: {e}"))
                }),
            Some(a) => Err(format!(
                "the attachment is {}, not a json_detail Look",
                a.get("mimetype")
                    .and_then(Value::as_str)
                    .unwrap_or("of no mimetype")
            )),
            None => Err("the execute carried no attachment and no download URL".into()),
        }
    };
    rec.look = data.and_then(|d| save_look(s, &rec, &d, &plan));
    rec.body = parsed;
    rec.events = None;
    (out, rec)
}

/// Writes `looks/NNN_<action>.json` (a mock Looker Look, PII replaced with `--redact-pii`).
fn save_look(
    s: &Session,
    rec: &Recorded,
    data: &Value,
    plan: &Value,
) -> Result<(String, &'static str), String> {
    let format = format_of(data).ok_or("the Look data is not json_detail")?;
    let mut def = look_def(data, plan)?;
    let checked: Result<mock_looker::LookDef, _> = serde_json::from_value(def.clone());
    checked
        .map_err(|e| e.to_string())
        .and_then(|d| mock_looker::Look::from_def(d).map_err(|e| e.to_string()))
        .map_err(|e| format!("the recorded Look is not one the mock Looker can send: {e}"))?;
    if s.cfg.redact_pii {
        s.lock().pii.look(&mut def);
    }
    let rel = format!("looks/{}.json", stem(rec.number, &rec.action));
    let text = serde_json::to_string_pretty(&def).map_err(|e| e.to_string())?;
    s.write(std::path::Path::new(&rel), &text)
        .map_err(|e| format!("{e:#}"))?;
    Ok((rel, format))
}

/// After the hub's answer: the data plane's events for this execute (with
/// `--dataplane-via`), then the scenario file.
pub async fn finish_execute(
    s: &Session,
    mut rec: Recorded,
    status: Option<u16>,
    answer: Vec<u8>,
    failure: Option<String>,
) {
    rec.status = status;
    rec.answer = answer;
    rec.failure = failure;
    if let Some(via) = &s.via_url {
        match new_events(s, via).await {
            Ok(events) => rec.events = Some(events),
            Err(e) => tracing::warn!(error = %e, "reading the data plane's events failed"),
        }
    }
    let value = {
        let mut st = s.lock();
        let pii = if s.cfg.redact_pii {
            Some(&mut st.pii)
        } else {
            None
        };
        scenario(&rec, pii)
    };
    let rel = format!("{}.yaml", stem(rec.number, &rec.action));
    let text = match serde_norway::to_string(&value) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "serialising the scenario failed");
            return;
        }
    };
    match s.write(std::path::Path::new(&rel), &text) {
        Ok(()) => eprintln!("recorded {}", s.cfg.out.join(&rel).display()),
        Err(e) => eprintln!("error: {e:#}"),
    }
}

/// Events the forwarding data plane stored since the last execute, once their number stops
/// growing (a hub may still be sending when it answers Looker); at most 10 s.
async fn new_events(s: &Session, via: &str) -> anyhow::Result<Vec<Value>> {
    let client = mock_dataplane::Client::new(via)?;
    let since = s.lock().cursor;
    let filter = mock_dataplane::EventFilter {
        since: Some(since),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let mut events = client.events(&filter).await?;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let again = client.events(&filter).await?;
        if again.len() == events.len() || started.elapsed() > Duration::from_secs(10) {
            events = again;
            break;
        }
        events = again;
    }
    if let Some(last) = events.iter().map(|e| e.cursor).max() {
        let mut st = s.lock();
        st.cursor = st.cursor.max(last);
    }
    Ok(events.into_iter().map(|e| e.event).collect())
}

/// The data plane's newest cursor when the recording starts: earlier events are not this
/// recording's.
pub async fn start_cursor(via: &str) -> anyhow::Result<u64> {
    let client = mock_dataplane::Client::new(via)?;
    let events = client
        .events(&mock_dataplane::EventFilter::default())
        .await?;
    Ok(events.iter().map(|e| e.cursor).max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_is_replaced_in_place() {
        let raw = br#"{"a":1, "u" : "http://x/y","b":"http://x/y"}"#;
        let out = replace_json_string(raw, "http://x/y", "http://p/q").unwrap();
        assert_eq!(out, br#"{"a":1, "u" : "http://p/q","b":"http://p/q"}"#);
        let escaped = br#"{"u":"http:\/\/x\/y"}"#;
        assert_eq!(
            replace_json_string(escaped, "http://x/y", "z").unwrap(),
            br#"{"u":"z"}"#
        );
        assert!(replace_json_string(raw, "nope", "z").is_none());
    }

    #[test]
    fn the_user_agent_gives_the_version() {
        let mut h = HeaderMap::new();
        h.insert(
            header::USER_AGENT,
            "LookerOutgoingWebhook/7.20.0".parse().unwrap(),
        );
        assert_eq!(looker_version(&h).as_deref(), Some("7.20.0"));
    }
}
