//! #11: hubs that misbehave on purpose, one per failure class, and one that is correct but
//! different from ours. Each is a small axum server on 127.0.0.1:0 in front of a real reference
//! hub: it forwards the Action API to that hub, and points the hub's `rudder_server_url` at
//! itself, so it also stands between the hub and the data plane. The misbehaviour is done
//! there, on the raw JSON, the way a buggy hub would do it; the runner then contract-tests the
//! fake through `--hub-url`, as it would any hub, and must name exactly the expected class.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::helpers::{arg, run, scenario_dir, text};

/// What the fake hub does wrong (or differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fake {
    /// Drops every third event on its way to the data plane, and says success.
    DropEveryThird,
    /// Says failure and delivers nothing.
    SayFailure,
    /// Sends every batch twice.
    SendTwice,
    /// Changes a trait of every identify event.
    ChangeTrait,
    /// Delivers everything and tells Looker failure.
    FlipSuccess,
    /// Answers with `refresh_query: "yes"`: not an ActionResponse Looker can read.
    BreakShape,
    /// Refuses every request with 403, as a hub does for a wrong token.
    Forbid,
    /// Correct, but not ours: batches of one event, its own message texts.
    BatchesOfOne,
}

struct Shared {
    fake: Fake,
    real: String,
    me: String,
    client: reqwest::Client,
    seen: AtomicUsize,
}

/// The fake hub, in front of a real reference hub; both stop when dropped.
struct FakeHub {
    url: String,
    token: String,
    _server: serving::Background,
    _real: hub::Hub,
}

async fn start(fake: Fake) -> FakeHub {
    let real = hub::Hub::builder().start().await.expect("reference hub");
    let binding = serving::Binding::loopback().await.expect("bind");
    let shared = Arc::new(Shared {
        fake,
        real: real.url(),
        me: binding.url().to_string(),
        client: serving::http_client().build().expect("an HTTP client"),
        seen: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/dp/{target}/v1/batch", post(dataplane))
        .fallback(forward)
        .with_state(shared);
    let url = binding.url().to_string();
    let server = binding.spawn("fake-hub", move |listener, stop| {
        serving::serve(listener, app, serving::Limits::default(), "fake-hub", stop)
    });
    FakeHub {
        url,
        token: real.token(),
        _server: server,
        _real: real,
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn json_response(status: u16, body: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The Action API: forwarded to the real hub, with the data plane URL pointed at the fake and
/// the answer altered as the misbehaviour says.
async fn forward(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if s.fake == Fake::Forbid {
        return json_response(
            403,
            &json!({"success": false, "error": "Invalid 'Authorization' header."}),
        );
    }
    let execute = uri.path().ends_with("/execute");
    let mut body = body.to_vec();
    if execute && let Ok(mut v) = serde_json::from_slice::<Value>(&body) {
        if s.fake == Fake::SayFailure {
            return json_response(
                200,
                &json!({"looker": {"success": false, "message": "the data plane is unavailable"}}),
            );
        }
        if let Some(url) = v.pointer("/data/rudder_server_url").and_then(Value::as_str) {
            let target = if url.ends_with("/v1/batch") {
                url.to_string()
            } else {
                format!("{}/v1/batch", url.trim_end_matches('/'))
            };
            v["data"]["rudder_server_url"] =
                json!(format!("{}/dp/{}/v1/batch", s.me, hex(&target)));
        }
        body = serde_json::to_vec(&v).expect("JSON");
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = s.client.request(method, format!("{}{path}", s.real));
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k.as_str(), v.as_bytes());
        }
    }
    let resp = match req.body(body).send().await {
        Ok(r) => r,
        Err(e) => return json_response(502, &json!({"error": e.to_string()})),
    };
    let status = resp.status().as_u16();
    // The list names each action's absolute URL: Looker must call the fake, not the real hub.
    let text = resp
        .text()
        .await
        .unwrap_or_default()
        .replace(&s.real, &s.me);
    let Ok(mut v) = serde_json::from_str::<Value>(text.trim_start()) else {
        return (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), text).into_response();
    };
    if execute && v.get("looker").is_some() {
        match s.fake {
            Fake::FlipSuccess => v["looker"]["success"] = json!(false),
            Fake::BreakShape => v["looker"]["refresh_query"] = json!("yes"),
            Fake::BatchesOfOne => {
                v["looker"]["message"] = json!("Done: every row was delivered (one by one).")
            }
            _ => {}
        }
    }
    json_response(status, &v)
}

/// Between the real hub and the data plane: the batch as it travels, altered.
async fn dataplane(
    State(s): State<Arc<Shared>>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = unhex(&target);
    let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
        return json_response(400, &json!({"error": "the fake could not read the batch"}));
    };
    let batch = v
        .get("batch")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let bodies: Vec<Value> = match s.fake {
        Fake::DropEveryThird => {
            let kept: Vec<Value> = batch
                .into_iter()
                .filter(|_| s.seen.fetch_add(1, Ordering::SeqCst) % 3 != 2)
                .collect();
            if kept.is_empty() {
                return (StatusCode::OK, "OK").into_response();
            }
            v["batch"] = json!(kept);
            vec![v]
        }
        Fake::SendTwice => vec![v.clone(), v],
        Fake::ChangeTrait => {
            for e in v["batch"].as_array_mut().into_iter().flatten() {
                if let Some(t) = e.get_mut("traits").and_then(Value::as_object_mut) {
                    t.insert("users.city".into(), json!("Atlantis"));
                }
            }
            vec![v]
        }
        Fake::BatchesOfOne => batch
            .into_iter()
            .map(|e| {
                let mut one = v.clone();
                one["batch"] = json!([e]);
                one
            })
            .collect(),
        _ => vec![v],
    };
    let mut last = (StatusCode::OK, String::from("OK"));
    for b in bodies {
        let mut req = s.client.post(&target).json(&b);
        if let Some(auth) = headers.get("authorization") {
            req = req.header("authorization", auth.as_bytes());
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status();
                last = (status, r.text().await.unwrap_or_default());
                if !status.is_success() {
                    break;
                }
            }
            Err(_) => return (StatusCode::BAD_GATEWAY, "").into_response(),
        }
    }
    last.into_response()
}

