//! The journal stays bounded however a hub answers, and is served page by page (hardening
//! issue, finding "Memory: unbounded buffers": +73 MB per 1,000 refreshes of a hub answering
//! 100 KB, and a 624 MB `GET /_mock/journal`).

use mock_looker::{HubOptions, MockLooker};
use serde_json::{Value, json};

use crate::helpers::FakeHub;

/// A valid action list padded to about `bytes` with a long description.
fn big_list(bytes: usize) -> Value {
    json!({
        "label": "Big Hub",
        "integrations": [{
            "name": "big", "label": "Big", "url": "http://127.0.0.1:9/x",
            "supported_action_types": ["query"], "supported_formats": ["json"],
            "description": "d".repeat(bytes),
        }]
    })
}

async fn get(url: &str) -> reqwest::Response {
    serving::http_client()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_journal_keeps_the_newest_entries_up_to_its_cap_and_pages_with_since_and_limit() {
    let hub = FakeHub::with_list(big_list(1_000)).await;
    let l = MockLooker::builder()
        .journal_entries(5)
        .start()
        .await
        .unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    for _ in 0..11 {
        l.refresh_hub(&h.id).await.unwrap();
    }
    // 12 list exchanges, 5 kept: the newest, ids never reused.
    let kept: Vec<u64> = l.journal().iter().map(|e| e.id).collect();
    assert_eq!(kept, [8, 9, 10, 11, 12]);

    let first = get(&format!("{}/_mock/journal?limit=2", l.url())).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-mock-journal-dropped"], "7");
    assert_eq!(
        first.headers()["link"],
        "</_mock/journal?since=9&limit=2>; rel=\"next\""
    );
    assert_eq!(ids(&first.json().await.unwrap()), [8, 9]);

    let rest = get(&format!("{}/_mock/journal?since=9&limit=10", l.url())).await;
    assert!(
        rest.headers().get("link").is_none(),
        "no page after the last"
    );
    assert_eq!(ids(&rest.json().await.unwrap()), [10, 11, 12]);
    let none = get(&format!("{}/_mock/journal?since=12", l.url())).await;
    assert_eq!(ids(&none.json().await.unwrap()), Vec::<u64>::new());

    // Clearing keeps ids increasing, so a reader paging with `since` never rereads an entry.
    let cleared = serving::http_client()
        .build()
        .expect("an HTTP client")
        .delete(format!("{}/_mock/journal", l.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 204);
    l.refresh_hub(&h.id).await.unwrap();
    let after = get(&format!("{}/_mock/journal?since=12", l.url())).await;
    assert_eq!(ids(&after.json().await.unwrap()), [13]);
}

#[tokio::test]
async fn journal_paging_parameters_are_checked_by_name() {
    let l = MockLooker::start().await.unwrap();
    for (query, needle) in [
        ("limit=0", "limit must be a positive integer"),
        ("limit=x", "limit must be a positive integer"),
        ("since=-1", "since must be an entry id"),
        ("after=3", "unknown query parameter \"after\""),
    ] {
        let r = get(&format!("{}/_mock/journal?{query}", l.url())).await;
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn journal_bodies_are_cut_with_a_marker_counting_the_dropped_bytes() {
    let hub = FakeHub::with_list(big_list(100_000)).await;
    let l = MockLooker::builder()
        .journal_body_bytes(1024)
        .start()
        .await
        .unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    assert!(h.fetch_error.is_none(), "{:?}", h.fetch_error);
    assert_eq!(
        h.actions[0].description.as_deref().map(str::len),
        Some(100_000),
        "the hub is read whole"
    );
    let e = &l.journal()[0];
    let answer_len = serde_json::to_vec(&big_list(100_000)).unwrap().len();
    let (kept, marker) = e.response_body.split_once('…').unwrap();
    assert_eq!(kept.len(), 1024);
    assert_eq!(marker, format!("[{} bytes dropped]", answer_len - 1024));
}

#[tokio::test]
async fn the_journal_drops_its_oldest_entries_to_stay_within_its_byte_budget() {
    let hub = FakeHub::with_list(big_list(100_000)).await;
    let l = MockLooker::builder()
        .journal_body_bytes(16 * 1024)
        .journal_bytes(64 * 1024)
        .start()
        .await
        .unwrap();
    let h = l
        .register_hub(&hub.url, HubOptions::default())
        .await
        .unwrap();
    for _ in 0..20 {
        l.refresh_hub(&h.id).await.unwrap();
    }
    let journal = l.journal();
    let held: usize = journal
        .iter()
        .map(|e| e.response_body.len() + e.request_body.len())
        .sum();
    assert!(
        (1..=4).contains(&journal.len()) && held <= 64 * 1024,
        "{} entries holding {held} body bytes",
        journal.len()
    );
    assert_eq!(journal.last().unwrap().id, 21, "the newest is kept");
}
