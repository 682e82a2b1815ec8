//! Interop: the official Python SDK (`looker_sdk`) drives the mock's API 4.0.

use std::path::PathBuf;
use std::process::Command;

use mock_looker::MockLooker;
use serde_json::Value;

use crate::helpers::FakeHub;

/// The SDK's Python. The test is compiled un-ignored only when it was found or under `CI`
/// (see `build.rs`), so getting here without it is a failure.
fn python() -> PathBuf {
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.sdk/venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run scripts/install-sdks.sh",
        py.display()
    );
    py
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(sdk_missing, ignore = "needs .sdk (scripts/install-sdks.sh)")]
async fn the_python_sdk_adds_a_hub_configures_and_runs_a_look_once_to_an_action() {
    let py = python();
    let hub = FakeHub::good().await;
    let looker = MockLooker::builder()
        .credentials("sdk-id", "sdk-secret")
        .start()
        .await
        .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mock_looker/sdk_interop.py");
    let base = format!("{}/", looker.url()); // a trailing slash, as users write it
    let hub_url = hub.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        // The SDK runs on the real clock even under libfaketime (.ci/run's date check):
        // CPython's `time.sleep` fails with EINVAL under it.
        Command::new(py)
            .env_remove("LD_PRELOAD")
            .arg(script)
            .env("LOOKERSDK_BASE_URL", base)
            .env("LOOKERSDK_CLIENT_ID", "sdk-id")
            .env("LOOKERSDK_CLIENT_SECRET", "sdk-secret")
            .env("LOOKERSDK_VERIFY_SSL", "false")
            .env("HUB_URL", hub_url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["hub_label"], "Fake Hub");
    assert!(
        v["integrations"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!(
                "{}::identify",
                v["hub_id"].as_str().unwrap()
            )))
    );
    assert_eq!(v["identify_enabled"], true);
    // A sensitive param's value is never returned; a non-sensitive one is.
    assert_eq!(
        v["identify_params"][0],
        serde_json::json!(["write_key", true, null])
    );
    assert_eq!(
        v["identify_params"][1],
        serde_json::json!(["server_url", true, "http://dp.local"])
    );
    assert_eq!(
        v["form_fields"],
        serde_json::json!(["event", "kind", "extra"]),
        "form values were forwarded"
    );
    assert_eq!(v["plan_run_once"], true);
    assert_eq!(v["history"][0]["scheduled_job.status"], "success", "{v}");
    assert_eq!(
        v["history"][0]["scheduled_job.status_detail"],
        "identify rows=4 format=json_detail"
    );
    assert_eq!(v["look_model"], "thelook");
    assert_eq!(
        v["csv_first_line"],
        "Users ID,Users Email,Users Anonymous ID,Users First Name,Users City,Users Internal Note,Orders Count"
    );
    let events: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event.name"].as_str().unwrap())
        .collect();
    for e in [
        "login",
        "create_integration_hub",
        "update_integration",
        "create_scheduled_plan",
        "run_scheduled_task",
    ] {
        assert!(events.contains(&e), "{e} missing from {events:?}");
    }
    // The hub got the execute with the SDK-configured params, and a logout happened.
    let ex = hub.requests_to("/actions/identify/execute");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].json()["data"]["write_key"], "wk-from-sdk");
    assert_eq!(
        ex[0].header("authorization").unwrap(),
        "Token token=\"hub-token\""
    );
    assert!(looker.events().iter().any(|e| e.name == "logout"));
}
