//! Browsers (hardening issue, finding 4 on CORS): no CORS headers, and the POST routes refuse
//! cross-origin requests and the content types a browser sends without preflight, while
//! Looker's own requests and the OAuth redirect (a top-level navigation) keep working.

use serde_json::json;

use crate::helpers::{Sink, TestHub, exec_body, look};

fn assert_no_cors(r: &reqwest::Response, what: &str) {
    for (k, _) in r.headers() {
        assert!(
            !k.as_str().starts_with("access-control-"),
            "{what}: {k} was sent"
        );
    }
}

#[tokio::test]
async fn post_routes_refuse_foreign_origins_and_simple_content_types() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let body = exec_body(
        &look(
            &[("u.id", &["user_id"])],
            &[json!({"u.id": {"value": "a"}})],
        ),
        &sink,
    );
    for path in [
        "/",
        "/actions/rudder_event",
        "/actions/rudder_track/form",
        "/actions/rudder_event/execute",
    ] {
        // A page on another site, with the preflight-free text/plain.
        for (origin, ct, status) in [
            (Some("https://evil.example"), "application/json", 403),
            (Some("null"), "application/json", 403),
            (None, "text/plain;charset=UTF-8", 415),
            (None, "application/x-www-form-urlencoded", 415),
            (None, "multipart/form-data; boundary=x", 415),
        ] {
            let mut r = hub
                .post(path)
                .header("content-type", ct)
                .body(body.to_string());
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            let r = r.send().await.unwrap();
            assert_eq!(r.status(), status, "{path} {origin:?} {ct}");
            assert_no_cors(&r, path);
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["success"], false);
        }
        let r = hub
            .post(path)
            .header("content-type", "application/json")
            .header("sec-fetch-site", "cross-site")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} sec-fetch-site");
    }
    assert!(sink.requests().is_empty(), "no refused execute ran");

    // Looker's own request (no Origin, JSON), and one from the hub's own origin, run.
    for origin in [None, Some(hub.hub.url())] {
        let mut r = hub
            .post("/actions/rudder_event/execute")
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(o) = &origin {
            r = r.header("origin", o);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200, "{origin:?}");
        assert_no_cors(&r, "execute");
        assert!(r.text().await.unwrap().contains("\"success\":true"));
    }
    assert_eq!(sink.events().len(), 2);
}

#[tokio::test]
async fn get_routes_and_preflights_carry_no_cors_headers_and_oauth_redirect_stays_open() {
    let hub = TestHub::start().await;
    let url = hub.hub.url();
    for path in [
        "/",
        "/status",
        "/actions/rudder_event/oauth_redirect?code=x&state=y",
    ] {
        let r = hub
            .client
            .get(format!("{url}{path}"))
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 403, "{path}: GET is not refused");
        assert_ne!(r.status(), 415, "{path}");
        assert_no_cors(&r, path);
    }
    let r = hub
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{url}/actions/rudder_event/execute"),
        )
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert_no_cors(&r, "preflight");
    assert!(!r.status().is_success(), "{}", r.status());
}
