//! End to end with the workspace's real hub and mock data plane: Looker -> hub -> /v1/batch.

use std::time::Duration;

use hub::{Hub, HubConfig};
use mock_dataplane::{EventFilter, MockDataplane};
use mock_looker::{Download, Format, HubOptions, MockLooker, SendRequest, demo};

async fn wired() -> (MockDataplane, Hub, MockLooker, String) {
    let dp = MockDataplane::start().await.unwrap();
    let hub = Hub::builder()
        .config(HubConfig::default())
        .start()
        .await
        .unwrap();
    let looker = MockLooker::builder()
        .hub_timeout(Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    let h = looker
        .register_hub(&hub.url(), HubOptions::default().token(hub.token()))
        .await
        .unwrap();
    assert!(
        h.breaches.is_empty(),
        "the reference hub breaks the Action API: {:?}",
        h.breaches
    );
    assert!(h.fetch_error.is_none());
    for a in ["rudder_event", "rudder_track", "rudder_group"] {
        let params = [
            ("rudder_write_key".to_owned(), dp.write_key()),
            ("rudder_server_url".to_owned(), dp.url()),
        ]
        .into();
        looker.configure_action(&h.id, a, true, params).unwrap();
    }
    (dp, hub, looker, h.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_track_and_group_reach_the_data_plane_without_breaches() {
    let (dp, _hub, looker, id) = wired().await;
    // Identify: the lite stream through a download URL (Looker >= 6.2).
    let out = looker
        .send(SendRequest::new(
            &id,
            "rudder_event",
            looker.look(demo::USERS).unwrap(),
        ))
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    assert_eq!(out.format, Format::JsonDetailLiteStream);
    assert_eq!(out.download, Download::Url);
    assert_eq!(out.download_fetches, 1);
    let identifies = dp
        .wait_for(
            4,
            EventFilter {
                r#type: Some("identify".into()),
                ..Default::default()
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let ada = identifies
        .iter()
        .find(|e| e.event["userId"] == "1")
        .expect("user 1");
    assert_eq!(ada.event["traits"]["email"], "ada@example.com");
    assert_eq!(ada.event["anonymousId"], "anon-1");
    assert!(
        ada.event["traits"].get("users.internal_note").is_none(),
        "hidden field skipped"
    );
    // Track with its form value.
    let out = looker
        .send(
            SendRequest::new(&id, "rudder_track", looker.look(demo::USERS).unwrap())
                .form_value("event", "Looker Sync"),
        )
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    let tracks = dp
        .wait_for(
            4,
            EventFilter {
                event: Some("Looker Sync".into()),
                ..Default::default()
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(tracks.len(), 4);
    // Track without the required form value is refused before any request, like Looker's UI.
    let before = looker.journal().len();
    assert!(
        looker
            .send(SendRequest::new(
                &id,
                "rudder_track",
                looker.look(demo::USERS).unwrap()
            ))
            .await
            .is_err()
    );
    assert_eq!(looker.journal().len(), before + 1, "only the form fetch");
    // Group from the Accounts Look.
    let out = looker
        .send(SendRequest::new(
            &id,
            "rudder_group",
            looker.look(demo::ACCOUNTS).unwrap(),
        ))
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    let groups = dp
        .wait_for(
            3,
            EventFilter {
                r#type: Some("group".into()),
                ..Default::default()
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(groups.iter().any(|e| e.event["groupId"] == "acc-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_looker_gets_json_detail_and_a_generated_look_streams_through() {
    let (dp, _hub, looker, id) = wired().await;
    // The hub's formats depend on the version: refresh its list as a 6.0 Looker.
    let old = looker
        .register_hub(
            &looker.hub(&id).unwrap().url,
            HubOptions {
                token: looker.hub(&id).unwrap().token,
                looker_version: Some("6.0.0".into()),
            },
        )
        .await
        .unwrap();
    let params = [
        ("rudder_write_key".to_owned(), dp.write_key()),
        ("rudder_server_url".to_owned(), dp.url()),
    ]
    .into();
    looker
        .configure_action(&old.id, "rudder_event", true, params)
        .unwrap();
    let out = looker
        .send(SendRequest::new(
            &old.id,
            "rudder_event",
            looker.look(demo::USERS).unwrap(),
        ))
        .await
        .unwrap();
    assert!(out.success, "{out:?}");
    assert_eq!(out.format, Format::JsonDetail);
    let big = mock_looker::Look::generated(
        looker.look(demo::GENERATED_USERS).unwrap().def().clone(),
        2_000,
        9,
    )
    .unwrap();
    let out = looker
        .send(SendRequest::new(&id, "rudder_event", big))
        .await
        .unwrap();
    assert!(out.success && out.breaches.is_empty(), "{out:?}");
    dp.wait_for(2_004, EventFilter::default(), Duration::from_secs(20))
        .await
        .unwrap();
}

/// Hardening (#14, finding 7): a client that connects and sends nothing no longer holds a
/// connection of the mock open for good.
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_read_timeout() {
    use tokio::io::AsyncReadExt;
    let looker = mock_looker::MockLooker::builder()
        .config(mock_looker::Config {
            limits: serving::Limits {
                header_read_timeout: Some(std::time::Duration::from_millis(200)),
                ..serving::Limits::default()
            },
            ..mock_looker::Config::default()
        })
        .start()
        .await
        .unwrap();
    let addr = looker.url().trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "still open: {read:?}"
    );
}
