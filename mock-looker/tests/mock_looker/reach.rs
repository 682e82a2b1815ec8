//! #11: a hub that reaches the mock under another address or name (a hub in a container):
//! `bind` chooses where the mock listens, `advertise_host` the host named in every URL it
//! hands a hub.

use std::net::IpAddr;

use mock_looker::{HubOptions, MockLooker, SendRequest, demo};

use serde_json::json;

use crate::helpers::{FakeHub, Reply, params};

/// Sends the demo Users Look through the good fake hub (which fetches the download URL it is
/// given) and returns that URL and how many times it was fetched.
async fn send_through(l: &MockLooker, hub: &FakeHub) -> (String, u32) {
    let h = l
        .register_hub(&hub.url, HubOptions::default().token("tok"))
        .await
        .unwrap();
    let mut req = SendRequest::new(&h.id, "identify", l.look(demo::USERS).unwrap());
    req.params = params();
    let out = l.send(req).await.unwrap();
    let body = hub.requests_to("/actions/identify/execute")[0].json();
    let url = body["scheduled_plan"]["download_url"]
        .as_str()
        .expect("a download URL")
        .to_owned();
    assert!(out.success, "{out:?}");
    (url, out.download_fetches)
}

#[tokio::test]
async fn a_mock_bound_to_another_loopback_address_hands_out_that_address() {
    let hub = FakeHub::good().await;
    let ip: IpAddr = "127.0.0.2".parse().unwrap();
    let l = MockLooker::builder().bind(ip).start().await.unwrap();
    assert!(l.url().starts_with("http://127.0.0.2:"), "{}", l.url());
    let (url, fetches) = send_through(&l, &hub).await;
    assert!(url.starts_with(&format!("{}/downloads/", l.url())), "{url}");
    assert_eq!(fetches, 1, "the hub fetched the Look at 127.0.0.2");
}

#[tokio::test]
async fn every_url_handed_to_a_hub_names_the_advertised_host() {
    // `localhost` resolves to 127.0.0.1, where the mock listens: the hub reaches it by name.
    let hub = FakeHub::good().await;
    let l = MockLooker::builder()
        .advertise_host("localhost")
        .start()
        .await
        .unwrap();
    let port = l.url().rsplit(':').next().unwrap().to_owned();
    assert_eq!(l.url(), format!("http://localhost:{port}"));
    let (url, fetches) = send_through(&l, &hub).await;
    assert!(
        url.starts_with(&format!("http://localhost:{port}/downloads/")),
        "{url}"
    );
    assert_eq!(fetches, 1);

    // Bound to 127.0.0.2 but advertised as localhost (127.0.0.1): the URL is the advertised
    // one, not the bound address (this hub does not fetch it: nothing listens there).
    let hub = FakeHub::answering("/actions/identify/execute", || {
        Reply::Json(200, json!({"looker": {"success": true}}))
    })
    .await;
    let l = MockLooker::builder()
        .bind("127.0.0.2".parse().unwrap())
        .advertise_host("localhost")
        .start()
        .await
        .unwrap();
    let (url, fetches) = send_through(&l, &hub).await;
    assert!(url.starts_with("http://localhost:"), "{url}");
    assert!(!url.contains("127.0.0.2"), "{url}");
    assert_eq!(fetches, 0);
}
