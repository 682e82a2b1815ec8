//! Redirects (hardening issue, finding 3), against `wiremock`: a third-party stub, so that a bug
//! shared by the hub and our own mocks cannot hide. The data plane's redirects are never
//! followed; the download_url's are followed on its own host only.

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Sink, TestHub, exec_body, quick_config};

const DIMS: &[(&str, &[&str])] = &[("u.id", &["user_id"])];

fn look(n: usize) -> String {
    let rows: Vec<Value> = (0..n)
        .map(|i| json!({"u.id": {"value": format!("u{i}")}}))
        .collect();
    crate::helpers::look(DIMS, &rows)
}

/// An execute pushing `rows` rows to the data plane at `url`.
fn body_to(url: &str, rows: usize) -> Value {
    let sink_like = Dataplane(url.to_owned());
    exec_body(&look(rows), &sink_like)
}

struct Dataplane(String);

impl crate::helpers::Target for Dataplane {
    fn url(&self) -> String {
        self.0.clone()
    }
    fn key(&self) -> String {
        "wk_test".into()
    }
}

/// A server that records everything and answers 200, standing in for where a redirect points.
async fn elsewhere() -> MockServer {
    let s = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .mount(&s)
        .await;
    s
}

#[tokio::test]
async fn a_data_plane_redirect_is_a_named_failure_and_nothing_is_posted_elsewhere() {
    for status in [301, 302, 303, 307, 308] {
        // Arrange
        let target = elsewhere().await;
        let dp = MockServer::start().await;
        let location = format!("{}/v1/batch", target.uri());
        Mock::given(method("POST"))
            .and(path("/v1/batch"))
            .respond_with(ResponseTemplate::new(status).insert_header("Location", &location))
            .expect(1) // not retried, and parsing stops after the first batch
            .named(format!("data plane answering {status}"))
            .mount(&dp)
            .await;
        let mut config = quick_config();
        config.send.max_batch_bytes = 2_000;
        config.send.max_in_flight = 1;
        config.allow_dataplane = vec![dp.address().to_string()];
        let hub = TestHub::with(config).await;

        // Act
        let (status_code, resp) = hub.execute("rudder_event", &body_to(&dp.uri(), 50)).await;

        // Assert
        assert_eq!(status_code, 200);
        assert_eq!(resp["looker"]["success"], false, "{status}: {resp}");
        assert_eq!(
            resp["looker"]["message"],
            format!(
                "data plane answered {status} → {location}; use that URL as the Rudder Data Plane URL (the hub does not follow redirects)"
            )
        );
        let leaked = target.received_requests().await.unwrap();
        assert!(
            leaked.is_empty(),
            "{status}: {} requests went to the Location",
            leaked.len()
        );
    }
}

#[tokio::test]
async fn a_relative_location_is_resolved_and_a_missing_one_said() {
    let dp = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/batch"))
        .respond_with(ResponseTemplate::new(308).insert_header("Location", "/v2/batch"))
        .mount(&dp)
        .await;
    let hub = TestHub::start().await;
    let (_, resp) = hub.execute("rudder_event", &body_to(&dp.uri(), 1)).await;
    assert_eq!(
        resp["looker"]["message"],
        format!(
            "data plane answered 308 → {}/v2/batch; use that URL as the Rudder Data Plane URL (the hub does not follow redirects)",
            dp.uri()
        )
    );

    let dp = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(302))
        .mount(&dp)
        .await;
    let (_, resp) = hub.execute("rudder_event", &body_to(&dp.uri(), 1)).await;
    assert_eq!(
        resp["looker"]["message"],
        "data plane answered 302 without a Location"
    );
}

/// Serves a Look at `/look` (200) and redirects at `/hop/{n}` to `/hop/{n-1}`, `/hop/0` being the
/// Look; `/away` redirects to `away`.
async fn looker(away: &str) -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/look"))
        .respond_with(ResponseTemplate::new(200).set_body_string(look(3)))
        .mount(&s)
        .await;
    for n in 1..=12 {
        let to = if n == 1 {
            "/look".to_owned()
        } else {
            format!("/hop/{}", n - 1)
        };
        Mock::given(method("GET"))
            .and(path(format!("/hop/{n}")))
            .respond_with(ResponseTemplate::new(302).insert_header("Location", to.as_str()))
            .mount(&s)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/away"))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", away))
        .mount(&s)
        .await;
    s
}

fn download_body(sink: &Sink, url: &str) -> Value {
    let mut b = exec_body("", sink);
    b.as_object_mut().unwrap().remove("attachment");
    b["scheduled_plan"]["download_url"] = json!(url);
    b
}

#[tokio::test]
async fn download_redirects_are_followed_on_the_same_host_only() {
    let away = elsewhere().await;
    Mock::given(method("GET"))
        .and(path("/look"))
        .respond_with(ResponseTemplate::new(200).set_body_string(look(3)))
        .mount(&away)
        .await;
    let lk = looker(&format!("{}/look", away.uri())).await;
    let hub = TestHub::start().await;

    // Up to 10 hops on the download_url's host are followed.
    let sink = Sink::start().await;
    let (_, resp) = hub
        .execute(
            "rudder_event",
            &download_body(&sink, &format!("{}/hop/10", lk.uri())),
        )
        .await;
    assert_eq!(resp["looker"]["success"], true, "{resp}");
    assert_eq!(sink.events().len(), 3);

    // An 11th is not.
    let sink = Sink::start().await;
    let (_, resp) = hub
        .execute(
            "rudder_event",
            &download_body(&sink, &format!("{}/hop/11", lk.uri())),
        )
        .await;
    let msg = resp["looker"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("There was an error with Action Hub calling back to Looker:")
            && msg.contains("more than 10 redirects"),
        "{msg}"
    );
    assert!(sink.requests().is_empty());

    // Another origin (here: another port of 127.0.0.1) is refused and never asked.
    let sink = Sink::start().await;
    let (_, resp) = hub
        .execute(
            "rudder_event",
            &download_body(&sink, &format!("{}/away", lk.uri())),
        )
        .await;
    let msg = resp["looker"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!(
            "the download_url redirected to {}/look, off its own host",
            away.uri()
        )),
        "{msg}"
    );
    assert!(sink.requests().is_empty());
    let asked = away.received_requests().await.unwrap();
    assert!(asked.is_empty(), "{} requests went off host", asked.len());
}
