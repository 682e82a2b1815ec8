//! Sending: endpoints, auth, batches by bytes, an unreachable data plane, download_url.
//! Retries and 4xx answers are in `retries` (against wiremock).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Sink, TestHub, exec_body, look, normalize, quick_config};

fn rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"u.id": {"value": format!("user-{i}")}, "u.city": {"value": "Paris"}}))
        .collect()
}

const DIMS: &[(&str, &[&str])] = &[("u.id", &["user_id"]), ("u.city", &[])];

#[tokio::test]
async fn server_url_with_or_without_v1_batch_posts_to_v1_batch_with_basic_auth() {
    use base64::Engine;
    let hub = TestHub::start().await;
    for suffix in ["", "/", "/v1/batch", "/v1/batch/"] {
        let sink = Sink::start().await;
        let mut body = exec_body(&look(DIMS, &rows(1)), &sink);
        body["data"]["rudder_server_url"] = json!(format!("{}{suffix}", sink.url));
        let (_, resp) = hub.execute("rudder_event", &body).await;
        assert_eq!(resp["looker"]["success"], true, "{suffix}: {resp}");
        let reqs = sink.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].path, "/v1/batch", "{suffix}");
        assert_eq!(
            reqs[0].authorization.as_deref(),
            Some(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("wk_test:")
                )
                .as_str()
            )
        );
        let b = &reqs[0].body;
        assert_eq!(
            b.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["batch", "sentAt"]
        );
        assert_eq!(
            b["batch"][0]["sentAt"], b["sentAt"],
            "each event's sentAt is the flush time"
        );
    }
}

#[tokio::test]
async fn batches_are_cut_by_bytes_and_every_event_arrives_in_order() {
    let mut c = quick_config();
    c.send.max_batch_bytes = 2_000;
    // One batch in flight at a time makes arrival order deterministic.
    c.send.max_in_flight = 1;
    let hub = TestHub::with(c).await;
    let sink = Sink::start().await;
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look(DIMS, &rows(45)), &sink))
        .await;
    assert_eq!(resp["looker"]["success"], true);
    assert_eq!(
        resp["looker"]["message"],
        "45 rows sent as 45 identify events, all acknowledged by the data plane."
    );
    let reqs = sink.requests();
    assert!(reqs.len() > 5, "{} requests", reqs.len());
    for r in &reqs {
        assert!(r.body.to_string().len() <= 2_000);
    }
    let ids: Vec<String> = sink
        .events()
        .iter()
        .map(|e| e["userId"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|s| s[5..].parse::<u32>().unwrap());
    assert_eq!(ids.len(), 45);
    assert_eq!(
        ids, sorted,
        "in-flight batches may interleave, but here every one was delivered"
    );
}

#[tokio::test]
async fn an_unreachable_data_plane_is_a_network_failure_after_retries() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let mut body = exec_body(&look(DIMS, &rows(2)), &sink);
    body["data"]["rudder_server_url"] = json!(dead);
    let (_, resp) = hub.execute("rudder_event", &body).await;
    let msg = resp["looker"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("2 of 2 events not delivered after 3 retries: network error"),
        "{msg}"
    );
}

