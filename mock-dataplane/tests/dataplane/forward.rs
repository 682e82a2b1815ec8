//! `--forward` (issue 15): the mock in front of another data plane acknowledges only what the
//! upstream acknowledged, and passes the upstream's other answers on.

use std::time::Duration;

use mock_dataplane::{EventFilter, FaultRule, MockDataplane};
use serde_json::json;

use crate::helpers::*;

const BODY: &str = r#"{"batch":[{"type":"track","userId":"u1","event":"E"}]}"#;

async fn pair() -> (MockDataplane, MockDataplane) {
    init();
    let upstream = MockDataplane::builder()
        .write_key("wk_fwd")
        .start()
        .await
        .expect("upstream starts");
    let front = MockDataplane::builder()
        .write_key("wk_fwd")
        .forward(upstream.url())
        .start()
        .await
        .expect("front starts");
    (front, upstream)
}

async fn count(dp: &MockDataplane) -> usize {
    dp.events(EventFilter::default()).await.unwrap().len()
}

#[tokio::test]
async fn an_acknowledged_request_is_stored_on_both_sides() {
    let (front, upstream) = pair().await;
    let a = post(&front, "/v1/batch", Some(&basic("wk_fwd")), BODY).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    assert_eq!(count(&front).await, 1);
    assert_eq!(count(&upstream).await, 1);
    // The upstream got the client's write key and the client's body.
    let ev = &upstream.events(EventFilter::default()).await.unwrap()[0];
    assert_eq!(ev.write_key, "wk_fwd");
    assert_eq!(ev.event["userId"], "u1");
    let journal = front.requests().await;
    assert_eq!(
        journal[0].detail.as_deref(),
        Some("upstream acknowledged (200)")
    );
}

#[tokio::test]
async fn an_upstream_fault_shows_through_and_nothing_is_stored() {
    let (front, upstream) = pair().await;
    let rule: FaultRule = serde_json::from_value(json!({
        "path": "/v1/batch", "times": 2,
        "action": {"status": 503, "body": "upstream says no\n", "headers": {"content-type": "text/plain"}}
    }))
    .unwrap();
    upstream.add_fault(rule).await.unwrap();
    for _ in 0..2 {
        let a = post(&front, "/v1/batch", Some(&basic("wk_fwd")), BODY).await;
        assert_eq!((a.status, a.body.as_str()), (503, "upstream says no\n"));
    }
    assert_eq!(
        count(&front).await,
        0,
        "nothing acknowledged, nothing stored"
    );
    assert_eq!(count(&upstream).await, 0);
    let journal = front.requests().await;
    assert_eq!(journal[0].status, 503);
    let detail = journal[0].detail.as_deref().unwrap();
    assert!(detail.contains("answered 503"), "{detail}");
    // The fault is spent: the retry goes through, once on each side.
    let a = post(&front, "/v1/batch", Some(&basic("wk_fwd")), BODY).await;
    assert_eq!(a.status, 200);
    assert_eq!((count(&front).await, count(&upstream).await), (1, 1));
}

#[tokio::test]
async fn a_key_the_upstream_refuses_is_refused_with_its_answer() {
    init();
    let upstream = MockDataplane::builder()
        .write_key("other")
        .start()
        .await
        .unwrap();
    let front = MockDataplane::builder()
        .write_key("wk_fwd")
        .forward(upstream.url())
        .start()
        .await
        .unwrap();
    let a = post(&front, "/v1/batch", Some(&basic("wk_fwd")), BODY).await;
    assert_eq!((a.status, a.body.as_str()), (401, "invalid write key\n"));
    assert_eq!(count(&front).await, 0);
}

#[tokio::test]
async fn what_the_front_refuses_itself_is_not_forwarded() {
    let (front, upstream) = pair().await;
    let a = post(&front, "/v1/batch", Some(&basic("wk_fwd")), "{not json").await;
    assert_eq!(a.status, 400);
    assert!(upstream.requests().await.is_empty());
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_and_nothing_is_stored() {
    init();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let front = MockDataplane::builder()
        .write_key("wk_fwd")
        .forward(format!("http://127.0.0.1:{port}"))
        .write_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let a = post(&front, "/v1/batch", Some(&basic("wk_fwd")), BODY).await;
    assert_eq!(a.status, 502);
    assert!(
        a.body
            .starts_with("the upstream data plane could not be reached"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("wk_fwd"));
    assert_eq!(count(&front).await, 0);
}
