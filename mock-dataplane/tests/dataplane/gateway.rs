//! The public write-key routes: auth, gzip, the check order, texts and enrichment.

use std::time::Duration;

use mock_dataplane::{EventFilter, MockDataplane, Source};
use serde_json::{Value, json};

use crate::helpers::*;

fn assert_go_error(a: &Answer, status: u16, text: &str) {
    assert_eq!(a.status, status, "body: {}", a.body);
    assert_eq!(a.body, format!("{text}\n"));
    assert_eq!(a.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(a.headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn batch_is_stored_enriched_and_answered_ok() {
    let dp = start().await;
    let key = dp.write_key();
    let body = json!({"batch": [
        {"type": "identify", "userId": "u1", "messageId": "m1", "sentAt": "2026-01-01T00:00:00.000Z", "traits": {"a": 1}},
        {"type": "track", "anonymousId": "a2", "event": "Clicked", "receivedAt": "client-value"},
    ], "sentAt": "2026-01-01T00:00:00.000Z"});
    let a = send(
        client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("authorization", basic(&key))
            .header("x-forwarded-for", " 203.0.113.9 , 10.0.0.1")
            .body(body.to_string()),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, "ok");

    let events = dp.events(EventFilter::default()).await.unwrap();
    assert_eq!(events.len(), 2);
    let e0 = &events[0].event;
    assert_eq!(e0["messageId"], "m1");
    assert_eq!(e0["sentAt"], "2026-01-01T00:00:00.000Z");
    assert_eq!(e0["traits"], json!({"a": 1}));
    assert_eq!(e0["request_ip"], "203.0.113.9");
    let received = e0["receivedAt"].as_str().unwrap();
    assert_eq!(received.len(), "2026-01-01T00:00:00.000Z".len());
    assert!(received.ends_with('Z'));
    // rudderId = md5-UUID("u1:") with version 4 (checked against an independent MD5).
    let digest = hex_of(&md5::Md5::digest(b"u1:"));
    let rid = e0["rudderId"].as_str().unwrap().replace('-', "");
    assert_eq!(&rid[..12], &digest[..12]);
    assert_eq!(&rid[12..13], "4");
    let e1 = &events[1].event;
    assert_eq!(
        e1["receivedAt"], "client-value",
        "receivedAt kept when present"
    );
    let mid = e1["messageId"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(mid).unwrap().get_version_num(), 4);
    assert_eq!(events[0].cursor + 1, events[1].cursor);
    assert_eq!(events[0].request_id, events[1].request_id);
    assert_eq!(events[0].write_key, key);
    assert_eq!(events[0].source_id, dp.sources()[0].id);
}

use md5::Digest as _;

#[tokio::test]
async fn gzip_bodies_are_decoded_and_corrupt_gzip_is_a_500() {
    let dp = start().await;
    let key = dp.write_key();
    let body = json!({"batch": [{"type": "track", "userId": "u", "event": "E"}]}).to_string();
    let a = post_gzip(&dp, "/v1/batch", &key, body.as_bytes()).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    let mut gz = gzip(body.as_bytes());
    gz.truncate(gz.len() - 6);
    let a = send(
        client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("authorization", basic(&key))
            .header("content-encoding", "gzip")
            .body(gz),
    )
    .await;
    assert_go_error(&a, 500, "failed to read body from request");
    // `Content-Encoding: GZIP` is not exactly `gzip`: the body is read raw -> invalid json.
    let a = send(
        client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("authorization", basic(&key))
            .header("content-encoding", "GZIP")
            .body(gzip(body.as_bytes())),
    )
    .await;
    assert_go_error(&a, 400, "invalid json");
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);
    let journal = dp.requests().await;
    assert!(journal[0].gzip && journal[0].decompressed_bytes == Some(body.len()));
    assert!(journal[1].detail.as_deref().unwrap().contains("gzip"));
}

#[tokio::test]
async fn auth_failures_have_the_real_texts_and_come_before_the_body() {
    let dp = MockDataplane::builder()
        .write_key("good")
        .source(Source {
            write_key: "off".into(),
            id: "src-off".into(),
            name: "disabled".into(),
            enabled: false,
        })
        .start()
        .await
        .unwrap();
    let garbage = "not json at all";
    assert_go_error(
        &post(&dp, "/v1/batch", None, garbage).await,
        401,
        "failed to read writekey from header",
    );
    // base64("good") without the colon is not Basic auth for Go.
    let no_colon = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "good")
    );
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&no_colon), garbage).await,
        401,
        "failed to read writekey from header",
    );
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&basic("")), garbage).await,
        401,
        "failed to read writekey from header",
    );
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&basic("bad")), garbage).await,
        401,
        "invalid write key",
    );
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&basic("off")), garbage).await,
        404,
        "source is disabled",
    );
    // Password is ignored.
    let with_pw = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "good:secret")
    );
    let ok = post(
        &dp,
        "/v1/track",
        Some(&with_pw),
        r#"{"userId":"u","event":"E"}"#,
    )
    .await;
    assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
    // The journal never shows the key.
    let journal = serde_json::to_string(&dp.requests().await).unwrap();
    assert!(!journal.contains("secret"));
    assert!(
        !journal.contains("Z29vZDpzZWNyZXQ"),
        "raw Authorization value leaked"
    );
}

