//! Who may call `/_mock/` from a browser (hardening finding A), and the gateway's own CORS,
//! which browser SDKs need and which stays as rs/cors answers it.

use mock_dataplane::{EventFilter, MockDataplane};

use crate::helpers::*;

const EVIL: &str = "https://evil.example";

async fn one_event(dp: &MockDataplane) {
    let a = post(
        dp,
        "/v1/track",
        Some(&basic(&dp.write_key())),
        r#"{"userId":"u"}"#,
    )
    .await;
    assert_eq!(a.status, 200);
}

async fn fault_count(dp: &MockDataplane) -> usize {
    let v: serde_json::Value = serde_json::from_str(&get(dp, "/_mock/faults").await.body).unwrap();
    v["faults"].as_array().unwrap().len()
}

const RULE: &str = r#"{"path":"/v1/batch","action":{"status":503}}"#;

/// A page on another origin can neither read the control API (no CORS headers, a refused
/// preflight) nor change anything with the requests browsers send without asking.
#[tokio::test]
async fn cross_origin_pages_cannot_read_wipe_or_inject_faults() {
    let dp = start().await;
    one_event(&dp).await;
    let c = client();
    let url = |p: &str| format!("{}{p}", dp.url());

    // Reading: answered (curl-like clients send no Origin), but never shared with the page.
    let read = send(c.get(url("/_mock/events")).header("origin", EVIL)).await;
    assert_eq!(read.status, 200);
    assert!(
        !read.headers.contains_key("access-control-allow-origin"),
        "{:?}",
        read.headers
    );
    assert!(
        !read
            .headers
            .contains_key("access-control-allow-credentials")
    );
    assert_eq!(read.headers["x-content-type-options"], "nosniff");

    // A preflight for DELETE is refused.
    let pre = send(
        c.request(reqwest::Method::OPTIONS, url("/_mock/events"))
            .header("origin", EVIL)
            .header("access-control-request-method", "DELETE"),
    )
    .await;
    assert_eq!(pre.status, 403, "{}", pre.body);
    assert!(!pre.headers.contains_key("access-control-allow-origin"));
    assert!(!pre.headers.contains_key("access-control-allow-methods"));

    // The "simple" cross-origin POST a page can send without a preflight.
    let inject = send(
        c.post(url("/_mock/faults"))
            .header("origin", EVIL)
            .header("content-type", "text/plain")
            .body(RULE),
    )
    .await;
    assert_eq!(inject.status, 403, "{}", inject.body);
    assert!(inject.body.contains("evil.example"), "{}", inject.body);
    // Cross-origin even with JSON (a page can't send that without a preflight, but a
    // non-browser client claiming that Origin is refused the same way).
    let inject = send(
        c.post(url("/_mock/faults"))
            .header("origin", EVIL)
            .header("content-type", "application/json")
            .body(RULE),
    )
    .await;
    assert_eq!(inject.status, 403);
    let wipe = send(c.delete(url("/_mock/events")).header("origin", EVIL)).await;
    assert_eq!(wipe.status, 403);
    let clear = send(c.delete(url("/_mock/requests")).header("origin", "null")).await;
    assert_eq!(clear.status, 403);
    assert_eq!(fault_count(&dp).await, 0, "no fault was added");
    assert_eq!(
        dp.events(EventFilter::default()).await.unwrap().len(),
        1,
        "nothing wiped"
    );
    assert_eq!(dp.requests().await.len(), 1, "journal kept");
}

#[tokio::test]
async fn state_changes_need_json_and_the_servers_own_origin() {
    let dp = start().await;
    let c = client();
    let url = format!("{}/_mock/faults", dp.url());

    // Without an Origin (curl, SDK harnesses) a non-JSON body is still refused: 415.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut req = c.post(&url).body(RULE);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let a = send(req).await;
        assert_eq!(a.status, 415, "{ct:?}: {}", a.body);
        assert!(a.body.contains("application/json"), "{}", a.body);
    }
    assert_eq!(fault_count(&dp).await, 0);

    // The server's own origin (Origin host:port = Host) with JSON is fine, as is no Origin.
    let own = dp.url();
    let a = send(
        c.post(&url)
            .header("origin", &own)
            .header("content-type", "application/json; charset=utf-8")
            .body(RULE),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = send(
        c.post(&url)
            .header("content-type", "application/json")
            .body(RULE),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(fault_count(&dp).await, 2);
    // Same host, other port: another origin.
    let port: u16 = own.rsplit(':').next().unwrap().parse().unwrap();
    let other = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let a = send(c.delete(&url).header("origin", &other)).await;
    assert_eq!(a.status, 403);
    let a = send(c.delete(&url).header("origin", &own)).await;
    assert_eq!(a.status, 200);
    assert_eq!(fault_count(&dp).await, 0);
}

#[tokio::test]
async fn cors_origin_option_opens_the_control_api_to_that_origin_only() {
    init();
    let dp = MockDataplane::builder()
        .cors_origin("http://localhost:3000/")
        .start()
        .await
        .unwrap();
    let c = client();
    let url = format!("{}/_mock/faults", dp.url());
    let pre = send(
        c.request(reqwest::Method::OPTIONS, &url)
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type"),
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(
        pre.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let a = send(
        c.post(&url)
            .header("origin", "http://localhost:3000")
            .header("content-type", "application/json")
            .body(RULE),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    // Credentials are never allowed: the control API has none.
    assert!(!a.headers.contains_key("access-control-allow-credentials"));
    let a = send(
        c.post(&url)
            .header("origin", EVIL)
            .header("content-type", "application/json")
            .body(RULE),
    )
    .await;
    assert_eq!(a.status, 403);
    // Still JSON only, even from the allowed origin.
    let a = send(
        c.post(&url)
            .header("origin", "http://localhost:3000")
            .header("content-type", "text/plain")
            .body(RULE),
    )
    .await;
    assert_eq!(a.status, 415);

    let bad = MockDataplane::builder()
        .cors_origin("localhost")
        .start()
        .await;
    assert!(bad.is_err(), "an origin without scheme is refused");
}

/// The gateway's routes answer like rs/cors with rudder-server's options: any origin
/// reflected with credentials, but only GET, POST and HEAD; `Vary: Origin` on every answer.
#[tokio::test]
async fn gateway_cors_is_rs_cors_with_its_default_methods() {
    let dp = start().await;
    let c = client();
    let pre = send(
        c.request(reqwest::Method::OPTIONS, format!("{}/v1/batch", dp.url()))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "DELETE"),
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.headers["vary"],
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    );
    assert!(!pre.headers.contains_key("access-control-allow-origin"));
    let pre = send(
        c.request(reqwest::Method::OPTIONS, format!("{}/v1/batch", dp.url()))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert_eq!(
        pre.headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(pre.headers["access-control-allow-methods"], "POST");
    let a = send(c.get(format!("{}/health", dp.url()))).await;
    assert_eq!(a.headers["vary"], "Origin");
    assert!(!a.headers.contains_key("access-control-allow-origin"));
}
