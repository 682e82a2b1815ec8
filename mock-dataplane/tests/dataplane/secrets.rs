//! No part of a write key in the request journal or the logs (hardening finding C).

use std::io::Write;
use std::sync::{Arc, Mutex};

use mock_dataplane::{MockDataplane, Source};

use crate::helpers::*;

const KEY: &str = "wk-live-3f9a8b7c6d5e";
const BEACON_KEY: &str = "wk-beacon-0a1b2c3d";
const UNKNOWN: &str = "wk-unknown-99887766";

/// Collects what the mock logs on this thread (the test runtime is current-thread, so the
/// server's tasks log here too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn journal_and_logs_show_no_part_of_any_write_key() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("mock_dataplane=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dp = MockDataplane::builder()
        .source(Source::new(KEY, "live"))
        .source(Source::new(BEACON_KEY, "beacon"))
        .start()
        .await
        .unwrap();
    let c = client();
    let url = |p: &str| format!("{}{p}", dp.url());
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
    let a = post(&dp, "/v1/batch", Some(&basic(UNKNOWN)), event).await;
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

    let journal = get(&dp, "/_mock/requests").await.body;
    let faults = get(&dp, "/_mock/faults").await.body;
    let lib_journal = serde_json::to_string(&dp.requests().await).unwrap();
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("request refused"),
        "logs were captured: {logs}"
    );
    for (what, text) in [
        ("journal", &journal),
        ("library journal", &lib_journal),
        ("faults", &faults),
        ("logs", &logs),
    ] {
        for key in [KEY, BEACON_KEY, UNKNOWN] {
            // Not even the first characters (the old mask kept four).
            let distinctive = &key[..10];
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
