//! One recorded execute → one scenario file in the existing format (see the crate README):
//! the Look, the Looker version, the action with its params and form values, the delivery, and
//! the expectations that follow from what happened.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::redact::Pii;

/// Data-plane events listed one by one in the expectations; beyond this only their count.
const MAX_ITEMS: usize = 1000;

/// Keys of an execute's `data` that Looker adds itself (not admin params): the clicked value of
/// a cell action and the OAuth state a write-back action gets.
fn looker_added(key: &str) -> bool {
    key == "value" || key.starts_with("state_")
}

/// What one execute was and how the hub answered it.
#[derive(Debug)]
pub struct Recorded {
    /// Scenario number (`NNN` of the file names).
    pub number: u64,
    pub action: String,
    /// From `User-Agent: LookerOutgoingWebhook/<version>`; `None` without a Looker User-Agent.
    pub looker_version: Option<String>,
    pub instance: Option<String>,
    pub webhook_id: Option<String>,
    /// The execute body as Looker sent it (before the proxy's rewrites).
    pub body: Value,
    /// Whether the Look came through `download_url`.
    pub download: bool,
    /// The Look's file name (relative to the scenario) and its format, or why there is none.
    pub look: Result<(String, &'static str), String>,
    /// Param name → `sensitive` from the hub's action list (absent: treated as sensitive).
    pub sensitive: HashMap<String, bool>,
    /// The form Looker fetched for this action before the execute, if any.
    pub form_answer: Option<Value>,
    /// `rudder_server_url` as Looker sent it, when `--dataplane-via` replaced it.
    pub server_url: Option<String>,
    pub status: Option<u16>,
    /// The hub's answer body (leading keep-alive newlines included).
    pub answer: Vec<u8>,
    /// The exchange failed (the hub could not be reached, the answer broke off).
    pub failure: Option<String>,
    /// Events the data plane stored for this execute, when `--dataplane-via` recorded them.
    pub events: Option<Vec<Value>>,
}

impl Default for Recorded {
    fn default() -> Self {
        Recorded {
            number: 0,
            action: String::new(),
            looker_version: None,
            instance: None,
            webhook_id: None,
            body: Value::Null,
            download: false,
            look: Err("no Look recorded".into()),
            sensitive: HashMap::new(),
            form_answer: None,
            server_url: None,
            status: None,
            answer: Vec::new(),
            failure: None,
            events: None,
        }
    }
}

/// `NNN_<action>` with the action made safe for a file name.
pub fn stem(number: u64, action: &str) -> String {
    let safe: String = action
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("{number:03}_{safe}")
}

/// `${dataplane.url}` plus the path of the URL Looker's admin typed (with or without
/// `/v1/batch`), so the replay exercises the same URL handling.
fn server_url_placeholder(original: &str) -> String {
    let path = url::Url::parse(original.trim())
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    format!("${{dataplane.url}}{path}")
}

/// The scenario, as a JSON value in the scenario format (serialised to YAML by the caller).
pub fn scenario(rec: &Recorded, mut pii: Option<&mut Pii>) -> Value {
    let mut text = |s: &str| match pii.as_deref_mut() {
        Some(p) => p.text(s),
        None => s.to_owned(),
    };
    let data = rec.body.get("data").and_then(Value::as_object);
    let rudder = rec.action.starts_with("rudder_");
    let mut params = Map::new();
    let mut cell_value = None;
    for (k, v) in data.into_iter().flatten() {
        let v = v
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        if k == "value" {
            cell_value = Some(text(&v));
        } else if looker_added(k) {
            // OAuth state: a token Looker keeps; a replay logs in through the mock provider.
        } else if k == "rudder_write_key" {
            params.insert(k.clone(), json!("${dataplane.write_key}"));
        } else if k == "rudder_server_url" {
            let original = rec.server_url.as_deref().unwrap_or(&v);
            params.insert(k.clone(), json!(server_url_placeholder(original)));
        } else if rec.sensitive.get(k).copied().unwrap_or(true) {
            params.insert(k.clone(), json!(format!("${{sensitive.{k}}}")));
        } else {
            params.insert(k.clone(), json!(text(&v)));
        }
    }
    if rudder {
        // The runner adds these two for rudder_* actions unless told the send had none.
        for k in ["rudder_write_key", "rudder_server_url"] {
            params.entry(k).or_insert(Value::Null);
        }
    }
    let form: Map<String, Value> = rec
        .body
        .get("form_params")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            (k.clone(), json!(text(&v)))
        })
        .collect();

    let mut send = Map::new();
    send.insert("action".into(), json!(rec.action));
    let mut looks = Map::new();
    if let Ok((file, format)) = &rec.look {
        looks.insert("recorded".into(), json!({"looker_file": file}));
        send.insert("look".into(), json!("recorded"));
        send.insert("format".into(), json!(format));
    }
    send.insert(
        "download".into(),
        json!(if rec.download { "url" } else { "push" }),
    );
    if !params.is_empty() {
        send.insert("params".into(), Value::Object(params));
    }
    if !form.is_empty() {
        send.insert("form".into(), Value::Object(form));
    }
    if let Some(v) = cell_value {
        send.insert("cell_value".into(), json!(v));
    }
    if let Some(w) = &rec.webhook_id {
        send.insert("webhook_id".into(), json!(w));
    }
    // A real Looker sent it, so the replay sends it even where the mock Looker would refuse
    // (a download setting the action does not declare, required tags missing).
    send.insert("force".into(), json!(true));
    send.insert("expect".into(), answer_expect(rec, &mut text));

    let mut steps = Vec::new();
    if let Some(fields) = rec
        .form_answer
        .as_ref()
        .and_then(|f| f.get("fields"))
        .and_then(Value::as_array)
    {
        let names: Vec<Value> = fields
            .iter()
            .filter_map(|f| f.get("name").cloned())
            .collect();
        let mut step = Map::new();
        step.insert("action".into(), json!(rec.action));
        if let Some(p) = send.get("params") {
            step.insert("params".into(), p.clone());
        }
        step.insert("expect".into(), json!({"field_names": names}));
        steps.push(json!({"fetch_form": step}));
    }
    match &rec.look {
        Ok(_) => steps.push(json!({"send": send})),
        // No Look the mock Looker can send (csv, a broken attachment): the body itself.
        Err(_) => steps.push(json!({"raw": raw_step(rec, &send, &mut text)})),
    }

    let mut out = Map::new();
    out.insert("description".into(), json!(description(rec)));
    out.insert("tags".into(), json!(["recorded"]));
    out.insert(
        "looker".into(),
        json!({"version": rec.looker_version.clone().unwrap_or_else(|| "none".into())}),
    );
    if !looks.is_empty() {
        out.insert("looks".into(), Value::Object(looks));
    }
    out.insert("steps".into(), Value::Array(steps));
    if let Some(events) = &rec.events {
        out.insert("expect".into(), events_expect(events, &mut text));
    }
    Value::Object(out)
}

