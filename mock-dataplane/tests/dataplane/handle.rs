//! The in-process handle (#13): errors are returned rather than logged and dropped,
//! `batch_url()`, and expectations verified on drop or by `verify()`.

use std::time::Duration;

use mock_dataplane::{EventFilter, EventMatcher, MockDataplane, VerifyError, WaitError};

use crate::helpers::{basic, client, init, send, start};

/// Posts one `/v1/batch` of `track` calls named `event` for `user`, `n` of them.
async fn track(dp: &MockDataplane, event: &str, user: &str, n: usize) {
    let batch: Vec<_> = (0..n)
        .map(|_| serde_json::json!({"type": "track", "event": event, "userId": user}))
        .collect();
    let answer = send(
        client()
            .post(dp.batch_url())
            .header("authorization", basic(&dp.write_key()))
            .json(&serde_json::json!({ "batch": batch })),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn batch_url_is_the_batch_route() {
    let dp = start().await;
    assert_eq!(dp.batch_url(), format!("{}/v1/batch", dp.url()));
    track(&dp, "Signed Up", "u1", 1).await;
    assert_eq!(dp.events(EventFilter::default()).await.unwrap().len(), 1);
}

/// Before: `events()` answered `vec![]`, `wait_for` "seen 0", `reset` only logged, when the
/// store could not be read.
#[tokio::test]
async fn storage_failures_are_returned() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let dp = MockDataplane::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    track(&dp, "Signed Up", "u1", 1).await;
    let conn = rusqlite::Connection::open(dir.path().join("events.sqlite3")).unwrap();
    conn.execute_batch("DROP TABLE events").unwrap();
    let err = dp.events(EventFilter::default()).await.unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
    let err = dp
        .wait_for(1, EventFilter::default(), Duration::from_millis(50))
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Store(_)), "{err}");
    assert!(dp.stats().await.is_err());
    assert!(dp.reset().await.is_err());
    // Drop checks expectations with the same store: it must not panic on the error
    // when nothing was expected.
}

#[tokio::test]
async fn an_invalid_fault_rule_is_refused_with_its_reason() {
    let dp = start().await;
    let rule: mock_dataplane::FaultRule =
        serde_json::from_value(serde_json::json!({"probability": 2.0, "action": {"status": 500}}))
            .unwrap();
    assert!(dp.add_fault(rule).await.is_err());
}

#[tokio::test]
async fn met_expectations_pass_on_drop() {
    let dp = start().await;
    dp.expect(EventMatcher::track("Signed Up").user("u1"))
        .times(3);
    dp.expect(EventMatcher::of_type("identify")).never();
    dp.expect(EventMatcher::any()).at_least(3);
    track(&dp, "Signed Up", "u1", 3).await;
    track(&dp, "Signed Up", "u2", 1).await;
}

#[tokio::test]
#[should_panic(expected = "track \"Signed Up\", userId \"u1\": expected exactly 3, received 1")]
async fn an_unmet_expectation_panics_on_drop_listing_what_arrived() {
    let dp = start().await;
    dp.expect(EventMatcher::track("Signed Up").user("u1"))
        .times(3);
    track(&dp, "Signed Up", "u1", 1).await;
}

#[tokio::test]
#[should_panic(expected = "1 of 1 expectations not met")]
async fn an_unmet_expectation_panics_on_drop_with_sqlite_storage() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let dp = MockDataplane::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    dp.expect(EventMatcher::track("Signed Up"));
    track(&dp, "Logged In", "u1", 1).await;
}

#[tokio::test]
async fn verify_returns_the_failure_and_drop_does_not_repeat_it() {
    let dp = start().await;
    dp.expect(EventMatcher::track("Signed Up").user("u1"))
        .times(2);
    track(&dp, "Logged In", "u7", 1).await;
    let err = dp.verify().await.unwrap_err();
    let VerifyError::Unmet(unmet) = &err else {
        panic!("{err}");
    };
    assert_eq!(unmet.failures.len(), 1);
    assert_eq!(unmet.received.len(), 1);
    let text = err.to_string();
    assert!(text.contains("expected exactly 2, received 0"), "{text}");
    assert!(text.contains("received 1 events:"), "{text}");
    assert!(text.contains(r#""event":"Logged In""#), "{text}");
    // The write key is a secret: the failure never prints it.
    assert!(!text.contains(&dp.write_key()), "{text}");
    dp.verify().await.unwrap();
}
