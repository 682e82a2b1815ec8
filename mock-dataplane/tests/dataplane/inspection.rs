//! The /_mock/ inspection API over HTTP.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

async fn json_of(dp: &mock_dataplane::MockDataplane, path: &str) -> (u16, Value) {
    let a = get(dp, path).await;
    (
        a.status,
        serde_json::from_str(&a.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn events_filters_and_cursor_paging() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    let body = r#"{"batch":[
        {"type":"identify","userId":"u1","messageId":"m1"},
        {"type":"track","userId":"u1","event":"Signed Up","messageId":"m2"},
        {"type":"track","anonymousId":"a9","event":"Clicked","messageId":"m3"}]}"#;
    assert_eq!(post(&dp, "/v1/batch", Some(&auth), body).await.status, 200);
    let (_, v) = json_of(&dp, "/_mock/events?type=track").await;
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let (_, v) = json_of(&dp, "/_mock/events?userId=u1&event=Signed%20Up").await;
    assert_eq!(v["events"][0]["event"]["messageId"], "m2");
    let (_, v) = json_of(&dp, "/_mock/events?anonymousId=a9").await;
    assert_eq!(v["events"][0]["event"]["messageId"], "m3");
    let (_, v) = json_of(
        &dp,
        &format!("/_mock/events?write_key={}&messageId=m1", dp.write_key()),
    )
    .await;
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    assert!(v["events"][0]["request_id"].is_string() && v["events"][0]["source_id"].is_string());
    let (_, page1) = json_of(&dp, "/_mock/events?limit=2").await;
    assert_eq!(page1["events"].as_array().unwrap().len(), 2);
    let next = page1["next"].as_u64().unwrap();
    let (_, page2) = json_of(&dp, &format!("/_mock/events?since={next}")).await;
    assert_eq!(page2["events"].as_array().unwrap().len(), 1);
    assert_eq!(page2["events"][0]["event"]["messageId"], "m3");
    let (status, v) = json_of(&dp, "/_mock/events?usrId=x").await;
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("usrId"));
}

#[tokio::test]
async fn wait_long_polls_and_times_out_with_408() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    let waiter = json_of(&dp, "/_mock/events/wait?count=2&timeout_ms=5000&type=track");
    let sender = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        post(
            &dp,
            "/v1/batch",
            Some(&auth),
            r#"{"batch":[{"type":"track","userId":"u"},{"type":"track","userId":"v"}]}"#,
        )
        .await
    };
    let ((status, v), _) = tokio::join!(waiter, sender);
    assert_eq!(status, 200);
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    let (status, v) = json_of(&dp, "/_mock/events/wait?count=3&timeout_ms=100").await;
    assert_eq!(status, 408);
    assert_eq!(v["seen"], 2);
}

#[tokio::test]
async fn journal_stats_export_stream_and_reset() {
    let dp = start().await;
    let key = dp.write_key();
    let auth = basic(&key);
    let c = client();
    let mut sse = c
        .get(format!("{}/_mock/stream", dp.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let body = r#"{"batch":[{"type":"track","userId":"u","messageId":"same"},{"type":"track","userId":"u","messageId":"same"}]}"#;
    assert_eq!(post(&dp, "/v1/batch", Some(&auth), body).await.status, 200);

    let mut seen = String::new();
    while seen.matches("event: event").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), sse.chunk())
            .await
            .expect("SSE event in time")
            .unwrap()
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(r#""messageId":"same""#));

    let (_, j) = json_of(&dp, "/_mock/requests").await;
    let r0 = &j["requests"][0];
    assert_eq!(r0["status"], 200);
    assert_eq!(r0["event_count"], 2);
    assert_eq!(r0["response"], "ok");
    assert!(!j.to_string().contains(&key), "write key must be masked");

    let (_, s) = json_of(&dp, "/_mock/stats").await;
    assert_eq!(s["total"], 2);
    assert_eq!(s["by_type"]["track"], 2);
    assert_eq!(s["duplicate_message_ids"][0]["messageId"], "same");
    assert_eq!(s["duplicate_events"], 1);

    let export = get(&dp, "/_mock/export").await;
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = export
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["event"]["type"], "track");

    let del = c
        .delete(format!("{}/_mock/events", dp.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    let (_, v) = json_of(&dp, "/_mock/events").await;
    assert_eq!(v["events"].as_array().unwrap().len(), 0);
}
