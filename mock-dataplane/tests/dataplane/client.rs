//! The typed `/_mock/` client against a running data plane: the same answers as the handle.

use std::time::Duration;

use mock_dataplane::{Client, ClientError, EventFilter, FaultRule};

use crate::helpers::{basic, client, send, start};

async fn post_batch(url: &str, key: &str, batch: serde_json::Value) -> u16 {
    send(
        client()
            .post(url)
            .header("authorization", basic(key))
            .json(&serde_json::json!({ "batch": batch })),
    )
    .await
    .status
}

#[tokio::test]
async fn client_mirrors_the_handle() {
    let dp = start().await;
    let api = Client::new(dp.url()).unwrap();
    let batch: Vec<_> = (0..1500)
        .map(
            |i| serde_json::json!({"type": "track", "event": "E", "userId": format!("u{}", i % 2)}),
        )
        .collect();
    assert_eq!(
        post_batch(&dp.batch_url(), &dp.write_key(), batch.into()).await,
        200
    );

    // Every page, not only the server's first 1,000; same events as the handle (no key).
    let all = api.events(&EventFilter::default()).await.unwrap();
    let local = dp.events(EventFilter::default()).await.unwrap();
    assert_eq!(all.len(), 1500);
    assert_eq!(
        all.iter().map(|e| (e.cursor, &e.event)).collect::<Vec<_>>(),
        local
            .iter()
            .map(|e| (e.cursor, &e.event))
            .collect::<Vec<_>>()
    );
    assert!(all.iter().all(|e| e.write_key.is_empty()));
    let u1 = EventFilter {
        user_id: Some("u1".into()),
        limit: Some(5),
        ..Default::default()
    };
    assert_eq!(api.events(&u1).await.unwrap().len(), 5);

    let waited = api
        .wait_for(1500, &EventFilter::default(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(waited.len(), 1500);
    let err = api
        .wait_for(1501, &EventFilter::default(), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout { seen: 1500 }), "{err}");

    let stats = api.stats().await.unwrap();
    assert_eq!(stats.total, 1500);
    assert_eq!(stats.by_type["track"], 1500);
    let journal = api.requests().await.unwrap();
    assert!(
        journal
            .iter()
            .any(|r| r.path == "/v1/batch" && r.status == 200)
    );

    let rule: FaultRule = serde_json::from_value(
        serde_json::json!({"path": "/v1/batch", "times": 1, "action": {"status": 503}}),
    )
    .unwrap();
    let id = api.add_fault(&rule).await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(
        post_batch(
            &dp.batch_url(),
            &dp.write_key(),
            serde_json::json!([{"type": "track", "event": "E", "userId": "u"}])
        )
        .await,
        503
    );
    api.add_fault(&rule).await.unwrap();
    api.clear_faults().await.unwrap();
    assert_eq!(
        post_batch(
            &dp.batch_url(),
            &dp.write_key(),
            serde_json::json!([{"type": "track", "event": "E", "userId": "u"}])
        )
        .await,
        200
    );

    api.reset().await.unwrap();
    assert!(
        api.events(&EventFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn client_errors_say_what_failed() {
    let dp = start().await;
    let api = Client::new(format!("{}/", dp.url())).unwrap();
    assert_eq!(api.url(), dp.url());
    let rule: FaultRule =
        serde_json::from_value(serde_json::json!({"probability": 2.0, "action": {"status": 500}}))
            .unwrap();
    let err = api.add_fault(&rule).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Status { status: 400, body, .. } if body.contains("probability")),
        "{err}"
    );
    let url = dp.url();
    drop(dp);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = Client::new(url)
        .unwrap()
        .events(&EventFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Http { .. }), "{err}");
    assert!(err.to_string().starts_with("reading events: "), "{err}");
}
