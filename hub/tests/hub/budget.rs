//! The body budget (hardening issue, finding 4): request bodies held at once are bounded; a
//! body that does not fit gets 503 at once, and the budget returns when an execute ends.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::helpers::{Sink, TestHub, exec_body, look, quick_config};

const DIMS: &[(&str, &[&str])] = &[("u.id", &["user_id"])];

#[tokio::test]
async fn a_body_beyond_the_budget_gets_503_until_the_held_one_is_done() {
    // Arrange: a budget of one 1 MB body.
    let mut c = quick_config();
    c.push_limit = 1_000_000;
    c.body_budget = 1_000_000;
    let hub = TestHub::with(c).await;
    let sink = Sink::start().await;
    let body = exec_body(&look(DIMS, &[json!({"u.id": {"value": "a"}})]), &sink).to_string();

    // A first execute declares 600 kB (leading whitespace, then the JSON), sends part of it
    // and waits: its whole length is reserved when its headers arrive.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let first = hub
        .post("/actions/rudder_event/execute")
        .header("content-type", "application/json")
        .header("content-length", (600_000 + body.len()).to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let first = tokio::spawn(first);
    tx.send(Ok(Bytes::from(vec![b' '; 300_000]))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act: a second 600 kB body (with Content-Length) does not fit while the first is held.
    let second = || {
        let padded = format!("{}{body}", " ".repeat(600_000));
        hub.post("/actions/rudder_event/execute")
            .header("content-type", "application/json")
            .body(padded)
            .send()
    };
    let mut refused = None;
    for _ in 0..250 {
        let r = second().await.unwrap();
        if r.status() == 503 {
            refused = Some(r);
            break;
        }
        // The first body was not read yet: this one fitted and ran.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Assert
    let refused = refused.expect("a second body got 503 while the first was held");
    assert_eq!(refused.headers()["retry-after"], "10");
    let v: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(v["success"], false);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("budget of 1000000 bytes"),
        "{v}"
    );

    // The first execute finishes, and its share returns.
    tx.send(Ok(Bytes::from(vec![b' '; 300_000]))).await.unwrap();
    tx.send(Ok(Bytes::from(body.clone()))).await.unwrap();
    drop(tx);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    let text = first.text().await.unwrap();
    assert!(text.contains("\"success\":true"), "{text}");
    let mut ok = false;
    for _ in 0..100 {
        if second().await.unwrap().status() == 200 {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "the budget came back after the first execute");
}

#[tokio::test]
async fn a_budget_below_the_push_limit_is_refused_at_start() {
    let mut c = quick_config();
    c.secret = Some("s".into());
    c.body_budget = c.push_limit - 1;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = hub::Hub::builder()
        .config(c)
        .run(listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("below the push limit"), "{err}");
}
