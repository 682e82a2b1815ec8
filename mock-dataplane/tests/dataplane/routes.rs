//! The other public routes: beacon, pixel, health, version, 404/405, CORS, webhook, import.

use mock_dataplane::{EventFilter, MockDataplane, Source};

use crate::helpers::*;

#[tokio::test]
async fn beacon_takes_the_key_from_the_query() {
    let dp = start().await;
    let url = format!("{}/beacon/v1/batch?writeKey={}", dp.url(), dp.write_key());
    let a = send(
        client()
            .post(url)
            .body(r#"{"batch":[{"userId":"u","type":"track"}]}"#),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    let a = send(
        client()
            .post(format!("{}/beacon/v1/batch", dp.url()))
            .body("{}"),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (401, "failed to read writekey from query params\n")
    );
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);
    let journal = dp.requests().await;
    assert!(
        !journal[0].path.contains(&dp.write_key()),
        "{}",
        journal[0].path
    );
}

#[tokio::test]
async fn pixel_always_answers_a_gif_and_stores_valid_events() {
    let dp = start().await;
    let key = dp.write_key();
    let a = get(
        &dp,
        &format!("/pixel/v1/page?writeKey={key}&anonymousId=a1&context.page.url=http%3A%2F%2Fx"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["content-type"], "image/gif");
    let a2 = client()
        .get(format!(
            "{}/pixel/v1/track?writeKey=wrong&anonymousId=a1&event=E",
            dp.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(a2.status(), 200);
    let gif = a2.bytes().await.unwrap();
    assert!(gif.starts_with(b"GIF89a"));
    let events = dp.events(EventFilter::default()).await.unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0].event;
    assert_eq!(e["type"], "page");
    assert_eq!(e["name"], "Unknown Page");
    assert_eq!(e["channel"], "web");
    assert_eq!(e["integrations"]["All"], true);
    assert_eq!(e["context"]["page"]["url"], "http://x");
    assert!(e["originalTimestamp"].is_string() && e["sentAt"].is_string());
}

#[tokio::test]
async fn health_version_404_405_like_go_and_chi() {
    let dp = start().await;
    let h = get(&dp, "/health").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.headers["content-type"], "application/json; charset=utf-8");
    let v: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    for k in [
        "appType",
        "server",
        "db",
        "acceptingEvents",
        "routingEvents",
        "mode",
        "backendConfigMode",
        "lastSync",
        "lastRegulationSync",
    ] {
        assert!(v.get(k).is_some(), "{k} missing");
    }
    assert_eq!(v["server"], "UP");
    assert_eq!(get(&dp, "/").await.status, 200);
    let ver: serde_json::Value = serde_json::from_str(&get(&dp, "/version").await.body).unwrap();
    for k in ["Version", "Commit", "BuildDate", "BuiltBy", "Features"] {
        assert!(ver.get(k).is_some(), "{k} missing");
    }
    let nf = get(&dp, "/v1/nope").await;
    assert_eq!((nf.status, nf.body.as_str()), (404, "404 page not found\n"));
    assert_eq!(get(&dp, "/v1/batch/").await.status, 404);
    let na = get(&dp, "/v1/batch").await;
    assert_eq!(na.status, 405);
    assert_eq!(na.body, "");
    assert_eq!(post(&dp, "/health", None, "").await.status, 405);
}

#[tokio::test]
async fn cors_is_permissive_with_credentials() {
    let dp = start().await;
    let pre = send(
        client()
            .request(reqwest::Method::OPTIONS, format!("{}/v1/batch", dp.url()))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            ),
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(pre.headers["access-control-allow-credentials"], "true");
    assert_eq!(pre.headers["access-control-max-age"], "900");
    assert_eq!(
        pre.headers["access-control-allow-headers"],
        "authorization,content-type"
    );
    let a = send(
        client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("origin", "https://app.example")
            .header("authorization", basic(&dp.write_key()))
            .body(r#"{"batch":[{"userId":"u"}]}"#),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://app.example"
    );
}

#[tokio::test]
async fn webhook_only_for_webhook_sources_and_import_merge_audiencelist() {
    let dp = MockDataplane::builder()
        .write_key("stream")
        .webhook_source(Source::new("hook", "Shopify"))
        .start()
        .await
        .unwrap();
    let a = send(
        client()
            .post(format!("{}/v1/webhook?writeKey=stream", dp.url()))
            .body("{}"),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (401, "invalid write key\n"));
    let a = send(
        client()
            .post(format!("{}/v1/webhook?writeKey=hook", dp.url()))
            .body(r#"{"order":1}"#),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    let a = post(
        &dp,
        "/v1/import",
        Some(&basic("stream")),
        r#"{"batch":[{"userId":"a"},{"userId":"b"}]}"#,
    )
    .await;
    assert_eq!(a.status, 200);
    let all = dp.events(EventFilter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].event["order"], 1);
}

/// `/v1/import` is split by user and each group checked alone (gw `import_handler.go`): a
/// refused group does not stop the others from being stored.
#[tokio::test]
async fn import_is_processed_per_user_group() {
    let dp = MockDataplane::builder()
        .write_key("k")
        .max_request_bytes(200)
        .start()
        .await
        .unwrap();
    let auth = basic("k");
    // One group without ids (refused, 400) next to two valid users (stored).
    let a = post(
        &dp,
        "/v1/import",
        Some(&auth),
        r#"{"batch":[{"userId":"a","n":1},{"event":"no ids"},{"userId":"b"},{"userId":"a","n":2}]}"#,
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (400, "request neither has anonymousId nor userId\n")
    );
    let stored = dp.events(EventFilter::default()).await.unwrap();
    let users: Vec<&str> = stored
        .iter()
        .map(|e| e.event["userId"].as_str().unwrap())
        .collect();
    assert_eq!(
        users,
        ["a", "a", "b"],
        "groups in order of first appearance"
    );
    assert_eq!(stored[1].event["n"], 2);

    // Two refused groups: their texts joined, no known message, so 500.
    dp.reset().await.unwrap();
    let big = "x".repeat(200);
    let body = format!(
        r#"{{"batch":[{{"userId":"c","p":"{big}"}},{{"event":"no ids"}},{{"userId":"d"}}]}}"#
    );
    let a = post(&dp, "/v1/import", Some(&auth), body).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            500,
            "request size exceeds max limitrequest neither has anonymousId nor userId\n"
        )
    );
    let stored = dp.events(EventFilter::default()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].event["userId"], "d");
    let journal = dp.requests().await;
    let last = journal.last().unwrap();
    assert_eq!(last.event_count, 1);
    assert!(
        last.detail
            .as_deref()
            .unwrap()
            .contains("2 of 3 user groups refused"),
        "{:?}",
        last.detail
    );

    // No events: 200 with nothing stored (where /v1/batch answers 400).
    for empty in [r#"{"batch":[]}"#, "{}"] {
        let a = post(&dp, "/v1/import", Some(&auth), empty.to_owned()).await;
        assert_eq!((a.status, a.body.as_str()), (200, "ok"), "{empty}");
        let a = post(&dp, "/v1/batch", Some(&auth), empty.to_owned()).await;
        assert_eq!(a.status, 400, "{empty}");
    }
    // Invalid JSON is still refused as a whole.
    let a = post(&dp, "/v1/import", Some(&auth), r#"{"batch":["#).await;
    assert_eq!((a.status, a.body.as_str()), (400, "invalid json\n"));
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);
}
