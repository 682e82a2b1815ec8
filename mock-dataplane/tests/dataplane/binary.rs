//! The binary: flags, sources file (TOML/YAML), faults file, demo key.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;

/// Starts the binary with `args`, returns the child, its URL and the printed lines.
fn spawn(args: &[&str]) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-dataplane"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    // URL, storage, then one line per key.
    for _ in 0..3 {
        printed.push(lines.next().unwrap().unwrap());
    }
    std::thread::spawn(move || for _ in lines {});
    let url = printed[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    (child, url, printed)
}

#[tokio::test]
async fn sources_file_and_faults_file_are_loaded() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let sources = dir.path().join("sources.yaml");
    std::fs::write(
        &sources,
        "sources:\n  - write_key: looker-key\n    id: src-looker\n    name: Looker\n  - write_key: off-key\n    id: src-off\n    name: Old\n    enabled: false\n",
    )
    .unwrap();
    let faults = dir.path().join("faults.toml");
    std::fs::write(
        &faults,
        "[[faults]]\npath = \"/v1/track\"\ntimes = 1\naction = { status = 502, body = \"bad gateway\" }\n",
    )
    .unwrap();
    let (mut child, url, printed) = spawn(&[
        "--in-memory",
        "--sources",
        sources.to_str().unwrap(),
        "--faults",
        faults.to_str().unwrap(),
    ]);
    assert!(
        // Configured keys are not echoed (write keys are never logged); the source id is.
        !printed[2].contains("looker-key") && printed[2].contains("src-looker"),
        "{printed:?}"
    );
    let c = client();
    let post = |path: &'static str, key: &'static str| {
        let c = c.clone();
        let url = url.clone();
        async move {
            let r = c
                .post(format!("{url}{path}"))
                .header("authorization", basic(key))
                .body(r#"{"userId":"u"}"#)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        post("/v1/track", "looker-key").await,
        (502, "bad gateway".into())
    );
    assert_eq!(post("/v1/track", "looker-key").await, (200, "ok".into()));
    assert_eq!(
        post("/v1/track", "off-key").await,
        (404, "source is disabled\n".into())
    );
    let events: serde_json::Value = serde_json::from_str(
        &c.get(format!("{url}/_mock/events"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(events["events"][0]["source_id"], "src-looker");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn without_keys_a_demo_key_is_created_and_kept_in_the_data_dir() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let key_of = |printed: &[String]| {
        printed[2]
            .split_whitespace()
            .nth(3)
            .unwrap_or_else(|| panic!("{printed:?}"))
            .to_owned()
    };
    let (mut child, url, printed) = spawn(&["--data-dir", data]);
    let key = key_of(&printed);
    assert_eq!(key.len(), 27);
    let r = client()
        .post(format!("{url}/v1/track"))
        .header("authorization", basic(&key))
        .body(r#"{"userId":"u"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
    let (mut child, _, printed) = spawn(&["--data-dir", data]);
    assert_eq!(key_of(&printed), key, "same demo key after restart");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn forward_flag_passes_an_upstream_fault_through() {
    init();
    let upstream = mock_dataplane::MockDataplane::builder()
        .write_key("fwd-key")
        .start()
        .await
        .unwrap();
    let rule: mock_dataplane::FaultRule = serde_json::from_value(
        serde_json::json!({"path": "/v1/batch", "times": 1, "action": {"status": 500, "body": "boom\n"}}),
    )
    .unwrap();
    upstream.add_fault(rule).await.unwrap();
    let (mut child, url, printed) = spawn(&[
        "--in-memory",
        "--write-key",
        "fwd-key",
        "--forward",
        &upstream.url(),
    ]);
    assert!(printed[2].contains("forwarding"), "{printed:?}");
    let post = || {
        client()
            .post(format!("{url}/v1/batch"))
            .header("authorization", basic("fwd-key"))
            .body(r#"{"batch":[{"type":"track","userId":"u","event":"E"}]}"#)
            .send()
    };
    let r = post().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.text().await.unwrap()),
        (500, "boom\n".into())
    );
    let r = post().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let front = mock_dataplane::Client::new(&url).unwrap();
    let stored = front
        .events(&mock_dataplane::EventFilter::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1, "only the acknowledged request is stored");
    assert_eq!(
        upstream
            .events(mock_dataplane::EventFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn forward_flag_refuses_what_is_not_a_url() {
    let o = Command::new(env!("CARGO_BIN_EXE_mock-dataplane"))
        .args([
            "--port",
            "0",
            "--in-memory",
            "--forward",
            "dataplane:8080/x?y=1",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--forward"), "{err}");
}

/// #11: `--bind` (an alias of `--host`) and `--advertise-host` for a hub in a container.
#[tokio::test]
async fn bind_and_advertise_host_flags() {
    init();
    let (mut child, url, printed) = spawn(&[
        "--in-memory",
        "--bind",
        "127.0.0.2",
        "--advertise-host",
        "localhost",
    ]);
    assert!(url.starts_with("http://127.0.0.2:"), "{printed:?}");
    let port = url.rsplit(':').next().unwrap();
    assert!(
        printed[0].ends_with(&format!("(advertised as http://localhost:{port})")),
        "{printed:?}"
    );
    let r = client().get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}
