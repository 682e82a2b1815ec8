//! Routes, auth, versions, error answers, limits and keep-alive.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Sink, TestHub, exec_body, look, quick_config};

#[tokio::test]
async fn get_root_is_an_html_page_listing_the_actions() {
    let hub = TestHub::start().await;
    let r = hub.client.get(hub.hub.url()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    for name in [
        "rudder_event",
        "rudder_track",
        "rudder_group",
        "Rudder Identify",
    ] {
        assert!(html.contains(name), "{name}");
    }
    let r = hub
        .client
        .get(format!("{}/status", hub.hub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["app"], "action-hub");
}

#[tokio::test]
async fn bad_or_missing_authorization_is_403_json() {
    let hub = TestHub::start().await;
    let url = format!("{}/", hub.hub.url());
    let expected = json!({"success": false, "error": "Invalid 'Authorization' header."});
    let other = hub::generate_token("another secret");
    for header in [
        None,
        Some("foo".to_string()),
        Some("Token token=\"nope\"".to_string()),
        Some(format!("Token token=\"{other}\"")),
        Some("Token token=\"abc/def\"".to_string()),
    ] {
        let mut req = hub.client.post(&url);
        if let Some(h) = &header {
            req = req.header("authorization", h);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{header:?}");
        assert_eq!(r.json::<Value>().await.unwrap(), expected);
    }
    // lower-case `token token=` is accepted like the official regex does.
    let r = hub
        .client
        .post(&url)
        .header(
            "authorization",
            format!("token token=\"{}\"", hub.hub.token()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn static_token_and_hmac_tokens_of_the_secret_are_accepted() {
    let mut c = quick_config();
    c.secret = Some("s3cret".into());
    c.token = Some("static-token".into());
    let hub = TestHub::with(c).await;
    for t in [
        "static-token".to_string(),
        hub::generate_token("s3cret"),
        hub::generate_token("s3cret"),
    ] {
        let r = hub
            .client
            .post(format!("{}/", hub.hub.url()))
            .header("authorization", format!("Token token=\"{t}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let t = hub::generate_token("s3cret");
    let (nonce, digest) = t.split_once('/').unwrap();
    assert_eq!(nonce.len(), 64);
    assert_eq!(digest.len(), 128);
}

#[tokio::test]
async fn the_list_depends_on_the_looker_version() {
    let hub = TestHub::start().await;
    let list = |ua: Option<&'static str>| {
        let req = hub.post_as("/", ua);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let none = list(None).await;
    assert_eq!(none["label"], "RudderStack Reference Hub");
    let names: Vec<&str> = none["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rudder_event", "rudder_group", "rudder_track"]);
    assert_eq!(
        none["integrations"][0]["supported_formats"],
        json!(["json_detail"])
    );
    let browser = list(Some("Mozilla/5.0")).await;
    assert_eq!(browser["integrations"].as_array().unwrap().len(), 3);
    let old = list(Some("LookerOutgoingWebhook/5.0.0")).await;
    assert_eq!(old["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(old["integrations"][0]["name"], "rudder_event");
    assert_eq!(
        list(Some("LookerOutgoingWebhook/5.5.0")).await["integrations"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let v60 = list(Some("LookerOutgoingWebhook/6.0.0")).await;
    let v62 = list(Some("LookerOutgoingWebhook/6.2.0")).await;
    assert_ne!(v60, v62);
    assert_eq!(
        v62["integrations"][2]["supported_formats"],
        json!(["json_detail_lite_stream"])
    );
    let loose = list(Some("LookerOutgoingWebhook/7.3.00004561")).await;
    assert_eq!(
        loose["integrations"][0]["supported_formats"],
        json!(["json_detail_lite_stream"])
    );

    let track = &v62["integrations"][2];
    let keys: Vec<&String> = track.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "description",
            "form_url",
            "label",
            "name",
            "params",
            "required_fields",
            "supported_action_types",
            "uses_oauth",
            "delegate_oauth",
            "supported_formats",
            "supported_formattings",
            "supported_visualization_formattings",
            "supported_download_settings",
            "icon_data_uri",
            "url"
        ]
    );
    let base = hub.hub.url();
    assert_eq!(
        track["form_url"],
        format!("{base}/actions/rudder_track/form")
    );
    assert_eq!(track["url"], format!("{base}/actions/rudder_track/execute"));
    assert_eq!(v62["integrations"][0]["form_url"], Value::Null);
    assert_eq!(track["supported_download_settings"], json!(["url"]));
    assert_eq!(track["supported_action_types"], json!(["query"]));
    assert_eq!(
        track["required_fields"],
        json!([{"any_tag": ["email", "user_id", "rudder_anonymous_id"]}])
    );
    assert_eq!(
        v62["integrations"][1]["required_fields"],
        json!([{"tag": "rudder_group_id", "any_tag": ["email", "user_id", "rudder_anonymous_id"]}])
    );
    assert_eq!(track["params"][0]["name"], "rudder_write_key");
    assert_eq!(track["params"][0]["sensitive"], true);
    assert_eq!(track["params"][1]["sensitive"], false);
    assert!(
        track["icon_data_uri"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
}

#[test]
fn looker_versions_are_parsed_loosely() {
    use hub::Version;
    assert_eq!(
        Version::from_user_agent("LookerOutgoingWebhook/7.3.00004561"),
        Some(Version::new(7, 3, 4561))
    );
    assert_eq!(
        Version::from_user_agent("LookerOutgoingWebhook/6.2.0")
            .unwrap()
            .to_string(),
        "6.2.0"
    );
    assert_eq!(Version::from_user_agent("LookerOutgoingWebhook/7.20"), None);
    assert_eq!(Version::from_user_agent("Mozilla/5.0"), None);
    assert!(Version::parse_loose("6.2.0-beta").unwrap() < Version::new(6, 2, 0));
    assert!(Version::parse_loose("v22.4.1").unwrap() > Version::new(6, 2, 0));
}

#[tokio::test]
async fn unknown_actions_and_version_gated_actions_are_404() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let body = exec_body(
        &look(&[("c", &["user_id"])], &[json!({"c": {"value": "x"}})]),
        &sink,
    );
    let (status, resp) = hub.execute("nope", &body).await;
    assert_eq!(
        (status, resp),
        (404, json!({"success": false, "error": "No action found."}))
    );
    let r = hub
        .post_as(
            "/actions/rudder_track/execute",
            Some("LookerOutgoingWebhook/5.4.0"),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "No action found."
    );
    let r = hub.post("/actions/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn request_type_errors_are_404_with_the_official_texts() {
    let hub = TestHub::start().await;
    let sink = Sink::start().await;
    let mut body = exec_body(
        &look(&[("c", &["user_id"])], &[json!({"c": {"value": "x"}})]),
        &sink,
    );
    body["type"] = json!("cell");
    assert_eq!(
        hub.execute("rudder_event", &body).await,
        (
            404,
            json!({"success": false, "error": "This action does not support requests of type \"cell\". The request must be of type: \"query\"."})
        )
    );
    body["type"] = Value::Null;
    assert_eq!(
        hub.execute("rudder_event", &body).await,
        (
            404,
            json!({"success": false, "error": "Action did not specify a \"type\"."})
        )
    );
    body.as_object_mut().unwrap().remove("type");
    assert_eq!(
        hub.execute("rudder_event", &body).await,
        (
            404,
            json!({"success": false, "error": "No request type specified. The request must be of type: \"query\"."})
        )
    );
    assert!(sink.requests().is_empty());
}

#[tokio::test]
async fn malformed_bodies_are_400_and_oversized_pushes_413() {
    let mut c = quick_config();
    c.push_limit = 2_000;
    let hub = TestHub::with(c).await;
    let r = hub
        .post("/actions/rudder_event/execute")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let big = "x".repeat(5_000);
    let r = hub
        .post("/actions/rudder_event/execute")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("request entity too large"));
    // Chunked (no content-length) is limited too.
    let stream = futures::stream::iter((0..10).map(|_| Ok::<_, std::io::Error>(vec![b' '; 500])));
    let r = hub
        .post("/actions/rudder_event/execute")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn long_executes_write_newlines_before_the_json() {
    let mut c = quick_config();
    c.keepalive = Duration::from_millis(40);
    let hub = TestHub::with(c).await;
    let sink = Sink::start().await;
    // A download URL that answers slowly.
    let doc = look(&[("c", &["user_id"])], &[json!({"c": {"value": "x"}})]);
    let app = axum::Router::new().route(
        "/download",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(250)).await;
                doc
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dl = format!("http://{}/download", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let mut body = exec_body("", &sink);
    body.as_object_mut().unwrap().remove("attachment");
    body["scheduled_plan"]["download_url"] = json!(dl);
    let r = hub
        .post("/actions/rudder_event/execute")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with("\n\n"), "{text:?}");
    let v: Value = serde_json::from_str(text.trim_start()).unwrap();
    assert_eq!(v["looker"]["success"], true, "{v}");
    assert_eq!(sink.events().len(), 1);
}

#[tokio::test]
async fn actions_flag_restricts_the_list() {
    let mut c = quick_config();
    c.actions = Some(vec!["rudder_track".into()]);
    let hub = TestHub::with(c).await;
    let v: Value = hub.post("/").send().await.unwrap().json().await.unwrap();
    assert_eq!(v["integrations"].as_array().unwrap().len(), 1);
    assert_eq!(v["integrations"][0]["name"], "rudder_track");
}

#[tokio::test]
async fn non_oauth_actions_answer_oauth_routes_with_404_instead_of_hanging() {
    let hub = TestHub::start().await;
    let r = hub
        .client
        .get(format!(
            "{}/actions/rudder_event/oauth?state=x",
            hub.hub.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "Action does not support OAuth."
    );
}

/// Hardening (#14, finding 7): a client that connects and sends nothing, or trickles its
/// headers, no longer holds a connection open for good.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    use tokio::io::AsyncReadExt;
    let hub = hub::Hub::builder()
        .config(hub::HubConfig {
            limits: serving::Limits {
                header_read_timeout: Some(Duration::from_millis(200)),
                ..serving::Limits::default()
            },
            ..hub::HubConfig::default()
        })
        .start()
        .await
        .unwrap();
    let addr = hub.url().trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "still open: {read:?}"
    );
}
