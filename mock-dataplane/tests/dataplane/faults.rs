//! Fault injection: HTTP answers, delays, connection faults, rate limit; faulted requests
//! store nothing.

use std::time::{Duration, Instant};

use mock_dataplane::{EventFilter, FaultRule, MockDataplane};
use serde_json::json;

use crate::helpers::*;

const BODY: &str = r#"{"batch":[{"type":"track","userId":"u","event":"E"}]}"#;

/// The request or its body failed at the transport level: no complete answer arrived.
async fn no_answer(result: reqwest::Result<reqwest::Response>) -> bool {
    match result {
        Err(_) => true,
        Ok(resp) => resp.text().await.is_err(),
    }
}

fn rule(v: serde_json::Value) -> FaultRule {
    serde_json::from_value(v).expect("valid rule JSON")
}

#[tokio::test]
async fn status_fault_fires_once_and_stores_nothing() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    dp.add_fault(rule(
        json!({"path":"/v1/batch","times":1,"action":{"status":503,"body":"Service Unavailable"}}),
    ))
    .await
    .unwrap();
    let a = post(&dp, "/v1/batch", Some(&auth), BODY).await;
    assert_eq!((a.status, a.body.as_str()), (503, "Service Unavailable"));
    assert!(dp.events(EventFilter::default()).await.unwrap().is_empty());
    let a = post(&dp, "/v1/batch", Some(&auth), BODY).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);
    let journal = dp.requests().await;
    assert_eq!(journal[0].status, 503);
    assert!(journal[0].fault.as_deref().unwrap().contains("status 503"));
    assert_eq!(journal[0].event_count, 0);
}

#[tokio::test]
async fn fault_matches_write_key_and_default_body_is_go_text() {
    let dp = MockDataplane::builder()
        .write_key("k1")
        .write_key("k2")
        .fault(rule(json!({"write_key":"k2","action":{"status":504}})))
        .start()
        .await
        .unwrap();
    let a = post(&dp, "/v1/batch", Some(&basic("k1")), BODY).await;
    assert_eq!(a.status, 200);
    let a = post(&dp, "/v1/batch", Some(&basic("k2")), BODY).await;
    assert_eq!((a.status, a.body.as_str()), (504, "Gateway Timeout\n"));
    dp.clear_faults().await;
    let a = post(&dp, "/v1/batch", Some(&basic("k2")), BODY).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn connection_faults_break_the_connection_and_store_nothing() {
    let dp = start().await;
    let key = dp.write_key();
    for fault in [
        "CONNECTION_RESET_BY_PEER",
        "EMPTY_RESPONSE",
        "RANDOM_DATA_THEN_CLOSE",
        "MALFORMED_RESPONSE_CHUNK",
    ] {
        dp.add_fault(rule(
            json!({"path":"/v1/batch","times":1,"action":{"fault":fault}}),
        ))
        .await
        .unwrap();
        let result = client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("authorization", basic(&key))
            .body(BODY)
            .send()
            .await;
        assert!(
            no_answer(result).await,
            "{fault} must surface as a transport error"
        );
    }
    assert!(dp.events(EventFilter::default()).await.unwrap().is_empty());
    // The server still serves new connections.
    let a = post(&dp, "/v1/batch", Some(&basic(&key)), BODY).await;
    assert_eq!(a.status, 200);
    assert_eq!(dp.requests().await.len(), 5);
}

#[tokio::test]
async fn delay_only_rule_delays_then_stores_and_dribble_is_slow() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    dp.add_fault(rule(
        json!({"times":1,"action":{"delay":{"kind":"fixed","ms":300}}}),
    ))
    .await
    .unwrap();
    let t = Instant::now();
    let a = post(&dp, "/v1/batch", Some(&auth), BODY).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(a.status, 200);
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);

    dp.add_fault(rule(json!({"times":1,"action":{"status":200,"body":"ok","dribble":{"chunks":2,"duration_ms":300}}})))
        .await.unwrap();
    let t = Instant::now();
    let a = post(&dp, "/v1/batch", Some(&auth), BODY).await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    assert_eq!(
        dp.events(EventFilter::default()).await.unwrap().len(),
        1,
        "dribbled answer stores nothing"
    );
}

#[tokio::test]
async fn rate_limit_counts_events_and_answers_429() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    dp.add_fault(rule(
        json!({"action":{"rate_limit":{"events":2,"window_ms":60000}}}),
    ))
    .await
    .unwrap();
    let two = r#"{"batch":[{"userId":"u"},{"userId":"v"}]}"#;
    assert_eq!(post(&dp, "/v1/batch", Some(&auth), two).await.status, 200);
    // GCRA lets events + 1 through at once (the gateway's throttler), then refuses.
    assert_eq!(post(&dp, "/v1/batch", Some(&auth), BODY).await.status, 200);
    let a = post(&dp, "/v1/batch", Some(&auth), BODY).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (429, "max requests limit reached\n")
    );
    assert!(a.headers.get("retry-after").is_none());
    // Invalid bodies are refused before the rate limit.
    let a = post(&dp, "/v1/batch", Some(&auth), r#"{"batch":[{}]}"#).await;
    assert_eq!(a.status, 400);
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 3);
}

#[tokio::test]
async fn faults_http_api_adds_lists_and_clears() {
    let dp = start().await;
    let c = client();
    let resp = c
        .post(format!("{}/_mock/faults", dp.url()))
        .header("content-type", "application/json")
        .body(r#"{"path":"/v1/batch","write_key":"secret-key-123","every":2,"action":{"status":502}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let bad = c
        .post(format!("{}/_mock/faults", dp.url()))
        .header("content-type", "application/json")
        .body(r#"{"action":{"status":502,"fault":"EMPTY_RESPONSE"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("status and fault"));
    let list = get(&dp, "/_mock/faults").await;
    assert!(list.body.contains(r#""every":2"#));
    assert!(
        !list.body.contains("secret-key-123"),
        "write key masked: {}",
        list.body
    );
    let del = c
        .delete(format!("{}/_mock/faults", dp.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert!(
        get(&dp, "/_mock/faults")
            .await
            .body
            .contains(r#""faults":[]"#)
    );
}

/// Go's `WriteTimeout`: an answer ready after it is never sent; the events are stored anyway,
/// so the client's retry stores them twice, as with the real gateway.
#[tokio::test]
async fn answers_past_the_write_timeout_are_dropped_but_the_events_stay() {
    let dp = MockDataplane::builder()
        .write_key("k")
        .write_timeout(Duration::from_millis(300))
        .fault(rule(
            json!({"path":"/v1/batch","times":1,"action":{"delay":{"kind":"fixed","ms":600}}}),
        ))
        .start()
        .await
        .unwrap();
    let started = Instant::now();
    let result = client()
        .post(format!("{}/v1/batch", dp.url()))
        .header("authorization", basic("k"))
        .body(BODY)
        .send()
        .await;
    assert!(
        no_answer(result).await,
        "no answer may arrive past the write timeout"
    );
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);
    let journal = dp.requests().await;
    let fault = journal[0].fault.as_deref().unwrap();
    assert!(
        fault.contains("write timeout") && fault.contains("200 \"ok\""),
        "{fault}"
    );
    assert_eq!(journal[0].event_count, 1);
    // The retry (no delay now) is answered, and stores the event again.
    let a = post(&dp, "/v1/batch", Some(&basic("k")), BODY).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 2);
}
