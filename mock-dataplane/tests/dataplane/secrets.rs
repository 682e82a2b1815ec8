//! No part of a write key in the request journal, the logs or the start-up banner (hardening
//! finding C). Runs the binary, so the logs checked are the real ones on its stderr (a
//! thread-scoped tracing subscriber in the test process misses events when other tests log
//! at the same time).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::*;

const KEY: &str = "wk-live-3f9a8b7c6d5e";
const BEACON_KEY: &str = "wk-beacon-0a1b2c3d";
const UNKNOWN: &str = "wk-unknown-99887766";

#[tokio::test]
async fn journal_and_logs_show_no_part_of_any_write_key() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-dataplane"))
        .args([
            "--port",
            "0",
            "--in-memory",
            "--write-key",
            KEY,
            "--write-key",
        ])
        .arg(format!("{BEACON_KEY}=beacon"))
        .env("RUST_LOG", "mock_dataplane=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // URL, storage, one line per key.
    let banner: Vec<String> = (0..4).map(|_| lines.next().unwrap().unwrap()).collect();
    std::thread::spawn(move || for _ in lines {});
    let base = banner[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let c = client();
    let url = |p: &str| format!("{base}{p}");
    let event = r#"{"batch":[{"userId":"u"}]}"#;

    // Basic auth, plus the key repeated in custom headers.
    let a = send(
        c.post(url("/v1/batch"))
            .header("authorization", basic(KEY))
            .header("x-custom", format!("source=1; WRITEKEY={KEY}"))
            .header("x-write-key", KEY)
            .header("x-echo", KEY)
            .header("cookie", format!("rs_wk={KEY}"))
            .body(event),
    )
    .await;
    assert_eq!(a.status, 200);
    // Query keys, in the gateway's spelling and others.
    let a = send(
        c.post(url(&format!(
            "/beacon/v1/batch?writeKey={BEACON_KEY}&WRITEKEY={BEACON_KEY}&x={KEY}"
        )))
        .body(event),
    )
    .await;
    assert_eq!(a.status, 200);
    // An unknown key (refused, and logged as refused) and a key in a non-Basic header.
    let a = send(
        c.post(url("/v1/batch"))
            .header("authorization", basic(UNKNOWN))
            .body(event),
    )
    .await;
    assert_eq!(a.status, 401);
    let a = send(
        c.post(url("/v1/batch"))
            .header("authorization", format!("Bearer {KEY}"))
            .body(event),
    )
    .await;
    assert_eq!(a.status, 401);
    let a = send(c.get(url(&format!(
        "/pixel/v1/track?writeKey={UNKNOWN}&anonymousId=a"
    ))))
    .await;
    assert_eq!(a.status, 200);
    // A fault rule naming a key is listed without it.
    let a = send(
        c.post(url("/_mock/faults"))
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"write_key":"{KEY}","path":"/v1/page","action":{{"status":500}}}}"#
            )),
    )
    .await;
    assert_eq!(a.status, 201);

    let journal = send(c.get(url("/_mock/requests"))).await.body;
    let faults = send(c.get(url("/_mock/faults"))).await.body;
    child.kill().unwrap();
    child.wait().unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("request refused"),
        "logs were captured: {logs}"
    );
    let banner = banner.join("\n");
    for (what, text) in [
        ("journal", &journal),
        ("faults", &faults),
        ("logs", &logs),
        ("banner", &banner),
    ] {
        for key in [KEY, BEACON_KEY, UNKNOWN] {
            // Not even the first characters (the old mask kept four).
            let distinctive = &key[..4];
            assert!(
                !text.contains(distinctive),
                "{what} shows {distinctive}: {text}"
            );
        }
    }
    assert!(
        journal.contains("Basic ****:<password ignored>"),
        "{journal}"
    );
    assert!(journal.contains("WRITEKEY=****"), "{journal}");
    assert!(journal.contains("not configured"), "{journal}");
}