/// A `raw` step replaying the execute body as recorded, its params as in the `send` step
/// (placeholders), without the download URL (Looker's was one-time).
fn raw_step(
    rec: &Recorded,
    send: &Map<String, Value>,
    text: &mut impl FnMut(&str) -> String,
) -> Value {
    let mut body = rec.body.clone();
    if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
        data.retain(|k, _| !looker_added(k) || k == "value");
        if let Some(params) = send.get("params").and_then(Value::as_object) {
            for (k, v) in params {
                match v {
                    Value::Null => {
                        data.remove(k);
                    }
                    v => {
                        data.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    if let Some(plan) = body
        .get_mut("scheduled_plan")
        .and_then(Value::as_object_mut)
    {
        plan.remove("download_url");
    }
    walk_strings(&mut body, text);
    let mut raw = Map::new();
    raw.insert(
        "path".into(),
        json!(format!("/actions/{}/execute", rec.action)),
    );
    raw.insert("body".into(), body);
    if let Some(v) = &rec.looker_version {
        raw.insert("looker_version".into(), json!(v));
    }
    if let Some(s) = rec.status {
        raw.insert("status".into(), json!(s));
    }
    let success = send
        .get("expect")
        .and_then(|e| e.get("success"))
        .cloned()
        .unwrap_or(json!(false));
    if rec.status == Some(200) {
        raw.insert(
            "response".into(),
            json!({"looker": {"match": "subset", "value": {"success": success}}}),
        );
    }
    Value::Object(raw)
}

fn walk_strings(v: &mut Value, text: &mut impl FnMut(&str) -> String) {
    match v {
        Value::String(s) if !s.starts_with("${") => *s = text(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk_strings(x, text)),
        Value::Object(o) => o.values_mut().for_each(|x| walk_strings(x, text)),
        _ => {}
    }
}

fn answer_expect(rec: &Recorded, text: &mut impl FnMut(&str) -> String) -> Value {
    let mut e = Map::new();
    if let Some(s) = rec.status {
        e.insert("http_status".into(), json!(s));
    }
    let looker = std::str::from_utf8(&rec.answer)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(t.trim_start()).ok())
        .and_then(|v| v.get("looker").cloned());
    let success = rec.status == Some(200)
        && rec.failure.is_none()
        && looker
            .as_ref()
            .and_then(|l| l.get("success"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    e.insert("success".into(), json!(success));
    if let Some(m) = looker
        .as_ref()
        .and_then(|l| l.get("message"))
        .and_then(Value::as_str)
    {
        let mut m = text(m);
        if let Some(w) = rec.webhook_id.as_deref().filter(|w| !w.is_empty()) {
            m = m.replace(w, "${send.webhook_id}");
        }
        e.insert("message".into(), json!(m));
    }
    Value::Object(e)
}

fn events_expect(events: &[Value], text: &mut impl FnMut(&str) -> String) -> Value {
    let mut items = Vec::new();
    if events.len() <= MAX_ITEMS {
        for ev in events {
            let mut item = Map::new();
            for key in ["type", "userId", "anonymousId", "event"] {
                let v = match ev.get(key) {
                    None => json!({"match": "absent"}),
                    Some(Value::String(s)) => json!(text(s)),
                    Some(v) => v.clone(),
                };
                item.insert(key.into(), v);
            }
            items.push(Value::Object(item));
        }
    }
    let mut one = Map::new();
    one.insert("count".into(), json!(events.len()));
    if !items.is_empty() {
        one.insert("items".into(), Value::Array(items));
    }
    json!({"total_events": events.len(), "events": [one]})
}

fn description(rec: &Recorded) -> String {
    let mut d = format!(
        "Recorded by `scenarios record`: Looker {} sent action {} ({}",
        rec.looker_version
            .as_deref()
            .unwrap_or("(no Looker User-Agent)"),
        rec.action,
        if rec.download {
            "the Look by download URL"
        } else {
            "the Look pushed inline"
        }
    );
    if let Some(i) = &rec.instance {
        d.push_str(&format!(", instance {i}"));
    }
    if let Some(w) = &rec.webhook_id {
        d.push_str(&format!(", webhook id {w}"));
    }
    d.push_str(").");
    match &rec.look {
        Ok((file, format)) => d.push_str(&format!(" The Look ({format}) is {file}.")),
        Err(why) => d.push_str(&format!(" No Look file: {why}.")),
    }
    if let Some(u) = &rec.server_url {
        d.push_str(&format!(
            " rudder_server_url was {u} (the replay uses its own data plane)."
        ));
    }
    match (rec.status, &rec.failure) {
        (_, Some(f)) => d.push_str(&format!(" The exchange failed: {f}.")),
        (Some(s), None) => d.push_str(&format!(" The hub answered HTTP {s}.")),
        _ => {}
    }
    if rec.events.is_none() {
        d.push_str(
            " Data-plane traffic was not recorded (no --dataplane-via), so no event expectations.",
        );
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> Recorded {
        Recorded {
            number: 1,
            action: "rudder_track".into(),
            looker_version: Some("26.20.0".into()),
            webhook_id: Some("w1".into()),
            body: json!({"type": "query", "data": {"rudder_write_key": "wk_real_key",
                "rudder_server_url": "https://dp.example.com", "other": "x", "state_json": "tok"},
                "form_params": {"event": "Signed Up"}}),
            look: Ok(("looks/001_rudder_track.json".into(), "json_detail")),
            status: Some(200),
            answer: b"\n{\"looker\":{\"success\":true,\"message\":\"sent for w1\"}}".to_vec(),
            events: Some(vec![
                json!({"type": "track", "userId": "ada@x.io", "event": "Signed Up"}),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn secrets_become_placeholders_and_expectations_follow_the_answer() {
        let v = scenario(&recorded(), None);
        let send = &v["steps"][0]["send"];
        assert_eq!(send["params"]["rudder_write_key"], "${dataplane.write_key}");
        assert_eq!(send["params"]["rudder_server_url"], "${dataplane.url}");
        assert_eq!(send["params"]["other"], "${sensitive.other}");
        assert!(send["params"].get("state_json").is_none());
        assert_eq!(send["expect"]["message"], "sent for ${send.webhook_id}");
        assert_eq!(send["expect"]["success"], true);
        assert_eq!(v["expect"]["total_events"], 1);
        assert_eq!(
            v["expect"]["events"][0]["items"][0]["anonymousId"],
            json!({"match": "absent"})
        );
        assert!(!v.to_string().contains("wk_real_key"));
    }

    #[test]
    fn pii_in_expectations_is_replaced_like_the_look() {
        let mut pii = Pii::default();
        let replaced = pii.text("ada@x.io");
        let v = scenario(&recorded(), Some(&mut pii));
        assert_eq!(
            v["expect"]["events"][0]["items"][0]["userId"],
            json!(replaced)
        );
    }

    #[test]
    fn the_server_url_keeps_its_path() {
        assert_eq!(
            server_url_placeholder("https://dp.example.com/v1/batch/"),
            "${dataplane.url}/v1/batch"
        );
        assert_eq!(stem(7, "a/b c"), "007_a_b_c");
    }
}