#[tokio::test]
async fn validation_order_and_all_or_nothing() {
    let dp = MockDataplane::builder()
        .write_key("k")
        .max_request_bytes(200)
        .start()
        .await
        .unwrap();
    let auth = basic("k");
    let p = |body: String| {
        let dp = &dp;
        let auth = auth.clone();
        async move { post(dp, "/v1/batch", Some(&auth), body).await }
    };
    assert_go_error(&p(String::new()).await, 400, "invalid json");
    assert_go_error(&p("{\"batch\":[".into()).await, 400, "invalid json");
    assert_go_error(
        &p(r#"{"batch":[{"userId":"u"},"str"]}"#.into()).await,
        400,
        "event is not a valid rudder event",
    );
    assert_go_error(
        &p(r#"{"batch":[{"userId":"u"},{"anonymousId":"  "}]}"#.into()).await,
        400,
        "request neither has anonymousId nor userId",
    );
    // Oversized *and* missing an id: the id check comes first.
    let pad = "x".repeat(300);
    assert_go_error(
        &p(format!(r#"{{"batch":[{{"pad":"{pad}"}}]}}"#)).await,
        400,
        "request neither has anonymousId nor userId",
    );
    assert_go_error(
        &p(format!(r#"{{"batch":[{{"userId":"u","pad":"{pad}"}}]}}"#)).await,
        413,
        "request size exceeds max limit",
    );
    assert_go_error(
        &p(r#"{"batch":[]}"#.into()).await,
        400,
        "empty batch payload",
    );
    assert_go_error(&p("{}".into()).await, 400, "empty batch payload");
    assert!(
        dp.events(EventFilter::default()).await.unwrap().is_empty(),
        "nothing stored"
    );
    let a = p(r#"{"batch":[{"userId":1}]}"#.into()).await;
    assert_eq!(a.status, 200);
}

#[tokio::test]
async fn size_limit_is_exactly_4096000_bytes_by_default() {
    let dp = start().await;
    let key = dp.write_key();
    let prefix = r#"{"batch":[{"userId":"u","pad":""#;
    let suffix = r#""}]}"#;
    let pad = 4_096_000 - prefix.len() - suffix.len();
    let exact = format!("{prefix}{}{suffix}", "x".repeat(pad));
    assert_eq!(exact.len(), 4_096_000);
    let a = post_gzip(&dp, "/v1/batch", &key, exact.as_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let over = format!("{prefix}{}{suffix}", "x".repeat(pad + 1));
    let a = post_gzip(&dp, "/v1/batch", &key, over.as_bytes()).await;
    assert_go_error(&a, 413, "request size exceeds max limit");
}

#[tokio::test]
async fn single_event_routes_force_type_and_batch_keeps_it() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    for route in [
        "identify",
        "track",
        "page",
        "screen",
        "group",
        "alias",
        "merge",
        "audiencelist",
    ] {
        let a = post(
            &dp,
            &format!("/v1/{route}"),
            Some(&auth),
            r#"{"type":"bogus","userId":"u","messageId":"m"}"#,
        )
        .await;
        assert_eq!((a.status, a.body.as_str()), (200, "ok"), "{route}");
    }
    let a = post(&dp, "/v1/track", Some(&auth), r#"{"anonymousId":"a"}"#).await;
    assert_eq!(a.status, 200);
    assert_go_error(
        &post(&dp, "/v1/track", Some(&auth), "[1,2]").await,
        400,
        "event is not a valid rudder event",
    );
    let a = post(
        &dp,
        "/v1/batch",
        Some(&auth),
        r#"{"batch":[{"type":"bogus","userId":"u"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    let types: Vec<String> = dp
        .events(EventFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.event["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "identify",
            "track",
            "page",
            "screen",
            "group",
            "alias",
            "merge",
            "audiencelist",
            "track",
            "bogus"
        ]
    );
}

#[tokio::test]
async fn legacy_responses_use_capitalised_texts() {
    let dp = MockDataplane::builder()
        .write_key("k")
        .legacy_responses(true)
        .start()
        .await
        .unwrap();
    let a = post(
        &dp,
        "/v1/batch",
        Some(&basic("k")),
        r#"{"batch":[{"userId":"u"}]}"#,
    )
    .await;
    assert_eq!(a.body, "OK");
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&basic("x")), "{}").await,
        401,
        "Invalid Write Key",
    );
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&basic("k")), "{").await,
        400,
        "Invalid JSON",
    );
    assert_go_error(
        &post(&dp, "/v1/batch", Some(&basic("k")), "{}").await,
        400,
        "Empty batch payload",
    );
}

#[tokio::test]
async fn retried_batch_is_stored_twice_and_wait_for_sees_it() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    let body = r#"{"batch":[{"type":"track","userId":"u","event":"E","messageId":"dup-1"}]}"#;
    let waiter = {
        let filter = EventFilter {
            message_id: Some("dup-1".into()),
            ..Default::default()
        };
        dp.wait_for(2, filter, Duration::from_secs(5))
    };
    let sender = async {
        post(&dp, "/v1/batch", Some(&auth), body).await;
        post(&dp, "/v1/batch", Some(&auth), body).await;
    };
    let (events, ()) = tokio::join!(waiter, sender);
    assert_eq!(events.unwrap().len(), 2);
    let stats = dp.stats().await.unwrap();
    assert_eq!(stats.duplicate_events, 1);
    assert_eq!(stats.duplicate_message_ids[0].message_id, "dup-1");
    let err = dp
        .wait_for(3, EventFilter::default(), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(
        matches!(err, mock_dataplane::WaitError::Timeout { seen: 2 }),
        "{err}"
    );
    dp.reset().await.unwrap();
    assert!(dp.events(EventFilter::default()).await.unwrap().is_empty());
    let _: Value = json!(null);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
