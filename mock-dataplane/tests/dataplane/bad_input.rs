//! Hostile bodies get the real answer; the server never crashes, hangs or over-allocates.

use mock_dataplane::EventFilter;

use crate::helpers::*;

async fn still_serves(dp: &mock_dataplane::MockDataplane) {
    let a = post(
        dp,
        "/v1/track",
        Some(&basic(&dp.write_key())),
        r#"{"userId":"u"}"#,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn five_megabytes_of_garbage_is_invalid_json() {
    let dp = start().await;
    let auth = basic(&dp.write_key());
    let garbage: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let a = post(&dp, "/v1/batch", Some(&auth), garbage.clone()).await;
    assert_eq!((a.status, a.body.as_str()), (400, "invalid json\n"));
    // The same bytes announced as gzip are an unreadable body.
    let a = send(
        client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("authorization", &auth)
            .header("content-encoding", "gzip")
            .body(garbage),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (500, "failed to read body from request\n")
    );
    still_serves(&dp).await;
}

#[tokio::test]
async fn gzip_bomb_is_cut_while_inflating_with_413() {
    let dp = start().await;
    // 200 MB of spaces inflate from ~200 KB; the mock stops reading at its cap.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![b' '; 1 << 20];
    for _ in 0..200 {
        std::io::Write::write_all(&mut enc, &block).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 2_000_000);
    let a = send(
        client()
            .post(format!("{}/v1/batch", dp.url()))
            .header("authorization", basic(&dp.write_key()))
            .header("content-encoding", "gzip")
            .body(bomb),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (413, "request size exceeds max limit\n")
    );
    let journal = dp.requests().await;
    assert!(
        journal[0].detail.as_deref().unwrap().contains("inflates"),
        "{:?}",
        journal[0].detail
    );
    still_serves(&dp).await;
}

#[tokio::test]
async fn deeply_nested_json_is_accepted_like_gjson_without_stack_overflow() {
    // gjson has no depth limit, so the gateway accepts a deep event that has an id; the mock
    // skips nested values without recursion and stores the text untouched.
    let dp = start().await;
    let depth = 100_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let body = format!(r#"{{"batch":[{{"userId":"u","deep":{deep}}}]}}"#);
    let a = post(&dp, "/v1/batch", Some(&basic(&dp.write_key())), body).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    let raw = get(&dp, "/_mock/export").await.body;
    assert!(
        raw.contains(&format!(r#""deep":{deep}"#)),
        "nested text stored intact"
    );
    // Too deep for serde_json::Value: the library hands back the raw text as a string.
    let stored = dp.events(EventFilter::default()).await.unwrap();
    assert!(stored[0].event.as_str().unwrap().contains(&deep));
    still_serves(&dp).await;
}

#[tokio::test]
async fn non_utf8_body_is_invalid_json_naming_the_offset() {
    let dp = start().await;
    let mut body = br#"{"batch":[{"userId":""#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#""}]}"#);
    let a = post(&dp, "/v1/batch", Some(&basic(&dp.write_key())), body).await;
    assert_eq!((a.status, a.body.as_str()), (400, "invalid json\n"));
    let detail = dp.requests().await[0].detail.clone().unwrap();
    assert!(detail.contains("byte 21"), "{detail}");
    assert!(dp.events(EventFilter::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn fifty_thousand_tiny_events_in_one_batch_are_all_stored() {
    let dp = start().await;
    let events: Vec<String> = (0..50_000)
        .map(|i| format!(r#"{{"userId":"{i}"}}"#))
        .collect();
    let body = format!(r#"{{"batch":[{}]}}"#, events.join(","));
    let a = post_gzip(&dp, "/v1/batch", &dp.write_key(), body.as_bytes()).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    let stored = dp.events(EventFilter::default()).await.unwrap();
    assert_eq!(stored.len(), 50_000);
    assert_eq!(stored[49_999].event["userId"], "49999");
}
