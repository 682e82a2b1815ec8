//! Acknowledged means durable: events acknowledged by the binary survive `kill -9`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::helpers::*;

/// Starts the built binary on port 0 with SQLite in `dir`; returns the child and its URL.
pub fn spawn_binary(dir: &std::path::Path, key: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-dataplane"))
        .args(["--port", "0", "--write-key", key, "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a first line").expect("readable");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_and_restart() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_binary(dir.path(), "durable-key");
    let c = client();
    // Concurrent senders so commits are grouped; every 200 counts as acknowledged.
    let mut tasks = Vec::new();
    for t in 0..4 {
        let c = c.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = 0usize;
            for i in 0..25 {
                let events: Vec<String> = (0..10)
                    .map(|j| format!(r#"{{"type":"track","userId":"u{t}","event":"E","messageId":"m-{t}-{i}-{j}"}}"#))
                    .collect();
                let body = format!(r#"{{"batch":[{}]}}"#, events.join(","));
                let r = c
                    .post(format!("{url}/v1/batch"))
                    .header("authorization", basic("durable-key"))
                    .header("content-encoding", "gzip")
                    .body(gzip(body.as_bytes()))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    acked += 10;
                }
            }
            acked
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await.unwrap();
    }
    assert_eq!(acked, 1000);
    child.kill().expect("SIGKILL"); // kill -9: no graceful shutdown
    child.wait().unwrap();

    let (mut child, url) = spawn_binary(dir.path(), "durable-key");
    let body = c
        .get(format!("{url}/_mock/events?limit=5000"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), acked);
    let mut ids: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["messageId"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), acked, "each acknowledged event exactly once");
    // New events continue after the old cursors.
    let r = c
        .post(format!("{url}/v1/track"))
        .header("authorization", basic("durable-key"))
        .body(r#"{"userId":"u","event":"after"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let last: serde_json::Value = serde_json::from_str(
        &c.get(format!("{url}/_mock/events?event=after"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["events"][0]["cursor"], (acked + 1) as u64);
    child.kill().unwrap();
    child.wait().unwrap();
}