/// Runs `scenarios run --filter FILTER` against the fake; returns the exit code, the output
/// and the set of `<failure type="…">` classes in the JUnit file.
fn judge(fake: Fake, filter: &str) -> (Option<i32>, String, BTreeSet<String>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let hub = rt.block_on(start(fake));
    let dir = scenario_dir(&[]);
    let junit = arg(dir.path(), "junit.xml");
    let o = run(
        &[
            "run",
            "--filter",
            filter,
            "--hub-url",
            &hub.url,
            "--hub-token",
            &hub.token,
            "--junit",
            &junit,
            "-j",
            "2",
        ],
        dir.path(),
    );
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    let types = regex::Regex::new(r#"<(?:failure|error)[^>]* type="([^"]+)""#)
        .expect("regex")
        .captures_iter(&xml)
        .map(|c| c[1].to_string())
        .collect();
    drop(hub);
    (o.status.code(), format!("{}\n{xml}", text(&o)), types)
}

fn classes(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_hub_that_drops_every_third_event_and_says_success_is_a_silent_loss() {
    let (code, out, types) = judge(Fake::DropEveryThird, "quirks/14");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(types, classes(&["silent-loss"]), "{out}");
    assert!(out.contains("failed by class: silent-loss 1"), "{out}");
}

#[test]
fn a_hub_that_says_failure_and_delivers_nothing_is_a_reported_loss() {
    let (code, out, types) = judge(Fake::SayFailure, "identify/01");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(types, classes(&["reported-loss"]), "{out}");
}

#[test]
fn a_hub_that_sends_every_event_twice_is_a_duplicate() {
    let (code, out, types) = judge(Fake::SendTwice, "identify/01");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(types, classes(&["duplicate"]), "{out}");
}

#[test]
fn a_hub_that_changes_a_trait_is_a_payload_failure() {
    let (code, out, types) = judge(Fake::ChangeTrait, "formats/json_detail_url");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(types, classes(&["payload"]), "{out}");
    assert!(out.contains("Atlantis"), "{out}");
}

#[test]
fn a_hub_that_delivers_but_tells_looker_failure_is_an_answer_failure() {
    let (code, out, types) = judge(Fake::FlipSuccess, "identify/01");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(types, classes(&["answer"]), "{out}");
}

#[test]
fn a_hub_whose_answer_looker_cannot_read_is_a_protocol_failure() {
    let (code, out, types) = judge(Fake::BreakShape, "identify/01");
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(types, classes(&["protocol"]), "{out}");
    assert!(out.contains("refresh_query"), "{out}");
}

#[test]
fn a_hub_that_answers_403_is_a_harness_error_that_ends_the_run() {
    let started = std::time::Instant::now();
    let (code, out, types) = judge(Fake::Forbid, "identify/");
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(types, classes(&["harness"]), "{out}");
    assert!(out.contains("check --hub-token"), "{out}");
    assert!(out.contains("not run: the harness failed in"), "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "a harness error must end the run at once"
    );
}

#[test]
fn a_correct_hub_that_batches_and_words_things_differently_passes() {
    for filter in [
        "identify/",
        "faults/",
        "quirks/14",
        "loss/01",
        "_on_first_request",
    ] {
        let (code, out, types) = judge(Fake::BatchesOfOne, filter);
        assert_eq!(code, Some(0), "{filter}: {out}");
        assert!(types.is_empty(), "{filter}: {out}");
    }
}
