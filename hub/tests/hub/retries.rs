//! The sender against `wiremock`, a third-party stub, so that a bug shared by the hub and our
//! own mocks cannot hide: which answers are retried (5xx, 429), which stop at once (other
//! 4xx), that a retry resends the same body, and what Looker is told. Connection resets need
//! a raw socket and are tested against mock-dataplane's fault injection (scenarios `faults/`).

use base64::Engine;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Target, TestHub, exec_body, look};

const DIMS: &[(&str, &[&str])] = &[("u.id", &["user_id"]), ("u.city", &[])];
const WRITE_KEY: &str = "wk_test";

impl Target for MockServer {
    fn url(&self) -> String {
        self.uri()
    }
    fn key(&self) -> String {
        WRITE_KEY.into()
    }
}

fn rows(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"u.id": {"value": format!("user-{i}")}, "u.city": {"value": "Paris"}}))
        .collect()
}

/// A batch POST with the source's write key, as the data plane requires.
fn batch_post() -> wiremock::MockBuilder {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{WRITE_KEY}:"));
    Mock::given(method("POST"))
        .and(path("/v1/batch"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON batch"))
        .collect()
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_body_then_reported_with_counts() {
    let hub = TestHub::start().await;
    let dp = MockServer::start().await;
    batch_post()
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .expect(4) // the first try and 3 retries
        .named("503 on every try")
        .mount(&dp)
        .await;
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look(DIMS, &rows(3)), &dp))
        .await;
    assert_eq!(resp["looker"]["success"], false);
    assert_eq!(
        resp["looker"]["message"],
        "3 of 3 events not delivered after 3 retries: 503 Service Unavailable"
    );
    let sent = bodies(&dp).await;
    assert!(sent.iter().all(|b| b == &sent[0]), "resent unchanged");
    assert_eq!(sent[0]["batch"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn too_many_requests_is_retried_and_every_event_arrives() {
    let hub = TestHub::start().await;
    let dp = MockServer::start().await;
    batch_post()
        .respond_with(ResponseTemplate::new(429).set_body_string("max requests limit reached"))
        .up_to_n_times(2)
        .expect(2)
        .with_priority(1)
        .mount(&dp)
        .await;
    batch_post()
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .expect(1)
        .with_priority(2)
        .mount(&dp)
        .await;
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look(DIMS, &rows(3)), &dp))
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    let sent = bodies(&dp).await;
    let users: Vec<&Value> = sent[2]["batch"]
        .as_array()
        .expect("a batch")
        .iter()
        .map(|e| &e["userId"])
        .collect();
    assert_eq!(users, ["user-0", "user-1", "user-2"]);
}

#[tokio::test]
async fn other_client_errors_fail_at_once_with_the_data_plane_text() {
    let hub = TestHub::start().await;
    let dp = MockServer::start().await;
    batch_post()
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_string("request neither has anonymousId nor userId"),
        )
        .expect(1) // a 4xx other than 429 is not retried
        .mount(&dp)
        .await;
    let (_, resp) = hub
        .execute("rudder_event", &exec_body(&look(DIMS, &rows(1)), &dp))
        .await;
    assert_eq!(resp["looker"]["success"], false);
    assert_eq!(
        resp["looker"]["message"],
        "400 request neither has anonymousId nor userId from data plane"
    );
}

#[tokio::test]
async fn invalid_write_key_is_a_truthful_failure() {
    let hub = TestHub::start().await;
    let dp = MockServer::start().await;
    batch_post()
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .expect(0)
        .named("the right write key")
        .mount(&dp)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("invalid write key\n"))
        .expect(1) // not retried
        .named("any other key")
        .with_priority(10)
        .mount(&dp)
        .await;
    let mut body = exec_body(&look(DIMS, &rows(3)), &dp);
    body["data"]["rudder_write_key"] = json!("wrong");
    let (status, resp) = hub.execute("rudder_event", &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        resp,
        json!({"looker": {"message": "401 invalid write key from data plane", "refresh_query": false, "success": false, "validation_errors": {}}})
    );
}
