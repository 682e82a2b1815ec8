//! `/_mock/stream` reads the store in pages with a bounded buffer per subscriber, and drops a
//! subscriber that stops reading (hardening finding B).

use std::time::Duration;

use mock_dataplane::MockDataplane;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Stores `n` events of about `size` bytes each, in batches of 500.
async fn fill(dp: &MockDataplane, n: usize, size: usize) {
    let pad = "x".repeat(size);
    let auth = basic(&dp.write_key());
    for start in (0..n).step_by(500) {
        let events: Vec<String> = (start..(start + 500).min(n))
            .map(|i| format!(r#"{{"type":"track","userId":"u{i}","event":"E","pad":"{pad}"}}"#))
            .collect();
        let body = format!(r#"{{"batch":[{}]}}"#, events.join(","));
        assert_eq!(post(dp, "/v1/batch", Some(&auth), body).await.status, 200);
    }
}

/// The `id:` of every `event: event` frame, and the data of the `end` frame if any.
fn parse_sse(raw: &str) -> (Vec<u64>, Option<serde_json::Value>) {
    let mut ids = Vec::new();
    let mut end = None;
    let mut lines = raw.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "event: event" {
            // `id:` follows `event:` in axum's frames.
            if let Some(id) = lines.peek().and_then(|l| l.strip_prefix("id: ")) {
                ids.push(id.trim().parse().unwrap());
            }
        } else if line == "event: end" {
            let data = lines
                .next()
                .and_then(|l| l.strip_prefix("data: "))
                .expect("end has data");
            end = Some(serde_json::from_str(data).unwrap());
        }
    }
    (ids, end)
}

/// A subscriber that connects and reads nothing holds at most its buffer; once that stays
/// full for the stall timeout it is told why with `event: end` and disconnected. Before the
/// fix the whole backlog was held in memory for it, and it was never dropped.
#[tokio::test]
async fn stalled_subscriber_is_dropped_with_an_end_event() {
    init();
    let dp = MockDataplane::builder()
        .stream_stall_timeout(Duration::from_millis(300))
        .start()
        .await
        .unwrap();
    // Events of ~1 KiB, far more than the server's socket send buffer can take (its maximum
    // is the third field of tcp_wmem, 4 MiB by default) plus the subscriber's buffer.
    let wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .unwrap_or(4 << 20);
    let total = (3 * wmem_max / 1000).max(12_000);
    fill(&dp, total, 1000).await;
    let addr = dp.url().trim_start_matches("http://").to_owned();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut conn = sock.connect(addr.parse().unwrap()).await.unwrap();
    conn.write_all(format!("GET /_mock/stream HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Read nothing for a while: the server's buffers fill, then the stall timeout passes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Meanwhile the server serves everyone else.
    let health = tokio::time::timeout(Duration::from_secs(2), get(&dp, "/health"))
        .await
        .expect("/health answers while a subscriber stalls");
    assert_eq!(health.status, 200);

    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut raw))
        .await
        .expect("the server closes the stalled subscription (old code streamed forever)")
        .expect("closed cleanly, not reset");
    let raw = String::from_utf8_lossy(&raw);
    let (ids, end) = parse_sse(&raw);
    let end = end.unwrap_or_else(|| panic!("no end event after {} events", ids.len()));
    assert_eq!(end["reason"], "slow subscriber", "{end}");
    assert!(
        end["detail"].as_str().unwrap().contains("read nothing"),
        "{end}"
    );
    assert!(ids.len() < total, "the rest was dropped, not buffered");
    assert!(!ids.is_empty());
    // The ids delivered are consecutive from the start, and `last_id` says where to resume.
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(end["last_id"], *ids.last().unwrap());

    // Resuming from there picks up exactly the next event.
    let mut resumed = client()
        .get(format!(
            "{}/_mock/stream?since={}&limit=1",
            dp.url(),
            ids.last().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(5), resumed.chunk())
        .await
        .unwrap()
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let (next, end) = parse_sse(&text);
    assert_eq!(next, vec![ids.last().unwrap() + 1]);
    assert_eq!(end.unwrap()["reason"], "limit");
}

/// The backlog is read page by page (256 events) and the live part from the store as well:
/// every event exactly once, in order, from `since` (or `Last-Event-ID`), up to `limit`.
#[tokio::test]
async fn backlog_pages_and_live_events_arrive_once_in_order() {
    let dp = start().await;
    fill(&dp, 700, 10).await;
    let c = client();
    let mut sse = c
        .get(format!("{}/_mock/stream?type=track&limit=800", dp.url()))
        .header("last-event-id", "100")
        .send()
        .await
        .unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let live = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fill(&dp, 200, 10).await;
    };
    let read = async {
        let mut text = String::new();
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), sse.chunk())
            .await
            .expect("events in time")
            .unwrap()
        {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    };
    let ((), text) = tokio::join!(live, read);
    let (ids, end) = parse_sse(&text);
    let want: Vec<u64> = (101..=900).collect();
    assert_eq!(ids, want);
    assert_eq!(end.unwrap()["reason"], "limit");
}
