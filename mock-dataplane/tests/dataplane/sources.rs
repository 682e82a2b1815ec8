//! #11: sources created and changed while the mock runs (`POST /_mock/sources`), so a tool
//! that did not start it (`scenarios run --dataplane-url`) can send with its own write keys;
//! and `bind` / `advertise_host` for a hub that reaches the mock under another address.

use mock_dataplane::{Client, ClientError, MockDataplane, RuntimeSettings, Source};

use crate::helpers::{basic, client, get, init, send, start};

async fn track(url: &str, key: &str) -> (u16, String) {
    let a = send(
        client()
            .post(format!("{url}/v1/track"))
            .header("authorization", basic(key))
            .body(r#"{"userId":"u1","event":"E"}"#),
    )
    .await;
    (a.status, a.body)
}

fn source(key: &str, enabled: bool) -> Source {
    Source {
        write_key: key.into(),
        id: String::new(),
        name: "scenario source".into(),
        enabled,
    }
}

#[tokio::test]
async fn a_source_added_through_the_api_is_accepted_then_disabled_then_enabled() {
    let dp = start().await;
    let api = Client::new(dp.url()).unwrap();
    assert_eq!(
        track(&dp.url(), "wk_new").await,
        (401, "invalid write key\n".into())
    );

    let id = api.put_source(&source("wk_new", true)).await.unwrap();
    assert_eq!(track(&dp.url(), "wk_new").await, (200, "ok".into()));
    assert!(dp.write_keys().contains(&"wk_new".to_string()));

    // The same key again changes that source (and keeps its id).
    let again = api.put_source(&source("wk_new", false)).await.unwrap();
    assert_eq!(again, id);
    assert_eq!(
        track(&dp.url(), "wk_new").await,
        (404, "source is disabled\n".into())
    );
    api.put_source(&source("wk_new", true)).await.unwrap();
    assert_eq!(track(&dp.url(), "wk_new").await.0, 200);

    // The list never shows a key, and a key added at run time is masked in the journal.
    let listed = get(&dp, "/_mock/sources").await;
    assert_eq!(listed.status, 200);
    assert!(!listed.body.contains("wk_new"), "{}", listed.body);
    assert!(listed.body.contains(&id), "{}", listed.body);
    let journal = get(&dp, "/_mock/requests").await.body;
    assert!(!journal.contains("wk_new"), "{journal}");
}

#[tokio::test]
async fn a_bad_source_is_refused_naming_the_field_without_echoing_the_key() {
    let dp = start().await;
    let post = |body: &'static str| {
        let url = format!("{}/_mock/sources", dp.url());
        async move {
            send(
                client()
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await
        }
    };
    let a = post(r#"{"write_key": "", "name": "x"}"#).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("empty write key"), "{}", a.body);
    let a = post(r#"{"write_key": "wk_x", "colour": "red"}"#).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("unknown field `colour`"), "{}", a.body);
    let a = post(r#"{"write_key": "wk_secret_1", "enabled": "wk_secret_2"}"#).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("wrong type"), "{}", a.body);
    assert!(!a.body.contains("wk_secret"), "{}", a.body);
    let a = post(r#"{"write_key": "wk_x", "category": "cloud"}"#).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("category"), "{}", a.body);
    // A page in a browser cannot add a source (the control API's origin rule).
    let a = send(
        client()
            .post(format!("{}/_mock/sources", dp.url()))
            .header("content-type", "application/json")
            .header("origin", "http://evil.example")
            .body(r#"{"write_key": "wk_evil"}"#),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(track(&dp.url(), "wk_evil").await.0, 401);
    let err = Client::new("http://127.0.0.1:9")
        .unwrap()
        .put_source(&source("k", true))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Http { .. }), "{err}");
    assert!(
        err.to_string().starts_with("setting up a source: "),
        "{err}"
    );
}

#[tokio::test]
async fn settings_change_the_texts_the_413_threshold_and_the_write_timeout_while_running() {
    let dp = start().await;
    let api = Client::new(dp.url()).unwrap();
    let key = dp.write_key();
    let now = api.set_settings(&RuntimeSettings::default()).await.unwrap();
    assert_eq!(
        now,
        RuntimeSettings {
            legacy_responses: Some(false),
            max_request_bytes: Some(mock_dataplane::DEFAULT_MAX_REQUEST_BYTES),
            write_timeout_ms: Some(10_000),
        }
    );
    assert_eq!(track(&dp.url(), &key).await, (200, "ok".into()));

    let now = api
        .set_settings(&RuntimeSettings {
            legacy_responses: Some(true),
            max_request_bytes: Some(10),
            ..RuntimeSettings::default()
        })
        .await
        .unwrap();
    assert_eq!(
        now.write_timeout_ms,
        Some(10_000),
        "unchanged when not given"
    );
    let (status, body) = track(&dp.url(), &key).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        track(&dp.url(), "nope").await,
        (401, "Invalid Write Key\n".into())
    );
    api.set_settings(&RuntimeSettings {
        max_request_bytes: Some(4096),
        ..RuntimeSettings::default()
    })
    .await
    .unwrap();
    assert_eq!(track(&dp.url(), &key).await, (200, "OK".into()));

    // A write timeout shorter than a delay fault: the answer is never sent, the event stays.
    api.set_settings(&RuntimeSettings {
        write_timeout_ms: Some(50),
        legacy_responses: Some(false),
        ..RuntimeSettings::default()
    })
    .await
    .unwrap();
    let rule: mock_dataplane::FaultRule = serde_json::from_value(
        serde_json::json!({"path": "/v1/track", "times": 1, "action": {"delay": {"kind": "fixed", "ms": 300}}}),
    )
    .unwrap();
    api.add_fault(&rule).await.unwrap();
    let sent = client()
        .post(format!("{}/v1/track", dp.url()))
        .header("authorization", basic(&key))
        .body(r#"{"userId":"u2"}"#)
        .send()
        .await;
    assert!(sent.is_err(), "answered past the write timeout: {sent:?}");

    // Refused settings change nothing and say why.
    let err = api
        .set_settings(&RuntimeSettings {
            legacy_responses: Some(true),
            write_timeout_ms: Some(0),
            ..RuntimeSettings::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("write_timeout_ms must be at least 1"),
        "{err}"
    );
    let now = api.set_settings(&RuntimeSettings::default()).await.unwrap();
    assert_eq!(now.legacy_responses, Some(false));
    let a = get(&dp, "/_mock/settings").await;
    assert!(a.body.contains("\"write_timeout_ms\":50"), "{}", a.body);
}

#[tokio::test]
async fn bind_and_advertise_host_choose_the_address_and_the_url() {
    init();
    let dp = MockDataplane::builder()
        .bind("127.0.0.2".parse().unwrap())
        .write_key("wk")
        .start()
        .await
        .unwrap();
    assert!(dp.url().starts_with("http://127.0.0.2:"), "{}", dp.url());
    assert_eq!(track(&dp.url(), "wk").await.0, 200);

    let dp = MockDataplane::builder()
        .advertise_host("localhost")
        .write_key("wk")
        .start()
        .await
        .unwrap();
    let port = dp.local_addr().port();
    assert_eq!(dp.url(), format!("http://localhost:{port}"));
    assert_eq!(dp.batch_url(), format!("http://localhost:{port}/v1/batch"));
    // `localhost` resolves to the bound 127.0.0.1: reachable by the advertised name.
    assert_eq!(track(&dp.url(), "wk").await.0, 200);
}
