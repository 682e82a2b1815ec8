//! Real SDK traffic: rudder-sdk-python and @rudderstack/rudder-sdk-node send through the mock,
//! then every event is found via /_mock/events with the SDK's fields intact. The SDKs live in
//! `<workspace>/.sdk` (scripts/install-sdks.sh); without it the tests are marked ignored (see
//! `build.rs`: the runner's closing line counts them), unless `CI` is set, in which case they
//! run and fail.

use std::path::PathBuf;
use std::time::Duration;

use mock_dataplane::{EventFilter, FaultRule, MockDataplane};
use serde_json::{Value, json};

use crate::helpers::*;

#[derive(Clone, Copy, PartialEq)]
enum Sdk {
    Python,
    Node,
}

/// The installed SDKs; a test that gets here without them fails (it is only compiled un-ignored
/// when they were found, or under `CI`).
fn sdk_dir() -> PathBuf {
    let sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.sdk");
    let ready = sdk.join("venv/bin/python").exists()
        && sdk
            .join("node/node_modules/@rudderstack/rudder-sdk-node")
            .exists();
    assert!(
        ready,
        "{} lacks the SDKs: run scripts/install-sdks.sh",
        sdk.display()
    );
    sdk
}

async fn run_sdk(sdk_root: &std::path::Path, sdk: Sdk, dp: &MockDataplane, run: &str) {
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let mut cmd = match sdk {
        Sdk::Python => {
            let mut c = tokio::process::Command::new(sdk_root.join("venv/bin/python"));
            c.arg(scripts.join("python_sdk.py"));
            c
        }
        Sdk::Node => {
            let mut c = tokio::process::Command::new("node");
            c.env("NODE_PATH", sdk_root.join("node/node_modules"))
                .arg(scripts.join("node_sdk.js"));
            c
        }
    };
    // The SDKs run on the real clock even when this test runs under libfaketime (.ci/run's
    // date check): CPython's `time.sleep` fails with EINVAL under it, and the SDKs are not
    // the code whose date independence is checked.
    cmd.args([dp.url(), dp.write_key(), run.to_owned()])
        .env_remove("LD_PRELOAD")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(40), cmd.output())
        .await
        .expect("SDK script finished in time")
        .expect("SDK script ran");
    assert!(
        out.status.success(),
        "SDK script failed: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks every event the script sent, as found through the HTTP inspection API.
async fn check_events(dp: &MockDataplane, sdk: Sdk, run: &str) {
    let user = format!("{run}-user");
    // 4 events carry userId = user; alias too (userId = user, previousId = old).
    dp.wait_for(
        5,
        EventFilter {
            user_id: Some(user.clone()),
            ..Default::default()
        },
        Duration::from_secs(20),
    )
    .await
    .expect("all five SDK events arrive");
    let body = get(dp, &format!("/_mock/events?userId={user}")).await.body;
    let v: Value = serde_json::from_str(&body).unwrap();
    let events: Vec<&Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .collect();
    assert_eq!(events.len(), 5, "each event exactly once: {body}");
    let by_type = |t: &str| {
        *events
            .iter()
            .find(|e| e["type"] == t)
            .unwrap_or_else(|| panic!("no {t} event"))
    };
    let library = match sdk {
        Sdk::Python => "analytics-python",
        Sdk::Node => "analytics-node",
    };
    for e in &events {
        assert_eq!(e["context"]["library"]["name"], library);
        assert_eq!(e["channel"], "server");
        let mid = e["messageId"].as_str().unwrap();
        assert!(
            uuid::Uuid::parse_str(mid).is_ok(),
            "SDK messageId kept: {mid}"
        );
        assert!(e["rudderId"].is_string() && e["receivedAt"].is_string());
        assert_eq!(e["request_ip"], "127.0.0.1");
        match sdk {
            Sdk::Python => assert!(e["timestamp"].is_string()),
            Sdk::Node => {
                assert!(e["originalTimestamp"].is_string() && e["sentAt"].is_string());
                assert!(e["_metadata"]["nodeVersion"].is_string());
            }
        }
    }
    let identify = by_type("identify");
    assert_eq!(identify["context"]["traits"]["email"], "a@example.com");
    assert_eq!(identify["context"]["traits"]["plan"], "pro");
    let track = by_type("track");
    assert_eq!(track["event"], "Order Completed");
    assert_eq!(
        track["properties"],
        json!({"revenue": 9.99, "currency": "EUR"})
    );
    let group = by_type("group");
    assert_eq!(group["groupId"], "group-1");
    assert_eq!(group["traits"]["name"], "Acme");
    let page = by_type("page");
    assert_eq!(page["name"], "Home");
    assert_eq!(page["properties"]["url"], "http://example.com");
    let alias = by_type("alias");
    assert_eq!(alias["previousId"], format!("{run}-old"));

    let journal = dp.requests().await;
    let ok: Vec<_> = journal.iter().filter(|r| r.status == 200).collect();
    assert!(!ok.is_empty());
    for r in ok {
        assert_eq!(r.path, "/v1/batch");
        assert!(r.gzip, "SDK gzips by default");
        assert!(r.body_sent_at.is_some(), "body-level sentAt recorded");
        if sdk == Sdk::Node {
            assert!(
                r.body_timestamp.is_some(),
                "Node sends a body-level timestamp"
            );
        }
        let ua = r
            .headers
            .iter()
            .find(|(k, _)| k == "user-agent")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        assert!(ua.starts_with(&format!("{library}/")), "user-agent {ua}");
    }
}

async fn interop(sdk: Sdk, fault: bool) {
    let root = sdk_dir();
    let dp = start().await;
    if fault {
        dp.add_fault(FaultRule::status("/v1/batch", 503, "Service Unavailable\n").times(1))
            .await
            .unwrap();
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    run_sdk(&root, sdk, &dp, &run).await;
    check_events(&dp, sdk, &run).await;
    if fault {
        let journal = dp.requests().await;
        assert_eq!(journal[0].status, 503, "first request faulted");
        assert!(journal.iter().skip(1).all(|r| r.status == 200));
        let total = dp.events(EventFilter::default()).await.unwrap().len();
        assert_eq!(total, 5, "retry stored everything once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(sdk_missing, ignore = "needs .sdk (scripts/install-sdks.sh)")]
async fn python_sdk_events_arrive_intact() {
    interop(Sdk::Python, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(sdk_missing, ignore = "needs .sdk (scripts/install-sdks.sh)")]
async fn node_sdk_events_arrive_intact() {
    interop(Sdk::Node, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(sdk_missing, ignore = "needs .sdk (scripts/install-sdks.sh)")]
async fn python_sdk_retries_after_a_503_and_nothing_is_lost() {
    interop(Sdk::Python, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(sdk_missing, ignore = "needs .sdk (scripts/install-sdks.sh)")]
async fn node_sdk_retries_after_a_503_and_nothing_is_lost() {
    interop(Sdk::Node, true).await;
}