async fn serve_download(status: u16, body: String) -> String {
    let app = axum::Router::new().route(
        "/downloads/tok",
        axum::routing::get(move || {
            let body = body.clone();
            async move { (axum::http::StatusCode::from_u16(status).unwrap(), body) }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/downloads/tok", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    url
}

fn download_body(sink: &Sink, url: &str) -> Value {
    let mut body = exec_body("", sink);
    body.as_object_mut().unwrap().remove("attachment");
    body["scheduled_plan"]["download_url"] = json!(url);
    body
}

#[tokio::test]
async fn download_url_gives_the_same_events_as_the_attachment() {
    let hub = TestHub::start().await;
    let doc = look(DIMS, &rows(3));
    let pushed = Sink::start().await;
    hub.execute("rudder_event", &exec_body(&doc, &pushed)).await;
    let fetched = Sink::start().await;
    let url = serve_download(200, doc).await;
    let (_, resp) = hub
        .execute("rudder_event", &download_body(&fetched, &url))
        .await;
    assert_eq!(resp["looker"]["success"], true);
    let a: Vec<Value> = pushed.events().iter().map(normalize).collect();
    let b: Vec<Value> = fetched.events().iter().map(normalize).collect();
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_failed_or_non_json_download_is_a_failure_not_an_empty_success() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let url = serve_download(404, "no such file".into()).await;
    let (_, resp) = hub
        .execute("rudder_event", &download_body(&sink, &url))
        .await;
    assert_eq!(resp["looker"]["success"], false);
    assert_eq!(
        resp["looker"]["message"],
        "There was an error with Action Hub calling back to Looker, status code: 404"
    );
    let url = serve_download(200, "<html>login</html>".into()).await;
    let (_, resp) = hub
        .execute("rudder_event", &download_body(&sink, &url))
        .await;
    assert_eq!(resp["looker"]["success"], false);
    assert!(resp["looker"]["message"].as_str().unwrap().starts_with("malformed json_detail_lite_stream document at byte 0: a json_detail_lite_stream result must be a JSON object"));
    let url = serve_download(200, look(DIMS, &rows(2))[..60].to_owned()).await;
    let (_, resp) = hub
        .execute("rudder_event", &download_body(&sink, &url))
        .await;
    assert!(
        resp["looker"]["message"]
            .as_str()
            .unwrap()
            .starts_with("truncated json_detail_lite_stream document"),
        "{resp}"
    );
    assert!(sink.requests().is_empty());
}

#[tokio::test]
async fn deterministic_message_ids_repeat_for_the_same_webhook() {
    let mut c = quick_config();
    c.deterministic_message_ids = true;
    let hub = TestHub::with(c).await;
    let sink = Sink::start().await;
    let body = exec_body(&look(DIMS, &rows(3)), &sink);
    hub.execute("rudder_event", &body).await;
    hub.execute("rudder_event", &body).await;
    let ids: Vec<String> = sink
        .events()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(ids[..3], ids[3..]);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        ids[0],
        hub::rudder::deterministic_message_id("test-webhook", 1).to_string()
    );
}

#[tokio::test]
async fn random_message_ids_are_unique_uuids() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    hub.execute("rudder_event", &exec_body(&look(DIMS, &rows(50)), &sink))
        .await;
    let ids: std::collections::HashSet<String> = sink
        .events()
        .iter()
        .map(|e| e["messageId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 50);
    assert!(
        ids.iter()
            .all(|i| uuid::Uuid::parse_str(i).unwrap().get_version_num() == 4)
    );
}

#[tokio::test]
async fn allow_dataplane_refuses_other_hosts() {
    let mut c = quick_config();
    c.allow_dataplane = vec!["dp.example.com".into()];
    let hub = TestHub::with(c).await;
    let sink = Sink::start().await;
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look(DIMS, &rows(1)), &sink))
        .await;
    assert_eq!(resp["looker"]["success"], false);
    assert_eq!(
        resp["looker"]["message"],
        "Rudder Data Plane URL host \"127.0.0.1\" is not allowed by this hub (--allow-dataplane)"
    );
    assert!(sink.requests().is_empty());
}

#[tokio::test]
async fn a_large_look_streams_through_in_many_batches() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let n = 20_000;
    let (_, resp) = tokio::time::timeout(
        Duration::from_secs(30),
        hub.execute("rudder_track", &{
            let mut b = exec_body(&look(DIMS, &rows(n)), &sink);
            b["form_params"]["event"] = json!("big");
            b
        }),
    )
    .await
    .unwrap();
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(sink.events().len(), n);
    assert!(sink.requests().len() > 5);
}

#[tokio::test]
async fn attachments_with_unicode_escapes_are_unescaped_across_chunks() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    // Long enough to span several 64 KiB unescape chunks; every non-ASCII char and every quote
    // of the look is a JSON escape inside attachment.data (as ensure_ascii encoders write it).
    let value = "é😀\"x\\";
    let doc = look(DIMS, &(0..3000).map(|i| json!({"u.id": {"value": format!("{value}{i}")}, "u.city": {"value": "Zürich"}})).collect::<Vec<_>>());
    let mut escaped = String::from("\"");
    for c in doc.chars() {
        match c {
            '"' => escaped.push_str("\\u0022"),
            '\\' => escaped.push_str("\\\\"),
            c if c.is_ascii() => escaped.push(c),
            c => {
                let mut b = [0u16; 2];
                for u in c.encode_utf16(&mut b) {
                    escaped.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    escaped.push('"');
    let body = format!(
        r#"{{"type":"query","scheduled_plan":{{}},"attachment":{{"mimetype":"application/json","extension":"json","data":{escaped}}},"data":{{"rudder_write_key":"{}","rudder_server_url":"{}"}}}}"#,
        sink.write_key(),
        sink.url
    );
    let r = hub
        .post("/actions/rudder_event/execute")
        .body(body)
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_str(r.text().await.unwrap().trim_start()).unwrap();
    assert_eq!(v["looker"]["success"], true, "{v}");
    let events = sink.events();
    assert_eq!(events.len(), 3000);
    // Batches in flight may arrive in any order; every row is there.
    let ids: std::collections::HashSet<String> = events
        .iter()
        .map(|e| e["userId"].as_str().unwrap().to_owned())
        .collect();
    assert!((0..3000).all(|i| ids.contains(&format!("{value}{i}"))));
    assert_eq!(events[0]["traits"]["u.city"], "Zürich");
}

#[tokio::test]
async fn base64_attachments_are_decoded() {
    use base64::Engine;
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let doc = look(DIMS, &rows(2));
    let mut body = exec_body("", &sink);
    body["attachment"] = json!({"mimetype": "application/json;base64", "extension": "json",
        "data": base64::engine::general_purpose::STANDARD.encode(doc)});
    let (_, resp) = hub.execute("rudder_event", &body).await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(sink.events().len(), 2);
}
